//! The snapshot decoder on arbitrary bytes: it must return an error or a set,
//! never panic, hang or allocate beyond what the input justifies (libFuzzer's
//! `-rss_limit_mb` and `-malloc_limit_mb` catch the last).
//!
//! Each input is tried as every kind, and also behind a valid header of each
//! kind, so the fuzzer reaches the block decoder without forging checksums
//! first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttlru::{Cache, FingerprintSet, SeenSet};

/// Valid snapshot headers (and one block) of each kind, made once.
fn prefixes() -> &'static [Vec<u8>] {
    static PREFIXES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    PREFIXES.get_or_init(|| {
        let fingerprints: FingerprintSet<u32> = FingerprintSet::builder()
            .time_to_idle(std::time::Duration::from_secs(60))
            .build();
        fingerprints.insert(&1);
        let seen: SeenSet<String> = SeenSet::new(10);
        seen.insert("a".to_string());
        let cache: Cache<u32, String> = Cache::new(10);
        cache.insert(1, "one".to_string());
        let mut outputs = vec![Vec::new(), Vec::new(), Vec::new()];
        fingerprints.save_snapshot(&mut outputs[0]).unwrap();
        seen.save_snapshot(&mut outputs[1]).unwrap();
        cache.save_snapshot(&mut outputs[2]).unwrap();
        // The header is the first 60 bytes.
        outputs.into_iter().map(|bytes| bytes[..60].to_vec()).collect()
    })
}

fn decode_all(bytes: &[u8]) {
    if let Ok(set) = FingerprintSet::<u32>::builder().build_from_snapshot(bytes) {
        let _ = set.contains(&1);
    }
    if let Ok(set) = SeenSet::<String>::builder().build_from_snapshot(bytes) {
        let _ = set.contains("a");
    }
    if let Ok(cache) = Cache::<u32, String>::builder().build_from_snapshot(bytes) {
        let _ = cache.get(&1);
    }
}

fuzz_target!(|data: &[u8]| {
    decode_all(data);
    for prefix in prefixes() {
        let mut input = prefix.clone();
        input.extend_from_slice(data);
        decode_all(&input);
    }
});
