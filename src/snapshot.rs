//! Saving a store to a snapshot and rebuilding one from it: shard by shard
//! copying under each lock, wall-clock deadlines, and restoring in recency order.
//!
//! What a snapshot taken under concurrent writes contains: each shard as it was
//! at one instant (the moment its lock was taken), shards one after the other.
//! An entry present in its shard for the whole save is always in it; one
//! inserted or removed during the save may or may not be.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::deadline::NEVER;
use crate::fingerprint::random_key;
use crate::fingerprint_set::{StoredBits, join};
use crate::snapshot_file;
use crate::snapshot_format::{
    FLAG_WRITE_DEADLINES, Header, LATEST_WALL_DEADLINE, Payload, SnapshotError, SnapshotKind,
    SnapshotReader, SnapshotWriter, put_deadlines, take_deadlines,
};
use crate::store::{Restored, Route, Store};

/// What a set stores per entry, and how it is written to a snapshot: implemented
/// for a [`FingerprintSet`](crate::FingerprintSet)'s fingerprints and, with the
/// `serde` feature, for every key that is `Serialize + DeserializeOwned + Clone`.
/// Sealed: nothing outside this crate implements it.
///
/// ```
/// fn saves<E: ttlru::SnapshotEntry>(_: &ttlru::SetEngine<E>) {}
/// saves(&*ttlru::FingerprintSet::<str>::new(10));
/// ```
pub trait SnapshotEntry: Clone + sealed::Sealed {
    /// The kind of snapshot a set of these writes.
    #[doc(hidden)]
    const KIND: SnapshotKind;
    /// Appends this entry (whose table hash is `hash`) to a block.
    #[doc(hidden)]
    fn encode(&self, hash: u32, out: &mut Vec<u8>) -> Result<(), SnapshotError>;
}

mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for StoredBits {}

impl SnapshotEntry for StoredBits {
    const KIND: SnapshotKind = SnapshotKind::FingerprintSet;

    fn encode(&self, hash: u32, out: &mut Vec<u8>) -> Result<(), SnapshotError> {
        out.extend_from_slice(&join(hash, self).to_le_bytes());
        Ok(())
    }
}

/// Encodes a set's entry, in the shape `save` takes.
pub(crate) fn encode_set_entry<E: SnapshotEntry>(
    hash: u32,
    entry: &E,
    _: &(),
    out: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    entry.encode(hash, out)
}

/// Encodes a cache's entry: the key and value as one postcard tuple.
#[cfg(feature = "serde")]
pub(crate) fn encode_cache_entry<K: serde::Serialize, V: serde::Serialize>(
    _: u32,
    key: &K,
    value: &V,
    out: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    encode_serde(&(key, value), out)
}

/// A fingerprint entry as a block holds it: 16 bytes, little-endian.
pub(crate) fn decode_fingerprint(payload: &mut Payload<'_>) -> Result<u128, SnapshotError> {
    Ok(u128::from_le_bytes(payload.bytes::<16>()?))
}

#[cfg(feature = "serde")]
impl<K: serde::Serialize + serde::de::DeserializeOwned + Clone> sealed::Sealed for K {}

#[cfg(feature = "serde")]
impl<K: serde::Serialize + serde::de::DeserializeOwned + Clone> SnapshotEntry for K {
    const KIND: SnapshotKind = SnapshotKind::SeenSet;

    fn encode(&self, _hash: u32, out: &mut Vec<u8>) -> Result<(), SnapshotError> {
        encode_serde(self, out)
    }
}

/// Appends `value` in postcard's encoding.
#[cfg(feature = "serde")]
pub(crate) fn encode_serde<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    let buffer = std::mem::take(out);
    *out = postcard::to_extend(value, buffer)
        .map_err(|error| SnapshotError::Encode(error.to_string()))?;
    Ok(())
}

/// Reads one postcard-encoded value.
#[cfg(feature = "serde")]
pub(crate) fn decode_serde<T: serde::de::DeserializeOwned>(
    payload: &mut Payload<'_>,
) -> Result<T, SnapshotError> {
    let (value, rest) = postcard::take_from_bytes(payload.rest)
        .map_err(|error| SnapshotError::Decode(error.to_string()))?;
    payload.rest = rest;
    Ok(value)
}

/// [`save`] to a file, atomically (see [`crate::snapshot_file`]).
pub(crate) fn save_to_path<K: Clone, V: Clone>(
    store: &Store<K, V>,
    kind: SnapshotKind,
    fingerprint_key: u128,
    path: &Path,
    encode: impl FnMut(u32, &K, &V, &mut Vec<u8>) -> Result<(), SnapshotError>,
) -> Result<SnapshotInfo, SnapshotError> {
    let started = Instant::now();
    let mut info = snapshot_file::write_atomically(path, |writer| {
        save(store, kind, fingerprint_key, writer, encode)
    })?;
    info.duration = started.elapsed();
    Ok(info)
}

