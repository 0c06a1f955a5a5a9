//! Counters of what the fleet set answered and how.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What a [`RedisSeenSet`](crate::RedisSeenSet) has answered, and how, since it was
/// built. Counts are per key unless they say otherwise; a batch of 64 keys is one
/// remote call and 64 keys.
///
/// ```
/// let stats = ttlru_redis::FleetStats::default();
/// assert_eq!(stats.local_hits + stats.remote_new + stats.remote_duplicates + stats.degraded, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetStats {
    /// Keys answered "duplicate" by the local front filter, with no network call.
    pub local_hits: u64,
    /// Round trips to Redis (a batch is one; a retry or a follow-up is another).
    pub remote_calls: u64,
    /// Keys Redis answered "first sighting" for.
    pub remote_new: u64,
    /// Keys Redis answered "duplicate" for.
    pub remote_duplicates: u64,
    /// Of `remote_new`: keys whose earlier, failed call had in fact reached Redis,
    /// recognised by the claim token the retry reused.
    pub own_claims_recognised: u64,
    /// Keys answered by the [`FailMode`](crate::FailMode) because Redis could not.
    pub degraded: u64,
    /// Calls that failed: a timeout, a connection or server error, or the breaker.
    pub errors: u64,
    /// Calls that ran out of `call_timeout` (also counted in `errors`).
    pub timeouts: u64,
    /// Attempts repeated inside a call after an error (at most one per call).
    pub retries: u64,
    /// Times the circuit breaker opened.
    pub breaker_openings: u64,
    /// Claims released, deleting their Redis key.
    pub claims_released: u64,
}

/// The live counters behind [`FleetStats`]: plain relaxed atomics, since each is an
/// independent tally read only as a snapshot.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) local_hits: AtomicU64,
    pub(crate) remote_calls: AtomicU64,
    pub(crate) remote_new: AtomicU64,
    pub(crate) remote_duplicates: AtomicU64,
    pub(crate) own_claims_recognised: AtomicU64,
    pub(crate) degraded: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) breaker_openings: AtomicU64,
    pub(crate) claims_released: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, amount: usize) {
        if amount > 0 {
            counter.fetch_add(amount as u64, Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> FleetStats {
        FleetStats {
            local_hits: self.local_hits.load(Relaxed),
            remote_calls: self.remote_calls.load(Relaxed),
            remote_new: self.remote_new.load(Relaxed),
            remote_duplicates: self.remote_duplicates.load(Relaxed),
            own_claims_recognised: self.own_claims_recognised.load(Relaxed),
            degraded: self.degraded.load(Relaxed),
            errors: self.errors.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            retries: self.retries.load(Relaxed),
            breaker_openings: self.breaker_openings.load(Relaxed),
            claims_released: self.claims_released.load(Relaxed),
        }
    }
}
