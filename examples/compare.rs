//! `ttlru` against its peers on the workloads of issue 3, printed as markdown
//! tables (the README's "Performance" section is pasted from this output):
//!
//! ```text
//! cargo run --release --example compare              # full sizes, median of 5 runs, 1 and 2 threads
//! cargo run --release --example compare -- --runs 9  # more runs per cell
//! cargo run --release --example compare -- --quick   # 20x smaller, for CI
//! cargo run --release --example compare -- --threads 1,2,4,8,16,32,64  # a many-core sweep
//! cargo run --release --example compare -- --quick --threads 1,2,4     # the sweep, small
//! ```
//!
//! Throughput workloads, each a table of structure × thread count (every thread
//! count of `--threads`, default `1,2`), with ratios to ttlru at the same thread
//! count and each structure's scaling over its own 1-thread cell:
//!
//! - `dedup`, `dedup_far`: insert-if-absent over event IDs, a fifth of them
//!   repeats (SeenSet and FingerprintSet against quick_cache, moka, `Mutex<lru>`
//!   and unbounded sets); duplicates missed.
//! - `zipf`: get, insert on a miss, Zipf(0.99), capacity a tenth of the key space;
//!   hit ratio.
//! - `read_mostly`: the same caches and keys, capacity the whole key space (plus a
//!   quarter), warmed with every key, so the timed pass is gets only (every one
//!   hits).
//!
//! Memory tables (single-threaded: bytes per entry, bytes kept after removing
//! every key) follow `dedup` and `zipf`; then come `expire` (TTL cleanup) and
//! issue 3's targets (set at 1 and 2 threads; `n/a` when `--threads` leaves either
//! out).
//!
//! Workloads and adapters live in `benches/support/workloads.rs`, shared with the
//! criterion benches (`cargo bench --bench peers`). Throughput cells are medians
//! over runs; within a run every structure is measured once per workload and
//! thread count before the next run starts, so the machine's noise is spread over
//! all of them. With several threads, the operation stream is cut into chunks of
//! 1,024 operations dealt round-robin to the threads. Memory comes from a counting
//! global allocator (requested bytes, all threads). Tables go to stdout, progress
//! to stderr.

#[path = "../benches/support/workloads.rs"]
mod workloads;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use workloads::{
    CHUNK, Dedup, DedupStream, DedupVisitor, GetInsert, GetInsertVisitor, KEY_LEN, Memory, Phase,
    REPEAT_PERCENT, Scale, ZIPF_THETA, Zipf, dedup_memory, dedup_stream, each_dedup,
    each_get_insert, expire_moka, expire_ttlru, get_insert_memory, run_dedup, run_get_insert,
    zipf_key_space, zipf_stream,
};

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

/// Wraps the system allocator and keeps a running total of live requested bytes.
/// The total is split over cache-line-sized slots, one per thread (round-robin),
/// so that counting does not make threads fight over one cache line in the timed
/// loops; [`live_bytes`] adds them up. There are enough slots for the largest
/// `--threads` sweeps: the threads of one pass are spawned together, so up to
/// `SLOTS` of them get a slot each.
struct Counting;

#[repr(align(64))]
struct Slot(AtomicIsize);

const SLOTS: usize = 256;
static LIVE: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates,
    // so the allocator may use it.
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn count(delta: isize) {
    let slot = MY_SLOT
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
                s.set(i);
            }
            i
        })
        .unwrap_or(0);
    LIVE[slot].0.fetch_add(delta, Ordering::Relaxed);
}

/// Live heap bytes of the whole process, as requested from the allocator.
fn live_bytes() -> isize {
    LIVE.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// implements `GlobalAlloc` correctly, and returns `System`'s result unchanged; the
// bookkeeping around the calls neither allocates nor touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), which is
        // exactly what `System.alloc` requires.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence from
        // `System`, which did every allocation) with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` was allocated here (by `System`) with
        // `layout`, and that `new_size` is non-zero and valid for its alignment.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

struct Args {
    runs: usize,
    quick: bool,
    /// Thread counts of every throughput table, in the order given.
    threads: Vec<usize>,
}

const USAGE: &str = "usage: compare [--runs N] [--threads LIST] [--quick]
  --runs N        runs per throughput cell, the median is shown (default 5)
  --threads LIST  thread counts to measure, comma-separated, e.g. 1,2,4,8,16
                  (default 1,2; each a positive integer, each once)
  --quick         every size 20x smaller (a few seconds, for CI)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        runs: 5,
        quick: false,
        threads: vec![1, 2],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--runs" => {
                let n = it.next().ok_or("--runs needs a number")?;
                args.runs = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("--runs: not a positive number: {n}"))?;
            }
            "--threads" => {
                let list = it
                    .next()
                    .ok_or("--threads needs a comma-separated list, e.g. 1,2,4")?;
                args.threads = parse_thread_counts(&list)?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(args)
}

