//! The async fleet-wide seen set.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ttlru::{FingerprintSet, keyed_fingerprint};

use crate::breaker::{Admission, Breaker};
use crate::builder::{AsyncMode, Config, RedisSeenSetBuilder};
use crate::claim::Claim;
use crate::claim_token::{PendingTokens, Token, TokenKind, TokenLease, TokenSource};
use crate::connection::{CallFailure, Connection};
use crate::error::Error;
use crate::fail_mode::FailMode;
use crate::fleet_stats::{Counters, FleetStats};

/// A seen set shared by every process that uses the same Redis deployment,
/// namespace and fingerprint key: `insert` returns `true` exactly once per key per
/// window across the whole fleet, while Redis is healthy.
///
/// Each key is reduced to its 16-byte keyed fingerprint (as
/// [`ttlru::FingerprintSet`] computes it), so Redis never holds the event ID. A
/// first sighting is decided by one atomic `SET key token NX GET PX ttl`; the
/// token is unique per claim, so a retry that finds its own token (the reply to
/// its first attempt was lost) still answers "first sighting", exactly once. An
/// optional in-process front filter answers keys this process already saw
/// without a network call.
///
/// # The guarantee, and where it ends
/// Exactly one `true` per key per window across every process sharing the
/// deployment, while Redis is healthy. Duplicates can pass:
/// - after a degraded answer under [`FailMode::Open`] or [`FailMode::LocalOnly`];
/// - after a failover that loses writes not yet replicated (use replication and
///   `WAIT`, or accept it);
/// - after Redis evicts keys under `maxmemory` (use `maxmemory-policy noeviction`,
///   or `volatile-ttl`, which evicts the keys closest to leaving the window);
/// - past the window (`time_to_live`), by design.
///
/// `remove` and [`Claim::release`] forget a key in Redis and in this process's
/// front filter, not in other replicas' filters: a replica that saw the key as a
/// plain duplicate answers "duplicate" until its local entry leaves the window.
/// A key held by an unreleased claim is never cached by other replicas' filters,
/// so a released claim is processed again wherever the retry lands.
///
/// `RedisSeenSet` is cheap to clone (clones share the connection, the filter and
/// the counters) and is `Send + Sync`.
///
/// ```no_run
/// # async fn demo() -> Result<(), ttlru_redis::Error> {
/// use std::time::Duration;
/// use ttlru_redis::RedisSeenSet;
///
/// let seen: RedisSeenSet<str> = RedisSeenSet::builder()
///     .url("redis://127.0.0.1:6379/")
///     .namespace("orders:")
///     .time_to_live(Duration::from_secs(3600))
///     .fingerprint_key(0x5eed_u128)
///     .local_capacity(1 << 20)
///     .build()
///     .await?;
/// if seen.insert("user42:evt-9f3c").await? {
///     // first sighting fleet-wide in the last hour: process the event
/// }
/// # Ok(()) }
/// ```
pub struct RedisSeenSet<K: ?Sized> {
    pub(crate) inner: Arc<Inner>,
    _keys: PhantomData<fn(&K)>,
}

impl<K: ?Sized> Clone for RedisSeenSet<K> {
    fn clone(&self) -> Self {
        RedisSeenSet {
            inner: Arc::clone(&self.inner),
            _keys: PhantomData,
        }
    }
}

/// What a call decided for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// First sighting; the token that claims it (in Redis, unless degraded).
    First(Token),
    Duplicate,
}

/// Everything the set shares between its clones and its claims; works on
/// fingerprints, so it is not generic over the key type.
pub(crate) struct Inner {
    config: Config,
    connection: Connection,
    local: Option<FingerprintSet<[u8]>>,
    breaker: Breaker,
    tokens: TokenSource,
    pending: PendingTokens,
    pub(crate) counters: Counters,
}

