//! The seen-set incident, replayed on a simulated clock.
//!
//! A service drops duplicate events by remembering the IDs it has seen. Written
//! as an unbounded `HashSet<String>` (insert, never remove), that set grows for
//! as long as the process lives: in the real incident, 32 M keys and 1.8 GB of
//! heap after 72 hours. Duplicates only ever arrive within minutes of the
//! original, so all the service needs is the last hour of IDs: a
//! [`ttlru::SeenSet`] with a one-hour time to live.
//!
//! This example feeds the same deterministic stream of event IDs
//! (`user{u}:evt-{id:016x}`, 26–31 bytes; 20 % of events repeat an event from
//! the last few minutes, so well inside the window) into each structure (the
//! unbounded `HashSet`, [`ttlru::SeenSet`], the key-less
//! [`ttlru::FingerprintSet`], and `quick_cache` bounded by capacity alone), with
//! simulated time driven by a [`ttlru::ManualClock`]. A counting global
//! allocator measures each structure's live heap bytes. Every simulated hour it
//! prints, per structure: entries, live bytes, bytes per entry, hash-table
//! buckets (or capacity), throughput, and duplicates caught. At the end it
//! prints a summary and draws `churn.svg`, memory over simulated time.
//!
//! What to look for: the `HashSet`'s bytes climb every hour, forever. The
//! `SeenSet`'s rise during the first hour (the window filling up) and then stay
//! flat, because its memory follows the live window. Both catch exactly the
//! same duplicates, since every repeat arrives inside the window.
//!
//! ```text
//! cargo run --release --example churn                  # 72 simulated hours
//! cargo run --release --example churn -- --quick       # a few seconds, for CI
//! cargo run --release --example churn -- --events 1M --hours 24 --window 30m --out /tmp/c.svg
//! cargo run --release --example churn -- --help
//! ```
//!
//! To compare another seen set, implement [`SeenStructure`] for it and add its
//! constructor to [`STRUCTURES`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::error::Error;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plotters::prelude::*;
use ttlru::{FingerprintSet, ManualClock, SeenSet};

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

/// Live heap bytes: requested sizes of every allocation not yet freed (the
/// allocator's own rounding and headers are not included).
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Wraps the system allocator and keeps [`LIVE_BYTES`] up to date.
struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and returns its result unchanged, so `System`'s guarantees are ours.
// The counter is bookkeeping only; it never touches the memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (a layout
        // of non-zero size), which is also `System.alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`: the caller's layout has a non-zero size.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from
        // `System`) with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from
        // `System`) with `layout`, and that `new_size` is non-zero and valid for
        // `layout`'s alignment.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            // On failure the old block is untouched, so nothing changes.
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new_ptr
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn live_bytes() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed) as i64
}

// ---------------------------------------------------------------------------
// The structures being compared
// ---------------------------------------------------------------------------

/// One seen-set implementation under test. To add one, implement this and put
/// its constructor in [`STRUCTURES`].
trait SeenStructure {
    /// The row label in the table and the legend.
    fn name(&self) -> &str;
    /// Records a sighting of `id` at simulated time `now` (since the stream
    /// started; structures without a clock ignore it). Returns `true` iff this is
    /// a first sighting, i.e. the event should be processed.
    fn insert(&mut self, id: &str, now: Duration) -> bool;
    /// Entries held now.
    fn len(&self) -> usize;
    /// Hash-table buckets (or capacity) held now: whether the memory is still there.
    fn buckets(&self) -> usize;
}

/// What services do today: insert every ID, never remove one.
struct UnboundedHashSet(Mutex<HashSet<String>>);

impl SeenStructure for UnboundedHashSet {
    fn name(&self) -> &str {
        "HashSet (unbounded)"
    }

    fn insert(&mut self, id: &str, _now: Duration) -> bool {
        let mut set = self.0.lock().unwrap();
        // Check first, so a duplicate costs no allocation (as a careful service would).
        !set.contains(id) && set.insert(id.to_owned())
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn buckets(&self) -> usize {
        self.0.lock().unwrap().capacity()
    }
}

/// The drop-in: remembers each ID for the dedup window, then forgets it.
struct TtlruSeenSet {
    set: SeenSet<String>,
    clock: ManualClock,
}

impl SeenStructure for TtlruSeenSet {
    fn name(&self) -> &str {
        "ttlru::SeenSet"
    }

