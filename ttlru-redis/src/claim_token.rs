//! Claim tokens: the value a first sighting writes into its Redis key.
//!
//! A token is unique per claim, so a call can tell its own write from another
//! claimant's: a retry that finds its own token (its first attempt reached Redis,
//! the reply was lost) still answers "first sighting", and two racing callers in
//! one process, holding different tokens, never both win.
//!
//! Layout: a positive `i64` written in decimal, so Redis stores it as an integer
//! inside the value object (no separate string allocation: this is most of why a
//! key costs under 130 bytes of Redis memory). The low bit says whether the token
//! belongs to a [`Claim`](crate::Claim), which may still be released: other
//! replicas must not cache such a key as a duplicate in their front filter.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use ttlru::Cache;

/// The largest token body: 62 bits, so `body << 1 | flag` stays a positive `i64`.
const BODY_MASK: u64 = (1 << 62) - 1;

/// One claim's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Token(u64);

/// Whether the token is a releasable claim's or a plain insert's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Insert,
    Claim,
}

impl Token {
    pub(crate) fn kind(self) -> TokenKind {
        if self.0 & 1 == 1 {
            TokenKind::Claim
        } else {
            TokenKind::Insert
        }
    }

    /// The number written to Redis (as decimal text, which Redis stores as an
    /// integer).
    pub(crate) fn value(self) -> u64 {
        self.0
    }

    /// Reads a value found in Redis; `None` if it is not a token of this crate.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Token> {
        let text = std::str::from_utf8(bytes).ok()?;
        // Only the canonical form this crate writes: no sign, no leading zeros.
        if text.is_empty() || text.len() > 19 || (text.len() > 1 && text.starts_with('0')) {
            return None;
        }
        if !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let value: u64 = text.parse().ok()?;
        (value >> 63 == 0).then_some(Token(value))
    }

    /// The same claim, marked as the other kind (a claim's token reused by an
    /// insert after a failed call stays what it was: see `PendingTokens`).
    #[cfg(test)]
    fn with_kind(self, kind: TokenKind) -> Token {
        Token((self.0 & !1) | u64::from(kind == TokenKind::Claim))
    }
}

/// Makes tokens: a per-process random start plus a counter, so tokens are unique
/// within the process for 2^62 claims, and distinct processes' tokens collide only
/// by chance (a 2^-62 event per contested key).
#[derive(Debug)]
pub(crate) struct TokenSource {
    next: AtomicU64,
}

impl TokenSource {
    pub(crate) fn new() -> Self {
        TokenSource {
            next: AtomicU64::new(RandomState::new().hash_one(0x7ac0_u64)),
        }
    }

    pub(crate) fn fresh(&self, kind: TokenKind) -> Token {
        let body = self.next.fetch_add(1, Relaxed) & BODY_MASK;
        Token(body << 1 | u64::from(kind == TokenKind::Claim))
    }
}

/// Tokens of calls that failed under `FailMode::Closed` without an answer: the
/// write may still have reached Redis (a lost reply, or a write that lands after
/// the timeout). The next call for the same key takes the token back, so if the
/// write did land, that call recognises it as its own and answers "first
/// sighting" instead of losing the event as a duplicate of itself.
///
/// Taking is atomic (a `remove`), so of two concurrent retries only one holds the
/// old token; the other draws a fresh one and loses the race, as it should.
/// Entries expire with the window: past it, the key is gone from Redis anyway.
pub(crate) struct PendingTokens {
    tokens: Cache<u128, Token>,
}

impl PendingTokens {
    /// Holds at most `capacity` tokens; beyond it the least recent are forgotten
    /// (their keys, if retried, are then answered "duplicate").
    pub(crate) fn new(capacity: u64, window: Duration) -> Self {
        PendingTokens {
            tokens: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(window)
                .build(),
        }
    }

    /// The token for a call on `fingerprint`: the one a failed call left, or a
    /// fresh one. An insert may reuse a claim's token and the reverse: what
    /// matters is that the write in Redis, if any, is recognised.
    pub(crate) fn take_or_fresh(
        &self,
        fingerprint: u128,
        kind: TokenKind,
        source: &TokenSource,
    ) -> Token {
        self.tokens
            .remove(&fingerprint)
            .unwrap_or_else(|| source.fresh(kind))
    }

    /// Keeps the token of a failed call for the next call on the same key.
    pub(crate) fn put_back(&self, fingerprint: u128, token: Token) {
        self.tokens.insert(fingerprint, token);
    }

