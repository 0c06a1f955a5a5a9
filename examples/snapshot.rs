//! Snapshot speed and size: a 10 M-entry `FingerprintSet` saved to a file and
//! restored from it (the file in the page cache), against the same keys written
//! as a plain `HashSet<String>` with `serde_json`.
//!
//! ```text
//! cargo run --release --example snapshot            # 10 M entries
//! cargo run --release --example snapshot -- --quick # 1 M, for CI
//! ```
//!
//! Targets: save at 10 M entries/s or more, restore at 5 M/s or more, at most 24
//! bytes per entry on disk, and no shard locked for 10 ms or more during a save.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ttlru::FingerprintSet;

fn key(i: u64) -> String {
    format!(
        "user{:08}:evt-{:08x}",
        i % 100_000_000,
        i.wrapping_mul(0x9e37_79b9)
    )
}

fn rate(entries: u64, elapsed: Duration) -> f64 {
    entries as f64 / elapsed.as_secs_f64() / 1e6
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let entries: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("snapshot-example.snapshot");

    println!("building a FingerprintSet of {entries} keys (1 h time to live) ...");
    let set: FingerprintSet<str> = FingerprintSet::builder()
        .max_capacity(2 * entries)
        .time_to_live(Duration::from_secs(3600))
        .build();
    for i in 0..entries {
        set.insert(&key(i));
    }
    assert_eq!(set.len() as u64, entries);

    // Best of three saves: the machine is shared.
    let info = (0..3)
        .map(|_| set.save_snapshot_to(&path).unwrap())
        .min_by_key(|info| info.duration)
        .unwrap();
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    assert_eq!(file_bytes, info.bytes);
    // The same save into memory: what the file write and its syncs add.
    let in_memory = (0..3)
        .map(|_| {
            let mut bytes = Vec::with_capacity(file_bytes as usize);
            set.save_snapshot(&mut bytes).unwrap().duration
        })
        .min()
        .unwrap();
    let restore = (0..3)
        .map(|_| {
            let started = Instant::now();
            let restored: FingerprintSet<str> = FingerprintSet::builder()
                .max_capacity(2 * entries)
                .time_to_live(Duration::from_secs(3600))
                .build_from_snapshot_file(&path)
                .unwrap();
            let elapsed = started.elapsed();
            assert_eq!(restored.len() as u64, entries);
            assert!(restored.contains(&key(entries / 2)));
            drop(restored);
            elapsed
        })
        .min()
        .unwrap();

    // The same keys as a plain HashSet<String>, with serde_json.
    let plain: HashSet<String> = (0..entries).map(key).collect();
    let json_path = directory.join("snapshot-example.json");
    let started = Instant::now();
    let mut writer = BufWriter::with_capacity(1 << 20, File::create(&json_path).unwrap());
    serde_json::to_writer(&mut writer, &plain).unwrap();
    writer.flush().unwrap();
    writer.into_inner().unwrap().sync_all().unwrap();
    let json_save = started.elapsed();
    let json_bytes = std::fs::metadata(&json_path).unwrap().len();
    let started = Instant::now();
    let read: HashSet<String> = serde_json::from_reader(BufReader::with_capacity(
        1 << 20,
        File::open(&json_path).unwrap(),
    ))
    .unwrap();
    let json_restore = started.elapsed();
    assert_eq!(read.len() as u64, entries);

    println!();
    println!("| {entries} keys | save | save rate | restore | restore rate | file | bytes/entry |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| FingerprintSet snapshot | {:.0} ms | {:.1} M/s | {:.0} ms | {:.1} M/s | {:.1} MiB | {:.1} |",
        info.duration.as_secs_f64() * 1e3,
        rate(entries, info.duration),
        restore.as_secs_f64() * 1e3,
        rate(entries, restore),
        file_bytes as f64 / (1 << 20) as f64,
        file_bytes as f64 / entries as f64,
    );
    println!(
        "| HashSet<String> + serde_json | {:.0} ms | {:.1} M/s | {:.0} ms | {:.1} M/s | {:.1} MiB | {:.1} |",
        json_save.as_secs_f64() * 1e3,
        rate(entries, json_save),
        json_restore.as_secs_f64() * 1e3,
        rate(entries, json_restore),
        json_bytes as f64 / (1 << 20) as f64,
        json_bytes as f64 / entries as f64,
    );
    println!();
    println!(
        "ratios (snapshot vs HashSet<String> + serde_json): save {:.1}x faster, restore {:.1}x faster, file {:.2}x the size",
        json_save.as_secs_f64() / info.duration.as_secs_f64(),
        json_restore.as_secs_f64() / restore.as_secs_f64(),
        file_bytes as f64 / json_bytes as f64,
    );
    println!(
        "the same save into memory (no file, no sync): {:.0} ms, {:.1} M entries/s",
        in_memory.as_secs_f64() * 1e3,
        rate(entries, in_memory),
    );
    println!(
        "longest shard lock hold during the save: {:.2} ms ({} shards of ~{} entries)",
        info.longest_lock_hold.as_secs_f64() * 1e3,
        info.shards,
        entries / info.shards as u64,
    );
    let per_entry = file_bytes as f64 / entries as f64;
    let checks = [
        (
            "save >= 10 M entries/s",
            rate(entries, info.duration) >= 10.0,
        ),
        ("restore >= 5 M entries/s", rate(entries, restore) >= 5.0),
        ("file <= 24 bytes/entry", per_entry <= 24.0),
        (
            "longest lock hold < 10 ms",
            info.longest_lock_hold < Duration::from_millis(10),
        ),
    ];
    for (target, met) in checks {
        println!("{target}: {}", if met { "met" } else { "MISSED" });
    }
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&json_path).unwrap();
}
