//! Options for a [`RedisSeenSet`](crate::RedisSeenSet), shared by the async and the
//! blocking set: one builder type, whose `build` is async or not by its mode.

use std::marker::PhantomData;
use std::time::Duration;

use crate::connection::Target;
use crate::error::Error;
use crate::fail_mode::FailMode;

/// The longest window accepted: 100 years. Longer ones (`Duration::MAX`) are
/// refused at build with [`Error::InvalidConfig`], since Redis rejects expiry times
/// that overflow its clock and a "forever" window would never free a key.
///
/// ```
/// assert_eq!(ttlru_redis::MAX_TIME_TO_LIVE.as_secs(), 100 * 36_525 * 864);
/// ```
pub const MAX_TIME_TO_LIVE: Duration = Duration::from_secs(100 * 36_525 * 864);

/// Marks a builder whose `build()` is `async` and gives a [`crate::RedisSeenSet`].
///
/// ```
/// let _: ttlru_redis::RedisSeenSetBuilder<str, ttlru_redis::AsyncMode> = ttlru_redis::RedisSeenSet::builder();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AsyncMode;

/// Marks a builder whose `build()` blocks and gives a [`crate::blocking::RedisSeenSet`].
///
/// ```
/// let _: ttlru_redis::RedisSeenSetBuilder<str, ttlru_redis::BlockingMode> =
///     ttlru_redis::blocking::RedisSeenSet::builder();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BlockingMode;

/// Builds a [`RedisSeenSet`](crate::RedisSeenSet) (or, in [`BlockingMode`], a
/// [`blocking::RedisSeenSet`](crate::blocking::RedisSeenSet)).
///
/// Required: where Redis is (`url` or `cluster_urls`), the window
/// (`time_to_live`) and the shared secret (`fingerprint_key`). Every option is
/// checked at build; a missing or out-of-range one is an
/// [`Error::InvalidConfig`] naming it.
///
/// ```no_run
/// # async fn demo() -> Result<(), ttlru_redis::Error> {
/// use std::time::Duration;
/// use ttlru_redis::{FailMode, RedisSeenSet};
///
/// let seen: RedisSeenSet<str> = RedisSeenSet::builder()
///     .url("redis://127.0.0.1:6379/")
///     .namespace("orders:")
///     .time_to_live(Duration::from_secs(3600))
///     .fingerprint_key(0x5eed_u128)
///     .local_capacity(1 << 20)
///     .call_timeout(Duration::from_millis(50))
///     .fail_mode(FailMode::Closed)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until .build()"]
pub struct RedisSeenSetBuilder<K: ?Sized, M = AsyncMode> {
    pub(crate) options: Options,
    _marker: PhantomData<Marker<K, M>>,
}

/// What the builder is for: sets of `K` (taken by reference), built in mode `M`.
type Marker<K, M> = (fn(&K), M);

/// The options as given, before validation.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    url: Option<String>,
    cluster_urls: Option<Vec<String>>,
    pub(crate) namespace: Vec<u8>,
    time_to_live: Option<Duration>,
    fingerprint_key: Option<u128>,
    pub(crate) local_capacity: u64,
    call_timeout: Duration,
    connect_timeout: Duration,
    pub(crate) fail_mode: FailMode,
    breaker_failures: u32,
    breaker_cool_down: Duration,
    pending_tokens: u64,
}

/// The options once checked.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) target: Target,
    pub(crate) namespace: Vec<u8>,
    pub(crate) time_to_live: Duration,
    pub(crate) fingerprint_key: u128,
    pub(crate) local_capacity: u64,
    pub(crate) call_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) fail_mode: FailMode,
    pub(crate) breaker_failures: u32,
    pub(crate) breaker_cool_down: Duration,
    pub(crate) pending_tokens: u64,
}

impl<K: ?Sized, M> RedisSeenSetBuilder<K, M> {
    pub(crate) fn new() -> Self {
        RedisSeenSetBuilder {
            options: Options {
                url: None,
                cluster_urls: None,
                namespace: Vec::new(),
                time_to_live: None,
                fingerprint_key: None,
                local_capacity: 0,
                call_timeout: Duration::from_millis(100),
                connect_timeout: Duration::from_secs(2),
                fail_mode: FailMode::Closed,
                breaker_failures: 5,
                breaker_cool_down: Duration::from_secs(1),
                pending_tokens: 1 << 16,
            },
            _marker: PhantomData,
        }
    }

