//! Exact-LRU replays of real block traces, with published LRU hit counts.
//!
//! With one shard a cache is an exact LRU, and an exact LRU is deterministic, so on
//! the traces of the ARC and LIRS papers it must reproduce the published hit counts
//! to the request (see `tests/data/traces/README.md`). A request is a hit iff
//! `get(&block)` finds it (which records the access); on a miss the block is
//! inserted.
//!
//! Besides the published hit counts, every replay checks the trace's request and
//! distinct-block totals from the README (so a parsing bug cannot hide), the
//! cache's own `stats()` against the replay's counts, and an unbounded replay, whose
//! hits must be exactly `requests - distinct` (only cold misses). The small LIRS
//! traces are also replayed against a simple reference LRU at many capacities.
//!
//! The traces live in `tests/data/traces` in the repository (they are left out of the
//! published package). If they are missing the tests fail: they are never skipped
//! silently.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::read::GzDecoder;
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};
use ttlru::Cache;

const TRACE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/traces");

/// The path of a trace file, or a failure that says what is missing.
fn trace_file(relative: &str) -> PathBuf {
    let dir = Path::new(TRACE_DIR);
    assert!(
        dir.is_dir(),
        "the trace directory {} is missing: these replay tests need the trace files \
         of the repository's `tests/data/traces` (they are not in the published package); \
         they fail rather than skip",
        dir.display()
    );
    let path = dir.join(relative);
    assert!(
        path.is_file(),
        "trace file {} is missing from {}",
        relative,
        dir.display()
    );
    path
}

/// Decodes every zstd frame of a file in turn (the traces have one, but the
/// format allows several).
struct ZstdFrames {
    frame: Option<StreamingDecoder<BufReader<File>, FrameDecoder>>,
}

impl ZstdFrames {
    fn new(file: File) -> io::Result<Self> {
        let frame = StreamingDecoder::new(BufReader::with_capacity(1 << 16, file))
            .map_err(io::Error::other)?;
        Ok(ZstdFrames { frame: Some(frame) })
    }
}

impl Read for ZstdFrames {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(frame) = &mut self.frame else {
                return Ok(0);
            };
            let read = frame.read(buf)?;
            if read > 0 || buf.is_empty() {
                return Ok(read);
            }
            // This frame is done: decode the next one, if the file has more.
            let (mut source, decoder) = self.frame.take().expect("checked above").into_parts();
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.frame = Some(
                StreamingDecoder::new_with_decoder(source, decoder).map_err(io::Error::other)?,
            );
        }
    }
}

/// Streams a trace, calling `request` for each block requested, in order, and
/// returns the number of requests.
///
/// - `arc/*.lis.zst`: lines `start count ignored request_id`, each `count`
///   requests for blocks `start, start + 1, ..., start + count - 1`.
/// - `lirs/*.trace.gz`: one block per line; `*` and blank lines are skipped, and
///   line ends may be CRLF.
fn replay(relative: &str, mut request: impl FnMut(u64)) -> u64 {
    let path = trace_file(relative);
    let file = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let arc_format = relative.ends_with(".lis.zst");
    let mut reader: Box<dyn BufRead> = if arc_format {
        let frames =
            ZstdFrames::new(file).unwrap_or_else(|e| panic!("zstd {}: {e}", path.display()));
        Box::new(BufReader::with_capacity(1 << 16, frames))
    } else if relative.ends_with(".trace.gz") {
        Box::new(BufReader::with_capacity(
            1 << 16,
            GzDecoder::new(BufReader::new(file)),
        ))
    } else {
        panic!("unknown trace format: {relative}");
    };
    let mut line = Vec::new();
    let mut line_number = 0u64;
    let mut requests = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .unwrap_or_else(|e| panic!("decompress {}: {e}", path.display()));
        if read == 0 {
            break;
        }
        line_number += 1;
        let text = std::str::from_utf8(&line)
            .unwrap_or_else(|_| panic!("{relative}:{line_number}: not UTF-8"))
            .trim();
        let bad = |what: &str| -> ! { panic!("{relative}:{line_number}: {what}: {text:?}") };
        if arc_format {
            if text.is_empty() {
                continue;
            }
            let mut fields = text.split_ascii_whitespace();
            let mut number = || -> u64 {
                fields
                    .next()
                    .unwrap_or_else(|| bad("too few fields"))
                    .parse()
                    .unwrap_or_else(|_| bad("not a number"))
            };
            let (start, count, _ignored, _request_id) = (number(), number(), number(), number());
            if fields.next().is_some() {
                bad("too many fields");
            }
            let end = start
                .checked_add(count)
                .unwrap_or_else(|| bad("block range overflows"));
            (start..end).for_each(&mut request);
            requests += count;
        } else {
            if text.is_empty() || text == "*" {
                continue;
            }
            request(text.parse().unwrap_or_else(|_| bad("not a block number")));
            requests += 1;
        }
    }
    requests
}

