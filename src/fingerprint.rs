//! Keyed 128-bit fingerprints: SipHash-1-3 with 128-bit output, as a `Hasher`, so a
//! key's own `Hash` code runs once and feeds it directly.
//!
//! With a random 128-bit key, SipHash is a pseudo-random function: someone who does
//! not know the key cannot find two inputs with the same fingerprint faster than
//! by trying (about 2^64 tries for a birthday collision among their own inputs).

use std::hash::{Hash, Hasher};

/// The SipHash state, with `C` compression and `D` finalization rounds. The set
/// uses SipHash-1-3 (Rust's own `HashMap` hash); 2-4 is here to check the code
/// against the reference test vectors.
#[derive(Clone, Debug)]
pub(crate) struct SipHasher128<const C: usize, const D: usize> {
    v: [u64; 4],
    /// Bytes not yet compressed (fewer than 8), little-endian in the low bits.
    tail: u64,
    tail_len: usize,
    length: usize,
}

/// The fingerprint hasher of [`crate::FingerprintSet`].
pub(crate) type Fingerprinter = SipHasher128<1, 3>;

impl<const C: usize, const D: usize> SipHasher128<C, D> {
    pub(crate) fn new(key: u128) -> Self {
        let (k0, k1) = (key as u64, (key >> 64) as u64);
        SipHasher128 {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d ^ 0xee, // 0xee: 128-bit output mode
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            tail: 0,
            tail_len: 0,
            length: 0,
        }
    }

    #[inline]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    #[inline]
    fn compress(&mut self, word: u64) {
        self.v[3] ^= word;
        for _ in 0..C {
            Self::round(&mut self.v);
        }
        self.v[0] ^= word;
    }

    /// The 128-bit hash of everything written so far.
    pub(crate) fn finish128(&self) -> u128 {
        let mut v = self.v;
        let last = ((self.length as u64 & 0xff) << 56) | self.tail;
        v[3] ^= last;
        for _ in 0..C {
            Self::round(&mut v);
        }
        v[0] ^= last;
        v[2] ^= 0xee;
        for _ in 0..D {
            Self::round(&mut v);
        }
        let low = v[0] ^ v[1] ^ v[2] ^ v[3];
        v[1] ^= 0xdd;
        for _ in 0..D {
            Self::round(&mut v);
        }
        let high = v[0] ^ v[1] ^ v[2] ^ v[3];
        (u128::from(high) << 64) | u128::from(low)
    }
}

