//! Event-ID dedup with a one-hour window, shared by worker threads. Delivery is at least
//! once, so one event can reach several workers at once; a shared `SeenSet` lets exactly one
//! process it (`insert` is `true` once per ID per window). `cargo run --example dedup`

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use ttlru::{ManualClock, SeenSet};

const IDS: u64 = 10_000; // distinct events
const COPIES: u64 = 3; // each delivered three times in a row, so to three workers at once
const WORKERS: usize = 4;

fn event_id(n: u64) -> String {
    format!("user{}:evt-{:016x}", n % 97, n ^ 0x9E37_79B9_7F4A_7C15)
}

fn main() {
    let clock = ManualClock::new(); // simulated time; leave out `.clock(..)` for real time
    let seen: SeenSet<String> = SeenSet::builder()
        .max_capacity(1 << 20)
        .time_to_live(Duration::from_secs(3600))
        .clock(clock.clone())
        .build();
    let stream: Vec<u64> = (0..IDS * COPIES).map(|i| i / COPIES * 7919 % IDS).collect();
    let handled: Vec<AtomicU32> = (0..IDS).map(|_| AtomicU32::new(0)).collect();
    let (processed, dropped) = (AtomicU64::new(0), AtomicU64::new(0));

    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let (seen, stream, handled) = (&seen, &stream, &handled);
            let (processed, dropped) = (&processed, &dropped);
            scope.spawn(move || {
                for &n in stream.iter().skip(worker).step_by(WORKERS) {
                    if seen.insert(event_id(n)) {
                        handled[n as usize].fetch_add(1, Relaxed); // process the event
                        processed.fetch_add(1, Relaxed);
                    } else {
                        dropped.fetch_add(1, Relaxed); // a duplicate: skip it
                    }
                }
            });
        }
    });

    let (processed, dropped) = (processed.into_inner(), dropped.into_inner());
    let exactly_once = handled.iter().all(|count| count.load(Relaxed) == 1);
    println!("{WORKERS} workers: {processed} processed, {dropped} duplicates dropped");
    println!("each of the {IDS} IDs processed exactly once: {exactly_once}");
    assert!(exactly_once && processed == IDS);

    clock.advance(Duration::from_secs(60));
    let duplicate = !seen.insert(event_id(0));
    println!("event 0 a minute later is a duplicate: {duplicate}");
    clock.advance(Duration::from_secs(3600));
    let new_again = seen.insert(event_id(0));
    println!("event 0 an hour later is new again: {new_again}");
}
