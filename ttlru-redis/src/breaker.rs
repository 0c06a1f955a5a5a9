//! The circuit breaker: after repeated failures, stop paying `call_timeout` on
//! every call while Redis is down, and let one probe at a time find out when it is
//! back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's state. Transitions:
/// `Closed` --`threshold` consecutive failures--> `Open` --cool-down over, one
/// caller admitted--> `Probing` --success--> `Closed`, --failure or the probe
/// dropped--> `Open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    Probing,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cool_down: Duration,
}

/// Whether a call may go to Redis.
#[derive(Debug)]
pub(crate) enum Admission<'a> {
    /// Go; report the outcome with `success` or `failure`.
    Proceed,
    /// Go as the one probe. The guard puts the breaker back to `Open` if the
    /// call is dropped before it reports, so a cancelled probe cannot leave the
    /// breaker probing forever.
    Probe(ProbeGuard<'a>),
    /// Do not call Redis: answer per the fail mode now.
    Reject,
}

#[derive(Debug)]
pub(crate) struct ProbeGuard<'a> {
    breaker: &'a Breaker,
    reported: bool,
}

impl ProbeGuard<'_> {
    /// The probe has reported through the breaker; the guard has nothing to undo.
    pub(crate) fn reported(mut self) {
        self.reported = true;
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if !self.reported {
            let mut state = self.breaker.lock();
            if *state == State::Probing {
                // Let the next call probe at once: this one told us nothing.
                *state = State::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cool_down: Duration) -> Self {
        Breaker {
            state: Mutex::new(State::Closed {
                consecutive_failures: 0,
            }),
            threshold: threshold.max(1),
            cool_down,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value, valid whatever a panicking holder did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn admit(&self) -> Admission<'_> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Admission::Proceed,
            State::Open { until } if Instant::now() >= until => {
                *state = State::Probing;
                Admission::Probe(ProbeGuard {
                    breaker: self,
                    reported: false,
                })
            }
            State::Open { .. } | State::Probing => Admission::Reject,
        }
    }

    pub(crate) fn success(&self) {
        *self.lock() = State::Closed {
            consecutive_failures: 0,
        };
    }

    /// Records a failed call; returns whether this failure opened the breaker.
    pub(crate) fn failure(&self) -> bool {
        let mut state = self.lock();
        let open = State::Open {
            until: Instant::now() + self.cool_down,
        };
        match *state {
            State::Closed {
                consecutive_failures,
            } => {
                let failures = consecutive_failures + 1;
                if failures >= self.threshold {
                    *state = open;
                    true
                } else {
                    *state = State::Closed {
                        consecutive_failures: failures,
                    };
                    false
                }
            }
            State::Probing => {
                *state = open;
                true
            }
            // A straggler admitted before the breaker opened: already open.
            State::Open { .. } => false,
        }
    }

    /// Whether calls are being turned away now (open and cooling down, or probing).
    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cool_down() {
        let breaker = Breaker::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            assert!(matches!(breaker.admit(), Admission::Proceed));
            assert!(!breaker.failure());
        }
        assert!(matches!(breaker.admit(), Admission::Proceed));
        assert!(breaker.failure(), "the third consecutive failure opens it");
        assert!(matches!(breaker.admit(), Admission::Reject));
        std::thread::sleep(Duration::from_millis(35));
        let Admission::Probe(guard) = breaker.admit() else {
            panic!("the first call after the cool-down probes")
        };
        assert!(
            matches!(breaker.admit(), Admission::Reject),
            "one probe at a time"
        );
        breaker.success();
        guard.reported();
        assert!(matches!(breaker.admit(), Admission::Proceed));
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = Breaker::new(2, Duration::from_secs(60));
        assert!(!breaker.failure());
        breaker.success();
        assert!(!breaker.failure());
        assert!(breaker.failure());
        assert!(breaker.is_open());
    }

    #[test]
    fn a_failed_probe_reopens_and_a_dropped_probe_lets_the_next_call_probe() {
        let breaker = Breaker::new(1, Duration::ZERO);
        assert!(breaker.failure());
        let Admission::Probe(guard) = breaker.admit() else {
            panic!("cool-down of zero: probe at once")
        };
        assert!(breaker.failure(), "a failed probe opens the breaker again");
        guard.reported();
        let Admission::Probe(guard) = breaker.admit() else {
            panic!("probe again")
        };
        drop(guard); // the probing call was cancelled
        assert!(matches!(breaker.admit(), Admission::Probe(_)));
    }
}