/// Entries per block: small enough that a block is cheap to hold and check,
/// large enough that headers and checksums cost under 0.1 % of a block.
const BLOCK_ENTRIES: usize = 4096;

/// What a save wrote, and how long it held locks.
///
/// ```
/// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(100);
/// seen.insert("a");
/// let mut bytes = Vec::new();
/// let info = seen.save_snapshot(&mut bytes).unwrap();
/// assert_eq!(info.entries, 1);
/// assert_eq!(info.bytes, bytes.len() as u64);
/// assert!(info.longest_lock_hold <= info.duration);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// Entries written (live ones: expired entries are left out).
    pub entries: u64,
    /// Bytes written, header and trailer included.
    pub bytes: u64,
    /// Shards walked (each locked once, alone).
    pub shards: usize,
    /// The longest time one shard stayed locked while its entries were copied:
    /// the longest a writer to that shard could have waited for the save.
    pub longest_lock_hold: Duration,
    /// The whole save, writing and syncing included.
    pub duration: Duration,
}

/// Converts a store's clock time to wall-clock milliseconds since the unix epoch
/// and back, from one reading of each, so time that passes between a save and a
/// restore (a restart's downtime) counts against every deadline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WallClock {
    wall_now: u64,
    local_now: u64,
}

impl WallClock {
    pub(crate) fn read<K, V>(store: &Store<K, V>) -> Self {
        let wall_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        WallClock {
            wall_now,
            local_now: store.clock_now(),
        }
    }

    /// A clock deadline as wall time; `NEVER` for none (or one too far to write).
    fn to_wall(self, local: u64) -> u64 {
        if local == NEVER {
            return NEVER;
        }
        let wall = self
            .wall_now
            .saturating_add(local.saturating_sub(self.local_now));
        if wall >= LATEST_WALL_DEADLINE {
            NEVER
        } else {
            wall
        }
    }

    /// A wall deadline as clock time, or `None` if it has passed.
    fn to_local(self, wall: u64) -> Option<u64> {
        if wall == NEVER {
            Some(NEVER)
        } else if wall <= self.wall_now {
            None
        } else {
            Some(self.local_now.saturating_add(wall - self.wall_now))
        }
    }
}

/// Writes a snapshot of `store`. `encode` appends an entry's key (and value)
/// after its deadlines; it runs outside every lock.
pub(crate) fn save<K: Clone, V: Clone, W: Write>(
    store: &Store<K, V>,
    kind: SnapshotKind,
    fingerprint_key: u128,
    writer: W,
    mut encode: impl FnMut(u32, &K, &V, &mut Vec<u8>) -> Result<(), SnapshotError>,
) -> Result<(SnapshotInfo, W), SnapshotError> {
    let started = Instant::now();
    let clock = WallClock::read(store);
    let with_write_deadlines = store.has_time_to_idle();
    let header = Header {
        kind,
        flags: if with_write_deadlines {
            FLAG_WRITE_DEADLINES
        } else {
            0
        },
        shards: u32::try_from(store.shard_count()).expect("at most 65 536 shards"),
        snapshot_id: random_key() as u64,
        saved_at: clock.wall_now,
        fingerprint_key,
    };
    let mut out = SnapshotWriter::begin(writer, &header)?;
    let mut longest_lock_hold = Duration::ZERO;
    // `Option` so the buffer can be filled (and its pages touched) before a lock
    // is taken: the copy under the lock then takes no page faults.
    let mut copied: Vec<Option<Copied<K, V>>> = Vec::new();
    let mut order: Vec<u32> = Vec::new();
    let mut payload = Vec::new();
    for shard in 0..store.shard_count() {
        // Room first, so the copy under the lock never reallocates (the length
        // read without the lock may be a little behind: an eighth more covers it).
        let len = store.shard_len(shard);
        let room = len + len / 8;
        if copied.capacity() < room {
            copied.clear();
            copied.resize_with(room, || None);
        }
        copied.clear();
        // Clones only, in slab order, under the lock: the recency order is
        // followed in the copy, and user `Serialize` code runs after the lock is
        // released, so it can neither stall writers nor deadlock on this set.
        let (now, head, held) = store.copy_shard(
            shard,
            |hash, key, value, deadline, write_deadline, less_recent| {
                copied.push(Some(Copied {
                    hash,
                    key: key.clone(),
                    value: value.clone(),
                    deadline,
                    write_deadline,
                    less_recent,
                }));
            },
        );
        longest_lock_hold = longest_lock_hold.max(held);
        order.clear();
        let mut at = head;
        while let Some(entry) = copied.get(at as usize).and_then(Option::as_ref) {
            if entry.deadline > now {
                order.push(at);
            }
            at = entry.less_recent;
        }
        // Least recently used first, so a restore that inserts in turn rebuilds
        // the same order.
        order.reverse();
        for chunk in order.chunks(BLOCK_ENTRIES) {
            let base = chunk
                .iter()
                .filter_map(|&index| copied[index as usize].as_ref())
                .map(|entry| clock.to_wall(entry.deadline))
                .min()
                .filter(|&base| base != NEVER)
                .unwrap_or(0);
            payload.clear();
            for entry in chunk
                .iter()
                .filter_map(|&index| copied[index as usize].as_ref())
            {
                let write_deadline =
                    with_write_deadlines.then(|| clock.to_wall(entry.write_deadline));
                put_deadlines(
                    &mut payload,
                    base,
                    clock.to_wall(entry.deadline),
                    write_deadline,
                );
                encode(entry.hash, &entry.key, &entry.value, &mut payload)?;
            }
            out.block(shard as u32, chunk.len() as u32, base, &payload)?;
        }
    }
    let (entries, bytes, writer) = out.finish()?;
    let info = SnapshotInfo {
        entries,
        bytes,
        shards: store.shard_count(),
        longest_lock_hold,
        duration: started.elapsed(),
    };
    Ok((info, writer))
}