    /// Forgets the key's token (the key was removed or released on purpose).
    pub(crate) fn forget(&self, fingerprint: u128) {
        self.tokens.remove(&fingerprint);
    }
}

/// The tokens one call took. Unless the call settles them (Redis answered, or a
/// fail mode answered for it), they go back to the pending tokens when the lease
/// is dropped: after an error under `FailMode::Closed`, and also when the caller
/// drops the call's future midway, since its write may have reached Redis either way.
pub(crate) struct TokenLease<'a> {
    pending: &'a PendingTokens,
    fingerprints: Vec<u128>,
    tokens: Vec<Token>,
    settled: bool,
}

impl<'a> TokenLease<'a> {
    pub(crate) fn take(
        pending: &'a PendingTokens,
        source: &TokenSource,
        fingerprints: Vec<u128>,
        kind: TokenKind,
    ) -> Self {
        let tokens = fingerprints
            .iter()
            .map(|&fingerprint| pending.take_or_fresh(fingerprint, kind, source))
            .collect();
        TokenLease {
            pending,
            fingerprints,
            tokens,
            settled: false,
        }
    }

    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The call has its answers: nothing to give back.
    pub(crate) fn settle(mut self) {
        self.settled = true;
    }
}

impl Drop for TokenLease<'_> {
    fn drop(&mut self) {
        if !self.settled {
            for (&fingerprint, &token) in self.fingerprints.iter().zip(&self.tokens) {
                self.pending.put_back(fingerprint, token);
            }
        }
    }
}

impl std::fmt::Debug for PendingTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingTokens")
            .field("len", &self.tokens.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_their_decimal_form_and_keep_their_kind() {
        let source = TokenSource::new();
        for kind in [TokenKind::Insert, TokenKind::Claim] {
            for _ in 0..1_000 {
                let token = source.fresh(kind);
                assert_eq!(token.kind(), kind);
                let text = token.value().to_string();
                assert!(text.parse::<i64>().unwrap() >= 0, "a positive i64: {text}");
                assert_eq!(Token::parse(text.as_bytes()), Some(token));
            }
        }
        let token = source.fresh(TokenKind::Insert);
        assert_eq!(token.with_kind(TokenKind::Claim).kind(), TokenKind::Claim);
    }

    #[test]
    fn tokens_are_unique_within_a_process() {
        let source = TokenSource::new();
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let kind = if i % 2 == 0 {
                TokenKind::Insert
            } else {
                TokenKind::Claim
            };
            assert!(seen.insert(source.fresh(kind).0 >> 1));
        }
    }

    #[test]
    fn foreign_values_are_not_tokens() {
        for value in [
            &b""[..],
            b"-1",
            b"007",
            b"12a",
            b"9223372036854775808",
            b"99999999999999999999",
            b"\xff",
            b"1.5",
        ] {
            assert_eq!(Token::parse(value), None, "{value:?}");
        }
        assert_eq!(Token::parse(b"0"), Some(Token(0)));
    }

    #[test]
    fn a_pending_token_is_taken_once() {
        let source = TokenSource::new();
        let pending = PendingTokens::new(16, Duration::from_secs(60));
        let token = source.fresh(TokenKind::Insert);
        pending.put_back(7, token);
        assert_eq!(pending.take_or_fresh(7, TokenKind::Insert, &source), token);
        assert_ne!(pending.take_or_fresh(7, TokenKind::Insert, &source), token);
        pending.put_back(7, token);
        pending.forget(7);
        assert_ne!(pending.take_or_fresh(7, TokenKind::Insert, &source), token);
    }

    #[test]
    fn an_unsettled_lease_gives_its_tokens_back_and_a_settled_one_does_not() {
        let source = TokenSource::new();
        let pending = PendingTokens::new(16, Duration::from_secs(60));
        let lease = TokenLease::take(&pending, &source, vec![1, 2], TokenKind::Claim);
        let taken = lease.tokens().to_vec();
        drop(lease); // an error, or the call's future dropped
        let lease = TokenLease::take(&pending, &source, vec![1, 2], TokenKind::Claim);
        assert_eq!(lease.tokens(), taken, "the next call reuses them");
        lease.settle();
        let lease = TokenLease::take(&pending, &source, vec![1, 2], TokenKind::Claim);
        assert!(lease.tokens().iter().all(|token| !taken.contains(token)));
        lease.settle();
    }
}
