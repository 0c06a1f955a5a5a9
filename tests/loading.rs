//! Single-flight loading: `get_or_insert_with` and its `try` and `async` forms run
//! one load per missed key however many callers race, cache nothing when a load
//! fails, and never leave a key loading for ever: not when a loader fails, panics or
//! is cancelled, and not when the eviction listener panics while a key is parked.
//!
//! Every wait here is under a watchdog, so a stuck key fails the test instead of
//! hanging it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use ttlru::{Cache, ManualClock, RemovalCause};

/// How long any test may wait for its tasks before it is declared stuck.
const WATCHDOG: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

/// Runs `work` on another thread and fails the test if it does not finish in time.
fn within_watchdog<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    finished
        .recv_timeout(WATCHDOG)
        .expect("stuck: did not finish within the watchdog")
}

/// A small deterministic generator, so a failing run can be replayed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[test]
fn racing_tasks_load_each_key_exactly_once() {
    const KEYS: usize = 10;
    const TASKS: usize = 1_000;
    let cache: Arc<Cache<usize, String>> = Arc::new(Cache::new(1_000));
    let loads: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    runtime().block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (cache, loads) = (cache.clone(), loads.clone());
                tokio::spawn(async move {
                    let key = task % KEYS;
                    let value = cache
                        .get_or_insert_with_async(key, async {
                            loads[key].fetch_add(1, Ordering::SeqCst);
                            // Long enough for the other tasks to miss the same key.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            format!("value {key}")
                        })
                        .await;
                    assert_eq!(value, format!("value {key}"));
                })
            })
            .collect();
        tokio::time::timeout(WATCHDOG, async {
            for task in tasks {
                task.await.unwrap();
            }
        })
        .await
        .expect("stuck: the tasks did not finish within the watchdog");
    });
    let loads: Vec<usize> = loads.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    assert_eq!(loads, [1; KEYS], "one load per key");
    assert_eq!(cache.len(), KEYS);
    assert_eq!(cache.stats().inserts, KEYS as u64, "one insert per key");
}

/// Counts loads that were dropped before they finished: the test must see some,
/// or it did not exercise cancellation.
struct CountDropUnfinished<'a> {
    dropped_unfinished: &'a AtomicUsize,
    finished: bool,
}

impl Drop for CountDropUnfinished<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.dropped_unfinished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn loaders_cancelled_at_random_points_never_leave_a_key_stuck() {
    const ROUNDS: u64 = 40;
    const KEYS: u64 = 4;
    const TASKS: u64 = 40;
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(10_000));
    let cancelled_loads = Arc::new(AtomicUsize::new(0));
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    runtime().block_on(async {
        for round in 0..ROUNDS {
            let mut tasks = Vec::new();
            let mut aborted = Vec::new();
            for _ in 0..TASKS {
                let key = round * KEYS + random.below(KEYS);
                let load_for = Duration::from_micros(random.below(3_000));
                let cancel_after = Duration::from_micros(random.below(3_000));
                let how = random.below(4);
                let (cache, cancelled_loads) = (cache.clone(), cancelled_loads.clone());
                let task = tokio::spawn(async move {
                    let load = async {
                        let mut guard = CountDropUnfinished {
                            dropped_unfinished: &cancelled_loads,
                            finished: false,
                        };
                        tokio::time::sleep(load_for).await;
                        guard.finished = true;
                        key * 10
                    };
                    let lookup = cache.get_or_insert_with_async(key, load);
                    let value = match how {
                        0 => tokio::time::timeout(cancel_after, lookup).await.ok(),
                        1 => tokio::select! {
                            value = lookup => Some(value),
                            () = tokio::time::sleep(cancel_after) => None,
                        },
                        // 2: aborted from outside (below); 3: runs to the end.
                        _ => Some(lookup.await),
                    };
                    if let Some(value) = value {
                        assert_eq!(value, key * 10);
                    }
                });
                if how == 2 {
                    aborted.push((task, cancel_after));
                } else {
                    tasks.push(task);
                }
            }
            for (task, after) in &aborted {
                tokio::time::sleep(*after / 4).await;
                task.abort();
            }
            tokio::time::timeout(WATCHDOG, async {
                for task in tasks {
                    task.await.unwrap();
                }
                for (task, _) in aborted {
                    // Either it finished before the abort, or it was cancelled.
                    if let Err(error) = task.await {
                        assert!(error.is_cancelled(), "{error}");
                    }
                }
                // No key is left loading: each resolves, from the cache or a new load.
                for key in round * KEYS..(round + 1) * KEYS {
                    let value = cache
                        .get_or_insert_with_async(key, async { key * 10 })
                        .await;
                    assert_eq!(value, key * 10);
                }
            })
            .await
            .unwrap_or_else(|_| panic!("round {round}: stuck past the watchdog"));
        }
    });
    assert!(
        cancelled_loads.load(Ordering::SeqCst) > 0,
        "no load was cancelled half-way: the test exercised nothing"
    );
    assert_eq!(cache.len() as u64, ROUNDS * KEYS);
}