    fn insert(&mut self, id: &str, now: Duration) -> bool {
        self.clock.advance(now.saturating_sub(self.clock.elapsed()));
        self.set.insert(id.to_owned())
    }

    fn len(&self) -> usize {
        self.set.len()
    }

    fn buckets(&self) -> usize {
        self.set.stats().table_buckets as usize
    }
}

/// The key-less drop-in: a 128-bit keyed fingerprint per ID, no `String` at all.
struct TtlruFingerprintSet {
    set: FingerprintSet<str>,
    clock: ManualClock,
}

impl SeenStructure for TtlruFingerprintSet {
    fn name(&self) -> &str {
        "ttlru::FingerprintSet"
    }

    fn insert(&mut self, id: &str, now: Duration) -> bool {
        self.clock.advance(now.saturating_sub(self.clock.elapsed()));
        self.set.insert(id)
    }

    fn len(&self) -> usize {
        self.set.len()
    }

    fn buckets(&self) -> usize {
        self.set.stats().table_buckets as usize
    }
}

/// The most compact peer we measured (see the README's Performance section).
/// It has no time to live, so it runs on capacity alone, sized like the
/// `SeenSet`'s: it forgets the least valuable IDs once full, not the old ones.
struct QuickCache(quick_cache::sync::Cache<String, ()>);

impl SeenStructure for QuickCache {
    fn name(&self) -> &str {
        "quick_cache (no TTL)"
    }

    fn insert(&mut self, id: &str, _now: Duration) -> bool {
        let mut first = false;
        let _ = self.0.get_or_insert_with(id, || {
            first = true;
            Ok::<(), ()>(())
        });
        first
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn buckets(&self) -> usize {
        self.0.capacity() as usize
    }
}

type Constructor = fn(&Config) -> Box<dyn SeenStructure>;

/// Every structure compared, in table and legend order.
const STRUCTURES: &[Constructor] = &[
    |_| Box::new(UnboundedHashSet(Mutex::new(HashSet::new()))),
    |config| {
        let clock = ManualClock::new();
        let set = SeenSet::builder()
            .max_capacity(config.seen_set_capacity())
            .time_to_live(config.window)
            .clock(clock.clone())
            .build();
        Box::new(TtlruSeenSet { set, clock })
    },
    |config| {
        let clock = ManualClock::new();
        let set = FingerprintSet::builder()
            .max_capacity(config.seen_set_capacity())
            .time_to_live(config.window)
            .clock(clock.clone())
            .build();
        Box::new(TtlruFingerprintSet { set, clock })
    },
    |config| {
        Box::new(QuickCache(quick_cache::sync::Cache::new(
            config.seen_set_capacity() as usize,
        )))
    },
];

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// Share of events that repeat a recent one, in percent.
const REPEAT_PERCENT: u64 = 20;
/// Distinct users in the IDs.
const USERS: u64 = 1_000_000;
/// Repeats are drawn from at most this far back (and at most half the window).
const REPEAT_HORIZON: Duration = Duration::from_secs(5 * 60);
/// Measurement points per simulated hour (for the chart).
const SLICES_PER_HOUR: u64 = 12;

const USAGE: &str = "\
Replays a stream of event IDs against an unbounded HashSet and a ttlru::SeenSet
with a dedup window, on a simulated clock, and compares their memory.

usage: cargo run --release --example churn -- [options]

options:
  --events N     events per simulated hour (default 200k; suffixes k and M work)
  --hours H      simulated hours (default 72)
  --window D     dedup window: seconds, or with a unit: 90s, 30m, 1h, 2d (default 1h)
  --out PATH     where to write the memory chart (default churn.svg)
  --quick        a small, fast run (4 hours, 20k events per hour) for CI;
                 explicit options still win
  -h, --help     this text";

#[derive(Clone, Debug)]
struct Config {
    events_per_hour: u64,
    hours: u64,
    window: Duration,
    out: PathBuf,
}

impl Config {
    /// IDs first seen within one window: what a `SeenSet` must hold.
    fn live_in_window(&self) -> u64 {
        let fresh_per_hour = self.events_per_hour as f64 * (100 - REPEAT_PERCENT) as f64 / 100.0;
        let hours = self.window.as_secs_f64().min(self.hours as f64 * 3600.0) / 3600.0;
        (fresh_per_hour * hours).ceil() as u64
    }

    /// Comfortably above the live count, so nothing is evicted for capacity.
    fn seen_set_capacity(&self) -> u64 {
        (self.live_in_window() * 2).max(1024)
    }