/// One exact-LRU replay: a one-shard cache of the given capacity (`None`:
/// unbounded), counting its hits.
struct Lru {
    capacity: Option<u64>,
    cache: Cache<u64, ()>,
    requests: u64,
    hits: u64,
}

impl Lru {
    fn new(capacity: Option<u64>) -> Self {
        let builder = Cache::builder().shards(1);
        let cache = match capacity {
            Some(capacity) => builder.max_capacity(capacity).build(),
            None => builder.build(),
        };
        assert_eq!(cache.shard_count(), 1);
        Lru {
            capacity,
            cache,
            requests: 0,
            hits: 0,
        }
    }

    fn request(&mut self, block: u64) {
        self.requests += 1;
        if self.cache.get(&block).is_some() {
            self.hits += 1;
        } else {
            assert_eq!(self.cache.insert(block, ()), None, "block {block} missed");
        }
    }

    /// Checks the replay's totals, and the cache's stats against the replay.
    /// Returns the hits.
    fn finish(&self, name: &str, requests: u64, distinct: u64) -> u64 {
        let capacity = self.capacity.unwrap_or(u64::MAX);
        let what = format!("{name}, capacity {capacity}");
        assert_eq!(self.requests, requests, "{what}: requests replayed");
        let misses = requests - self.hits;
        let held = capacity.min(distinct);
        let stats = self.cache.stats();
        assert_eq!(stats.hits, self.hits, "{what}: stats().hits");
        assert_eq!(stats.misses, misses, "{what}: stats().misses");
        assert_eq!(stats.inserts, misses, "{what}: stats().inserts");
        // Nothing is removed or expires, and a full LRU stays full.
        assert_eq!(stats.len, held, "{what}: stats().len");
        assert_eq!(self.cache.len() as u64, held, "{what}: len()");
        assert_eq!(stats.evictions, misses - held, "{what}: stats().evictions");
        assert_eq!(
            (stats.expirations, stats.removals),
            (0, 0),
            "{what}: expirations and removals"
        );
        if self.capacity.is_none() {
            assert_eq!(
                self.hits,
                requests - distinct,
                "{what}: an unbounded LRU misses each block once"
            );
        }
        self.hits
    }
}

/// Replays a trace through one exact LRU per capacity (and an unbounded one), in
/// one pass; checks the README's request and distinct-block totals. Returns the
/// hits per capacity.
fn replay_lru(relative: &str, capacities: &[u64], requests: u64, distinct: u64) -> Vec<u64> {
    let started = Instant::now();
    let mut lrus: Vec<Lru> = capacities.iter().map(|&c| Lru::new(Some(c))).collect();
    let mut unbounded = Lru::new(None);
    let replayed = replay(relative, |block| {
        lrus.iter_mut().for_each(|lru| lru.request(block));
        unbounded.request(block);
    });
    assert_eq!(replayed, requests, "{relative}: requests (expanded)");
    assert_eq!(
        unbounded.cache.len() as u64,
        distinct,
        "{relative}: distinct blocks"
    );
    unbounded.finish(relative, requests, distinct);
    let hits: Vec<u64> = lrus
        .iter()
        .map(|lru| lru.finish(relative, requests, distinct))
        .collect();
    for (capacity, hits) in capacities.iter().zip(&hits) {
        println!(
            "{relative}: c = {capacity}: {hits} hits of {requests} ({:.2} %)",
            percent(*hits, requests)
        );
    }
    println!("{relative}: replayed in {:.2?}", started.elapsed());
    hits
}