type Outcome = Result<u64, &'static str>;

/// A first task claims key 1 and gives up after 50 ms: its load panics, or fails.
/// Meanwhile `WAITERS` tasks miss the key and wait: exactly one of them must load
/// then, the others get its value, and only that value is cached. Returns the
/// first task's outcome.
fn first_loader_gives_up(panics: bool) -> Result<Outcome, tokio::task::JoinError> {
    const WAITERS: usize = 8;
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let waiter_loads = Arc::new(AtomicUsize::new(0));
    let (first, waited) = runtime().block_on(async {
        let started = Arc::new(tokio::sync::Notify::new());
        let first = {
            let (cache, started) = (cache.clone(), started.clone());
            tokio::spawn(async move {
                cache
                    .try_get_or_insert_with_async(1, async move {
                        started.notify_one();
                        // The waiters are parked on this load by the time it gives up.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        assert!(!panics, "the loader panics");
                        Err("backend down")
                    })
                    .await
            })
        };
        started.notified().await;
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                let (cache, waiter_loads) = (cache.clone(), waiter_loads.clone());
                tokio::spawn(async move {
                    cache
                        .try_get_or_insert_with_async(1, async move {
                            waiter_loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            Ok::<_, &str>(11)
                        })
                        .await
                })
            })
            .collect();
        tokio::time::timeout(WATCHDOG, async {
            let first = first.await;
            let mut waited = Vec::new();
            for waiter in waiters {
                waited.push(waiter.await.unwrap());
            }
            (first, waited)
        })
        .await
        .expect("stuck: the waiters never loaded")
    });
    assert!(
        waited.iter().all(|outcome| *outcome == Ok(11)),
        "{waited:?}"
    );
    assert_eq!(
        waiter_loads.load(Ordering::SeqCst),
        1,
        "after the first load gave up, one waiter loads and the others wait for it"
    );
    assert_eq!(cache.get(&1), Some(11));
    assert_eq!(cache.stats().inserts, 1, "the first load inserted nothing");
    first
}

#[test]
fn a_panicking_loader_lets_one_waiter_load() {
    assert!(first_loader_gives_up(true).unwrap_err().is_panic());
}

#[test]
fn a_failing_loader_caches_nothing_and_one_waiter_loads_instead() {
    assert_eq!(first_loader_gives_up(false).unwrap(), Err("backend down"));
}

#[test]
fn a_failing_loader_alone_caches_nothing() {
    let cache: Cache<u64, u64> = Cache::new(100);
    assert_eq!(cache.try_get_or_insert_with(1, || Err("no")), Err("no"));
    let failed = futures_lite_block_on(cache.try_get_or_insert_with_async(2, async { Err("no") }));
    assert_eq!(failed, Err("no"));
    assert!(cache.is_empty());
    assert_eq!(cache.stats().inserts, 0);
    // Nothing is left loading: the next calls load.
    assert_eq!(cache.try_get_or_insert_with(1, || Ok::<_, ()>(10)), Ok(10));
    assert_eq!(
        futures_lite_block_on(cache.try_get_or_insert_with_async(2, async { Ok::<_, ()>(20) })),
        Ok(20)
    );
    assert_eq!((cache.get(&1), cache.get(&2)), (Some(10), Some(20)));
}

/// Polls a future that never waits (no other task holds its key) to the end.
fn futures_lite_block_on<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("a lone load waited for something"),
    }
}