/// One entry as copied under its shard's lock.
struct Copied<K, V> {
    hash: u32,
    key: K,
    value: V,
    deadline: u64,
    write_deadline: u64,
    /// The slab index of the next less recently used entry (`NIL` at the end).
    less_recent: u32,
}

/// A snapshot whose header has been read and checked, its blocks still unread.
pub(crate) struct Opened<R: Read> {
    reader: SnapshotReader<R>,
}

/// Opens a snapshot of `expected` kind.
pub(crate) fn open<R: Read>(reader: R, expected: SnapshotKind) -> Result<Opened<R>, SnapshotError> {
    let reader = SnapshotReader::open(reader)?;
    let found = reader.header().kind;
    if found != expected {
        return Err(SnapshotError::WrongKind { found, expected });
    }
    Ok(Opened { reader })
}

/// A shard's place in the merge: the relative position (`position / len`) of its
/// next entry, compared exactly by cross-multiplying.
struct Cursor {
    position: u64,
    len: u64,
    shard: usize,
}

impl Cursor {
    fn rank(&self, other: &Cursor) -> Ordering {
        (u128::from(self.position) * u128::from(other.len))
            .cmp(&(u128::from(other.position) * u128::from(self.len)))
            .then(self.shard.cmp(&other.shard))
    }
}

impl PartialEq for Cursor {
    fn eq(&self, other: &Self) -> bool {
        self.rank(other) == Ordering::Equal
    }
}
impl Eq for Cursor {}
impl PartialOrd for Cursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cursor {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank(other)
    }
}

/// Every entry of `shards`, least recently used first. Within a saved shard the
/// order is exact; across shards (whose relative recency was never recorded)
/// they are interleaved by relative position, so when the entries go into fewer
/// or smaller shards, each saved shard loses its least recent ones alike.
fn oldest_first<T>(shards: Vec<Vec<T>>) -> impl Iterator<Item = T> {
    let mut queues: Vec<std::vec::IntoIter<T>> = shards.into_iter().map(Vec::into_iter).collect();
    let mut heap: BinaryHeap<Reverse<Cursor>> = queues
        .iter()
        .enumerate()
        .filter(|(_, queue)| queue.len() > 0)
        .map(|(shard, queue)| {
            Reverse(Cursor {
                position: 0,
                len: queue.len() as u64,
                shard,
            })
        })
        .collect();
    std::iter::from_fn(move || {
        let Reverse(mut cursor) = heap.pop()?;
        let entry = queues[cursor.shard]
            .next()
            .expect("a queued shard has entries");
        cursor.position += 1;
        if cursor.position < cursor.len {
            heap.push(Reverse(cursor));
        }
        Some(entry)
    })
}

impl<R: Read> Opened<R> {
    pub(crate) fn header(&self) -> &Header {
        self.reader.header()
    }

