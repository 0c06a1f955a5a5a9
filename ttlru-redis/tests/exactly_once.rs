//! Exactly one `true` per key per window across separate OS processes (each with
//! its own `RedisSeenSet` and connection), on a standalone server and on a
//! 3-node cluster, and across tasks racing inside one process.
//!
//! The multi-process tests re-run this test binary as children: each child runs
//! only `exactly_once_child_process`, selected by name, with its instructions in
//! environment variables, and prints how many keys it was told were new.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{RedisCluster, RedisServer};
use ttlru_redis::RedisSeenSet;

/// Distinct keys in the fleet's stream.
const DISTINCT_KEYS: usize = 200_000;
/// Keys each child sees: three quarters of all, so every key reaches three children.
const KEYS_PER_CHILD: usize = 150_000;
const CHILDREN: usize = 4;
const BATCH: usize = 64;
/// Concurrent workers in each child, each with a batch in flight.
const WORKERS_PER_CHILD: usize = 4;

const CHILD_TARGET: &str = "TTLRU_REDIS_CHILD_TARGET";
const CHILD_INDEX: &str = "TTLRU_REDIS_CHILD_INDEX";
const CHILD_NAMESPACE: &str = "TTLRU_REDIS_CHILD_NAMESPACE";
const FINGERPRINT_KEY: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;

/// A small deterministic generator (splitmix64) for shuffles: no extra crate.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

fn event_id(index: usize) -> String {
    format!("order-{index:06}:created")
}