/// `"1,2,4"` → `[1, 2, 4]`; every item a positive integer, none repeated.
fn parse_thread_counts(list: &str) -> Result<Vec<usize>, String> {
    let mut counts = Vec::new();
    for item in list.split(',') {
        let n = item
            .trim()
            .parse()
            .ok()
            .filter(|&n: &usize| n > 0)
            .ok_or(format!(
                "--threads: {item:?} is not a positive thread count (in {list:?})"
            ))?;
        if counts.contains(&n) {
            return Err(format!("--threads: {n} is given twice (in {list:?})"));
        }
        counts.push(n);
    }
    Ok(counts)
}

// ---------------------------------------------------------------------------
// Collecting the structures
// ---------------------------------------------------------------------------

type DedupRun = Box<dyn Fn(&DedupStream, usize) -> (Duration, u64)>;

struct DedupJob {
    name: String,
    removal: &'static str,
    memory: Box<dyn Fn(usize) -> Memory>,
    run: DedupRun,
}

#[derive(Default)]
struct DedupJobs(Vec<DedupJob>);

impl DedupVisitor for DedupJobs {
    fn visit<D: Dedup + 'static>(&mut self, make: impl Fn() -> D + Send + Sync + 'static) {
        let sample = make();
        let (name, removal) = (sample.name(), sample.removal());
        drop(sample);
        let make = Arc::new(make);
        let make_for_memory = Arc::clone(&make);
        self.0.push(DedupJob {
            name,
            removal,
            memory: Box::new(move |n| dedup_memory(|| make_for_memory(), n, &live_bytes)),
            run: Box::new(move |stream, threads| {
                let set = make();
                let mut keys = stream.keys.clone();
                let result = run_dedup(&set, &mut keys, threads);
                drop((set, keys)); // untimed
                result
            }),
        });
    }
}

type GetInsertRun = Box<dyn Fn(&[u64], &[u64], usize) -> (Duration, u64)>;

struct GetInsertJob {
    name: String,
    removal: &'static str,
    memory: Box<dyn Fn(usize) -> Memory>,
    /// `(warm, measured, threads)`: a fresh cache, an untimed single-threaded pass
    /// over `warm`, then the timed pass over `measured`.
    run: GetInsertRun,
}

#[derive(Default)]
struct GetInsertJobs(Vec<GetInsertJob>);

impl GetInsertVisitor for GetInsertJobs {
    fn visit<C: GetInsert + 'static>(&mut self, make: impl Fn() -> C + Send + Sync + 'static) {
        let sample = make();
        let (name, removal) = (sample.name(), sample.removal());
        drop(sample);
        let make = Arc::new(make);
        let make_for_memory = Arc::clone(&make);
        self.0.push(GetInsertJob {
            name,
            removal,
            memory: Box::new(move |n| get_insert_memory(|| make_for_memory(), n, &live_bytes)),
            run: Box::new(move |warm, measured, threads| {
                let cache = make();
                run_get_insert(&cache, &mut warm.to_vec(), 1); // warm pass, untimed
                let mut keys = measured.to_vec();
                let result = run_get_insert(&cache, &mut keys, threads);
                drop(cache); // untimed
                result
            }),
        });
    }
}

// ---------------------------------------------------------------------------
// Throughput: every workload at every thread count
// ---------------------------------------------------------------------------

/// One structure's pass over one workload from the given number of threads:
/// builds and warms a fresh structure (untimed), then returns the wall time of the
/// timed part and the count its workload's [`Outcome`] reads.
type TimedPass<'a> = Box<dyn Fn(usize) -> (Duration, u64) + 'a>;

/// What a pass's count means, and how its column shows it.
#[derive(Clone, Copy)]
enum Outcome {
    /// The count is first sightings, shown as duplicates missed of `duplicates`.
    DuplicatesMissed { duplicates: u64 },
    /// The count is hits, shown as the hit ratio.
    HitRatio,
}

impl Outcome {
    fn header(self) -> String {
        match self {
            Outcome::DuplicatesMissed { duplicates } => {
                format!("duplicates missed (of {})", group(duplicates))
            }
            Outcome::HitRatio => "hit ratio".into(),
        }
    }

