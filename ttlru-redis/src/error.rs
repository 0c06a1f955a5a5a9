//! The one error type of the crate.

use std::fmt;
use std::time::Duration;

/// Why a [`RedisSeenSet`](crate::RedisSeenSet) call or build did not give an answer.
///
/// Which calls can return which variant:
/// - building: [`InvalidConfig`](Error::InvalidConfig) (checked before any network),
///   [`Connect`](Error::Connect) (unreachable, or not Redis),
///   [`Timeout`](Error::Timeout) (no answer within `connect_timeout`),
///   [`UnexpectedReply`](Error::UnexpectedReply) (a Redis older than 7.0);
/// - `insert`, `insert_many`, `claim`, `contains` with [`FailMode::Closed`](crate::FailMode::Closed):
///   [`Timeout`](Error::Timeout), [`Unavailable`](Error::Unavailable), [`Redis`](Error::Redis),
///   [`UnexpectedReply`](Error::UnexpectedReply) (with the other fail modes these answer
///   instead, as degraded answers);
/// - `remove` and [`Claim::release`](crate::Claim::release), whatever the fail mode: the
///   same four, since pretending a state change happened would lose it.
///
/// ```
/// use ttlru_redis::Error;
/// let error = Error::Timeout { after: std::time::Duration::from_millis(50) };
/// assert_eq!(error.to_string(), "Redis did not answer within the call timeout of 50ms");
/// assert!(error.is_unavailable());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A builder option is missing or out of range; `option` names it.
    InvalidConfig {
        /// The builder method at fault, such as `"time_to_live"`.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The first connection (at build) failed or did not complete in time.
    Connect(redis::RedisError),
    /// Redis did not answer within `call_timeout` (its one retry included).
    Timeout {
        /// The call timeout that ran out.
        after: Duration,
    },
    /// The circuit breaker is open: Redis failed repeatedly and is not asked again
    /// until the cool-down ends and a probe succeeds.
    Unavailable,
    /// Redis (or the connection to it) answered with an error.
    Redis(redis::RedisError),
    /// Redis answered something this crate never asks for: a server that is not
    /// Redis, or a key of this namespace written by other code.
    UnexpectedReply(String),
}

impl Error {
    /// Whether the error means "Redis could not answer" (timeout, breaker open,
    /// connection or server error), as opposed to a configuration or usage error.
    ///
    /// ```
    /// use ttlru_redis::Error;
    /// assert!(Error::Unavailable.is_unavailable());
    /// let invalid = Error::InvalidConfig { option: "time_to_live", reason: "zero".into() };
    /// assert!(!invalid.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. }
                | Error::Unavailable
                | Error::Redis(_)
                | Error::UnexpectedReply(_)
        )
    }

    pub(crate) fn invalid(option: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            option,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig { option, reason } => write!(f, "invalid `{option}`: {reason}"),
            Error::Connect(error) => write!(f, "could not connect to Redis: {error}"),
            Error::Timeout { after } => {
                write!(
                    f,
                    "Redis did not answer within the call timeout of {after:?}"
                )
            }
            Error::Unavailable => write!(
                f,
                "Redis is unavailable: the circuit breaker is open after repeated failures"
            ),
            Error::Redis(error) => write!(f, "Redis error: {error}"),
            Error::UnexpectedReply(what) => write!(f, "unexpected reply from Redis: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(error) | Error::Redis(error) => Some(error),
            _ => None,
        }
    }
}
