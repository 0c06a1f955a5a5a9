//! What a call answers when Redis cannot.

/// What [`RedisSeenSet`](crate::RedisSeenSet) answers when Redis cannot answer
/// within `call_timeout`, or while the circuit breaker is open.
///
/// In every mode, a key that the local front filter already holds is answered
/// "duplicate" without asking Redis. The mode decides the rest:
///
/// | call | `Closed` (default) | `Open` | `LocalOnly` |
/// |---|---|---|---|
/// | `insert`, `insert_many` | `Err(..)` | `true` | the local filter's own answer |
/// | `claim` | `Err(..)` | `Some(claim)` | `Some` iff new to the local filter |
/// | `contains` | `Err(..)` | `false` | the local filter's answer |
/// | `remove`, `Claim::release` | `Err(..)` | `Err(..)` | `Err(..)` |
///
/// Every degraded answer is counted in [`FleetStats::degraded`](crate::FleetStats::degraded).
///
/// ```
/// use ttlru_redis::FailMode;
/// assert_eq!(FailMode::default(), FailMode::Closed);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailMode {
    /// Return the error: the caller decides (retry later, nack the message). No
    /// duplicate passes and nothing is processed until Redis answers. A retry of
    /// the same key reuses the failed call's claim token, so a write that reached
    /// Redis after the timeout still counts as this process's first sighting.
    #[default]
    Closed,
    /// Answer "first sighting": process everything (at-least-once). Duplicates
    /// can pass while Redis is down; nothing is held up.
    Open,
    /// Answer from the in-process front filter alone: duplicates within this
    /// process are still caught, those across replicas can pass. Needs
    /// `local_capacity` above zero.
    LocalOnly,
}