    fn value(self, count: u64, ops: usize) -> f64 {
        match self {
            // `ops - count` events were recognised as repeats.
            Outcome::DuplicatesMissed { duplicates } => {
                duplicates as f64 - (ops as f64 - count as f64)
            }
            Outcome::HitRatio => count as f64 / ops as f64,
        }
    }

    fn show(self, value: f64) -> String {
        match self {
            Outcome::DuplicatesMissed { .. } => format!("{value}"),
            Outcome::HitRatio => format!("{value:.3}"),
        }
    }
}

/// A throughput table: one workload, every structure's pass over it.
struct Workload<'a> {
    label: &'static str,
    /// Operations per pass.
    ops: usize,
    outcome: Outcome,
    /// The ttlru structure the ratio column divides by.
    baseline: &'static str,
    /// `(row label, pass)`, in report order.
    structures: Vec<(String, TimedPass<'a>)>,
}

impl<'a> Workload<'a> {
    /// Insert-if-absent of every event of `stream`, by every dedup structure.
    fn dedup(label: &'static str, stream: &'a DedupStream, jobs: &'a [DedupJob]) -> Self {
        let structures = jobs
            .iter()
            .map(|job| {
                let pass: TimedPass<'a> = Box::new(move |threads| (job.run)(stream, threads));
                (job.name.clone(), pass)
            })
            .collect();
        Workload {
            label,
            ops: stream.keys.len(),
            outcome: Outcome::DuplicatesMissed {
                duplicates: stream.duplicates,
            },
            baseline: "ttlru::SeenSet",
            structures,
        }
    }

    /// Get, insert on a miss, over `measured` after an untimed pass over `warm`,
    /// by every cache.
    fn get_insert(
        label: &'static str,
        warm: &'a [u64],
        measured: &'a [u64],
        jobs: &'a [GetInsertJob],
    ) -> Self {
        let structures = jobs
            .iter()
            .map(|job| {
                let pass: TimedPass<'a> =
                    Box::new(move |threads| (job.run)(warm, measured, threads));
                (job.name.clone(), pass)
            })
            .collect();
        Workload {
            label,
            ops: measured.len(),
            outcome: Outcome::HitRatio,
            baseline: "ttlru::Cache",
            structures,
        }
    }
}

/// Medians of one structure on one workload at one thread count.
#[derive(Clone, Copy)]
struct Medians {
    mops: f64,
    /// Read through the workload's [`Outcome`].
    outcome: f64,
}

/// One workload's results: `cells[t][s]` for `threads[t]` and `names[s]`.
struct Sweep {
    /// The [`Workload`]'s, for the table.
    baseline: &'static str,
    outcome: Outcome,
    threads: Vec<usize>,
    names: Vec<String>,
    cells: Vec<Vec<Medians>>,
}

impl Sweep {
    fn cell(&self, threads: usize, name: &str) -> Option<Medians> {
        let t = self.threads.iter().position(|&n| n == threads)?;
        let s = self.names.iter().position(|n| n == name)?;
        Some(self.cells[t][s])
    }

    /// M ops/s, NaN if that cell was not measured.
    fn mops(&self, threads: usize, name: &str) -> f64 {
        self.cell(threads, name).map_or(f64::NAN, |c| c.mops)
    }

    /// The outcome's value, NaN if that cell was not measured.
    fn outcome(&self, threads: usize, name: &str) -> f64 {
        self.cell(threads, name).map_or(f64::NAN, |c| c.outcome)
    }
}

/// One cell's `(M ops/s, outcome)`, a pair per run.
type CellSamples = Vec<(f64, f64)>;