/// Child `child`'s stream: its three quarters of the keys, in an order of its
/// own, followed by a tenth of them again (its own duplicates).
fn child_stream(child: usize) -> Vec<String> {
    let mut indices: Vec<usize> = (0..KEYS_PER_CHILD)
        .map(|offset| (child * (DISTINCT_KEYS / CHILDREN) + offset) % DISTINCT_KEYS)
        .collect();
    match child % 4 {
        0 => {}
        1 => indices.reverse(),
        2 => SplitMix(child as u64).shuffle(&mut indices),
        _ => {
            // A stride coprime with the length visits every position once.
            let length = indices.len();
            indices = (0..length).map(|i| indices[(i * 7_919) % length]).collect();
        }
    }
    let again: Vec<usize> = indices[..KEYS_PER_CHILD / 10].to_vec();
    indices.extend(again);
    indices.into_iter().map(event_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of the exactly-once tests, which run it themselves"]
async fn exactly_once_child_process() {
    let Ok(target) = std::env::var(CHILD_TARGET) else {
        eprintln!("not started by an exactly-once test: nothing to do");
        return;
    };
    let child: usize = std::env::var(CHILD_INDEX).unwrap().parse().unwrap();
    let namespace = std::env::var(CHILD_NAMESPACE).unwrap();
    let builder = RedisSeenSet::<str>::builder()
        .namespace(namespace)
        .time_to_live(Duration::from_secs(600))
        .fingerprint_key(FINGERPRINT_KEY)
        // Half the children have a front filter, half ask Redis for everything.
        .local_capacity(if child.is_multiple_of(2) { 0 } else { 1 << 18 })
        // Generous: four processes and Redis share two cores.
        .call_timeout(Duration::from_secs(5));
    let builder = match target.split_once(':') {
        Some(("standalone", url)) => builder.url(url),
        Some(("cluster", urls)) => builder.cluster_urls(urls.split(',')),
        _ => panic!("bad {CHILD_TARGET}: {target}"),
    };
    let seen = builder.build().await.expect("build");
    let stream = Arc::new(child_stream(child));
    let chunks = stream.len().div_ceil(BATCH);
    let next_chunk = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..WORKERS_PER_CHILD {
        let (seen, stream, next_chunk) = (seen.clone(), stream.clone(), next_chunk.clone());
        workers.push(tokio::spawn(async move {
            let mut first_sightings = 0;
            loop {
                let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
                if chunk >= chunks {
                    return first_sightings;
                }
                let keys: Vec<&str> = stream
                    [chunk * BATCH..((chunk + 1) * BATCH).min(stream.len())]
                    .iter()
                    .map(String::as_str)
                    .collect();
                // One chunk in eight goes key by key, the rest as batches.
                if chunk.is_multiple_of(8) {
                    for key in keys {
                        first_sightings += usize::from(seen.insert(key).await.expect("insert"));
                    }
                } else {
                    let answers = seen.insert_many(&keys).await.expect("insert_many");
                    assert_eq!(answers.len(), keys.len());
                    first_sightings += answers.iter().filter(|&&first| first).count();
                }
            }
        }));
    }
    let mut first_sightings = 0;
    for worker in workers {
        first_sightings += worker.await.unwrap();
    }
    let stats = seen.stats();
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert_eq!(stats.degraded, 0, "{stats:?}");
    println!("TRUE_COUNT={first_sightings}");
}

/// Runs the children at once against `target` and returns each one's count of
/// first sightings.
fn run_children(target: &str, namespace: &str) -> Vec<usize> {
    let executable = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|child| {
            Command::new(&executable)
                .args([
                    "--exact",
                    "exactly_once_child_process",
                    "--ignored",
                    "--nocapture",
                ])
                .env(CHILD_TARGET, target)
                .env(CHILD_INDEX, child.to_string())
                .env(CHILD_NAMESPACE, namespace)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("re-run the test binary as a child")
        })
        .collect();
    children
        .into_iter()
        .enumerate()
        .map(|(child, process)| {
            let output = process.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "child {child} failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            stdout
                .lines()
                .find_map(|line| line.strip_prefix("TRUE_COUNT="))
                .unwrap_or_else(|| panic!("child {child} printed no count:\n{stdout}"))
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn four_processes_get_exactly_one_true_per_key_on_a_standalone_server() {
    let server = RedisServer::start();
    let counts = run_children(&format!("standalone:{}", server.url()), "exactly:");
    // Each key reached three children: anything but one `true` each shows here.
    assert_eq!(
        counts.iter().sum::<usize>(),
        DISTINCT_KEYS,
        "first sightings per child: {counts:?}"
    );
    assert!(counts.iter().all(|&count| count > 0), "{counts:?}");
    assert_eq!(server.dbsize(), DISTINCT_KEYS as u64);
}

#[test]
fn four_processes_get_exactly_one_true_per_key_on_a_three_node_cluster() {
    let cluster = RedisCluster::start(3);
    let counts = run_children(&format!("cluster:{}", cluster.urls().join(",")), "exactly:");
    assert_eq!(
        counts.iter().sum::<usize>(),
        DISTINCT_KEYS,
        "first sightings per child: {counts:?}"
    );
    assert_eq!(cluster.dbsize(), DISTINCT_KEYS as u64);
    // The keys spread over every primary, so batches did cross slots.
    for node in cluster.nodes() {
        assert!(
            node.dbsize() > DISTINCT_KEYS as u64 / 5,
            "a node holds too few keys"
        );
    }
    claims_contains_and_remove_on_the_cluster(&cluster);
}

/// Claims (compare-and-delete by script), `contains` and `remove` routed by slot.
fn claims_contains_and_remove_on_the_cluster(cluster: &RedisCluster) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let build = || {
            RedisSeenSet::<str>::builder()
                .cluster_urls(cluster.urls())
                .namespace("claims:")
                .time_to_live(Duration::from_secs(60))
                .fingerprint_key(FINGERPRINT_KEY)
                .local_capacity(1_000)
                .build()
        };
        let (a, b) = (build().await.unwrap(), build().await.unwrap());
        for i in 0..20 {
            let key = format!("evt-{i}");
            let claim = a.claim(&key).await.unwrap().expect("first sighting");
            assert!(b.contains(&key).await.unwrap());
            assert!(!b.insert(&key).await.unwrap());
            assert!(claim.release().await.unwrap());
            assert!(b.insert(&key).await.unwrap(), "released: new again");
            assert!(b.remove(&key).await.unwrap());
            assert!(!a.contains(&key).await.unwrap());
        }
        assert_eq!(a.stats().claims_released, 20);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_racing_on_the_same_keys_get_exactly_one_true_per_key() {
    const KEYS: usize = 5_000;
    const TASKS: u64 = 16;
    let server = RedisServer::start();
    let build = |local_capacity| {
        RedisSeenSet::<str>::builder()
            .url(server.url())
            .time_to_live(Duration::from_secs(600))
            .fingerprint_key(FINGERPRINT_KEY)
            .local_capacity(local_capacity)
            .call_timeout(Duration::from_secs(5))
            .build()
    };
    // Two sets in one process, as two replicas would be; tasks share clones.
    let replicas = [build(0).await.unwrap(), build(10_000).await.unwrap()];
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let seen = replicas[task as usize % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut keys: Vec<String> = (0..KEYS).map(event_id).collect();
            SplitMix(task).shuffle(&mut keys);
            let mut first_sightings = 0;
            let mut claims = Vec::new();
            for (position, chunk) in keys.chunks(16).enumerate() {
                match (task + position as u64) % 3 {
                    0 => {
                        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
                        let answers = seen.insert_many(&chunk).await.unwrap();
                        first_sightings += answers.iter().filter(|&&first| first).count();
                    }
                    1 => {
                        for key in chunk {
                            first_sightings += usize::from(seen.insert(key).await.unwrap());
                        }
                    }
                    _ => {
                        for key in chunk {
                            if let Some(claim) = seen.claim(key).await.unwrap() {
                                first_sightings += 1;
                                claims.push(claim); // held, never released
                            }
                        }
                    }
                }
            }
            first_sightings
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, KEYS);
    let stats: Vec<_> = replicas.iter().map(RedisSeenSet::stats).collect();
    assert_eq!(
        stats.iter().map(|stats| stats.remote_new).sum::<u64>(),
        KEYS as u64,
        "{stats:?}"
    );
}
