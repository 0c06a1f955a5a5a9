//! `ttlru` against the crates its users would otherwise pick, on the workloads of
//! issue 3: `cargo bench --bench peers` (about five minutes on 2 cores; pass a
//! filter such as `cargo bench --bench peers -- dedup/` to run one group).
//!
//! By default the sizes are smaller than issue 3's (`Scale::bench`: dedup streams
//! of 200 000 events with capacity 100 000 and a far window of 50 000; zipf passes
//! of 200 000 ops over 200 000 keys with capacity 20 000; 250 000 entries to
//! expire), to keep moka's rows and its real-clock TTL sleeps short.
//! `TTLRU_BENCH_FULL=1 cargo bench --bench peers` runs the full sizes, which
//! `cargo run --release --example compare` always uses.
//!
//! Groups `dedup`, `dedup_far`, `zipf` and `expire`; ids are `structure/Nt` with
//! N the thread count. Streams are built once per group; every measured iteration
//! gets a fresh structure and a fresh clone of the stream, built and dropped
//! outside the timed region (`iter_custom`). Duplicates missed (dedup) and hit
//! ratios (zipf) are printed to stderr once per id: criterion does not report them.
//! `examples/compare.rs` runs the same workloads and prints the tables.

#[path = "support/workloads.rs"]
mod workloads;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use workloads::{
    Dedup, DedupStream, DedupVisitor, GetInsert, GetInsertVisitor, Scale, ZIPF_THETA, Zipf,
    dedup_stream, each_dedup, each_get_insert, expire_moka, expire_ttlru, run_dedup,
    run_get_insert, zipf_stream,
};

fn scale() -> Scale {
    if std::env::var_os("TTLRU_BENCH_FULL").is_some_and(|v| v != "0") {
        Scale::full()
    } else {
        Scale::bench()
    }
}
const THREADS: [usize; 2] = [1, 2];

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, elements: usize) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(elements as u64));
}

struct DedupBench<'a, 'c> {
    group: BenchmarkGroup<'c, WallTime>,
    stream: &'a DedupStream,
}

impl DedupVisitor for DedupBench<'_, '_> {
    fn visit<D: Dedup + 'static>(&mut self, make: impl Fn() -> D + Send + Sync + 'static) {
        let name = make().name();
        let stream = self.stream;
        for threads in THREADS {
            let mut reported = false;
            let id = BenchmarkId::new(name.as_str(), format!("{threads}t"));
            self.group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let set = make();
                        let mut keys = stream.keys.clone();
                        let (elapsed, firsts) = run_dedup(&set, &mut keys, threads);
                        total += elapsed;
                        if !reported {
                            reported = true;
                            let caught = keys.len() as i64 - firsts as i64;
                            eprintln!(
                                "  {name} {threads}t: {} of {} duplicates missed",
                                stream.duplicates as i64 - caught,
                                stream.duplicates
                            );
                        }
                        drop((set, keys)); // before the next iteration, untimed
                    }
                    total
                })
            });
        }
    }
}

fn dedup_group(c: &mut Criterion, group_name: &str, window: usize, seed: u64) {
    let scale = scale();
    let stream = dedup_stream(scale.events, window, seed);
    let mut group = c.benchmark_group(group_name);
    configure(&mut group, scale.events);
    let mut bench = DedupBench {
        group,
        stream: &stream,
    };
    each_dedup(scale.dedup_capacity, &mut bench);
    bench.group.finish();
}

fn dedup(c: &mut Criterion) {
    dedup_group(c, "dedup", scale().near_window, 1);
}

fn dedup_far(c: &mut Criterion) {
    dedup_group(c, "dedup_far", scale().far_window, 2);
}

struct ZipfBench<'a, 'c> {
    group: BenchmarkGroup<'c, WallTime>,
    warm: &'a [u64],
    measured: &'a [u64],
}

impl GetInsertVisitor for ZipfBench<'_, '_> {
    fn visit<C: GetInsert + 'static>(&mut self, make: impl Fn() -> C + Send + Sync + 'static) {
        let name = make().name();
        let (warm, measured) = (self.warm, self.measured);
        for threads in THREADS {
            let mut reported = false;
            let id = BenchmarkId::new(name.as_str(), format!("{threads}t"));
            self.group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let cache = make();
                        run_get_insert(&cache, &mut warm.to_vec(), 1); // warm pass, untimed
                        let mut keys = measured.to_vec();
                        let (elapsed, hits) = run_get_insert(&cache, &mut keys, threads);
                        total += elapsed;
                        if !reported {
                            reported = true;
                            eprintln!(
                                "  {name} {threads}t: hit ratio {:.3} (warm)",
                                hits as f64 / keys.len() as f64
                            );
                        }
                        drop(cache);
                    }
                    total
                })
            });
        }
    }
}

fn zipf(c: &mut Criterion) {
    let scale = scale();
    let dist = Zipf::new(scale.zipf_keys, ZIPF_THETA);
    let warm = zipf_stream(&dist, scale.zipf_ops, 3);
    let measured = zipf_stream(&dist, scale.zipf_ops, 4);
    let mut group = c.benchmark_group("zipf");
    configure(&mut group, scale.zipf_ops);
    let mut bench = ZipfBench {
        group,
        warm: &warm,
        measured: &measured,
    };
    each_get_insert(scale.zipf_capacity, &mut bench);
    bench.group.finish();
}

fn expire(c: &mut Criterion) {
    let scale = scale();
    let n = scale.expire_entries;
    let mut group = c.benchmark_group("expire");
    configure(&mut group, n);
    group.bench_function(BenchmarkId::new("ttlru::Cache", "1t"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| expire_ttlru(n, &mut |_, _| {}).cleanup)
                .sum()
        })
    });
    // Real clock: each iteration sleeps past the TTL (about a second), untimed.
    group.bench_function(BenchmarkId::new("moka (TinyLFU)", "1t"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| expire_moka(n, scale.moka_ttl, &mut |_, _| {}).cleanup)
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, dedup, dedup_far, zipf, expire);
criterion_main!(benches);
