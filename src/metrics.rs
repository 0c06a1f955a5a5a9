//! Publishing a cache's [`Stats`] and memory through the `metrics` facade (the
//! `metrics` feature); the application installs the exporter it wants.
//!
//! Nothing here runs on the hot path: the shards keep their plain counters, and
//! their sums are published as absolute values by the background sweeper's tick
//! and by an explicit `publish_metrics()`.

use crate::stats::Stats;

/// The label that tells caches apart: the builder's `.name(..)`.
pub(crate) const LABEL: &str = "cache";
/// The label value of a cache built without a name.
pub(crate) const UNNAMED: &str = "unnamed";

/// Gauges: what the cache holds now.
const GAUGES: [(&str, &str); 3] = [
    (
        "ttlru_entries",
        "Entries held, including expired ones not yet purged.",
    ),
    (
        "ttlru_memory_bytes",
        "Bytes held by the tables, slabs and timer wheels.",
    ),
    (
        "ttlru_table_buckets",
        "Hash-table buckets held, over all shards: shows whether memory came back.",
    ),
];

/// Counters: totals since the cache was built.
const COUNTERS: [(&str, &str); 6] = [
    (
        "ttlru_hits_total",
        "Lookups that recorded an access and found a live entry.",
    ),
    (
        "ttlru_misses_total",
        "Lookups that recorded an access and found nothing live.",
    ),
    (
        "ttlru_inserts_total",
        "Entries written: new keys and replaced values.",
    ),
    (
        "ttlru_evictions_total",
        "Entries removed to stay within capacity, or refused for being too heavy.",
    ),
    (
        "ttlru_expirations_total",
        "Entries removed because their time to live or idle ran out.",
    ),
    (
        "ttlru_removals_total",
        "Entries taken out by remove or clear.",
    ),
];

/// Publishes one cache's figures to the installed recorder (a no-op without one).
/// Counters are set to their absolute values, so publishing twice counts nothing
/// twice.
pub(crate) fn publish(name: Option<&str>, stats: &Stats, memory_bytes: usize) {
    let labels = [(LABEL, name.unwrap_or(UNNAMED).to_owned())];
    let gauges = [stats.len, memory_bytes as u64, stats.table_buckets];
    for ((metric, description), value) in GAUGES.into_iter().zip(gauges) {
        metrics::describe_gauge!(metric, description);
        metrics::gauge!(metric, &labels).set(value as f64);
    }
    let counters = [
        stats.hits,
        stats.misses,
        stats.inserts,
        stats.evictions,
        stats.expirations,
        stats.removals,
    ];
    for ((metric, description), value) in COUNTERS.into_iter().zip(counters) {
        metrics::describe_counter!(metric, description);
        metrics::counter!(metric, &labels).absolute(value);
    }
}