fn percent(hits: u64, requests: u64) -> f64 {
    hits as f64 * 100.0 / requests as f64
}

/// A hit ratio the paper prints with two decimals.
fn assert_published_ratio(name: &str, capacity: u64, hits: u64, requests: u64, published: f64) {
    let measured = percent(hits, requests);
    assert!(
        (measured - published).abs() <= 0.005 + 1e-9,
        "{name}, c = {capacity}: LRU hit ratio {measured:.4} % ({hits} hits), the paper says {published:.2} %"
    );
}

#[test]
fn arc_oltp() {
    const REQUESTS: u64 = 914_145;
    let capacities = [1000, 2000, 5000, 10_000, 15_000];
    let hits = replay_lru("arc/OLTP.lis.zst", &capacities, REQUESTS, 186_880);
    assert_eq!(hits[0], 300_122, "OLTP, c = 1000");
    assert_eq!(hits[1], 388_235, "OLTP, c = 2000");
    // Table IV gives only ratios for the larger sizes.
    for (i, published) in [(2, 53.65), (3, 60.70), (4, 64.63)] {
        assert_published_ratio("OLTP", capacities[i], hits[i], REQUESTS, published);
    }
}

#[test]
fn arc_p2() {
    let hits = replay_lru("arc/P2.lis.zst", &[32_768], 12_729_495, 913_347);
    assert_eq!(hits[0], 2_350_757, "P2, c = 32768");
}

#[test]
fn arc_p3() {
    const REQUESTS: u64 = 3_912_296;
    let hits = replay_lru("arc/P3.lis.zst", &[32_768], REQUESTS, 762_543);
    assert_published_ratio("P3", 32_768, hits[0], REQUESTS, 3.57);
}

#[test]
fn arc_p6() {
    const REQUESTS: u64 = 12_672_123;
    let hits = replay_lru("arc/P6.lis.zst", &[32_768], REQUESTS, 773_770);
    assert_published_ratio("P6", 32_768, hits[0], REQUESTS, 4.24);
}

#[test]
fn arc_p12() {
    let hits = replay_lru("arc/P12.lis.zst", &[32_768, 524_288], 13_208_930, 3_153_310);
    assert_eq!(hits[0], 1_179_069, "P12, c = 32768");
    assert_eq!(hits[1], 8_046_177, "P12, c = 524288");
}

#[test]
fn lirs_gli() {
    let hits = replay_lru("lirs/gli.trace.gz", &[1000], 6_015, 2_529);
    assert_eq!(hits[0], 674, "gli, c = 1000");
}

#[test]
fn lirs_loop() {
    // A loop over 1,011 blocks: one block short, LRU never hits; big enough, it
    // misses only the first pass.
    let hits = replay_lru("lirs/loop.trace.gz", &[1010, 1011], 505_500, 1_011);
    assert_eq!(hits[0], 0, "loop, c = 1010");
    assert_eq!(hits[1], 504_489, "loop, c = 1011");
}

/// A plain exact LRU to compare against: block -> last use, and last use -> block.
struct ReferenceLru {
    capacity: usize,
    clock: u64,
    last_use: HashMap<u64, u64>,
    by_age: BTreeMap<u64, u64>,
    hits: u64,
}

impl ReferenceLru {
    fn new(capacity: usize) -> Self {
        ReferenceLru {
            capacity,
            clock: 0,
            last_use: HashMap::new(),
            by_age: BTreeMap::new(),
            hits: 0,
        }
    }

