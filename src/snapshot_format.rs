//! The snapshot file format, byte by byte, and its errors.
//!
//! ```text
//! header   magic "ttlruSNP" | version u16 | kind u8 | flags u8 | shards u32
//!          | snapshot id u64 | saved at (unix ms) u64 | fingerprint key u128
//!          | key check u64 | CRC-32C u32                                  (60 bytes)
//! block    'B' | shard u32 | sequence u32 | entries u32 | base deadline u64
//!          | payload length u32 | payload | CRC-32C u32
//! trailer  'T' | blocks u32 | entries u64 | CRC-32C u32
//! ```
//! Integers are little-endian. Every checksum starts from the snapshot id, so a
//! block spliced in from another snapshot fails its check, and blocks carry their
//! sequence number, so a dropped or repeated block is caught too. The header's
//! version is read before anything else: a newer file is refused as such, whatever
//! its layout.
//!
//! An entry in a block's payload is its deadline, as a varint of
//! `deadline - base + 1` in wall-clock milliseconds (0: never), then, when the
//! header's flag says so (a set with a time to idle), the varint of
//! `write deadline - deadline + 1` (0: never), then the key: 16 bytes of
//! fingerprint, or the serde encoding of the key and value.

use std::fmt;
use std::io::{self, Read, Write};

use crate::checksum::Crc32c;

/// The first eight bytes of every snapshot.
pub(crate) const MAGIC: [u8; 8] = *b"ttlruSNP";
/// The format version this code writes and the newest it reads.
pub(crate) const VERSION: u16 = 1;
/// Header flag: each entry also carries its write deadline (time to idle).
pub(crate) const FLAG_WRITE_DEADLINES: u8 = 1;

const HEADER_BYTES: usize = 60;
const BLOCK_HEADER_BYTES: usize = 25;
const TRAILER_BYTES: usize = 13;
const BLOCK_TAG: u8 = b'B';
const TRAILER_TAG: u8 = b'T';

/// Deadlines this far in the future (about 285 000 years) are written as never,
/// which keeps every varint deadline within 8 bytes.
pub(crate) const LATEST_WALL_DEADLINE: u64 = 1 << 53;

/// What a snapshot holds: each kind is read back only by its own builder.
///
/// ```
/// assert_eq!(ttlru::SnapshotKind::FingerprintSet.to_string(), "FingerprintSet");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SnapshotKind {
    /// A [`FingerprintSet`](crate::FingerprintSet): fingerprints and deadlines.
    FingerprintSet,
    /// A [`SeenSet`](crate::SeenSet): serde-encoded keys and deadlines.
    SeenSet,
    /// A [`Cache`](crate::Cache): serde-encoded keys, values and deadlines.
    Cache,
}

impl SnapshotKind {
    fn code(self) -> u8 {
        match self {
            SnapshotKind::FingerprintSet => 1,
            SnapshotKind::SeenSet => 2,
            SnapshotKind::Cache => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(SnapshotKind::FingerprintSet),
            2 => Some(SnapshotKind::SeenSet),
            3 => Some(SnapshotKind::Cache),
            _ => None,
        }
    }
}