    /// Reads every block and loads the entries whose deadline has not passed
    /// into `store` (which no one else uses yet), least recent first, so each
    /// shard ends in the saved order and a smaller capacity leaves out the least
    /// recent. `decode` reads an item, `split` turns it into its route, key and
    /// value. Entries are decoded, routed and weighed as the blocks are read, but
    /// nothing goes into `store` until the trailer has checked out, so a bad
    /// input loads nothing.
    pub(crate) fn restore_into<K: Eq, V, T>(
        mut self,
        store: &Store<K, V>,
        mut decode: impl FnMut(&mut Payload<'_>) -> Result<T, SnapshotError>,
        mut split: impl FnMut(T) -> (Route, K, V),
    ) -> Result<(), SnapshotError> {
        let clock = WallClock::read(store);
        let with_write_deadlines = self.reader.header().has_write_deadlines();
        // Per saved shard, its live entries in order, with their destination.
        let mut routed: Vec<Vec<(usize, Restored<K, V>)>> = Vec::new();
        let mut current_shard = None;
        while let Some(block) = self.reader.next_block()? {
            // Every entry takes at least one byte, so a count beyond the
            // payload's length is a lie (and must not size anything).
            if block.entries as usize > block.payload.len() {
                return Err(SnapshotError::Corrupt("more entries than bytes"));
            }
            if current_shard != Some(block.shard) {
                current_shard = Some(block.shard);
                routed.push(Vec::new());
            }
            let entries = routed.last_mut().expect("pushed above");
            let mut payload = Payload {
                rest: &block.payload,
            };
            for _ in 0..block.entries {
                let (deadline, write_deadline) =
                    take_deadlines(&mut payload, block.base_deadline, with_write_deadlines)?;
                let item = decode(&mut payload)?;
                let Some(deadline) = clock.to_local(deadline) else {
                    continue; // ended while the process was down
                };
                let write_deadline = clock.to_local(write_deadline).unwrap_or(deadline);
                let (route, key, value) = split(item);
                let restored = Restored {
                    hash: route.hash(),
                    weight: store.weigh(&key, &value),
                    key,
                    value,
                    deadlines: (write_deadline, deadline),
                };
                entries.push((route.shard(), restored));
            }
            // The checksum held, so bytes left over mean the entries were read
            // as other types than they were written as.
            if !payload.rest.is_empty() {
                return Err(SnapshotError::Decode(
                    "entries do not fill their block: written for other key or value types?".into(),
                ));
            }
        }
        distribute(store, routed, clock.local_now);
        Ok(())
    }
}

/// Loads routed entries into their shards: each saved shard whole into a shard
/// of its own when that is how they map (a FingerprintSet restored with the same
/// shard count), otherwise merged by relative recency first.
fn distribute<K: Eq, V>(store: &Store<K, V>, routed: Vec<Vec<(usize, Restored<K, V>)>>, now: u64) {
    let mut claimed = vec![false; store.shard_count()];
    let one_to_one = routed.iter().all(|entries| match entries.first() {
        None => true,
        Some((target, _)) => {
            entries.iter().all(|(shard, _)| shard == target)
                && !std::mem::replace(&mut claimed[*target], true)
        }
    });
    if one_to_one {
        for entries in routed {
            if let Some(shard) = entries.first().map(|(shard, _)| *shard) {
                let entries = entries.into_iter().map(|(_, entry)| entry);
                store.restore_shard(shard, entries, now);
            }
        }
    } else {
        let mut destinations: Vec<Vec<Restored<K, V>>> =
            (0..store.shard_count()).map(|_| Vec::new()).collect();
        for (shard, entry) in oldest_first(routed) {
            destinations[shard].push(entry);
        }
        for (shard, entries) in destinations.into_iter().enumerate() {
            store.restore_shard(shard, entries.into_iter(), now);
        }
    }
    store.reset_counters();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(shard: usize, len: usize) -> Vec<(usize, usize)> {
        (0..len).map(|i| (shard, i)).collect()
    }

    #[test]
    fn merging_keeps_each_shards_order_and_interleaves_by_relative_position() {
        let order: Vec<(usize, usize)> = oldest_first(vec![decoded(0, 4), decoded(1, 2)]).collect();
        assert_eq!(order, [(0, 0), (1, 0), (0, 1), (0, 2), (1, 1), (0, 3)]);
    }

    #[test]
    fn wall_clock_conversion_counts_downtime() {
        let clock = WallClock {
            wall_now: 1_000_000,
            local_now: 50,
        };
        assert_eq!(clock.to_wall(NEVER), NEVER);
        assert_eq!(clock.to_wall(150), 1_000_100);
        assert_eq!(clock.to_wall(u64::MAX - 1), NEVER, "too far is never");
        let later = WallClock {
            wall_now: 1_000_060,
            local_now: 7,
        };
        assert_eq!(
            later.to_local(1_000_100),
            Some(47),
            "40 ms left after 60 ms down"
        );
        assert_eq!(later.to_local(1_000_060), None);
        assert_eq!(later.to_local(NEVER), Some(NEVER));
    }
}