    fn request(&mut self, block: u64) {
        self.clock += 1;
        if let Some(used) = self.last_use.get_mut(&block) {
            self.hits += 1;
            self.by_age.remove(used);
            *used = self.clock;
            self.by_age.insert(self.clock, block);
            return;
        }
        if self.capacity == 0 {
            return;
        }
        if self.last_use.len() == self.capacity {
            let (_, oldest) = self.by_age.pop_first().expect("full, so not empty");
            self.last_use.remove(&oldest);
        }
        self.last_use.insert(block, self.clock);
        self.by_age.insert(self.clock, block);
    }
}

/// Every LIRS trace: its request and distinct totals from the README, and the
/// crate's hits equal to a reference LRU's at capacities from 0 to past the
/// number of distinct blocks.
#[test]
fn lirs_traces_match_a_reference_lru() {
    let traces = [
        ("2_pools", 100_000, 9_939),
        ("cpp", 9_047, 1_223),
        ("cs", 6_781, 1_409),
        ("gli", 6_015, 2_529),
        ("ps", 10_448, 3_083),
        ("sprite", 133_996, 7_075),
        ("multi1", 15_858, 2_606),
        ("multi2", 26_311, 5_684),
        ("multi3", 30_241, 7_454),
        ("loop", 505_500, 1_011),
        ("scan", 50_025, 2_001),
        ("zigzag", 52_001, 2_001),
        ("backf", 9_000, 751),
    ];
    for (name, requests, distinct) in traces {
        let relative = format!("lirs/{name}.trace.gz");
        let mut capacities = vec![0, 1, 2, 10, 100, 500, 1000];
        capacities.extend([
            distinct / 4,
            distinct / 2,
            distinct - 1,
            distinct,
            distinct + 1,
        ]);
        let mut references: Vec<ReferenceLru> = capacities
            .iter()
            .map(|&c| ReferenceLru::new(c as usize))
            .collect();
        replay(&relative, |block| {
            references.iter_mut().for_each(|r| r.request(block));
        });
        let hits = replay_lru(&relative, &capacities, requests, distinct);
        for ((capacity, hits), reference) in capacities.iter().zip(hits).zip(&references) {
            assert_eq!(
                hits, reference.hits,
                "{name}, c = {capacity}: the cache's hits against the reference LRU's"
            );
        }
    }
}

/// Trace continuity across a restart: replay the first half of OLTP into a
/// one-shard cache, snapshot it, restore the snapshot into a new cache, and
/// replay the rest there. The total hits must be the uninterrupted replay's,
/// which are the published counts: the snapshot kept the exact LRU order.
#[cfg(feature = "serde")]
#[test]
fn oltp_hits_survive_a_snapshot_and_restore() {
    const REQUESTS: u64 = 914_145;
    for (capacity, published) in [(1000, 300_122), (2000, 388_235)] {
        let mut lru = Lru::new(Some(capacity));
        let mut seen = 0u64;
        let mut restored = false;
        let mut snapshot_entries = 0;
        let replayed = replay("arc/OLTP.lis.zst", |block| {
            if seen == REQUESTS / 2 {
                let mut bytes = Vec::new();
                snapshot_entries = lru.cache.save_snapshot(&mut bytes).unwrap().entries;
                let cache: Cache<u64, ()> = Cache::builder()
                    .shards(1)
                    .max_capacity(capacity)
                    .build_from_snapshot(&bytes[..])
                    .unwrap();
                assert_eq!(cache.len(), lru.cache.len());
                lru.cache = cache;
                restored = true;
            }
            seen += 1;
            lru.request(block);
        });
        assert_eq!(replayed, REQUESTS);
        assert!(restored);
        assert_eq!(snapshot_entries, capacity, "the cache was full at half-way");
        assert_eq!(
            lru.hits, published,
            "OLTP, c = {capacity}, across a restart"
        );
    }
}
