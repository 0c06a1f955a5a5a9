//! Deadlines in four bytes per entry, exact to the millisecond.
//!
//! A node stores its deadline as a `u32` count of milliseconds after the shard's
//! *epoch*. That covers about 49 days; the epoch moves forward (a "rebase", one pass
//! over the shard every ~24 days) so recent deadlines always fit. The rare deadline
//! beyond that range is stored as [`FAR`] with its exact value in a side map keyed by
//! slab index. Saving four bytes here is what brings a `Cache<u64, u64>` node from
//! 48 to 40 bytes.

use hashbrown::HashMap;

/// An absolute deadline (milliseconds since the clock's origin) that never comes.
pub(crate) const NEVER: u64 = u64::MAX;

/// Encoded: the entry never expires.
pub(crate) const NEVER_CODE: u32 = u32::MAX;
/// Encoded: the exact deadline is in the side map.
pub(crate) const FAR: u32 = u32::MAX - 1;

/// Rebase once the epoch is this far behind: half the encodable range, so a deadline
/// written right before a rebase with a TTL under ~24 days still fits.
const REBASE_AFTER: u64 = 1 << 31;

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    epoch: u64,
    far: HashMap<u32, u64, ahash::RandomState>,
}

impl Deadlines {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Encodes `deadline` for the node at `index`.
    pub(crate) fn encode(&mut self, index: u32, deadline: u64) -> u32 {
        if deadline == NEVER {
            return NEVER_CODE;
        }
        // A deadline before the epoch is already past (the epoch is never ahead of
        // the clock), so 0 expires it just the same.
        let relative = deadline.saturating_sub(self.epoch);
        if relative < u64::from(FAR) {
            relative as u32
        } else {
            self.far.insert(index, deadline);
            FAR
        }
    }

    /// The absolute deadline of the node at `index` whose code is `code`.
    pub(crate) fn decode(&self, index: u32, code: u32) -> u64 {
        match code {
            NEVER_CODE => NEVER,
            FAR => self.far[&index],
            relative => self.epoch + u64::from(relative),
        }
    }

    /// Always inlined: on every lookup, and the common case is one compare.
    #[inline(always)]
    pub(crate) fn is_expired(&self, index: u32, code: u32, now: u64) -> bool {
        match code {
            NEVER_CODE => false,
            FAR => self.far[&index] <= now,
            // Compare in the relative domain: no addition, so no overflow.
            relative => u64::from(relative) <= now.saturating_sub(self.epoch) && self.epoch <= now,
        }
    }

    /// The node at `index` (with code `code`) is gone.
    pub(crate) fn forget(&mut self, index: u32, code: u32) {
        if code == FAR {
            self.far.remove(&index);
        }
    }

    /// The node with code `code` moved from `from` to `to`.
    pub(crate) fn relocate(&mut self, from: u32, to: u32, code: u32) {
        if code == FAR {
            let deadline = self.far.remove(&from).expect("far deadline present");
            self.far.insert(to, deadline);
        }
    }

    pub(crate) fn needs_rebase(&self, now: u64) -> bool {
        now.saturating_sub(self.epoch) >= REBASE_AFTER
    }

    /// Moves the epoch to `now` and re-encodes every node's deadline.
    /// `codes` yields each node's index and a mutable reference to its code.
    pub(crate) fn rebase<'a>(&mut self, now: u64, codes: impl Iterator<Item = (u32, &'a mut u32)>) {
        let old_epoch = self.epoch;
        self.epoch = now;
        let mut far = std::mem::take(&mut self.far);
        for (index, code) in codes {
            let deadline = match *code {
                NEVER_CODE => continue,
                FAR => far.remove(&index).expect("far deadline present"),
                relative => old_epoch + u64::from(relative),
            };
            *code = self.encode(index, deadline);
        }
        debug_assert!(far.is_empty());
    }

    /// Forgets every far deadline and frees the side map.
    pub(crate) fn clear(&mut self) {
        self.far = HashMap::default();
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.far.shrink_to_fit();
    }

    pub(crate) fn allocation_bytes(&self) -> usize {
        self.far.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_deadlines_are_exact() {
        let mut deadlines = Deadlines::new();
        let code = deadlines.encode(0, 1_500);
        assert_eq!(deadlines.decode(0, code), 1_500);
        assert!(!deadlines.is_expired(0, code, 1_499));
        assert!(deadlines.is_expired(0, code, 1_500));
    }

    #[test]
    fn never_never_expires() {
        let mut deadlines = Deadlines::new();
        let code = deadlines.encode(0, NEVER);
        assert_eq!(code, NEVER_CODE);
        assert!(!deadlines.is_expired(0, code, u64::MAX));
    }

    #[test]
    fn far_deadlines_are_exact_and_follow_their_node() {
        let mut deadlines = Deadlines::new();
        let ten_years = 10 * 365 * 24 * 3_600_000_u64;
        let code = deadlines.encode(3, ten_years);
        assert_eq!(code, FAR);
        deadlines.relocate(3, 1, code);
        assert_eq!(deadlines.decode(1, code), ten_years);
        assert!(!deadlines.is_expired(1, code, ten_years - 1));
        assert!(deadlines.is_expired(1, code, ten_years));
        deadlines.forget(1, code);
        assert!(deadlines.allocation_bytes() > 0);
        deadlines.clear();
        assert_eq!(deadlines.allocation_bytes(), 0);
    }

    #[test]
    fn rebase_keeps_every_deadline_and_brings_far_ones_near() {
        let mut deadlines = Deadlines::new();
        let day = 24 * 3_600_000_u64;
        let absolute = [5, day, 40 * day, 60 * day, NEVER];
        let mut codes: Vec<u32> = absolute
            .iter()
            .enumerate()
            .map(|(i, &d)| deadlines.encode(i as u32, d))
            .collect();
        assert_eq!(codes[3], FAR);
        let now = 30 * day;
        assert!(deadlines.needs_rebase(now));
        deadlines.rebase(
            now,
            codes.iter_mut().enumerate().map(|(i, c)| (i as u32, c)),
        );
        assert!(!deadlines.needs_rebase(now));
        assert_ne!(codes[3], FAR, "60 days is within reach of a day-30 epoch");
        for (i, &d) in absolute.iter().enumerate().skip(2) {
            assert_eq!(deadlines.decode(i as u32, codes[i]), d);
        }
        // Past deadlines stay expired.
        assert!(deadlines.is_expired(0, codes[0], now));
        assert!(deadlines.is_expired(1, codes[1], now));
        assert_eq!(deadlines.allocation_bytes(), 0, "nothing is far any more");
    }

    #[test]
    fn a_stale_epoch_still_expires_near_deadlines() {
        let mut deadlines = Deadlines::new();
        let code = deadlines.encode(0, 1_000);
        // Nobody rebased for longer than the encodable range.
        assert!(deadlines.is_expired(0, code, u64::from(u32::MAX) * 3));
    }
}