impl<const C: usize, const D: usize> Hasher for SipHasher128<C, D> {
    fn write(&mut self, mut bytes: &[u8]) {
        self.length += bytes.len();
        if self.tail_len > 0 {
            while self.tail_len < 8 {
                let Some((&byte, rest)) = bytes.split_first() else {
                    return;
                };
                self.tail |= u64::from(byte) << (8 * self.tail_len);
                self.tail_len += 1;
                bytes = rest;
            }
            let word = self.tail;
            self.compress(word);
            (self.tail, self.tail_len) = (0, 0);
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.compress(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        for (i, &byte) in words.remainder().iter().enumerate() {
            self.tail |= u64::from(byte) << (8 * i);
        }
        self.tail_len = words.remainder().len();
    }

    fn finish(&self) -> u64 {
        self.finish128() as u64
    }
}

/// The 128-bit fingerprint of `key` under `fingerprint_key`: SipHash-1-3 with a
/// 128-bit output, fed by the key's own `Hash`. This is exactly what
/// [`FingerprintSet::fingerprint`](crate::FingerprintSet::fingerprint) computes for a
/// set built with that key, so processes that share the key (the replicas of a
/// service, `ttlru-redis`) derive the same fingerprint for the same key.
///
/// Equal keys give equal fingerprints only when their `Hash` feeds the same bytes:
/// `str` and `String` agree, `str` and `[u8]` do not (`str` adds a terminator).
/// The result is stable across runs and machines of the same endianness and
/// pointer width for types whose `Hash` is (strings, byte slices, integers).
///
/// ```
/// use ttlru::{FingerprintSet, keyed_fingerprint};
///
/// let seen: FingerprintSet<str> = FingerprintSet::builder().fingerprint_key(0x5eed).build();
/// assert_eq!(keyed_fingerprint(0x5eed, "evt-1"), seen.fingerprint("evt-1"));
/// assert_eq!(keyed_fingerprint(0x5eed, "evt-1"), keyed_fingerprint(0x5eed, &"evt-1".to_string()));
/// assert_ne!(keyed_fingerprint(0x5eed, "evt-1"), keyed_fingerprint(0x5eee, "evt-1"));
/// ```
#[must_use]
pub fn keyed_fingerprint<K: ?Sized + Hash>(fingerprint_key: u128, key: &K) -> u128 {
    let mut hasher = Fingerprinter::new(fingerprint_key);
    key.hash(&mut hasher);
    hasher.finish128()
}

/// A key for a new set: fresh randomness from the standard library's per-process
/// random source (the one that keys `HashMap`), run through SipHash.
pub(crate) fn random_key() -> u128 {
    use std::hash::{BuildHasher, RandomState};
    let high = RandomState::new().hash_one(0x5eed_u64);
    let low = RandomState::new().hash_one(0xf00d_u64);
    (u128::from(high) << 64) | u128::from(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference key 00 01 .. 0f.
    const KEY: u128 = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100;

    fn sip24(message: &[u8]) -> [u8; 16] {
        let mut hasher = SipHasher128::<2, 4>::new(KEY);
        hasher.write(message);
        hasher.finish128().to_le_bytes()
    }

    #[test]
    fn matches_the_reference_siphash_2_4_128_vectors() {
        // vectors_sip128 of the SipHash reference implementation: message i is
        // the bytes 00 .. i-1.
        let vectors: [(usize, [u8; 16]); 5] = [
            (
                0,
                [
                    0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7,
                    0x55, 0x02, 0x93,
                ],
            ),
            (
                1,
                [
                    0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b,
                    0x22, 0xfc, 0x45,
                ],
            ),
            (
                2,
                [
                    0x81, 0x77, 0x22, 0x8d, 0xa4, 0xa4, 0x5d, 0xc7, 0xfc, 0xa3, 0x8b, 0xde, 0xf6,
                    0x0a, 0xff, 0xe4,
                ],
            ),
            (
                3,
                [
                    0x9c, 0x70, 0xb6, 0x0c, 0x52, 0x67, 0xa9, 0x4e, 0x5f, 0x33, 0xb6, 0xb0, 0x29,
                    0x85, 0xed, 0x51,
                ],
            ),
            (
                15,
                [
                    0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11, 0x7e, 0x08, 0xec, 0x0f, 0x97,
                    0xcf, 0xc3, 0xd9,
                ],
            ),
        ];
        for (length, expected) in vectors {
            let message: Vec<u8> = (0..length as u8).collect();
            assert_eq!(sip24(&message), expected, "message of {length} bytes");
        }
    }

    #[test]
    fn split_writes_hash_like_one_write() {
        let message: Vec<u8> = (0..40).collect();
        let whole = {
            let mut hasher = Fingerprinter::new(7);
            hasher.write(&message);
            hasher.finish128()
        };
        for split in [1, 3, 7, 8, 9, 15, 16, 17, 39] {
            let mut hasher = Fingerprinter::new(7);
            let (a, b) = message.split_at(split);
            hasher.write(a);
            hasher.write(b);
            assert_eq!(hasher.finish128(), whole, "split at {split}");
        }
    }

    #[test]
    fn keys_change_fingerprints() {
        let fingerprint = |key: u128| {
            let mut hasher = Fingerprinter::new(key);
            hasher.write(b"user42:evt-9f3c");
            hasher.finish128()
        };
        assert_ne!(fingerprint(1), fingerprint(2));
        assert_ne!(random_key(), random_key());
    }
}
