//! Four replicas deduplicating one event stream through Redis, one of them
//! restarted half-way, next to what in-process seen sets would have let through;
//! then throughput and Redis memory per key against raw redis-rs, in the same run.
//!
//! ```text
//! cargo run --release -p ttlru-redis --example fleet            # full sizes
//! cargo run --release -p ttlru-redis --example fleet -- --quick # CI sizes, ~20 s
//! REDIS_URL=redis://host:6379/ cargo run --release -p ttlru-redis --example fleet
//! ```
//!
//! Without `REDIS_URL` it starts its own `redis-server` (Debian's `redis-server`
//! package) on a free loopback port and flushes it between phases. With
//! `REDIS_URL` it flushes nothing: it writes keys under namespaces of its own run
//! (expiring after 10 minutes), and the memory figures are only meaningful on an
//! otherwise idle server.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use ttlru::SeenSet;
use ttlru_redis::{FleetStats, RedisSeenSet};

const REPLICAS: usize = 4;
const BATCH: usize = 64;
/// Batches in flight at once in the throughput comparison.
const CONCURRENCY: usize = 8;
/// One in five events of the stream is a redelivery of an earlier one.
const DUPLICATE_SHARE: f64 = 0.2;
/// Redeliveries repeat one of the last this many events.
const REDELIVERY_REACH: usize = 50_000;
const WINDOW: Duration = Duration::from_secs(600);
const FINGERPRINT_KEY: u128 = 0x5eed_f1ee_7000_0000_0000_0000_0000_0001;
const LOCAL_CAPACITY: u64 = 1 << 20;

struct Sizes {
    distinct_events: usize,
    memory_keys: usize,
    throughput_keys: usize,
    throughput_rounds: usize,
    local_hit_lookups: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                distinct_events: 100_000,
                memory_keys: 50_000,
                throughput_keys: 100_000,
                throughput_rounds: 3,
                local_hit_lookups: 1_000_000,
            }
        } else {
            Sizes {
                distinct_events: 1_000_000,
                memory_keys: 500_000,
                throughput_keys: 1_000_000,
                throughput_rounds: 3,
                local_hit_lookups: 10_000_000,
            }
        }
    }
}

/// splitmix64: a deterministic stream of random numbers, no extra crate.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn chance(&mut self, probability: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= probability
    }
}

