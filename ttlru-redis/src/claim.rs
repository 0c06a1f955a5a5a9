//! A first sighting held while the event is processed.

use std::fmt;
use std::sync::Arc;

use crate::claim_token::Token;
use crate::error::Error;
use crate::seen_set::Inner;

/// A first sighting from [`RedisSeenSet::claim`](crate::RedisSeenSet::claim), held
/// while its event is processed.
///
/// If processing fails, [`release`](Claim::release) undoes the sighting: it
/// deletes the key from Redis only if the key still holds this claim's token (an
/// atomic compare-and-delete), and forgets it in this process's front filter, so
/// the next delivery of the event is processed, on this replica or another. A
/// release after the window ended and another process claimed the key again
/// deletes nothing.
///
/// Dropping a claim keeps it: the event counts as processed for the window.
///
/// ```no_run
/// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
/// # async fn process(_: &str) -> Result<(), ()> { Ok(()) }
/// if let Some(claim) = seen.claim("evt-1").await? {
///     match process("evt-1").await {
///         Ok(()) => drop(claim), // done: the claim stands
///         Err(_) => {
///             claim.release().await?; // let a redelivery be processed
///         }
///     }
/// }
/// # Ok(()) }
/// ```
#[must_use = "dropping a claim keeps it; call .release() if processing failed"]
pub struct Claim {
    inner: Arc<Inner>,
    fingerprint: u128,
    token: Token,
}

impl Claim {
    pub(crate) fn new(inner: Arc<Inner>, fingerprint: u128, token: Token) -> Self {
        Claim {
            inner,
            fingerprint,
            token,
        }
    }

    /// Undoes the sighting: `true` if the Redis key still held this claim and was
    /// deleted, `false` if it held another claim (or none) and was left alone.
    /// The key is forgotten in this process's front filter either way.
    ///
    /// # Errors
    /// Whatever the fail mode, when Redis cannot answer ([`Error::Timeout`],
    /// [`Error::Unavailable`], [`Error::Redis`], [`Error::UnexpectedReply`]): the
    /// claim may still stand in Redis; call [`RedisSeenSet::remove`](crate::RedisSeenSet::remove)
    /// for the key later if it must go.
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// let claim = seen.claim("evt-1").await?.expect("first sighting");
    /// assert!(claim.release().await?);
    /// assert!(seen.insert("evt-1").await?, "released: a first sighting again");
    /// # Ok(()) }
    /// ```
    pub async fn release(self) -> Result<bool, Error> {
        self.inner.release(self.fingerprint, self.token).await
    }

    /// The fingerprint of the claimed key (what its Redis key is named after).
    ///
    /// ```no_run
    /// # async fn demo(seen: ttlru_redis::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// let claim = seen.claim("evt-1").await?.expect("first sighting");
    /// assert_eq!(claim.fingerprint(), ttlru::keyed_fingerprint(0x5eed, "evt-1"));
    /// # Ok(()) }
    /// ```
    pub fn fingerprint(&self) -> u128 {
        self.fingerprint
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("fingerprint", &format_args!("{:032x}", self.fingerprint))
            .finish_non_exhaustive()
    }
}
