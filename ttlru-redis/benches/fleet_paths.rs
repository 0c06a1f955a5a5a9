//! The two costs of a fleet-wide sighting, against a real `redis-server` this bench
//! starts: a duplicate the local front filter answers (no network; the target is
//! at least 1 M per second per thread), and a batch of 64 new keys decided by
//! Redis in one pipeline, next to raw redis-rs pipelining `SET key 1 NX PX` of the
//! same number of keys over the same kind of connection.
//!
//! `cargo bench -p ttlru-redis --bench fleet_paths` (needs `redis-server` on PATH).

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ttlru_redis::RedisSeenSet;

const BATCH: usize = 64;
const WINDOW: Duration = Duration::from_secs(3600);

fn event_ids(start: u64, count: usize) -> Vec<String> {
    (start..start + count as u64)
        .map(|i| {
            format!(
                "user{:05}:evt-{:016x}",
                i % 9973,
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            )
        })
        .collect()
}

fn fleet_paths(criterion: &mut Criterion) {
    let server = support::RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let seen: RedisSeenSet<str> = runtime
        .block_on(
            RedisSeenSet::builder()
                .url(server.url())
                .namespace("bench:")
                .time_to_live(WINDOW)
                .fingerprint_key(0x5eed)
                .local_capacity(1 << 16)
                .call_timeout(Duration::from_secs(1))
                .build(),
        )
        .expect("connect to the bench's redis-server");

    let mut group = criterion.benchmark_group("fleet");
    // Duplicates answered by the front filter: seen once, then asked again.
    let known = event_ids(0, 4_096);
    for id in &known {
        assert!(runtime.block_on(seen.insert(id)).unwrap());
    }
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("local_filter_duplicate", |bench| {
        bench.iter(|| {
            next = (next + 1) % known.len();
            let first = runtime
                .block_on(seen.insert(black_box(&known[next])))
                .unwrap();
            assert!(!first);
        })
    });

    // New keys, a pipelined batch of 64 per call.
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut start = 1_000_000_u64;
    group.bench_function("insert_many_64_new", |bench| {
        bench.iter(|| {
            let ids = event_ids(start, BATCH);
            start += BATCH as u64;
            let keys: Vec<&str> = ids.iter().map(String::as_str).collect();
            let answers = runtime.block_on(seen.insert_many(&keys)).unwrap();
            assert!(answers.iter().all(|&first| first));
        })
    });

    let raw = runtime
        .block_on(redis::aio::ConnectionManager::new(
            redis::Client::open(server.url()).unwrap(),
        ))
        .unwrap();
    let mut start = 50_000_000_u64;
    group.bench_function("raw_redis_rs_set_nx_px_64", |bench| {
        bench.iter(|| {
            let ids = event_ids(start, BATCH);
            start += BATCH as u64;
            let mut pipeline = redis::pipe();
            for id in &ids {
                pipeline
                    .cmd("SET")
                    .arg(id)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(WINDOW.as_millis() as u64);
            }
            let replies: Vec<redis::Value> = runtime
                .block_on(pipeline.query_async(&mut raw.clone()))
                .unwrap();
            assert_eq!(replies.len(), BATCH);
        })
    });
    group.finish();
}

criterion_group!(benches, fleet_paths);
criterion_main!(benches);
