//! The synchronous set: the same answers from many OS threads at once.

mod support;

use std::time::Duration;

use support::RedisServer;
use ttlru_redis::blocking::RedisSeenSet;

fn blocking_set(server: &RedisServer, local_capacity: u64) -> RedisSeenSet<str> {
    RedisSeenSet::<str>::builder()
        .url(server.url())
        .namespace("blocking:")
        .time_to_live(Duration::from_secs(60))
        .fingerprint_key(0xb10c)
        .local_capacity(local_capacity)
        .call_timeout(Duration::from_secs(2))
        .build()
        .expect("build")
}

#[test]
fn a_round_trip_from_several_threads_gives_one_true_per_key() {
    const KEYS: usize = 2_000;
    const THREADS: usize = 8;
    let server = RedisServer::start();
    let replicas = [blocking_set(&server, 0), blocking_set(&server, 4_096)];
    let first_sightings: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let seen = replicas[thread % 2].clone();
                scope.spawn(move || {
                    let keys: Vec<String> = (0..KEYS)
                        .map(|i| format!("evt-{}", (i * 7 + thread * 131) % KEYS))
                        .collect();
                    let mut first_sightings = 0;
                    for (position, chunk) in keys.chunks(32).enumerate() {
                        if (position + thread).is_multiple_of(2) {
                            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
                            let answers = seen.insert_many(&chunk).unwrap();
                            first_sightings += answers.iter().filter(|&&first| first).count();
                        } else {
                            for key in chunk {
                                first_sightings += usize::from(seen.insert(key).unwrap());
                            }
                        }
                    }
                    first_sightings
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .sum()
    });
    assert_eq!(first_sightings, KEYS);
    assert!(replicas[1].local_len() > 0);
    assert!(
        replicas[1].stats().local_hits > 0,
        "{:?}",
        replicas[1].stats()
    );
}

#[test]
fn claims_contains_and_remove_work_synchronously() {
    let server = RedisServer::start();
    let a = blocking_set(&server, 1_000);
    let b = blocking_set(&server, 1_000);
    let claim = a.claim("evt-1").unwrap().expect("first sighting");
    assert!(b.contains("evt-1").unwrap());
    assert!(!b.insert("evt-1").unwrap());
    assert!(claim.release().unwrap());
    assert!(!b.contains("evt-1").unwrap());
    assert!(b.insert("evt-1").unwrap());
    assert!(a.claim("evt-1").unwrap().is_none());
    assert!(a.remove("evt-1").unwrap());
    assert!(a.insert("evt-1").unwrap());
    assert_eq!(a.stats().claims_released, 1);
}

#[test]
fn the_blocking_api_works_from_spawn_blocking() {
    // spawn_blocking threads exist to run blocking code: the set must not refuse
    // them as if they were async worker threads.
    let server = RedisServer::start();
    let seen = blocking_set(&server, 0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime
        .block_on(runtime.spawn_blocking(move || seen.insert("evt-1")))
        .unwrap();
    assert!(matches!(answer, Ok(true)), "{answer:?}");
}

#[test]
fn dropping_a_blocking_set_inside_an_async_runtime_does_not_panic() {
    // A blocking set held by a struct that an async task drops, e.g. at shutdown.
    let server = RedisServer::start();
    let seen = blocking_set(&server, 0);
    assert!(seen.insert("evt-1").unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dropped = runtime.block_on(runtime.spawn(async move { drop(seen) }));
    assert!(
        dropped.is_ok(),
        "dropping the set inside a runtime panicked: {dropped:?}"
    );
}