    fn total_events(&self) -> u64 {
        self.events_per_hour * self.hours
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Config>, String> {
    let (mut events, mut hours, mut window, mut out, mut quick) = (None, None, None, None, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => quick = true,
            "--events" => events = Some(parse_count(&value()?)?),
            "--hours" => hours = Some(parse_count(&value()?)?),
            "--window" => window = Some(parse_duration(&value()?)?),
            "--out" => out = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    let (default_events, default_hours) = if quick { (20_000, 4) } else { (200_000, 72) };
    let config = Config {
        events_per_hour: events.unwrap_or(default_events),
        hours: hours.unwrap_or(default_hours),
        window: window.unwrap_or(Duration::from_secs(3600)),
        out: out.unwrap_or_else(|| PathBuf::from("churn.svg")),
    };
    if config.events_per_hour == 0 || config.hours == 0 {
        return Err("--events and --hours must be at least 1".into());
    }
    if config.window < Duration::from_millis(1) {
        return Err("--window must be at least 1 ms".into());
    }
    Ok(Some(config))
}

/// `250000`, `250_000`, `250k`, `1M`.
fn parse_count(text: &str) -> Result<u64, String> {
    let clean = text.replace('_', "");
    let (digits, multiplier) = match clean.strip_suffix(['k', 'K']) {
        Some(digits) => (digits, 1_000),
        None => match clean.strip_suffix('M') {
            Some(digits) => (digits, 1_000_000),
            None => (clean.as_str(), 1),
        },
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("not a count: {text:?}"))
}

/// `3600` (seconds), `500ms`, `90s`, `30m`, `1h`, `2d`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let millis_per_unit = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("not a duration: {text:?} (try 3600, 90s, 30m, 1h)")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per_unit))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("not a duration: {text:?} (try 3600, 90s, 30m, 1h)"))
}

// ---------------------------------------------------------------------------
// The event stream
// ---------------------------------------------------------------------------

/// A deterministic stream of event IDs, evenly spaced in simulated time.
struct Stream {
    rng: u64,
    events_per_hour: u64,
    window: Duration,
    /// The most recent first-seen events, `(user, event id, time)`: a ring.
    recent: Vec<(u32, u64, Duration)>,
    recent_len: usize,
    next_slot: usize,
    repeats: u64,
    repeats_in_window: u64,
}

/// A slice of the stream, generated once and fed to every structure.
#[derive(Default)]
struct Batch {
    text: String,
    /// Per event: the end of its ID in `text`, and its simulated time.
    events: Vec<(usize, Duration)>,
}

impl Batch {
    fn iter(&self) -> impl Iterator<Item = (&str, Duration)> {
        let mut start = 0;
        self.events.iter().map(move |&(end, now)| {
            let id = &self.text[start..end];
            start = end;
            (id, now)
        })
    }
}

impl Stream {
    fn new(config: &Config) -> Self {
        let horizon = REPEAT_HORIZON.min(config.window / 2);
        let fresh_per_hour = config.events_per_hour * (100 - REPEAT_PERCENT) / 100;
        let recent_len = ((fresh_per_hour as f64 * horizon.as_secs_f64() / 3600.0) as usize).max(1);
        Stream {
            rng: 0x5EED_0FC0_FFEE,
            events_per_hour: config.events_per_hour,
            window: config.window,
            recent: Vec::with_capacity(recent_len),
            recent_len,
            next_slot: 0,
            repeats: 0,
            repeats_in_window: 0,
        }
    }

    /// splitmix64.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn time_of(&self, event: u64) -> Duration {
        let nanos = u128::from(event) * 3_600_000_000_000 / u128::from(self.events_per_hour);
        Duration::from_nanos(nanos as u64)
    }

    /// Fills `batch` with events number `first..end` of the stream.
    fn fill(&mut self, batch: &mut Batch, first: u64, end: u64) {
        batch.text.clear();
        batch.events.clear();
        for event in first..end {
            let now = self.time_of(event);
            let repeat = !self.recent.is_empty() && self.next_u64() % 100 < REPEAT_PERCENT;
            let (user, id) = if repeat {
                let pick = (self.next_u64() % self.recent.len() as u64) as usize;
                let (user, id, first_seen) = self.recent[pick];
                self.repeats += 1;
                if now - first_seen < self.window {
                    self.repeats_in_window += 1;
                }
                (user, id)
            } else {
                let user = (self.next_u64() % USERS) as u32;
                let id = self.next_u64();
                if self.recent.len() < self.recent_len {
                    self.recent.push((user, id, now));
                } else {
                    self.recent[self.next_slot] = (user, id, now);
                    self.next_slot = (self.next_slot + 1) % self.recent_len;
                }
                (user, id)
            };
            write!(batch.text, "user{user}:evt-{id:016x}").expect("writing to a String");
            batch.events.push((batch.text.len(), now));
        }
    }
}

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

/// A structure and what has been measured about it.
struct Tracked {
    structure: Box<dyn SeenStructure>,
    /// Live heap bytes attributed to the structure: its construction plus every
    /// change in live bytes while it was being fed.
    bytes: i64,
    peak_bytes: i64,
    hour_duplicates: u64,
    hour_time: Duration,
    total_duplicates: u64,
    /// `(simulated hours, bytes)`, for the chart.
    samples: Vec<(f64, i64)>,
}

impl Tracked {
    fn new(make: Constructor, config: &Config) -> Self {
        // Build and drop one first, so that process-wide one-time allocations (a
        // hasher's global seed, say) are not counted as this structure's.
        drop(make(config));
        let before = live_bytes();
        let structure = make(config);
        let bytes = live_bytes() - before;
        let mut samples = Vec::with_capacity((config.hours * SLICES_PER_HOUR + 1) as usize);
        samples.push((0.0, bytes));
        Tracked {
            structure,
            bytes,
            peak_bytes: bytes,
            hour_duplicates: 0,
            hour_time: Duration::ZERO,
            total_duplicates: 0,
            samples,
        }
    }

