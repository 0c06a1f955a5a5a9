//! Fleet-wide dedup on Redis: a seen set shared by every replica of a service,
//! with `ttlru`'s in-process [`FingerprintSet`](ttlru::FingerprintSet) as its front
//! filter.
//!
//! In-process seen sets keep their promise inside one process; a service runs
//! several replicas, restarts on every deploy and moves partitions between
//! consumers, and each of those lets duplicates through. [`RedisSeenSet`] keeps
//! the window in Redis (standalone, Sentinel-managed or Cluster), so
//! [`insert`](RedisSeenSet::insert) returns `true` exactly once per key per window
//! across the fleet while Redis is healthy. What happens when it is not is the
//! caller's choice: [`FailMode`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), ttlru_redis::Error> {
//! use std::time::Duration;
//! use ttlru_redis::{FailMode, RedisSeenSet};
//!
//! let seen: RedisSeenSet<str> = RedisSeenSet::builder()
//!     .url("redis://127.0.0.1:6379/")
//!     .namespace("orders:")
//!     .time_to_live(Duration::from_secs(3600))
//!     .fingerprint_key(0x5eed_u128) // the same secret on every replica
//!     .local_capacity(1 << 20)
//!     .call_timeout(Duration::from_millis(50))
//!     .fail_mode(FailMode::Closed)
//!     .build()
//!     .await?;
//! if seen.insert("user42:evt-9f3c").await? {
//!     // first sighting fleet-wide in the last hour: process the event
//! }
//! # Ok(()) }
//! ```
//!
//! # Where things live
//! - `seen_set`: [`RedisSeenSet`], the decision path (front filter, Redis, fail
//!   mode); `claim`: [`Claim`]; `blocking`: the synchronous set.
//! - `builder`: options and their checks; `fail_mode`: [`FailMode`];
//!   `error`: [`Error`]; `fleet_stats`: [`FleetStats`].
//! - `connection`: standalone and cluster connections and the commands sent;
//!   `claim_token`: claim tokens and the tokens of failed calls kept for retries;
//!   `breaker`: the circuit breaker.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blocking;
mod breaker;
mod builder;
mod claim;
mod claim_token;
mod connection;
mod error;
mod fail_mode;
mod fleet_stats;
mod seen_set;

pub use builder::{AsyncMode, BlockingMode, MAX_TIME_TO_LIVE, RedisSeenSetBuilder};
pub use claim::Claim;
pub use error::Error;
pub use fail_mode::FailMode;
pub use fleet_stats::FleetStats;
pub use seen_set::RedisSeenSet;

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<super::RedisSeenSet<str>>();
        assert_send_sync::<super::blocking::RedisSeenSet<str>>();
        assert_send_sync::<super::Claim>();
        assert_send_sync::<super::blocking::Claim>();
        assert_send_sync::<super::Error>();
        assert_send_sync::<super::FleetStats>();
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