/// An event ID as producers make them: a UUID in text, 36 bytes.
fn event_id(seed: u64, index: usize) -> String {
    let mut random = SplitMix(seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (high, low) = (random.next(), random.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        (low >> 48) | 0x8000,
        low & 0xffff_ffff_ffff
    )
}

/// Where Redis is: `REDIS_URL`, or a server of our own that lives as long as this.
struct Redis {
    url: String,
    own: Option<support::RedisServer>,
    run: u64,
}

impl Redis {
    fn connect() -> Redis {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        match std::env::var("REDIS_URL") {
            Ok(url) => Redis {
                url,
                own: None,
                run,
            },
            Err(_) => {
                let server = support::RedisServer::start();
                Redis {
                    url: server.url(),
                    own: Some(server),
                    run,
                }
            }
        }
    }

    fn admin(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("an admin connection")
    }

    /// Empties our own server between phases; leaves a shared one alone.
    fn flush(&self) {
        if self.own.is_some() {
            let _: () = redis::cmd("FLUSHALL")
                .arg("SYNC")
                .query(&mut self.admin())
                .unwrap();
        }
    }

    fn used_memory(&self) -> u64 {
        support::info_field(&mut self.admin(), "memory", "used_memory")
    }

    /// A namespace no earlier phase or run wrote to.
    fn namespace(&self, phase: &str) -> String {
        format!("fleet-{:x}-{phase}:", self.run)
    }

    async fn seen_set(&self, namespace: &str, local_capacity: u64) -> RedisSeenSet<str> {
        RedisSeenSet::<str>::builder()
            .url(self.url.as_str())
            .namespace(namespace)
            .time_to_live(WINDOW)
            .fingerprint_key(FINGERPRINT_KEY)
            .local_capacity(local_capacity)
            // Measuring, not failing over: the machine may be busy.
            .call_timeout(Duration::from_secs(5))
            .build()
            .await
            .expect("build a RedisSeenSet")
    }
}

/// The stream: distinct events, each followed now and then by a redelivery of a
/// recent one. Originals go to their partition's replica, redeliveries to any.
struct Stream {
    ids: Vec<String>,
    /// Per replica, the indices into `ids` it consumes, in order.
    routes: Vec<Vec<u32>>,
    duplicates: usize,
}

fn make_stream(distinct: usize, seed: u64) -> Stream {
    let ids: Vec<String> = (0..distinct).map(|index| event_id(seed, index)).collect();
    let mut routes = vec![Vec::new(); REPLICAS];
    let mut random = SplitMix(seed);
    let mut duplicates = 0;
    // A redelivery after an original with probability p/(1-p) makes p of the stream.
    let redelivery = DUPLICATE_SHARE / (1.0 - DUPLICATE_SHARE);
    for index in 0..distinct {
        routes[index % REPLICAS].push(index as u32);
        if random.chance(redelivery) {
            let earlier = index.saturating_sub(random.below(REDELIVERY_REACH.min(index + 1)));
            routes[random.below(REPLICAS)].push(earlier as u32);
            duplicates += 1;
        }
    }
    Stream {
        ids,
        routes,
        duplicates,
    }
}

struct ReplicaOutcome {
    fleet_first: usize,
    in_process_first: usize,
    stats: Vec<FleetStats>,
}

/// One replica: consumes its route in batches of 64, asking its `RedisSeenSet`
/// and, for comparison, an in-process `SeenSet`. `restart_at`: where it is
/// dropped and rebuilt, losing all in-process state.
async fn run_replica(
    redis: Arc<Redis>,
    namespace: String,
    ids: Arc<Vec<String>>,
    route: Vec<u32>,
    restart_at: Option<usize>,
) -> ReplicaOutcome {
    let in_process = || {
        SeenSet::<String>::builder()
            .max_capacity(1 << 22)
            .time_to_live(WINDOW)
            .build()
    };
    let mut fleet = redis.seen_set(&namespace, LOCAL_CAPACITY).await;
    let mut local = in_process();
    let mut outcome = ReplicaOutcome {
        fleet_first: 0,
        in_process_first: 0,
        stats: Vec::new(),
    };
    for (position, batch) in route.chunks(BATCH).enumerate() {
        if restart_at == Some(position * BATCH) {
            outcome.stats.push(fleet.stats());
            drop((fleet, local));
            fleet = redis.seen_set(&namespace, LOCAL_CAPACITY).await;
            local = in_process();
        }
        let keys: Vec<&str> = batch
            .iter()
            .map(|&index| ids[index as usize].as_str())
            .collect();
        let answers = fleet.insert_many(&keys).await.expect("insert_many");
        outcome.fleet_first += answers.iter().filter(|&&first| first).count();
        for key in keys {
            outcome.in_process_first += usize::from(local.insert(key.to_string()));
        }
    }
    outcome.stats.push(fleet.stats());
    outcome
}

struct FleetResult {
    events: usize,
    duplicates: usize,
    in_process_let_through: usize,
    fleet_let_through: usize,
    events_per_second: f64,
    local_hit_share: f64,
}

async fn fleet_phase(redis: &Arc<Redis>, sizes: &Sizes) -> FleetResult {
    redis.flush();
    let stream = make_stream(sizes.distinct_events, redis.run);
    let events: usize = stream.routes.iter().map(Vec::len).sum();
    let ids = Arc::new(stream.ids);
    let namespace = redis.namespace("fleet");
    let started = Instant::now();
    let replicas: Vec<_> = stream
        .routes
        .into_iter()
        .enumerate()
        .map(|(replica, route)| {
            // Replica 0 is redeployed half-way through its share of the stream.
            let restart_at = (replica == 0).then_some(route.len() / 2 / BATCH * BATCH);
            tokio::spawn(run_replica(
                redis.clone(),
                namespace.clone(),
                ids.clone(),
                route,
                restart_at,
            ))
        })
        .collect();
    let mut outcomes = Vec::new();
    for replica in replicas {
        outcomes.push(replica.await.expect("a replica panicked"));
    }
    let elapsed = started.elapsed();
    let distinct = sizes.distinct_events;
    let fleet_first: usize = outcomes.iter().map(|outcome| outcome.fleet_first).sum();
    let in_process_first: usize = outcomes
        .iter()
        .map(|outcome| outcome.in_process_first)
        .sum();
    let local_hits: u64 = outcomes
        .iter()
        .flat_map(|outcome| &outcome.stats)
        .map(|stats| stats.local_hits)
        .sum();
    // Every event must have had exactly one first sighting fleet-wide.
    assert!(
        fleet_first >= distinct,
        "{} events were never processed",
        distinct - fleet_first
    );
    FleetResult {
        events,
        duplicates: stream.duplicates,
        in_process_let_through: in_process_first.saturating_sub(distinct),
        fleet_let_through: fleet_first - distinct,
        events_per_second: events as f64 / elapsed.as_secs_f64(),
        local_hit_share: local_hits as f64 / events as f64,
    }
}

/// What `keys` keys cost Redis: `used_memory` grown by inserting them, per key.
struct KeyMemory {
    bytes_per_key: f64,
}

/// Of a key's cost, the share of the two bucket arrays (keys and expiries):
/// 8 bytes a bucket, a power of two of them at least as many as the keys, so it
/// depends on how full the tables happen to be (16 to 32 bytes a key).
fn bucket_bytes_per_key(keys: usize) -> f64 {
    2.0 * 8.0 * keys.next_power_of_two() as f64 / keys as f64
}

/// Measures the keys `write` puts into an emptied (or idle) Redis.
async fn key_memory(redis: &Redis, keys: usize, write: impl AsyncFnOnce()) -> KeyMemory {
    redis.flush();
    let before = redis.used_memory();
    write().await;
    let after = redis.used_memory();
    redis.flush();
    KeyMemory {
        bytes_per_key: (after as f64 - before as f64) / keys as f64,
    }
}

/// Redis memory per key: fingerprint keys written by the set, then event IDs
/// themselves as `SET id 1 NX PX ttl`, a UUID and a longer, prefixed one.
async fn memory_phase(redis: &Redis, sizes: &Sizes) -> [KeyMemory; 3] {
    let uuids: Vec<String> = (0..sizes.memory_keys)
        .map(|index| event_id(!redis.run, index))
        .collect();
    let prefixed: Vec<String> = uuids
        .iter()
        .enumerate()
        .map(|(index, uuid)| format!("tenant-{:04}/orders/{uuid}", index % 1_000))
        .collect();
    // A short namespace, as a deployment would use ("orders:").
    let seen = redis
        .seen_set(&format!("o{:04x}:", redis.run & 0xffff), 0)
        .await;
    let fingerprints = key_memory(redis, uuids.len(), async || {
        for batch in uuids.chunks(BATCH) {
            let keys: Vec<&str> = batch.iter().map(String::as_str).collect();
            seen.insert_many(&keys).await.expect("insert_many");
        }
    })
    .await;
    let raw = ConnectionManager::new(redis::Client::open(redis.url.as_str()).unwrap())
        .await
        .unwrap();
    let set_ids = async |ids: &[String]| {
        let mut raw = raw.clone();
        for batch in ids.chunks(BATCH) {
            let mut pipeline = redis::pipe();
            for id in batch {
                pipeline
                    .cmd("SET")
                    .arg(id)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(WINDOW.as_millis() as u64);
            }
            let _: Vec<redis::Value> = pipeline.query_async(&mut raw).await.unwrap();
        }
    };
    let uuid_memory = key_memory(redis, uuids.len(), async || set_ids(&uuids).await).await;
    let prefixed_memory = key_memory(redis, uuids.len(), async || set_ids(&prefixed).await).await;
    [fingerprints, uuid_memory, prefixed_memory]
}

/// Keys per second for `keys` spread over `CONCURRENCY` tasks, each sending one
/// batch of `BATCH` at a time through `send`.
async fn concurrent_batches<F, Fut>(keys: Arc<Vec<String>>, send: F) -> f64
where
    F: Fn(Arc<Vec<String>>, std::ops::Range<usize>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (keys, next, send) = (keys.clone(), next.clone(), send.clone());
            tokio::spawn(async move {
                loop {
                    let start = next.fetch_add(BATCH, Ordering::Relaxed);
                    if start >= keys.len() {
                        return;
                    }
                    let end = (start + BATCH).min(keys.len());
                    send(keys.clone(), start..end).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    keys.len() as f64 / started.elapsed().as_secs_f64()
}

/// Best keys/s of each throughput contender over all rounds.
struct Throughput {
    set_with_filter: f64,
    set_without_filter: f64,
    raw: f64,
}

/// Keys/s of `insert_many` (with and without a front filter) and of raw
/// pipelined `SET NX PX` of the same Redis keys, best of rounds that alternate
/// between the three so all see the same machine.
async fn throughput_phase(redis: &Redis, sizes: &Sizes) -> Throughput {
    let mut best = Throughput {
        set_with_filter: 0.0,
        set_without_filter: 0.0,
        raw: 0.0,
    };
    for round in 0..sizes.throughput_rounds {
        let keys: Arc<Vec<String>> = Arc::new(
            (0..sizes.throughput_keys)
                .map(|index| event_id(redis.run.rotate_left(round as u32 + 1), index))
                .collect(),
        );
        for local_capacity in [LOCAL_CAPACITY, 0] {
            redis.flush();
            let namespace = redis.namespace(&format!("set{local_capacity}-{round}"));
            let seen = redis.seen_set(&namespace, local_capacity).await;
            let rate = concurrent_batches(keys.clone(), move |keys, range| {
                let seen = seen.clone();
                async move {
                    let batch: Vec<&str> = keys[range].iter().map(String::as_str).collect();
                    seen.insert_many(&batch).await.expect("insert_many");
                }
            })
            .await;
            let best = if local_capacity > 0 {
                &mut best.set_with_filter
            } else {
                &mut best.set_without_filter
            };
            *best = best.max(rate);
        }

        redis.flush();
        // The same Redis keys the set writes: namespace + fingerprint.
        let namespace = redis.namespace(&format!("raw{round}"));
        let raw_keys: Arc<Vec<Vec<u8>>> = Arc::new(
            keys.iter()
                .map(|id| {
                    let mut key = namespace.as_bytes().to_vec();
                    key.extend_from_slice(
                        &ttlru::keyed_fingerprint(FINGERPRINT_KEY, id.as_str()).to_be_bytes(),
                    );
                    key
                })
                .collect(),
        );
        let manager = ConnectionManager::new(redis::Client::open(redis.url.as_str()).unwrap())
            .await
            .unwrap();
        let window_ms = WINDOW.as_millis() as u64;
        let rate = concurrent_batches(keys, move |_, range| {
            let (mut manager, raw_keys) = (manager.clone(), raw_keys.clone());
            async move {
                let mut pipeline = redis::pipe();
                for key in &raw_keys[range] {
                    pipeline
                        .cmd("SET")
                        .arg(key)
                        .arg(1)
                        .arg("NX")
                        .arg("PX")
                        .arg(window_ms);
                }
                let _: Vec<redis::Value> = pipeline.query_async(&mut manager).await.unwrap();
            }
        })
        .await;
        best.raw = best.raw.max(rate);
    }
    redis.flush();
    best
}

/// Duplicates answered by the local front filter, keys/s per thread, with
/// `threads` threads sharing one set: `insert` key by key, and `insert_many`.
async fn local_hit_phase(redis: &Redis, sizes: &Sizes, threads: usize) -> (f64, f64) {
    const HELD: usize = 100_000;
    let seen = redis
        .seen_set(&redis.namespace("local"), LOCAL_CAPACITY)
        .await;
    let ids: Vec<String> = (0..HELD)
        .map(|index| event_id(redis.run ^ 0x10ca1, index))
        .collect();
    for batch in ids.chunks(BATCH) {
        let keys: Vec<&str> = batch.iter().map(String::as_str).collect();
        seen.insert_many(&keys).await.expect("insert_many");
    }
    let handle = tokio::runtime::Handle::current();
    let lookups = sizes.local_hit_lookups / threads;
    // Each thread drives its own loop on the shared runtime's handle.
    let measure = |batched: bool| {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|thread| {
                    let (seen, ids, handle) = (&seen, &ids, &handle);
                    scope.spawn(move || {
                        handle.block_on(async move {
                            let started = Instant::now();
                            let mut answered = 0;
                            let mut start = thread * 7_919 % HELD;
                            while answered < lookups {
                                if batched {
                                    let end = (start + BATCH).min(HELD);
                                    let keys: Vec<&str> =
                                        ids[start..end].iter().map(String::as_str).collect();
                                    let answers =
                                        seen.insert_many(&keys).await.expect("insert_many");
                                    assert!(answers.iter().all(|&first| !first));
                                    answered += keys.len();
                                    start = if end == HELD { 0 } else { end };
                                } else {
                                    assert!(!seen.insert(&ids[start]).await.expect("insert"));
                                    answered += 1;
                                    start = (start + 1) % HELD;
                                }
                            }
                            answered as f64 / started.elapsed().as_secs_f64()
                        })
                    })
                })
                .collect();
            let rates: Vec<f64> = workers
                .into_iter()
                .map(|worker| worker.join().unwrap())
                .collect();
            rates.iter().sum::<f64>() / rates.len() as f64
        })
    };
    let calls_before = seen.stats().remote_calls;
    let rates = tokio::task::block_in_place(|| (measure(false), measure(true)));
    assert_eq!(
        seen.stats().remote_calls,
        calls_before,
        "a duplicate went to Redis"
    );
    rates
}

fn per_second(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2} M/s", rate / 1e6)
    } else {
        format!("{:.0} k/s", rate / 1e3)
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let sizes = Sizes::new(quick);
    let redis = Arc::new(Redis::connect());
    let server_version: String = {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut redis.admin())
            .unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("redis_version:"))
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    // Redis, the replicas and whatever else runs share the cores: say how busy.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# ttlru-redis fleet{} — Redis {server_version} ({}), {} cores, load average {} at start",
        if quick { " (--quick)" } else { "" },
        if redis.own.is_some() {
            "own redis-server on loopback"
        } else {
            "REDIS_URL"
        },
        std::thread::available_parallelism().map_or(0, usize::from),
        load.split_whitespace().next().unwrap_or("?"),
    );

    let fleet = fleet_phase(&redis, &sizes).await;
    println!(
        "\n## {REPLICAS} replicas, one stream of {} events ({} distinct, {} redeliveries routed at random), replica 0 restarted half-way\n",
        fleet.events, sizes.distinct_events, fleet.duplicates
    );
    println!("| | in-process `ttlru::SeenSet` per replica | `RedisSeenSet` (shared) |");
    println!("|---|---:|---:|");
    println!(
        "| duplicates let through (goal: 0) | {} ({:.1} % of redeliveries) | {} |",
        fleet.in_process_let_through,
        100.0 * fleet.in_process_let_through as f64 / fleet.duplicates.max(1) as f64,
        fleet.fleet_let_through
    );
    println!(
        "| fleet events/s (`insert_many` of {BATCH}, one batch in flight per replica) | | {} |",
        per_second(fleet.events_per_second)
    );
    println!(
        "| answered by the local front filter | | {:.1} % of events |",
        100.0 * fleet.local_hit_share
    );

    let throughput = throughput_phase(&redis, &sizes).await;
    let (one_single, one_batched) = local_hit_phase(&redis, &sizes, 1).await;
    let (two_single, two_batched) = local_hit_phase(&redis, &sizes, 2).await;
    println!(
        "\n## Throughput, best of {} alternating rounds of {} new keys\n",
        sizes.throughput_rounds, sizes.throughput_keys
    );
    println!("| path | keys/s | ratio to raw | target |");
    println!("|---|---:|---:|---|");
    let raw = throughput.raw;
    println!(
        "| `RedisSeenSet::insert_many`, {BATCH} per batch, {CONCURRENCY} batches in flight, front filter of 2^20 | {} | {:.2} | ≥ 0.8 and ≥ 150 k/s: {} |",
        per_second(throughput.set_with_filter),
        throughput.set_with_filter / raw,
        verdict(throughput.set_with_filter >= 0.8 * raw && throughput.set_with_filter >= 150_000.0)
    );
    println!(
        "| the same without a front filter | {} | {:.2} | |",
        per_second(throughput.set_without_filter),
        throughput.set_without_filter / raw,
    );
    println!(
        "| raw redis-rs pipeline of `SET key 1 NX PX ttl`, same keys, same concurrency | {} | 1.00 | |",
        per_second(raw)
    );
    for (threads, single, batched) in [(1, one_single, one_batched), (2, two_single, two_batched)] {
        println!(
            "| duplicates answered by the local filter, `insert`, per thread ({threads} thread{}) | {} | | ≥ 1 M/s: {} |",
            if threads == 1 { "" } else { "s" },
            per_second(single),
            verdict(single >= 1e6)
        );
        println!(
            "| the same, `insert_many` of {BATCH}, per thread ({threads} thread{}) | {} | | |",
            if threads == 1 { "" } else { "s" },
            per_second(batched)
        );
    }

    let [fingerprints, uuids, prefixed] = memory_phase(&redis, &sizes).await;
    println!(
        "\n## Redis memory per key with a TTL (`used_memory` delta / {} keys)\n",
        sizes.memory_keys
    );
    println!(
        "Of each figure, {:.1} bytes are the key and expiry tables' bucket arrays, whose size is a power of two (16 bytes a key when full, 32 just after growing).\n",
        bucket_bytes_per_key(sizes.memory_keys)
    );
    println!("| what Redis holds | bytes/key | ratio | target |");
    println!("|---|---:|---:|---|");
    println!(
        "| `RedisSeenSet`: 6-byte namespace + 16-byte fingerprint, integer claim token | {:.1} | 1.00 | ≤ 130: {} |",
        fingerprints.bytes_per_key,
        verdict(fingerprints.bytes_per_key <= 130.0)
    );
    for (what, memory) in [
        (
            "the event ID itself (36-byte UUID text), `SET id 1 NX PX ttl`",
            &uuids,
        ),
        (
            "a prefixed event ID (55 bytes, `tenant-0042/orders/<uuid>`), the same",
            &prefixed,
        ),
    ] {
        println!(
            "| {what} | {:.1} | {:.2} | |",
            memory.bytes_per_key,
            memory.bytes_per_key / fingerprints.bytes_per_key
        );
    }

    // The one figure that is a correctness claim, not a measurement.
    assert_eq!(
        fleet.fleet_let_through, 0,
        "RedisSeenSet let duplicates through"
    );
}