impl<K: ?Sized> RedisSeenSet<K> {
    /// A builder: see [`RedisSeenSetBuilder`] for the options.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = ttlru_redis::RedisSeenSet::<str>::builder()
    ///     .url("redis://127.0.0.1:6379/")
    ///     .time_to_live(Duration::from_secs(3600))
    ///     .fingerprint_key(0x5eed_u128);
    /// ```
    pub fn builder() -> RedisSeenSetBuilder<K, AsyncMode> {
        RedisSeenSetBuilder::new()
    }

    /// What the set has answered and how, since it was built (shared by clones).
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) {
    /// let stats = seen.stats();
    /// println!("{} answered locally, {} by Redis", stats.local_hits, stats.remote_new + stats.remote_duplicates);
    /// # }
    /// ```
    pub fn stats(&self) -> FleetStats {
        self.inner.counters.snapshot()
    }

    /// The number of fingerprints the local front filter holds (0 without one).
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) {
    /// assert!(seen.local_len() <= 1 << 20);
    /// # }
    /// ```
    pub fn local_len(&self) -> usize {
        self.inner.local.as_ref().map_or(0, |local| local.len())
    }

    /// Whether the circuit breaker is turning calls away now.
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) {
    /// if seen.breaker_open() { eprintln!("Redis is down: answering by the fail mode"); }
    /// # }
    /// ```
    pub fn breaker_open(&self) -> bool {
        self.inner.breaker.is_open()
    }
}

impl<K: ?Sized> RedisSeenSetBuilder<K, AsyncMode> {
    /// Checks the options, connects, and checks that the server is Redis 7.0 or
    /// newer, within `connect_timeout`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a missing or out-of-range option (before any
    /// network); [`Error::Connect`] when the server cannot be reached or is not
    /// Redis; [`Error::Timeout`] when connecting takes longer than
    /// `connect_timeout`; [`Error::UnexpectedReply`] for a Redis older than 7.0.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), ttlru_redis::Error> {
    /// use std::time::Duration;
    /// let seen: ttlru_redis::RedisSeenSet<str> = ttlru_redis::RedisSeenSet::builder()
    ///     .url("redis://127.0.0.1:6379/")
    ///     .time_to_live(Duration::from_secs(60))
    ///     .fingerprint_key(7)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn build(self) -> Result<RedisSeenSet<K>, Error> {
        let config = self.validate()?;
        let connection = tokio::time::timeout(
            config.connect_timeout,
            Connection::open(&config.target, config.connect_timeout),
        )
        .await
        .map_err(|_| Error::Timeout {
            after: config.connect_timeout,
        })??;
        Ok(RedisSeenSet {
            inner: Arc::new(Inner::new(config, connection)),
            _keys: PhantomData,
        })
    }
}

impl<K: ?Sized + Hash> RedisSeenSet<K> {
    /// Records a sighting: `true` iff this is the key's first sighting fleet-wide
    /// in the window (process the event), `false` for a duplicate.
    ///
    /// # Errors
    /// Under [`FailMode::Closed`], when Redis cannot answer within
    /// `call_timeout` or the breaker is open: [`Error::Timeout`],
    /// [`Error::Unavailable`], [`Error::Redis`] or [`Error::UnexpectedReply`].
    /// Retrying the same key later is safe: the retry reuses this call's claim
    /// token, so a write that did reach Redis still counts as this first sighting.
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// if seen.insert("evt-1").await? {
    ///     // process it
    /// }
    /// assert!(!seen.insert("evt-1").await?);
    /// # Ok(()) }
    /// ```
    pub async fn insert(&self, key: &K) -> Result<bool, Error> {
        let fingerprint = self.fingerprint(key);
        let answers = self.inner.sight(&[fingerprint], TokenKind::Insert).await?;
        Ok(matches!(answers[0], Answer::First(_)))
    }

