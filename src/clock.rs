//! Time: the system's monotonic clock, or a [`ManualClock`] that tests move by hand.
//!
//! The cache measures time in whole milliseconds ("ticks") since the clock's origin.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A clock that only moves when you tell it to, for tests and simulations.
///
/// Clones share the same time, so you can hand one clone to a cache's builder and
/// keep another to drive it. It starts at zero and never goes backwards.
///
/// ```
/// use std::time::Duration;
/// use ttlru::{Cache, ManualClock};
///
/// let clock = ManualClock::new();
/// let cache: Cache<&str, u32> = Cache::builder()
///     .time_to_live(Duration::from_secs(1))
///     .clock(clock.clone())
///     .build();
/// cache.insert("a", 1);
/// clock.advance(Duration::from_millis(999));
/// assert_eq!(cache.get("a"), Some(1));
/// clock.advance(Duration::from_millis(1));
/// assert_eq!(cache.get("a"), None); // expired at exactly 1 s
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A new clock at time zero.
    ///
    /// ```
    /// let clock = ttlru::ManualClock::new();
    /// assert_eq!(clock.elapsed(), std::time::Duration::ZERO);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`. Saturates at about 584 years instead of
    /// overflowing, so `advance(Duration::MAX)` is allowed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = ttlru::ManualClock::new();
    /// clock.advance(Duration::from_millis(1500));
    /// assert_eq!(clock.elapsed(), Duration::from_millis(1500));
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update cannot fail here: the closure always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// How far the clock has been advanced since it was made.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = ttlru::ManualClock::new();
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(clock.elapsed(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }

    fn now_millis(&self) -> u64 {
        self.nanos.load(Ordering::Acquire) / 1_000_000
    }
}

/// The clock a cache reads: real monotonic time, or a manual clock.
#[derive(Clone, Debug)]
pub(crate) enum Clock {
    System { origin: Instant },
    Manual(ManualClock),
}

impl Clock {
    pub(crate) fn system() -> Self {
        Clock::System {
            origin: Instant::now(),
        }
    }

    /// Milliseconds since the clock's origin.
    pub(crate) fn now_millis(&self) -> u64 {
        match self {
            Clock::System { origin } => {
                // Cheaper than `as_millis` (u128 arithmetic) on this hot path.
                let elapsed = origin.elapsed();
                elapsed.as_secs() * 1000 + u64::from(elapsed.subsec_millis())
            }
            Clock::Manual(clock) => clock.now_millis(),
        }
    }
}

/// A duration in whole milliseconds, rounded up so that a 1 µs TTL still expires
/// no earlier than it says, and saturated so that `Duration::MAX` stays huge.
pub(crate) fn duration_to_millis(duration: Duration) -> u64 {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    u64::try_from(millis).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_saturates_instead_of_overflowing() {
        let clock = ManualClock::new();
        clock.advance(Duration::MAX);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now_millis(), u64::MAX / 1_000_000);
    }

    #[test]
    fn clones_share_time() {
        let clock = ManualClock::new();
        let other = clock.clone();
        clock.advance(Duration::from_millis(7));
        assert_eq!(other.elapsed(), Duration::from_millis(7));
        assert_eq!(Clock::Manual(other).now_millis(), 7);
    }

    #[test]
    fn durations_round_up_to_whole_milliseconds() {
        assert_eq!(duration_to_millis(Duration::ZERO), 0);
        assert_eq!(duration_to_millis(Duration::from_nanos(1)), 1);
        assert_eq!(duration_to_millis(Duration::from_millis(1500)), 1500);
        assert_eq!(duration_to_millis(Duration::MAX), u64::MAX);
    }
}
