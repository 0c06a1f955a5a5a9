//! CRC-32C (Castagnoli), the checksum of every snapshot block: written here
//! (slicing by 8, about 1 byte per cycle) and checked against the published test
//! vectors, so the core crate needs no dependency for it.

/// The reflected Castagnoli polynomial.
const POLYNOMIAL: u32 = 0x82F6_3B78;

/// Eight 256-entry tables: table `k` gives the CRC of a byte followed by `k` zero
/// bytes, so eight input bytes are folded in with eight lookups and no loop.
const TABLES: [[u32; 256]; 8] = make_tables();

const fn make_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLYNOMIAL
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][byte] = crc;
        byte += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut byte = 0;
        while byte < 256 {
            let previous = tables[k - 1][byte];
            tables[k][byte] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
            byte += 1;
        }
        k += 1;
    }
    tables
}

/// A running CRC-32C.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Crc32c {
    state: u32,
}

impl Crc32c {
    pub(crate) fn new() -> Self {
        Crc32c { state: !0 }
    }

    pub(crate) fn update(mut self, bytes: &[u8]) -> Self {
        let mut crc = self.state;
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let low = u32::from_le_bytes([word[0], word[1], word[2], word[3]]) ^ crc;
            crc = TABLES[7][(low & 0xff) as usize]
                ^ TABLES[6][((low >> 8) & 0xff) as usize]
                ^ TABLES[5][((low >> 16) & 0xff) as usize]
                ^ TABLES[4][(low >> 24) as usize]
                ^ TABLES[3][word[4] as usize]
                ^ TABLES[2][word[5] as usize]
                ^ TABLES[1][word[6] as usize]
                ^ TABLES[0][word[7] as usize];
        }
        for &byte in words.remainder() {
            crc = (crc >> 8) ^ TABLES[0][((crc ^ u32::from(byte)) & 0xff) as usize];
        }
        self.state = crc;
        self
    }

    pub(crate) fn finish(self) -> u32 {
        !self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(bytes: &[u8]) -> u32 {
        Crc32c::new().update(bytes).finish()
    }

    #[test]
    fn matches_the_published_test_vectors() {
        // The check value of the CRC catalogue, and the iSCSI vectors of RFC 3720
        // appendix B.4.
        assert_eq!(crc(b"123456789"), 0xE306_9283);
        assert_eq!(crc(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc(&[0xffu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc(&ascending), 0x46DD_794E);
        let descending: Vec<u8> = (0..32).rev().collect();
        assert_eq!(crc(&descending), 0x113F_DB5C);
        assert_eq!(crc(b""), 0);
    }

    #[test]
    fn split_updates_equal_one_update() {
        let message: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
        let whole = crc(&message);
        for split in [0, 1, 7, 8, 9, 63, 99, 100] {
            let (a, b) = message.split_at(split);
            assert_eq!(Crc32c::new().update(a).update(b).finish(), whole);
        }
    }
}