    /// [`insert`](Self::insert) for a batch, in one round trip (one pipeline on a
    /// standalone server; on a cluster, per-slot commands sent together). One
    /// answer per key, in order; a key repeated within the batch is a first
    /// sighting at most once. An empty batch answers an empty `Vec` without a
    /// call. `call_timeout` bounds the whole batch: keep batches to hundreds.
    ///
    /// # Errors
    /// As [`insert`](Self::insert); the batch fails or succeeds as a whole.
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// let answers = seen.insert_many(&["evt-1", "evt-2", "evt-1"]).await?;
    /// assert_eq!(answers.iter().filter(|&&first| first).count(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn insert_many(&self, keys: &[&K]) -> Result<Vec<bool>, Error> {
        let fingerprints: Vec<u128> = keys.iter().map(|key| self.fingerprint(key)).collect();
        let answers = self.inner.sight(&fingerprints, TokenKind::Insert).await?;
        Ok(answers
            .iter()
            .map(|answer| matches!(answer, Answer::First(_)))
            .collect())
    }

    /// Like [`insert`](Self::insert), but the first sighting comes as a [`Claim`]
    /// to hold while the event is processed: if processing fails,
    /// [`Claim::release`] undoes the sighting so a retry of the event is processed.
    /// `None` for a duplicate. Dropping a claim keeps it: the event counts as
    /// processed.
    ///
    /// # Errors
    /// As [`insert`](Self::insert).
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// # fn process(_: &str) -> Result<(), ()> { Ok(()) }
    /// if let Some(claim) = seen.claim("evt-1").await? {
    ///     if process("evt-1").is_err() {
    ///         claim.release().await?; // the next delivery of evt-1 is processed
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn claim(&self, key: &K) -> Result<Option<Claim>, Error> {
        let fingerprint = self.fingerprint(key);
        let answers = self.inner.sight(&[fingerprint], TokenKind::Claim).await?;
        Ok(match answers[0] {
            Answer::First(token) => Some(Claim::new(Arc::clone(&self.inner), fingerprint, token)),
            Answer::Duplicate => None,
        })
    }

    /// Whether the key was seen in the window, without recording a sighting. A
    /// key in the local front filter answers `true` without a call.
    ///
    /// # Errors
    /// As [`insert`](Self::insert); under [`FailMode::Open`] and
    /// [`FailMode::LocalOnly`] a degraded answer is `false` unless the local filter
    /// holds the key.
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// seen.insert("evt-1").await?;
    /// assert!(seen.contains("evt-1").await?);
    /// # Ok(()) }
    /// ```
    pub async fn contains(&self, key: &K) -> Result<bool, Error> {
        self.inner.contains(self.fingerprint(key)).await
    }

    /// Forgets the key in Redis and in this process's front filter; whether Redis
    /// held it. Other replicas' front filters keep it until it leaves their window.
    ///
    /// # Errors
    /// Whatever the fail mode, when Redis cannot answer: [`Error::Timeout`],
    /// [`Error::Unavailable`], [`Error::Redis`] or [`Error::UnexpectedReply`].
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// seen.insert("evt-1").await?;
    /// assert!(seen.remove("evt-1").await?);
    /// assert!(seen.insert("evt-1").await?);
    /// # Ok(()) }
    /// ```
    pub async fn remove(&self, key: &K) -> Result<bool, Error> {
        self.inner.remove(self.fingerprint(key)).await
    }

    fn fingerprint(&self, key: &K) -> u128 {
        keyed_fingerprint(self.inner.config.fingerprint_key, key)
    }
}