#[test]
fn a_failing_blocking_loader_lets_one_waiting_thread_load() {
    const WAITERS: usize = 4;
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let waiter_loads = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(std::sync::Barrier::new(WAITERS + 1));
    let outcomes = within_watchdog({
        let (cache, waiter_loads) = (cache.clone(), waiter_loads.clone());
        move || {
            let failing = {
                let (cache, started) = (cache.clone(), started.clone());
                std::thread::spawn(move || {
                    cache.try_get_or_insert_with(1, || {
                        started.wait();
                        std::thread::sleep(Duration::from_millis(50));
                        Err("backend down")
                    })
                })
            };
            let waiters: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let (cache, waiter_loads, started) =
                        (cache.clone(), waiter_loads.clone(), started.clone());
                    std::thread::spawn(move || {
                        started.wait();
                        cache.try_get_or_insert_with(1, || {
                            waiter_loads.fetch_add(1, Ordering::SeqCst);
                            Ok::<u64, &str>(11)
                        })
                    })
                })
                .collect();
            let failed = failing.join().unwrap();
            let waited: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
            (failed, waited)
        }
    });
    assert_eq!(outcomes.0, Err("backend down"));
    assert_eq!(outcomes.1, [Ok(11); WAITERS]);
    assert_eq!(waiter_loads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.get(&1), Some(11));
}

/// A cache whose listener panics, holding key 1 already expired: the next miss
/// on key 1 removes it and runs the listener while key 1 is being claimed.
fn cache_whose_next_miss_panics() -> Arc<Cache<u64, u64>> {
    let clock = ManualClock::new();
    let armed = Arc::new(AtomicBool::new(true));
    let cache: Cache<u64, u64> = Cache::builder()
        .shards(1)
        .time_to_live(Duration::from_secs(1))
        .clock(clock.clone())
        .eviction_listener(move |_: &u64, _, cause| {
            if cause == RemovalCause::Expired && armed.swap(false, Ordering::SeqCst) {
                panic!("the listener panics");
            }
        })
        .build();
    cache.insert(1, 1);
    clock.advance(Duration::from_secs(1));
    Arc::new(cache)
}

#[test]
fn a_listener_panic_while_claiming_a_key_does_not_leave_it_loading() {
    // Blocking form: before the fix, the second call waited for ever.
    let cache = cache_whose_next_miss_panics();
    let panicked = catch_unwind(AssertUnwindSafe(|| cache.get_or_insert_with(1, || 10)));
    assert!(panicked.is_err(), "the listener's panic reaches the caller");
    let next = within_watchdog({
        let cache = cache.clone();
        move || cache.get_or_insert_with(1, || 20)
    });
    assert_eq!(next, 20);

    let cache = cache_whose_next_miss_panics();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        cache.try_get_or_insert_with(1, || Ok::<_, ()>(10))
    }));
    assert!(panicked.is_err());
    let next = within_watchdog({
        let cache = cache.clone();
        move || cache.try_get_or_insert_with(1, || Ok::<_, ()>(20))
    });
    assert_eq!(next, Ok(20));

    // Async form.
    let cache = cache_whose_next_miss_panics();
    let panicked = runtime().block_on({
        let cache = cache.clone();
        async move {
            tokio::spawn(async move { cache.get_or_insert_with_async(1, async { 10 }).await }).await
        }
    });
    assert!(panicked.unwrap_err().is_panic());
    let next = runtime().block_on(async {
        tokio::time::timeout(WATCHDOG, cache.get_or_insert_with_async(1, async { 20 })).await
    });
    assert_eq!(next, Ok(20));
}

#[test]
fn the_async_forms_are_send_and_every_public_type_is_debug() {
    fn require_send<T: Send>(_: &T) {}
    let cache: Cache<String, Vec<u8>> = Cache::new(10);
    let load = cache.get_or_insert_with_async("secret-key".to_string(), async { vec![1] });
    require_send(&load);
    let try_load = cache.try_get_or_insert_with_async("secret-key".to_string(), async {
        Ok::<_, std::io::Error>(vec![2])
    });
    require_send(&try_load);
    drop((load, try_load));
    // Dropped before their first poll, they parked nothing.
    let loaded = cache.get_or_insert_with("secret-key".to_string(), || vec![77, 77]);
    assert_eq!(loaded, [77, 77]);

    // Debug shows sizes and options, never the entries.
    let shown = format!("{cache:?}");
    assert!(
        shown.starts_with("Cache {") && shown.contains("len: 1"),
        "{shown}"
    );
    assert!(
        !shown.contains("secret") && !shown.contains("77"),
        "{shown}"
    );
    let builder = Cache::<String, u64>::builder()
        .max_capacity(5)
        .eviction_listener(|_, _, _| {});
    let shown = format!("{builder:?}");
    assert!(shown.contains("max_capacity: Some(5)"), "{shown}");
    assert!(shown.contains("eviction_listener: true"), "{shown}");
}