impl fmt::Display for SnapshotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why a snapshot could not be saved or restored. Whatever the variant, a failed
/// restore loads nothing, and a failed [`save_snapshot_to`](crate::SetEngine::save_snapshot_to)
/// leaves the previous file in place.
///
/// ```
/// use ttlru::{FingerprintSet, SnapshotError};
///
/// let result = FingerprintSet::<str>::builder().build_from_snapshot(&b"not a snapshot"[..]);
/// assert!(matches!(result, Err(SnapshotError::NotASnapshot)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Reading or writing failed.
    Io(io::Error),
    /// The input is empty.
    Empty,
    /// The input does not start like a snapshot: some other file.
    NotASnapshot,
    /// The input ends before the snapshot does.
    Truncated,
    /// A checksum or a structural check failed: the bytes were changed.
    Corrupt(&'static str),
    /// Written by a newer (or unknown) format version.
    UnsupportedVersion {
        /// The file's version.
        found: u16,
        /// The newest version this code reads.
        supported: u16,
    },
    /// A snapshot of another kind of set or cache.
    WrongKind {
        /// What the file holds.
        found: SnapshotKind,
        /// What the builder builds.
        expected: SnapshotKind,
    },
    /// The builder was given a fingerprint key other than the snapshot's, so the
    /// snapshot's fingerprints would not match its keys.
    KeyMismatch,
    /// A key or value could not be encoded (serde).
    Encode(String),
    /// A key or value could not be decoded although its block's checksum holds: the
    /// snapshot was written for other key or value types.
    Decode(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Io(error) => write!(f, "snapshot input or output failed: {error}"),
            SnapshotError::Empty => write!(f, "the snapshot is empty"),
            SnapshotError::NotASnapshot => write!(f, "not a ttlru snapshot"),
            SnapshotError::Truncated => write!(f, "the snapshot is truncated"),
            SnapshotError::Corrupt(what) => write!(f, "the snapshot is corrupt: {what}"),
            SnapshotError::UnsupportedVersion { found, supported } => write!(
                f,
                "snapshot format version {found} is not supported (this build reads up to {supported})"
            ),
            SnapshotError::WrongKind { found, expected } => {
                write!(f, "the snapshot holds a {found}, not a {expected}")
            }
            SnapshotError::KeyMismatch => write!(
                f,
                "the builder's fingerprint key is not the one the snapshot was written with"
            ),
            SnapshotError::Encode(error) => write!(f, "could not encode an entry: {error}"),
            SnapshotError::Decode(error) => write!(f, "could not decode an entry: {error}"),
        }
    }
}

impl std::error::Error for SnapshotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SnapshotError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for SnapshotError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            SnapshotError::Truncated
        } else {
            SnapshotError::Io(error)
        }
    }
}

/// The header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: SnapshotKind,
    pub(crate) flags: u8,
    pub(crate) shards: u32,
    pub(crate) snapshot_id: u64,
    pub(crate) saved_at: u64,
    pub(crate) fingerprint_key: u128,
}

impl Header {
    pub(crate) fn has_write_deadlines(&self) -> bool {
        self.flags & FLAG_WRITE_DEADLINES != 0
    }
}

/// A value derived from the fingerprint key, so a reader can tell that the key it
/// found is the one the set used (and not merely bytes with a good checksum).
fn key_check(key: u128) -> u64 {
    crate::fingerprint::keyed_fingerprint(key, "ttlru snapshot key check") as u64
}

fn checksum(snapshot_id: u64, bytes: &[u8]) -> u32 {
    Crc32c::new()
        .update(&snapshot_id.to_le_bytes())
        .update(bytes)
        .finish()
}

/// Writes a snapshot: the header, then blocks, then the trailer.
pub(crate) struct SnapshotWriter<W: Write> {
    writer: W,
    snapshot_id: u64,
    blocks: u32,
    entries: u64,
    bytes: u64,
    record: Vec<u8>,
}