impl<K: ?Sized> fmt::Debug for RedisSeenSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSeenSet")
            .field("connection", &self.inner.connection)
            .field(
                "namespace",
                &String::from_utf8_lossy(&self.inner.config.namespace),
            )
            .field("time_to_live", &self.inner.config.time_to_live)
            .field("fail_mode", &self.inner.config.fail_mode)
            .field("local_len", &self.local_len())
            .field("breaker_open", &self.breaker_open())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn new(config: Config, connection: Connection) -> Self {
        let local = (config.local_capacity > 0).then(|| {
            FingerprintSet::builder()
                .max_capacity(config.local_capacity)
                .time_to_live(config.time_to_live)
                .fingerprint_key(config.fingerprint_key)
                .build()
        });
        Inner {
            breaker: Breaker::new(config.breaker_failures, config.breaker_cool_down),
            pending: PendingTokens::new(config.pending_tokens, config.time_to_live),
            tokens: TokenSource::new(),
            counters: Counters::default(),
            local,
            connection,
            config,
        }
    }

    pub(crate) fn redis_key(&self, fingerprint: u128) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.config.namespace.len() + 16);
        key.extend_from_slice(&self.config.namespace);
        key.extend_from_slice(&fingerprint.to_be_bytes());
        key
    }

    fn local_holds(&self, fingerprint: u128) -> bool {
        self.local
            .as_ref()
            .is_some_and(|local| local.contains_fingerprint(fingerprint))
    }

    /// Records in the front filter a key Redis holds for `remaining` more time.
    fn remember(&self, fingerprint: u128, remaining: Duration) {
        // The filter rounds a time to live up to whole milliseconds, and Redis
        // counts in whole milliseconds too: one off keeps the filter's entry from
        // outliving the key by a rounding.
        let remaining = remaining.saturating_sub(Duration::from_millis(1));
        if let Some(local) = &self.local
            && !remaining.is_zero()
        {
            local.insert_fingerprint_with_ttl(fingerprint, remaining);
        }
    }

    /// Runs one remote operation under the breaker and `call_timeout`, retrying
    /// once inside the timeout after an error. `Err` carries what to report.
    async fn call<T, F, Fut>(&self, operation: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, CallFailure>>,
    {
        let probe = match self.breaker.admit() {
            Admission::Reject => {
                Counters::add(&self.counters.errors, 1);
                return Err(Error::Unavailable);
            }
            Admission::Proceed => None,
            Admission::Probe(guard) => Some(guard),
        };
        let timeout = self.config.call_timeout;
        let attempts = async {
            Counters::add(&self.counters.remote_calls, 1);
            match operation().await {
                Ok(value) => Ok(value),
                Err(_) => {
                    Counters::add(&self.counters.retries, 1);
                    Counters::add(&self.counters.remote_calls, 1);
                    operation().await
                }
            }
        };
        let outcome = match tokio::time::timeout(timeout, attempts).await {
            Ok(Ok(value)) => {
                self.breaker.success();
                Ok(value)
            }
            Ok(Err(failure)) => Err(Error::from(failure)),
            Err(_) => {
                Counters::add(&self.counters.timeouts, 1);
                Err(Error::Timeout { after: timeout })
            }
        };
        if outcome.is_err() {
            Counters::add(&self.counters.errors, 1);
            if self.breaker.failure() {
                Counters::add(&self.counters.breaker_openings, 1);
            }
        }
        if let Some(guard) = probe {
            guard.reported();
        }
        outcome
    }

    /// Decides each fingerprint: the local filter first, then Redis for the rest,
    /// then the fail mode if Redis cannot answer.
    pub(crate) async fn sight(
        &self,
        fingerprints: &[u128],
        kind: TokenKind,
    ) -> Result<Vec<Answer>, Error> {
        let mut answers = vec![Answer::Duplicate; fingerprints.len()];
        // The keys to ask Redis about, first occurrence only: a key repeated in a
        // batch is decided once, and its later copies are duplicates.
        let mut asked: Vec<usize> = Vec::with_capacity(fingerprints.len());
        let mut first_seen: std::collections::HashSet<u128> =
            std::collections::HashSet::with_capacity(fingerprints.len());
        let mut local_hits = 0;
        for (index, &fingerprint) in fingerprints.iter().enumerate() {
            if self.local_holds(fingerprint) {
                local_hits += 1;
            } else if first_seen.insert(fingerprint) {
                asked.push(index);
            }
        }
        Counters::add(&self.counters.local_hits, local_hits);
        if asked.is_empty() {
            return Ok(answers);
        }
        let lease = TokenLease::take(
            &self.pending,
            &self.tokens,
            asked.iter().map(|&index| fingerprints[index]).collect(),
            kind,
        );
        let tokens = lease.tokens().to_vec();
        let keys: Vec<Vec<u8>> = asked
            .iter()
            .map(|&index| self.redis_key(fingerprints[index]))
            .collect();
        let started = Instant::now();
        let time_to_live = self.config.time_to_live;
        let time_to_live_ms = time_to_live.as_millis() as u64;
        let replies = self
            .call(|| {
                self.connection
                    .set_if_absent(&keys, &tokens, time_to_live_ms)
            })
            .await;
        let replies = match replies {
            Ok(replies) => replies,
            Err(error) => return self.degrade(fingerprints, &asked, lease, answers, error),
        };
        // Keys to cache as duplicates once Redis says how long they have left.
        let mut follow_up: Vec<usize> = Vec::new();
        // Own writes of the other kind: an insert's token a claim now holds.
        let mut relabel: Vec<usize> = Vec::new();
        let (mut new, mut duplicates, mut recognised) = (0, 0, 0);
        for (position, reply) in replies.iter().enumerate() {
            let index = asked[position];
            let token = tokens[position];
            match reply {
                None => {
                    new += 1;
                    answers[index] = Answer::First(token);
                    // Redis set the expiry after `started`: this ends no later.
                    self.remember(
                        fingerprints[index],
                        time_to_live.saturating_sub(started.elapsed()),
                    );
                }
                Some(value) => match Token::parse(value) {
                    Some(found) if found == token => {
                        // An earlier call's write landed: it was this sighting.
                        new += 1;
                        recognised += 1;
                        answers[index] = Answer::First(token);
                        follow_up.push(position);
                        if kind == TokenKind::Claim && token.kind() != kind {
                            relabel.push(position);
                        }
                    }
                    Some(found) => {
                        duplicates += 1;
                        // A claim may still be released: do not cache it here.
                        if found.kind() == TokenKind::Insert {
                            follow_up.push(position);
                        }
                    }
                    None => duplicates += 1,
                },
            }
        }
        Counters::add(&self.counters.remote_new, new);
        Counters::add(&self.counters.remote_duplicates, duplicates);
        Counters::add(&self.counters.own_claims_recognised, recognised);
        lease.settle();
        let deadline = started + self.config.call_timeout;
        for position in relabel {
            let index = asked[position];
            if let Some(token) = self
                .relabel(&keys[position], tokens[position], kind, deadline)
                .await
            {
                answers[index] = Answer::First(token);
            }
        }
        if self.local.is_some() && !follow_up.is_empty() {
            self.cache_remaining(fingerprints, &asked, &keys, &follow_up, deadline)
                .await;
        }
        Ok(answers)
    }

    /// Gives a recognised write the token of the kind the call asked for: when a
    /// claim finds the token of its own earlier, failed insert, other replicas
    /// would cache the key as final and miss a release. Best effort within the
    /// call's time: `None` leaves the old token (the claim still releases with it).
    async fn relabel(
        &self,
        key: &[u8],
        old: Token,
        kind: TokenKind,
        deadline: Instant,
    ) -> Option<Token> {
        let budget = deadline.saturating_duration_since(Instant::now());
        let new = self.tokens.fresh(kind);
        Counters::add(&self.counters.remote_calls, 1);
        match tokio::time::timeout(budget, self.connection.replace_token(key, old, new)).await {
            Ok(Ok(true)) => Some(new),
            _ => None,
        }
    }

    /// Asks Redis how long the given keys have left and records them in the
    /// front filter for that long, so it never outlives the remote window. Best
    /// effort: on any failure nothing is cached, and the answer stands.
    async fn cache_remaining(
        &self,
        fingerprints: &[u128],
        asked: &[usize],
        keys: &[Vec<u8>],
        positions: &[usize],
        deadline: Instant,
    ) {
        // What is left of the call's timeout: the follow-up never extends a call.
        let budget = deadline.saturating_duration_since(Instant::now());
        if budget.is_zero() {
            return;
        }
        let follow_keys: Vec<Vec<u8>> = positions
            .iter()
            .map(|&position| keys[position].clone())
            .collect();
        let started = Instant::now();
        Counters::add(&self.counters.remote_calls, 1);
        let Ok(Ok(remaining)) =
            tokio::time::timeout(budget, self.connection.remaining_ms(&follow_keys)).await
        else {
            return;
        };
        for (&position, remaining) in positions.iter().zip(remaining) {
            if let Some(ms) = remaining {
                // Measured by Redis after `started`: this ends no later.
                let remaining = Duration::from_millis(ms).saturating_sub(started.elapsed());
                self.remember(fingerprints[asked[position]], remaining);
            }
        }
    }

    /// The answers when Redis could not give them.
    fn degrade(
        &self,
        fingerprints: &[u128],
        asked: &[usize],
        lease: TokenLease<'_>,
        mut answers: Vec<Answer>,
        error: Error,
    ) -> Result<Vec<Answer>, Error> {
        match self.config.fail_mode {
            // The write may have landed: dropping the lease keeps its tokens for
            // the next call on each key, to recognise it. (A call the breaker
            // turned away sent nothing, and keeps the tokens it took all the same.)
            FailMode::Closed => Err(error),
            FailMode::Open => {
                Counters::add(&self.counters.degraded, asked.len());
                for (&index, &token) in asked.iter().zip(lease.tokens()) {
                    answers[index] = Answer::First(token);
                }
                lease.settle();
                Ok(answers)
            }
            FailMode::LocalOnly => {
                Counters::add(&self.counters.degraded, asked.len());
                let local = self
                    .local
                    .as_ref()
                    .expect("LocalOnly is refused at build without a local filter");
                for (&index, &token) in asked.iter().zip(lease.tokens()) {
                    if local.insert_fingerprint(fingerprints[index]) {
                        answers[index] = Answer::First(token);
                    }
                }
                lease.settle();
                Ok(answers)
            }
        }
    }

    pub(crate) async fn contains(&self, fingerprint: u128) -> Result<bool, Error> {
        if self.local_holds(fingerprint) {
            Counters::add(&self.counters.local_hits, 1);
            return Ok(true);
        }
        let key = self.redis_key(fingerprint);
        match self.call(|| self.connection.exists(&key)).await {
            Ok(present) => Ok(present),
            Err(error) => match self.config.fail_mode {
                FailMode::Closed => Err(error),
                FailMode::Open | FailMode::LocalOnly => {
                    Counters::add(&self.counters.degraded, 1);
                    Ok(false)
                }
            },
        }
    }

    pub(crate) async fn remove(&self, fingerprint: u128) -> Result<bool, Error> {
        let key = self.redis_key(fingerprint);
        self.pending.forget(fingerprint);
        let removed = self.call(|| self.connection.delete(&key)).await?;
        if let Some(local) = &self.local {
            local.remove_fingerprint(fingerprint);
        }
        Ok(removed)
    }

    /// Deletes the key if it still holds the claim's token, and forgets it here.
    pub(crate) async fn release(&self, fingerprint: u128, token: Token) -> Result<bool, Error> {
        let key = self.redis_key(fingerprint);
        let deleted = self
            .call(|| self.connection.delete_if_holds(&key, token))
            .await?;
        if let Some(local) = &self.local {
            local.remove_fingerprint(fingerprint);
        }
        if deleted {
            Counters::add(&self.counters.claims_released, 1);
        }
        Ok(deleted)
    }
}