    /// The same options, for the other kind of set.
    pub(crate) fn into_mode<N>(self) -> RedisSeenSetBuilder<K, N> {
        RedisSeenSetBuilder {
            options: self.options,
            _marker: PhantomData,
        }
    }

    fn map(mut self, change: impl FnOnce(&mut Options)) -> Self {
        change(&mut self.options);
        self
    }

    /// A standalone server, or the primary that Sentinel manages (its address):
    /// `redis://[user:password@]host:port/[db]`, `unix:///path/to/redis.sock`, or
    /// with the `tls` feature `rediss://...`. Exclusive with `cluster_urls`.
    ///
    /// ```
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().url("redis://127.0.0.1:6379/");
    /// ```
    pub fn url(self, url: impl Into<String>) -> Self {
        self.map(|options| options.url = Some(url.into()))
    }

    /// Some nodes of a Redis Cluster (the rest are discovered). Exclusive with
    /// `url`. Keys spread over the slots; batches are sent per slot, so they never
    /// meet a cross-slot error.
    ///
    /// ```
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder()
    ///     .cluster_urls(["redis://127.0.0.1:7000/", "redis://127.0.0.1:7001/"]);
    /// ```
    pub fn cluster_urls<I, S>(self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let urls = urls.into_iter().map(Into::into).collect();
        self.map(|options| options.cluster_urls = Some(urls))
    }

    /// The prefix of every Redis key the set writes (default: none). A key is
    /// the prefix followed by the 16 bytes of the event ID's fingerprint. Give each
    /// dedup window its own prefix when they share a Redis.
    ///
    /// ```
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().namespace("orders:");
    /// ```
    pub fn namespace(self, namespace: impl AsRef<[u8]>) -> Self {
        let namespace = namespace.as_ref().to_vec();
        self.map(|options| options.namespace = namespace)
    }

    /// Required: the window. A key is a first sighting again once this much time
    /// has passed since the write that claimed it. Rounded up to whole
    /// milliseconds; zero or more than [`MAX_TIME_TO_LIVE`] is refused.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().time_to_live(Duration::from_secs(3600));
    /// ```
    pub fn time_to_live(self, time_to_live: Duration) -> Self {
        self.map(|options| options.time_to_live = Some(time_to_live))
    }

    /// Required: the 128-bit secret that keys the fingerprints. Every replica
    /// must use the same one, or they name the same event differently and each
    /// sees it once. Keep it secret: whoever knows it can craft event IDs that
    /// collide.
    ///
    /// ```
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().fingerprint_key(0x5eed_u128);
    /// ```
    pub fn fingerprint_key(self, key: u128) -> Self {
        self.map(|options| options.fingerprint_key = Some(key))
    }

    /// How many fingerprints the in-process front filter holds (default 0: no
    /// filter). With a filter, a key this process already saw in the window is
    /// answered "duplicate" with no network call; it never answers "first
    /// sighting" on its own (except under [`FailMode::LocalOnly`]).
    ///
    /// ```
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().local_capacity(1 << 20);
    /// ```
    pub fn local_capacity(self, capacity: u64) -> Self {
        self.map(|options| options.local_capacity = capacity)
    }

    /// The most one call may take, its one retry included (default 100 ms). When
    /// it runs out, the [`FailMode`] answers. Must be above zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().call_timeout(Duration::from_millis(50));
    /// ```
    pub fn call_timeout(self, timeout: Duration) -> Self {
        self.map(|options| options.call_timeout = timeout)
    }