impl<W: Write> SnapshotWriter<W> {
    pub(crate) fn begin(mut writer: W, header: &Header) -> Result<Self, SnapshotError> {
        let mut bytes = Vec::with_capacity(HEADER_BYTES);
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.push(header.kind.code());
        bytes.push(header.flags);
        bytes.extend_from_slice(&header.shards.to_le_bytes());
        bytes.extend_from_slice(&header.snapshot_id.to_le_bytes());
        bytes.extend_from_slice(&header.saved_at.to_le_bytes());
        bytes.extend_from_slice(&header.fingerprint_key.to_le_bytes());
        bytes.extend_from_slice(&key_check(header.fingerprint_key).to_le_bytes());
        let crc = checksum(header.snapshot_id, &bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(bytes.len(), HEADER_BYTES);
        writer.write_all(&bytes)?;
        Ok(SnapshotWriter {
            writer,
            snapshot_id: header.snapshot_id,
            blocks: 0,
            entries: 0,
            bytes: HEADER_BYTES as u64,
            record: Vec::new(),
        })
    }

    /// Writes one block of `entries` encoded entries.
    pub(crate) fn block(
        &mut self,
        shard: u32,
        entries: u32,
        base_deadline: u64,
        payload: &[u8],
    ) -> Result<(), SnapshotError> {
        let length = u32::try_from(payload.len())
            .map_err(|_| SnapshotError::Encode("a block over 4 GiB".into()))?;
        let record = &mut self.record;
        record.clear();
        record.push(BLOCK_TAG);
        record.extend_from_slice(&shard.to_le_bytes());
        record.extend_from_slice(&self.blocks.to_le_bytes());
        record.extend_from_slice(&entries.to_le_bytes());
        record.extend_from_slice(&base_deadline.to_le_bytes());
        record.extend_from_slice(&length.to_le_bytes());
        let crc = Crc32c::new()
            .update(&self.snapshot_id.to_le_bytes())
            .update(record)
            .update(payload)
            .finish();
        self.writer.write_all(record)?;
        self.writer.write_all(payload)?;
        self.writer.write_all(&crc.to_le_bytes())?;
        self.blocks += 1;
        self.entries += u64::from(entries);
        self.bytes += (BLOCK_HEADER_BYTES + payload.len() + 4) as u64;
        Ok(())
    }

    /// Writes the trailer and flushes; returns (entries, bytes) written.
    pub(crate) fn finish(mut self) -> Result<(u64, u64, W), SnapshotError> {
        let mut record = Vec::with_capacity(TRAILER_BYTES + 4);
        record.push(TRAILER_TAG);
        record.extend_from_slice(&self.blocks.to_le_bytes());
        record.extend_from_slice(&self.entries.to_le_bytes());
        let crc = checksum(self.snapshot_id, &record);
        record.extend_from_slice(&crc.to_le_bytes());
        self.writer.write_all(&record)?;
        self.writer.flush()?;
        self.bytes += record.len() as u64;
        Ok((self.entries, self.bytes, self.writer))
    }
}

/// One verified block.
pub(crate) struct Block {
    pub(crate) shard: u32,
    pub(crate) entries: u32,
    pub(crate) base_deadline: u64,
    pub(crate) payload: Vec<u8>,
}

/// Reads and verifies a snapshot record by record. Nothing it returns has failed
/// a check, and it allocates only for bytes it has actually read.
pub(crate) struct SnapshotReader<R: Read> {
    reader: R,
    header: Header,
    blocks: u32,
    entries: u64,
    last_shard: Option<u32>,
    finished: bool,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Fills `buffer`, telling an input that ends at once from one that ends part-way.
fn read_exact_or_empty(reader: &mut impl Read, buffer: &mut [u8]) -> Result<bool, SnapshotError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(SnapshotError::Truncated),
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(true)
}

impl<R: Read> SnapshotReader<R> {
    /// Reads and checks the header: magic, version, checksum, key check.
    pub(crate) fn open(mut reader: R) -> Result<Self, SnapshotError> {
        let mut bytes = [0u8; HEADER_BYTES];
        // The magic and version first, so a short foreign file or a newer version
        // is named as such rather than as truncated.
        if !read_exact_or_empty(&mut reader, &mut bytes[..10])? {
            return Err(SnapshotError::Empty);
        }
        if bytes[..8] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != VERSION {
            return Err(SnapshotError::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        reader.read_exact(&mut bytes[10..])?;
        let snapshot_id = u64_at(&bytes, 16);
        let stored_crc = u32_at(&bytes, HEADER_BYTES - 4);
        if checksum(snapshot_id, &bytes[..HEADER_BYTES - 4]) != stored_crc {
            return Err(SnapshotError::Corrupt("header checksum"));
        }
        let kind = SnapshotKind::from_code(bytes[10]).ok_or(SnapshotError::Corrupt("kind"))?;
        let flags = bytes[11];
        if flags & !FLAG_WRITE_DEADLINES != 0 {
            return Err(SnapshotError::Corrupt("unknown flags"));
        }
        let fingerprint_key = u128::from_le_bytes(bytes[32..48].try_into().expect("16 bytes"));
        if key_check(fingerprint_key) != u64_at(&bytes, 48) {
            return Err(SnapshotError::Corrupt("fingerprint key check"));
        }
        let header = Header {
            kind,
            flags,
            shards: u32_at(&bytes, 12),
            snapshot_id,
            saved_at: u64_at(&bytes, 24),
            fingerprint_key,
        };
        Ok(SnapshotReader {
            reader,
            header,
            blocks: 0,
            entries: 0,
            last_shard: None,
            finished: false,
        })
    }

    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// The next verified block, or `None` after a valid trailer (and nothing
    /// after it).
    pub(crate) fn next_block(&mut self) -> Result<Option<Block>, SnapshotError> {
        if self.finished {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        if !read_exact_or_empty(&mut self.reader, &mut tag)? {
            return Err(SnapshotError::Truncated);
        }
        match tag[0] {
            BLOCK_TAG => self.read_block().map(Some),
            TRAILER_TAG => {
                self.read_trailer()?;
                Ok(None)
            }
            _ => Err(SnapshotError::Corrupt("unknown record")),
        }
    }

    fn read_block(&mut self) -> Result<Block, SnapshotError> {
        let mut fields = [0u8; BLOCK_HEADER_BYTES];
        fields[0] = BLOCK_TAG;
        self.reader.read_exact(&mut fields[1..])?;
        let shard = u32_at(&fields, 1);
        let sequence = u32_at(&fields, 5);
        let entries = u32_at(&fields, 9);
        let base_deadline = u64_at(&fields, 13);
        let length = u32_at(&fields, 21);
        // Read through `take`, so the buffer grows with the bytes that are really
        // there, never to what a (possibly corrupt) length field claims.
        let mut payload = Vec::new();
        (&mut self.reader)
            .take(u64::from(length))
            .read_to_end(&mut payload)?;
        if payload.len() != length as usize {
            return Err(SnapshotError::Truncated);
        }
        let mut crc = [0u8; 4];
        self.reader.read_exact(&mut crc)?;
        let computed = Crc32c::new()
            .update(&self.header.snapshot_id.to_le_bytes())
            .update(&fields)
            .update(&payload)
            .finish();
        if computed != u32::from_le_bytes(crc) {
            return Err(SnapshotError::Corrupt("block checksum"));
        }
        if sequence != self.blocks {
            return Err(SnapshotError::Corrupt("blocks out of sequence"));
        }
        if shard >= self.header.shards || self.last_shard.is_some_and(|last| shard < last) {
            return Err(SnapshotError::Corrupt("block shard out of order"));
        }
        self.last_shard = Some(shard);
        self.blocks += 1;
        self.entries += u64::from(entries);
        Ok(Block {
            shard,
            entries,
            base_deadline,
            payload,
        })
    }

    fn read_trailer(&mut self) -> Result<(), SnapshotError> {
        let mut record = [0u8; TRAILER_BYTES + 4];
        record[0] = TRAILER_TAG;
        self.reader.read_exact(&mut record[1..])?;
        if checksum(self.header.snapshot_id, &record[..TRAILER_BYTES])
            != u32_at(&record, TRAILER_BYTES)
        {
            return Err(SnapshotError::Corrupt("trailer checksum"));
        }
        if u32_at(&record, 1) != self.blocks || u64_at(&record, 5) != self.entries {
            return Err(SnapshotError::Corrupt("trailer counts"));
        }
        let mut extra = [0u8; 1];
        if read_exact_or_empty(&mut self.reader, &mut extra)? {
            return Err(SnapshotError::Corrupt("bytes after the trailer"));
        }
        self.finished = true;
        Ok(())
    }
}

/// Appends `value` as a LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a block's payload, entry by entry.
pub(crate) struct Payload<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Payload<'a> {
    pub(crate) fn varint(&mut self) -> Result<u64, SnapshotError> {
        let mut value = 0u64;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(SnapshotError::Corrupt("varint overflow"));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(SnapshotError::Corrupt("varint runs past its block"))
    }

    pub(crate) fn bytes<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let (bytes, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(SnapshotError::Corrupt("entry runs past its block"))?;
        self.rest = rest;
        Ok(*bytes)
    }
}

/// The two varints that start an entry: its deadline and, with the flag, its
/// write deadline, both as wall-clock milliseconds (`u64::MAX`: never).
pub(crate) fn put_deadlines(
    out: &mut Vec<u8>,
    base: u64,
    deadline: u64,
    write_deadline: Option<u64>,
) {
    let code = if deadline >= LATEST_WALL_DEADLINE {
        0
    } else {
        deadline - base + 1
    };
    put_varint(out, code);
    if let Some(write_deadline) = write_deadline {
        let code = if write_deadline >= LATEST_WALL_DEADLINE {
            0
        } else {
            write_deadline.saturating_sub(deadline) + 1
        };
        put_varint(out, code);
    }
}

/// Reads what [`put_deadlines`] wrote: (deadline, write deadline), `u64::MAX` for never.
pub(crate) fn take_deadlines(
    payload: &mut Payload<'_>,
    base: u64,
    with_write_deadline: bool,
) -> Result<(u64, u64), SnapshotError> {
    let never = u64::MAX;
    let deadline = match payload.varint()? {
        0 => never,
        code => base
            .checked_add(code - 1)
            .filter(|&deadline| deadline < LATEST_WALL_DEADLINE)
            .ok_or(SnapshotError::Corrupt("deadline out of range"))?,
    };
    let write_deadline = if !with_write_deadline {
        deadline
    } else {
        match payload.varint()? {
            0 => never,
            // A write deadline is never before the deadline, so "never" has none.
            _ if deadline == never => {
                return Err(SnapshotError::Corrupt("write deadline before deadline"));
            }
            code => deadline
                .checked_add(code - 1)
                .filter(|&write| write < LATEST_WALL_DEADLINE)
                .ok_or(SnapshotError::Corrupt("write deadline out of range"))?,
        }
    };
    Ok((deadline, write_deadline))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_stay_within_eight_bytes_for_deadlines() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            LATEST_WALL_DEADLINE - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            if value < LATEST_WALL_DEADLINE {
                assert!(out.len() <= 8, "{value} took {} bytes", out.len());
            }
            let mut payload = Payload { rest: &out };
            assert_eq!(payload.varint().unwrap(), value);
            assert!(payload.rest.is_empty());
        }
    }

    #[test]
    fn deadlines_round_trip() {
        let base = 1_700_000_000_000;
        for (deadline, write) in [
            (u64::MAX, u64::MAX),
            (base, base),
            (base + 5, base + 60_000),
            (base + 5, u64::MAX),
        ] {
            let mut out = Vec::new();
            put_deadlines(&mut out, base, deadline, Some(write));
            let mut payload = Payload { rest: &out };
            assert_eq!(
                take_deadlines(&mut payload, base, true).unwrap(),
                (deadline, write)
            );
        }
    }

    #[test]
    fn a_varint_past_its_block_is_corrupt() {
        let mut payload = Payload {
            rest: &[0x80, 0x80],
        };
        assert!(matches!(payload.varint(), Err(SnapshotError::Corrupt(_))));
        let mut payload = Payload { rest: &[0xff; 10] };
        assert!(matches!(payload.varint(), Err(SnapshotError::Corrupt(_))));
    }
}