    /// Feeds a batch. Nothing else runs meanwhile, so every change in live
    /// bytes during the loop belongs to this structure.
    fn feed(&mut self, batch: &Batch) {
        let before = live_bytes();
        let started = Instant::now();
        let mut duplicates = 0;
        for (id, now) in batch.iter() {
            if !self.structure.insert(id, now) {
                duplicates += 1;
            }
        }
        self.hour_time += started.elapsed();
        self.bytes += live_bytes() - before;
        self.peak_bytes = self.peak_bytes.max(self.bytes);
        self.hour_duplicates += duplicates;
        self.total_duplicates += duplicates;
    }

    fn row(&mut self, hour: u64, events: u64) -> String {
        let len = self.structure.len();
        let per_entry = if len == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", self.bytes as f64 / len as f64)
        };
        let rate = events as f64 / self.hour_time.as_secs_f64().max(1e-9);
        let row = format!(
            "{hour:>4}  {:<20} {:>12} {:>11} {:>8} {:>17} {:>10} {:>12}",
            self.structure.name(),
            grouped(len as u64),
            human_bytes(self.bytes),
            per_entry,
            grouped(self.structure.buckets() as u64),
            format!("{:.2} M", rate / 1e6),
            grouped(self.hour_duplicates),
        );
        self.hour_duplicates = 0;
        self.hour_time = Duration::ZERO;
        row
    }
}

const HEADER: &str = "hour  structure                 entries  live bytes  B/entry  buckets/capacity   events/s  dups caught";

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config) -> Result<(), Box<dyn Error>> {
    let wall = Instant::now();
    println!(
        "seen-set churn: {} events per simulated hour for {} hours, {}% repeats from the last few \
         minutes, {} dedup window",
        grouped(config.events_per_hour),
        config.hours,
        REPEAT_PERCENT,
        human_duration(config.window),
    );
    println!(
        "ttlru::SeenSet max_capacity {} (about {} IDs are first seen per window)\n",
        grouped(config.seen_set_capacity()),
        grouped(config.live_in_window()),
    );
    println!("{HEADER}");

    let mut stream = Stream::new(config);
    let mut batch = Batch::default();
    let mut tracked: Vec<Tracked> = STRUCTURES
        .iter()
        .map(|&make| Tracked::new(make, config))
        .collect();
    let progress = std::io::stderr().is_terminal();

    for hour in 0..config.hours {
        for slice in 0..SLICES_PER_HOUR {
            let first =
                hour * config.events_per_hour + slice * config.events_per_hour / SLICES_PER_HOUR;
            let end = hour * config.events_per_hour
                + (slice + 1) * config.events_per_hour / SLICES_PER_HOUR;
            stream.fill(&mut batch, first, end);
            let at = hour as f64 + (slice + 1) as f64 / SLICES_PER_HOUR as f64;
            for t in &mut tracked {
                t.feed(&batch);
                t.samples.push((at, t.bytes));
            }
            if progress {
                eprint!(
                    "\r  simulated {at:5.1} / {} h, {:.0} s wall ",
                    config.hours,
                    wall.elapsed().as_secs_f64()
                );
            }
        }
        if progress {
            eprint!("\r{:60}\r", "");
        }
        for t in &mut tracked {
            println!("{}", t.row(hour + 1, config.events_per_hour));
        }
    }

    summarize(config, &stream, &tracked);
    let path = draw_chart(config, &tracked)?;
    check_accounting(tracked);
    println!("\nmemory chart written to {}", path.display());
    println!("wall time {:.1} s", wall.elapsed().as_secs_f64());
    Ok(())
}

fn summarize(config: &Config, stream: &Stream, tracked: &[Tracked]) {
    println!(
        "\nafter {} simulated hours: {} events, {} repeats, {} of them inside the {} window",
        config.hours,
        grouped(config.total_events()),
        grouped(stream.repeats),
        grouped(stream.repeats_in_window),
        human_duration(config.window),
    );
    println!(
        "\n  {:<20} {:>12} {:>12} {:>13} {:>12}",
        "structure", "peak bytes", "final bytes", "final entries", "dups caught"
    );
    for t in tracked {
        println!(
            "  {:<20} {:>12} {:>12} {:>13} {:>12}",
            t.structure.name(),
            human_bytes(t.peak_bytes),
            human_bytes(t.bytes),
            grouped(t.structure.len() as u64),
            grouped(t.total_duplicates),
        );
    }
    if let Some((baseline, others)) = tracked.split_first() {
        for t in others {
            println!(
                "\n  {} ends at {:.1}x the memory of {} (peak: {:.1}x)",
                baseline.structure.name(),
                baseline.bytes as f64 / t.bytes.max(1) as f64,
                t.structure.name(),
                baseline.peak_bytes as f64 / t.peak_bytes.max(1) as f64,
            );
        }
    }
}

/// Drops each structure and checks that exactly the bytes attributed to it come
/// back, so the per-structure figures above are trustworthy.
fn check_accounting(tracked: Vec<Tracked>) {
    for t in tracked {
        let name = t.structure.name().to_string();
        let before = live_bytes();
        drop(t.structure);
        let freed = before - live_bytes();
        if freed != t.bytes {
            println!(
                "  warning: dropping {name} freed {freed} bytes, but {} were attributed to it",
                t.bytes
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The chart
// ---------------------------------------------------------------------------

fn draw_chart(config: &Config, tracked: &[Tracked]) -> Result<PathBuf, Box<dyn Error>> {
    const MIB: f64 = 1024.0 * 1024.0;
    const COLORS: [RGBColor; 6] = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
    ];
    let top = tracked
        .iter()
        .map(|t| t.peak_bytes as f64 / MIB)
        .fold(1.0, f64::max)
        * 1.08;
    {
        let root = SVGBackend::new(&config.out, (1000, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Seen-set memory: {} events/h, {}% repeats, {} window",
                    grouped(config.events_per_hour),
                    REPEAT_PERCENT,
                    human_duration(config.window)
                ),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..config.hours as f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("simulated time (hours)")
            .y_desc("live heap bytes (MiB)")
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 13))
            .x_labels(13)
            .x_label_formatter(&|hours| format!("{hours:.0}"))
            .y_label_formatter(&|mib| format!("{mib:.0}"))
            .draw()?;
        for (i, t) in tracked.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let label = format!(
                "{}: {} at {} h",
                t.structure.name(),
                human_bytes(t.bytes),
                config.hours
            );
            chart
                .draw_series(LineSeries::new(
                    t.samples
                        .iter()
                        .map(|&(at, bytes)| (at, bytes as f64 / MIB)),
                    color.stroke_width(3),
                ))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
        root.present()?;
    }
    Ok(std::fs::canonicalize(&config.out).unwrap_or_else(|_| config.out.clone()))
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(bytes: i64) -> String {
    let b = bytes as f64;
    match bytes.unsigned_abs() {
        n if n >= 1 << 30 => format!("{:.2} GiB", b / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", b / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", b / (1u64 << 10) as f64),
        _ => format!("{bytes} B"),
    }
}

fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        ms if ms % 86_400_000 == 0 => format!("{} d", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{} s", ms / 1_000),
        ms => format!("{ms} ms"),
    }
}