/// Times every structure of every workload at every thread count, `runs` times,
/// and keeps the medians. Each run measures every cell once before the next run
/// starts, so the machine's noise is spread over all of them.
fn sweep(workloads: &[Workload], threads: &[usize], runs: usize) -> Vec<Sweep> {
    // samples[workload][thread count][structure]
    let mut samples: Vec<Vec<Vec<CellSamples>>> = workloads
        .iter()
        .map(|w| vec![vec![Vec::new(); w.structures.len()]; threads.len()])
        .collect();
    for run in 1..=runs {
        for (workload, per_threads) in workloads.iter().zip(&mut samples) {
            for (&n, per_structure) in threads.iter().zip(per_threads.iter_mut()) {
                eprintln!("run {run}/{runs}: {} {n}t ...", workload.label);
                for ((_, pass), cell) in workload.structures.iter().zip(per_structure) {
                    let (elapsed, count) = pass(n);
                    cell.push((
                        workload.ops as f64 / elapsed.as_secs_f64() / 1e6,
                        workload.outcome.value(count, workload.ops),
                    ));
                }
            }
        }
    }
    workloads
        .iter()
        .zip(samples)
        .map(|(workload, per_threads)| Sweep {
            baseline: workload.baseline,
            outcome: workload.outcome,
            threads: threads.to_vec(),
            names: workload
                .structures
                .iter()
                .map(|(name, _)| name.clone())
                .collect(),
            cells: per_threads
                .into_iter()
                .map(|per_structure| {
                    per_structure
                        .into_iter()
                        .map(|v| Medians {
                            mops: median(v.iter().map(|x| x.0)),
                            outcome: median(v.iter().map(|x| x.1)),
                        })
                        .collect()
                })
                .collect(),
        })
        .collect()
}