    /// The most `build` waits for the first connection and its checks (default
    /// 2 s), and each reconnection attempt after. Must be above zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().connect_timeout(Duration::from_secs(1));
    /// ```
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.map(|options| options.connect_timeout = timeout)
    }

    /// What to answer when Redis cannot (default [`FailMode::Closed`]).
    ///
    /// ```
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().fail_mode(ttlru_redis::FailMode::Open);
    /// ```
    pub fn fail_mode(self, fail_mode: FailMode) -> Self {
        self.map(|options| options.fail_mode = fail_mode)
    }

    /// The circuit breaker: after `failures` consecutive failed calls (default
    /// 5), calls answer by the [`FailMode`] at once for `cool_down` (default 1 s);
    /// then one call probes Redis, and its outcome closes or reopens the breaker.
    /// `failures` must be at least 1.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = ttlru_redis::RedisSeenSet::<str>::builder().breaker(3, Duration::from_millis(500));
    /// ```
    pub fn breaker(self, failures: u32, cool_down: Duration) -> Self {
        self.map(|options| {
            options.breaker_failures = failures;
            options.breaker_cool_down = cool_down;
        })
    }

    pub(crate) fn validate(&self) -> Result<Config, Error> {
        let options = &self.options;
        let target = match (&options.url, &options.cluster_urls) {
            (Some(url), None) => Target::Standalone(url.clone()),
            (None, Some(urls)) if urls.is_empty() => {
                return Err(Error::invalid("cluster_urls", "no URL given"));
            }
            (None, Some(urls)) => Target::Cluster(urls.clone()),
            (None, None) => {
                return Err(Error::invalid(
                    "url",
                    "where Redis is: set .url(..) or .cluster_urls(..)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "cluster_urls",
                    "set either .url(..) or .cluster_urls(..), not both",
                ));
            }
        };
        let time_to_live = options
            .time_to_live
            .ok_or_else(|| Error::invalid("time_to_live", "required: the dedup window"))?;
        if time_to_live.is_zero() {
            return Err(Error::invalid(
                "time_to_live",
                "zero: a window of no time remembers nothing",
            ));
        }
        if time_to_live > MAX_TIME_TO_LIVE {
            return Err(Error::invalid(
                "time_to_live",
                format!("{time_to_live:?} is longer than MAX_TIME_TO_LIVE (100 years)"),
            ));
        }
        // Whole milliseconds, rounded up, as Redis's PX takes them.
        let time_to_live =
            Duration::from_millis(time_to_live.as_nanos().div_ceil(1_000_000) as u64);
        let fingerprint_key = options.fingerprint_key.ok_or_else(|| {
            Error::invalid(
                "fingerprint_key",
                "required: the same secret on every replica",
            )
        })?;
        if options.call_timeout.is_zero() {
            return Err(Error::invalid("call_timeout", "must be above zero"));
        }
        if options.connect_timeout.is_zero() {
            return Err(Error::invalid("connect_timeout", "must be above zero"));
        }
        if options.breaker_failures == 0 {
            return Err(Error::invalid("breaker", "failures must be at least 1"));
        }
        if options.fail_mode == FailMode::LocalOnly && options.local_capacity == 0 {
            return Err(Error::invalid(
                "fail_mode",
                "FailMode::LocalOnly answers from the local front filter: set local_capacity above 0",
            ));
        }
        Ok(Config {
            target,
            namespace: options.namespace.clone(),
            time_to_live,
            fingerprint_key,
            local_capacity: options.local_capacity,
            call_timeout: options.call_timeout,
            connect_timeout: options.connect_timeout,
            fail_mode: options.fail_mode,
            breaker_failures: options.breaker_failures,
            breaker_cool_down: options.breaker_cool_down,
            pending_tokens: options.pending_tokens,
        })
    }
}

impl<K: ?Sized, M> std::fmt::Debug for RedisSeenSetBuilder<K, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options = &self.options;
        // Not the fingerprint key nor the URLs: they may carry secrets.
        f.debug_struct("RedisSeenSetBuilder")
            .field("url_set", &options.url.is_some())
            .field("cluster_urls", &options.cluster_urls.as_ref().map(Vec::len))
            .field("namespace", &String::from_utf8_lossy(&options.namespace))
            .field("time_to_live", &options.time_to_live)
            .field("local_capacity", &options.local_capacity)
            .field("call_timeout", &options.call_timeout)
            .field("fail_mode", &options.fail_mode)
            .finish_non_exhaustive()
    }
}
