//! The `metrics` feature end to end: `examples/prometheus.rs` runs as a service,
//! and what it serves on `/metrics`, scraped over HTTP, must equal the cache's own
//! `stats()` and `memory_bytes()`: published by the sweeper's tick for its cache,
//! and by an explicit `publish_metrics()` for a cache without a sweeper.

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/prometheus.rs"]
mod prometheus;

use std::time::{Duration, Instant};

use ttlru::Cache;

const EVENTS: u64 = 20_000;

/// Each exported series of a cache, with the value it must have.
fn expected(cache: &Cache<String, u64>) -> Vec<(&'static str, f64)> {
    let stats = cache.stats();
    [
        ("ttlru_entries", stats.len),
        ("ttlru_memory_bytes", cache.memory_bytes() as u64),
        ("ttlru_table_buckets", stats.table_buckets),
        ("ttlru_hits_total", stats.hits),
        ("ttlru_misses_total", stats.misses),
        ("ttlru_inserts_total", stats.inserts),
        ("ttlru_evictions_total", stats.evictions),
        ("ttlru_expirations_total", stats.expirations),
        ("ttlru_removals_total", stats.removals),
    ]
    .into_iter()
    .map(|(metric, value)| (metric, value as f64))
    .collect()
}

fn exported(body: &str, label: &str, metrics: &[(&'static str, f64)]) -> Vec<(&'static str, f64)> {
    metrics
        .iter()
        .map(|&(metric, _)| {
            (
                metric,
                prometheus::sample(body, metric, label).unwrap_or(f64::NAN),
            )
        })
        .collect()
}

#[test]
fn the_served_metrics_match_the_caches_own_figures() {
    let service = prometheus::start(0, Some(EVENTS)).expect("the service starts");
    let duplicates = service.traffic.join().expect("the traffic runs");
    let stats = service.cache.stats();
    assert_eq!(
        stats.inserts,
        EVENTS - duplicates,
        "one insert per first sighting"
    );
    assert!(
        duplicates > EVENTS / 10,
        "{duplicates} duplicates: the stream has repeats"
    );

    // Traffic has stopped, so the figures are final: within a few sweeper ticks
    // the endpoint must serve exactly them, with nothing calling publish_metrics.
    let label = format!("cache=\"{}\"", prometheus::CACHE_NAME);
    let want = expected(&service.cache);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let body = prometheus::scrape(service.address).expect("the endpoint answers");
        let got = exported(&body, &label, &want);
        if got == want {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the sweeper never published the final figures:\nwant {want:?}\ngot  {got:?}\n{body}"
        );
        std::thread::sleep(prometheus::SWEEP_EVERY);
    };
    let resident = prometheus::sample(&body, prometheus::RESIDENT_METRIC, "")
        .expect("the resident set size is served");
    assert!(
        resident >= 1_048_576.0,
        "a resident set of {resident} bytes is not this process's"
    );

    // A cache without a sweeper is published only when asked to.
    let explicit: Cache<String, u64> = Cache::builder().name("explicit").build();
    for id in 0..3 {
        explicit.insert(format!("order-{id}"), id);
    }
    let _ = explicit.get("order-1");
    let label = "cache=\"explicit\"";
    let body = prometheus::scrape(service.address).unwrap();
    assert_eq!(prometheus::sample(&body, "ttlru_entries", label), None);
    explicit.publish_metrics();
    let body = prometheus::scrape(service.address).unwrap();
    let want = expected(&explicit);
    assert_eq!(exported(&body, label, &want), want);
    assert_eq!(prometheus::sample(&body, "ttlru_entries", label), Some(3.0));
    assert_eq!(
        prometheus::sample(&body, "ttlru_hits_total", label),
        Some(1.0)
    );
}
