//! What the async single-flight loader costs on a hit, against the blocking one:
//! `cargo bench --bench loading`. A hit never awaits, so the async form is polled
//! once, with a no-op waker, outside any runtime: what is measured is the future
//! itself (building it, the lookup, returning), not an executor.
//!
//! Each iteration looks up all 1 024 keys of a warm `Cache<u64, u64>` once; `get`
//! is the floor both loaders stand on.

use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ttlru::Cache;

const KEYS: u64 = 1_024;

/// Polls a future that must not wait (a hit) to its value, pinned where it is
/// built (as an `.await` in an async fn would), not moved into a function first.
macro_rules! ready {
    ($future:expr) => {{
        let future = pin!($future);
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("a hit waited"),
        }
    }};
}

fn hits(c: &mut Criterion) {
    let cache: Cache<u64, u64> = Cache::builder().max_capacity(2 * KEYS).build();
    for key in 0..KEYS {
        cache.insert(key, key);
    }
    let mut group = c.benchmark_group("hit");
    group
        .throughput(Throughput::Elements(KEYS))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("get", |b| {
        b.iter(|| {
            for key in 0..KEYS {
                black_box(cache.get(black_box(&key)));
            }
        });
    });
    group.bench_function("get_or_insert_with", |b| {
        b.iter(|| {
            for key in 0..KEYS {
                black_box(cache.get_or_insert_with(black_box(key), || unreachable!("a hit")));
            }
        });
    });
    group.bench_function("get_or_insert_with_async", |b| {
        b.iter(|| {
            for key in 0..KEYS {
                let load = async { unreachable!("a hit") };
                black_box(ready!(cache.get_or_insert_with_async(black_box(key), load)));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, hits);
criterion_main!(benches);