/// A workload's table: a row per structure and thread count, the ratio to the
/// ttlru baseline at the same thread count, and, when 1 thread was measured, the
/// scaling of each structure over its own 1-thread cell.
fn throughput_table(out: &mut String, sweep: &Sweep) {
    let with_scaling = sweep.threads.contains(&1);
    let (scaling_header, scaling_rule) = if with_scaling {
        (" scaling vs 1 thread |", "---:|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| structure | threads | throughput (M ops/s) | ratio to {} | {} |{scaling_header}",
        sweep.baseline,
        sweep.outcome.header()
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|{scaling_rule}");
    for (s, name) in sweep.names.iter().enumerate() {
        for (t, &threads) in sweep.threads.iter().enumerate() {
            let cell = sweep.cells[t][s];
            let _ = write!(
                out,
                "| {name} | {threads} | {:.2} | {:.2}× | {} |",
                cell.mops,
                cell.mops / sweep.mops(threads, sweep.baseline),
                sweep.outcome.show(cell.outcome)
            );
            if with_scaling {
                let _ = write!(out, " {:.2}× |", cell.mops / sweep.mops(1, name));
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out);
}

/// Single-threaded memory of each structure, and how it was emptied.
fn memory_table<'a>(out: &mut String, rows: impl Iterator<Item = (&'a str, &'a Memory)>) {
    let _ = writeln!(
        out,
        "| structure | live bytes/entry | bytes kept after removing all |"
    );
    let _ = writeln!(out, "|---|---:|---:|");
    for (name, m) in rows {
        let _ = writeln!(out, "| {name} | {:.1} | {} |", m.per_entry(), kept(m));
    }
    let _ = writeln!(out);
}

// ---------------------------------------------------------------------------
// Numbers and formatting
// ---------------------------------------------------------------------------

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if !n.is_multiple_of(2) => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn bytes(b: isize) -> String {
    let a = b.unsigned_abs() as f64;
    let sign = if b < 0 { "-" } else { "" };
    if a >= (1 << 30) as f64 {
        format!("{sign}{:.2} GiB", a / (1u64 << 30) as f64)
    } else if a >= (1 << 20) as f64 {
        format!("{sign}{:.1} MiB", a / (1u64 << 20) as f64)
    } else if a >= 1024.0 {
        format!("{sign}{:.1} KiB", a / 1024.0)
    } else {
        format!("{b} B")
    }
}

fn kept(m: &Memory) -> String {
    format!(
        "{} ({:.2} %)",
        bytes(m.kept),
        100.0 * m.kept as f64 / m.peak.max(1) as f64
    )
}

/// Thousands separators: 1000000 → "1,000,000".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The 1-minute load average (Linux), to show how busy the machine was.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_string)
}

/// The machine's CPU time so far, from the first line of `/proc/stat` (Linux), in
/// clock ticks: `(stolen, total)`. Stolen time is time the hypervisor gave this
/// virtual machine's CPUs to someone else; the load average does not see it, and a
/// thread that loses its CPU while holding a lock stalls every thread waiting for
/// that lock, so it is what makes multi-threaded cells of a shared VM jump.
fn cpu_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let stolen = *ticks.get(7)?;
    Some((stolen, ticks.iter().take(8).sum()))
}

/// The share of the machine's CPU time stolen between two [`cpu_ticks`] readings.
fn stolen_share(start: Option<(u64, u64)>, end: Option<(u64, u64)>) -> String {
    match (start, end) {
        (Some((stolen_start, total_start)), Some((stolen_end, total_end)))
            if total_end > total_start =>
        {
            let share = (stolen_end - stolen_start) as f64 / (total_end - total_start) as f64;
            format!("{:.1} %", 100.0 * share)
        }
        _ => "?".into(),
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
}

/// A target line: `label: value (target) → ok / MISSED`; `n/a` when the value was
/// not measured (NaN: a thread count missing from `--threads`).
fn target(out: &mut String, label: &str, value: f64, shown: String, goal: &str, ok: bool) {
    let (shown, verdict) = if value.is_nan() {
        ("–".to_string(), "n/a")
    } else if ok {
        (shown, "met")
    } else {
        (shown, "**missed**")
    };
    let _ = writeln!(out, "| {label} | {shown} | {goal} | {verdict} |");
}

// ---------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    let scale = if args.quick {
        Scale::quick()
    } else {
        Scale::full()
    };
    let runs = args.runs;
    let threads = args.threads.as_slice();
    let wall = Instant::now();
    let mut out = String::new();

    // ---- header
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let given: Vec<String> = std::env::args().skip(1).collect();
    let command = if given.is_empty() {
        "cargo run --release --example compare".to_string()
    } else {
        format!(
            "cargo run --release --example compare -- {}",
            given.join(" ")
        )
    };
    let _ = writeln!(out, "# ttlru vs peers\n");
    let _ = writeln!(out, "- command: `{command}`");
    let _ = writeln!(
        out,
        "- machine: {cores} cores (available_parallelism), {}, {}",
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        std::env::consts::OS
    );
    let load_at_start = load_average().unwrap_or_else(|| "?".into());
    let ticks_at_start = cpu_ticks();
    let _ = writeln!(
        out,
        "- throughput: median of {runs} runs; structures, workloads and thread counts \
         interleaved within each run; ratios are to ttlru at the same thread count, scaling \
         to the structure's own 1-thread median"
    );
    let _ = writeln!(
        out,
        "- threads: {} (`--threads`); with several threads the operation stream is cut into \
         chunks of {} operations, dealt round-robin to the threads, which run concurrently \
         (more threads than cores share them)",
        threads
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        group(CHUNK as u64)
    );
    let _ = writeln!(
        out,
        "- memory: live requested bytes from a counting global allocator, measured from \
         before the structure is built (so up-front reservations count), single-threaded\n"
    );

    // ---- memory, one structure at a time
    let mut dedup = DedupJobs::default();
    each_dedup(scale.dedup_capacity, &mut dedup);
    let dedup = dedup.0;
    let dedup_memory: Vec<Memory> = dedup
        .iter()
        .map(|job| {
            eprintln!("memory: {} ...", job.name);
            (job.memory)(scale.dedup_capacity)
        })
        .collect();
    let mut zipf = GetInsertJobs::default();
    each_get_insert(scale.zipf_capacity, &mut zipf);
    let zipf = zipf.0;
    let zipf_memory: Vec<Memory> = zipf
        .iter()
        .map(|job| {
            eprintln!("memory: {} ...", job.name);
            (job.memory)(scale.zipf_capacity)
        })
        .collect();
    // read_mostly: the same caches, holding the whole key space with a quarter to
    // spare, so that no shard of a sharded cache overflows (at exactly the key
    // space, quick_cache's fullest shards evict: a hit ratio of 0.998 in quick mode).
    let read_capacity = scale.zipf_keys + scale.zipf_keys / 4;
    let mut read_mostly = GetInsertJobs::default();
    each_get_insert(read_capacity, &mut read_mostly);
    let read_mostly = read_mostly.0;

    // ---- throughput
    eprintln!("building streams ...");
    let dedup_streams = [
        (
            "dedup",
            scale.near_window,
            dedup_stream(scale.events, scale.near_window, 1),
        ),
        (
            "dedup_far",
            scale.far_window,
            dedup_stream(scale.events, scale.far_window, 2),
        ),
    ];
    let dist = Zipf::new(scale.zipf_keys, ZIPF_THETA);
    let zipf_warm = zipf_stream(&dist, scale.zipf_ops, 3);
    let zipf_measured = zipf_stream(&dist, scale.zipf_ops, 4);
    let read_measured = zipf_stream(&dist, scale.read_ops, 5);
    drop(dist);
    let key_space = zipf_key_space(scale.zipf_keys);
    let mut workloads: Vec<Workload> = dedup_streams
        .iter()
        .map(|(label, _, stream)| Workload::dedup(label, stream, &dedup))
        .collect();
    workloads.push(Workload::get_insert(
        "zipf",
        &zipf_warm,
        &zipf_measured,
        &zipf,
    ));
    workloads.push(Workload::get_insert(
        "read_mostly",
        &key_space,
        &read_measured,
        &read_mostly,
    ));
    let sweeps = sweep(&workloads, threads, runs);
    let [dedup_near, dedup_far, zipf_sweep, read_sweep] = sweeps.as_slice() else {
        unreachable!("four workloads were measured");
    };

    // ---- dedup and dedup_far
    for ((label, window, stream), sweep) in dedup_streams.iter().zip([dedup_near, dedup_far]) {
        let _ = writeln!(
            out,
            "## {label}: insert-if-absent, {} events, {REPEAT_PERCENT} % repeat one of the last {}, \
             capacity {}, TTL 1 h where supported\n",
            group(stream.keys.len() as u64),
            group(*window as u64),
            group(scale.dedup_capacity as u64)
        );
        throughput_table(&mut out, sweep);
        if *label != "dedup" {
            let _ = writeln!(
                out,
                "Structures, keys and memory as in `dedup` (same capacity).\n"
            );
            continue;
        }
        let _ = writeln!(
            out,
            "Keys are {KEY_LEN}-byte `String`s, built before the timed loop; owned-key \
             structures take them from the stream without allocating. TTL 1 h on SeenSet, \
             FingerprintSet and moka; lru and quick_cache have none.\n"
        );
        let _ = writeln!(
            out,
            "Memory: filled with {} distinct keys (the unbounded sets too), then every key \
             removed. Live bytes include the key text a structure owns (`FingerprintSet` keeps \
             none; `quick_cache` copies the `&str` on a miss).\n",
            group(scale.dedup_capacity as u64)
        );
        memory_table(
            &mut out,
            dedup.iter().map(|j| j.name.as_str()).zip(&dedup_memory),
        );
        let _ = writeln!(out, "Removal:");
        for job in &dedup {
            let _ = writeln!(out, "- {}: {}", job.name, job.removal);
        }
        let _ = writeln!(out);
    }

    // ---- zipf
    let _ = writeln!(
        out,
        "## zipf: get, insert on a miss; θ = {ZIPF_THETA} over {} keys, capacity {}, {} ops, warm\n",
        group(scale.zipf_keys as u64),
        group(scale.zipf_capacity as u64),
        group(scale.zipf_ops as u64)
    );
    throughput_table(&mut out, zipf_sweep);
    let _ = writeln!(
        out,
        "`u64 → u64`, no TTL, default hashers and shard counts. Warm: each pass first makes \
         one untimed single-threaded pass of {} ops drawn with another seed; the hit ratio is \
         the measured pass's. `lru` does its get and put under one lock; the others call `get` \
         then `insert`.\n",
        group(scale.zipf_ops as u64)
    );
    let _ = writeln!(
        out,
        "Memory: filled with {} distinct keys, then every key removed.\n",
        group(scale.zipf_capacity as u64)
    );
    memory_table(
        &mut out,
        zipf.iter().map(|j| j.name.as_str()).zip(&zipf_memory),
    );
    let _ = writeln!(out, "Removal:");
    for job in &zipf {
        let _ = writeln!(out, "- {}: {}", job.name, job.removal);
    }
    let _ = writeln!(out);

    // ---- read_mostly
    let _ = writeln!(
        out,
        "## read_mostly: get only; θ = {ZIPF_THETA} over {} keys, capacity {} (the key space \
         plus a quarter), {} ops, warmed with every key\n",
        group(scale.zipf_keys as u64),
        group(read_capacity as u64),
        group(scale.read_ops as u64)
    );
    throughput_table(&mut out, read_sweep);
    let _ = writeln!(
        out,
        "The read path: the `zipf` caches and key space, with a capacity that holds every \
         key (a quarter to spare, so that no shard of a sharded cache overflows). Each pass \
         first inserts all {} keys (untimed, single-threaded, least popular first), so every \
         timed `get` hits: the timed pass is gets only. The operation is still `zipf`'s \
         get-then-insert, so a miss would insert; the hit ratio shows whether any happened.\n",
        group(scale.zipf_keys as u64)
    );

    // ---- expire
    let n = scale.expire_entries;
    let mut ttlru_times = Vec::new();
    let mut moka_times = Vec::new();
    let mut ttlru_mem = Memory::default();
    let mut ttlru_own_bytes = 0usize;
    let mut moka_mem = Memory::default();
    for run in 0..runs {
        eprintln!("run {}/{runs}: expire ...", run + 1);
        let base = live_bytes();
        let mut m = Memory::default();
        let mut own = 0;
        let r = expire_ttlru(n, &mut |phase, cache| match phase {
            Phase::Filled => {
                m.peak = live_bytes() - base;
                m.len = cache.len();
                own = cache.memory_bytes();
            }
            Phase::Cleaned => m.kept = live_bytes() - base,
        });
        assert_eq!(r.removed, n as u64, "ttlru purged {} of {n}", r.removed);
        ttlru_times.push(r.cleanup.as_secs_f64());
        if run == 0 {
            ttlru_mem = m;
            ttlru_own_bytes = own;
        }

        let base = live_bytes();
        let mut m = Memory::default();
        let r = expire_moka(n, scale.moka_ttl, &mut |phase, cache| match phase {
            Phase::Filled => {
                m.peak = live_bytes() - base;
                m.len = cache.entry_count() as usize;
            }
            Phase::Cleaned => m.kept = live_bytes() - base,
        });
        moka_times.push(r.cleanup.as_secs_f64());
        if run == 0 {
            moka_mem = m;
        }
    }
    let ttlru_time = median(ttlru_times.into_iter());
    let moka_time = median(moka_times.into_iter());
    let _ = writeln!(
        out,
        "## expire: {} entries with a TTL, all expired, cleanup timed until empty\n",
        group(n as u64)
    );
    let _ = writeln!(
        out,
        "| structure | threads | cleanup rate (M entries/s) | ratio to ttlru::Cache | cleanup time (ms) | live bytes/entry | bytes kept after cleanup |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, time, m) in [
        ("ttlru::Cache", ttlru_time, &ttlru_mem),
        ("moka (TinyLFU)", moka_time, &moka_mem),
    ] {
        let _ = writeln!(
            out,
            "| {name} | 1 | {:.2} | {:.2}× | {:.1} | {:.1} | {} |",
            n as f64 / time / 1e6,
            ttlru_time / time,
            time * 1e3,
            m.per_entry(),
            kept(m)
        );
    }
    let _ = writeln!(
        out,
        "\n`u64 → u64`, no capacity. ttlru: 1 s TTL on a `ManualClock`, advanced 2 s, then \
         `purge_expired()` is timed. moka: real clock, TTL {} ms (doubled if the fill outlasts \
         it), every pending write applied before the sleep (untimed), then \
         `run_pending_tasks()` is timed in a loop until `entry_count() == 0`. quick_cache and \
         lru have no TTL and are skipped.\n",
        scale.moka_ttl.as_millis()
    );
    let _ = writeln!(
        out,
        "- `ttlru::Cache<u64,u64>` with TTL at {} entries: {:.1} bytes/entry (counting allocator), \
         {:.1} bytes/entry by its own `memory_bytes()`",
        group(ttlru_mem.len as u64),
        ttlru_mem.per_entry(),
        ttlru_own_bytes as f64 / ttlru_mem.len.max(1) as f64
    );
    let _ = writeln!(
        out,
        "- expire cleanup: ttlru {:.1} ms vs moka {:.1} ms → ttlru takes {:.3}× moka's time\n",
        ttlru_time * 1e3,
        moka_time * 1e3,
        ttlru_time / moka_time
    );

    // ---- targets (issue 3 sets them at 1 and 2 threads: n/a if either is not measured)
    const SEEN: &str = "ttlru::SeenSet";
    const FINGERPRINT: &str = "ttlru::FingerprintSet";
    const QUICK: &str = "quick_cache";
    const LRU: &str = "Mutex<lru::LruCache>";
    const CACHE: &str = "ttlru::Cache";
    let _ = writeln!(out, "## issue 3 targets (this run)\n");
    let _ = writeln!(out, "| target | measured | goal | |");
    let _ = writeln!(out, "|---|---:|---:|---|");
    let ratio_row = |out: &mut String, label: &str, v: f64, goal: f64| {
        target(
            out,
            label,
            v,
            format!("{v:.2}×"),
            &format!("≥ {goal:.1}×"),
            v >= goal,
        );
    };
    ratio_row(
        &mut out,
        "dedup 1t: SeenSet / quick_cache",
        dedup_near.mops(1, SEEN) / dedup_near.mops(1, QUICK),
        1.0,
    );
    ratio_row(
        &mut out,
        "dedup 1t: SeenSet / hashbrown+ahash",
        dedup_near.mops(1, SEEN) / dedup_near.mops(1, "Mutex<hashbrown+ahash> (unbounded)"),
        0.9,
    );
    ratio_row(
        &mut out,
        "dedup 2t: SeenSet / quick_cache",
        dedup_near.mops(2, SEEN) / dedup_near.mops(2, QUICK),
        1.0,
    );
    ratio_row(
        &mut out,
        "dedup: SeenSet 2t / SeenSet 1t",
        dedup_near.mops(2, SEEN) / dedup_near.mops(1, SEEN),
        1.5,
    );
    for (label, v) in [
        (
            "dedup_far 1t: SeenSet duplicates missed",
            dedup_far.outcome(1, SEEN),
        ),
        (
            "dedup_far 1t: FingerprintSet duplicates missed",
            dedup_far.outcome(1, FINGERPRINT),
        ),
    ] {
        target(&mut out, label, v, format!("{v}"), "0", v == 0.0);
    }
    // With 2 threads the stream is processed out of order: when one thread runs
    // ahead of the other (a descheduled thread on a busy machine), a repeat's
    // distance to its first sighting grows, and even an exact LRU can miss it.
    let lru_missed2 = dedup_far.outcome(2, LRU);
    for (label, v) in [
        (
            "dedup_far 2t: SeenSet duplicates missed",
            dedup_far.outcome(2, SEEN),
        ),
        (
            "dedup_far 2t: FingerprintSet duplicates missed",
            dedup_far.outcome(2, FINGERPRINT),
        ),
    ] {
        let goal = format!("0 (order-dependent; exact `lru` missed {lru_missed2})");
        target(&mut out, label, v, format!("{v}"), &goal, v == 0.0);
    }
    ratio_row(
        &mut out,
        "zipf 1t: ttlru::Cache / Mutex<lru>",
        zipf_sweep.mops(1, CACHE) / zipf_sweep.mops(1, LRU),
        1.0,
    );
    ratio_row(
        &mut out,
        "zipf 2t: ttlru::Cache / quick_cache",
        zipf_sweep.mops(2, CACHE) / zipf_sweep.mops(2, QUICK),
        0.8,
    );
    let per = ttlru_mem.per_entry();
    target(
        &mut out,
        &format!(
            "Cache<u64,u64> with TTL, bytes/entry at {} entries",
            group(ttlru_mem.len as u64)
        ),
        per,
        format!("{per:.1}"),
        "≤ 52",
        per <= 52.0,
    );
    let mut kept_row = |label: &str, m: &Memory| {
        let pct = 100.0 * m.kept as f64 / m.peak.max(1) as f64;
        target(
            &mut out,
            label,
            pct,
            format!("{pct:.2} %"),
            "≤ 1 % of peak",
            pct <= 1.0,
        );
    };
    let dedup_memory_of = |name: &str| {
        dedup
            .iter()
            .position(|j| j.name == name)
            .map(|i| &dedup_memory[i])
    };
    if let Some(m) = dedup_memory_of(SEEN) {
        kept_row("kept after removing all: SeenSet<String>", m);
    }
    if let Some(m) = dedup_memory_of(FINGERPRINT) {
        kept_row("kept after removing all: FingerprintSet", m);
    }
    if let Some(i) = zipf.iter().position(|j| j.name == CACHE) {
        kept_row("kept after removing all: Cache<u64,u64>", &zipf_memory[i]);
    }
    kept_row("kept after expiring all: Cache<u64,u64>", &ttlru_mem);
    let r = ttlru_time / moka_time;
    target(
        &mut out,
        "expire cleanup time: ttlru / moka",
        r,
        format!("{r:.3}×"),
        "≤ 0.1×",
        r <= 0.1,
    );

    let _ = writeln!(
        out,
        "\nwall time: {:.1} s; 1-minute load average {load_at_start} at the start, {} at the end \
         (on {cores} cores: above {cores}, other processes were competing for them); CPU \
         time stolen by the hypervisor during the run: {} of all CPU time (on a virtual \
         machine, time its CPUs ran someone else; above a few %, expect multi-threaded cells \
         to jump between runs)",
        wall.elapsed().as_secs_f64(),
        load_average().unwrap_or_else(|| "?".into()),
        stolen_share(ticks_at_start, cpu_ticks())
    );
    print!("{out}");
    ExitCode::SUCCESS
}
