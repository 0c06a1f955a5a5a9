//! The window (a key is new again once it has passed, fleet-wide, and no front
//! filter remembers it longer than Redis does), claims and their release, and
//! what a key looks like in Redis.

mod support;

use std::time::{Duration, Instant};

use support::RedisServer;
use ttlru_redis::RedisSeenSet;

const FINGERPRINT_KEY: u128 = 0xfeed_beef_u128;

/// One replica's set: its own connection and, if `local_capacity` > 0, its own
/// front filter.
async fn replica(
    server: &RedisServer,
    time_to_live: Duration,
    local_capacity: u64,
) -> RedisSeenSet<str> {
    RedisSeenSet::<str>::builder()
        .url(server.url())
        .namespace("window:")
        .time_to_live(time_to_live)
        .fingerprint_key(FINGERPRINT_KEY)
        .local_capacity(local_capacity)
        .call_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("build")
}

async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.into()).await;
}

#[tokio::test]
async fn a_key_is_new_again_fleet_wide_once_the_window_has_passed() {
    let server = RedisServer::start();
    let time_to_live = Duration::from_millis(400);
    let a = replica(&server, time_to_live, 0).await;
    let b = replica(&server, time_to_live, 1_000).await;
    let written = Instant::now();
    assert!(a.insert("evt-1").await.unwrap());
    assert!(
        !b.insert("evt-1").await.unwrap(),
        "a duplicate on the other replica"
    );
    assert!(!a.insert("evt-1").await.unwrap());
    sleep_until(written + time_to_live + Duration::from_millis(150)).await;
    assert!(
        b.insert("evt-1").await.unwrap(),
        "the window has passed: new again"
    );
    assert!(
        !a.insert("evt-1").await.unwrap(),
        "and a duplicate again after that"
    );
}

#[tokio::test]
async fn the_local_filter_never_outlives_the_remote_window() {
    let server = RedisServer::start();
    let time_to_live = Duration::from_millis(800);
    let a = replica(&server, time_to_live, 0).await;
    let b = replica(&server, time_to_live, 1_000).await;
    let written = Instant::now();
    assert!(a.insert("evt-late").await.unwrap());
    // B first sees the key well into A's window...
    sleep_until(written + Duration::from_millis(450)).await;
    assert!(!b.insert("evt-late").await.unwrap());
    // ...and keeps it in its front filter: the repeat needs no network.
    let before = b.stats();
    assert!(!b.insert("evt-late").await.unwrap());
    let after = b.stats();
    assert_eq!(after.local_hits, before.local_hits + 1, "{after:?}");
    assert_eq!(after.remote_calls, before.remote_calls, "{after:?}");
    // Past A's window, but well inside a full window counted from B's first
    // sighting: a filter that cached the key for the full window answers wrongly.
    sleep_until(written + time_to_live + Duration::from_millis(120)).await;
    assert!(
        written.elapsed() < Duration::from_millis(450) + time_to_live,
        "the machine was too slow for this test to tell anything"
    );
    assert!(
        b.insert("evt-late").await.unwrap(),
        "B's front filter remembered the key past the window A's write opened"
    );
    assert_eq!(b.stats().remote_new, 1);
}

#[tokio::test]
async fn a_released_claim_makes_the_next_insert_new_on_any_replica() {
    let server = RedisServer::start();
    let time_to_live = Duration::from_secs(60);
    let a = replica(&server, time_to_live, 1_000).await;
    let b = replica(&server, time_to_live, 1_000).await;

    // Released on the replica that claimed it.
    let claim = a.claim("evt-1").await.unwrap().expect("first sighting");
    assert!(
        a.claim("evt-1").await.unwrap().is_none(),
        "held: a duplicate"
    );
    assert!(claim.release().await.unwrap(), "the key held this claim");
    assert!(a.insert("evt-1").await.unwrap(), "released: new again here");

    // Released after another replica (with a front filter) saw it as a duplicate.
    let claim = a.claim("evt-2").await.unwrap().expect("first sighting");
    assert!(!b.insert("evt-2").await.unwrap());
    assert!(!b.insert("evt-2").await.unwrap());
    assert!(claim.release().await.unwrap());
    assert!(
        b.insert("evt-2").await.unwrap(),
        "B cached a claimed key as a duplicate: the released event is lost there"
    );
    assert!(
        !a.insert("evt-2").await.unwrap(),
        "B's new sighting holds it now"
    );

    // A plain insert's key, by contrast, is cached by the other replica.
    assert!(a.insert("evt-3").await.unwrap());
    assert!(!b.insert("evt-3").await.unwrap());
    let local_hits = b.stats().local_hits;
    assert!(!b.insert("evt-3").await.unwrap());
    assert_eq!(b.stats().local_hits, local_hits + 1);

    assert_eq!(a.stats().claims_released, 2);
}

#[tokio::test]
async fn a_release_after_another_process_claimed_the_key_again_deletes_nothing() {
    let server = RedisServer::start();
    let time_to_live = Duration::from_millis(300);
    let a = replica(&server, time_to_live, 1_000).await;
    let b = replica(&server, time_to_live, 1_000).await;
    let stale = a.claim("evt-1").await.unwrap().expect("first sighting");
    tokio::time::sleep(time_to_live + Duration::from_millis(150)).await;
    let current = b
        .claim("evt-1")
        .await
        .unwrap()
        .expect("the window passed: new again");
    assert!(
        !stale.release().await.unwrap(),
        "the key holds B's claim, not A's"
    );
    assert!(
        b.contains("evt-1").await.unwrap(),
        "B's claim must still stand"
    );
    assert!(
        !a.insert("evt-1").await.unwrap(),
        "still a duplicate fleet-wide"
    );
    assert_eq!(a.stats().claims_released, 0);
    assert!(current.release().await.unwrap());
    assert!(a.insert("evt-1").await.unwrap());
}

#[tokio::test]
async fn batches_answer_each_key_in_order_and_a_repeat_within_a_batch_once() {
    let server = RedisServer::start();
    let seen = replica(&server, Duration::from_secs(60), 0).await;
    assert!(seen.insert("b").await.unwrap());
    let answers = seen
        .insert_many(&["a", "b", "c", "a", "d", "c"])
        .await
        .unwrap();
    assert_eq!(answers, [true, false, true, false, true, false]);
    assert!(seen.contains("d").await.unwrap());
    assert!(!seen.contains("e").await.unwrap());
    assert!(seen.remove("d").await.unwrap());
    assert!(!seen.remove("d").await.unwrap());
    assert!(seen.insert("d").await.unwrap(), "removed: new again");
    let stats = seen.stats();
    assert_eq!(
        (stats.remote_new, stats.remote_duplicates),
        (5, 1),
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_redis_key_is_the_namespace_and_the_big_endian_fingerprint_holding_a_decimal_token() {
    let server = RedisServer::start();
    let time_to_live = Duration::from_secs(60);
    let seen = replica(&server, time_to_live, 0).await;
    assert!(seen.insert("user42:evt-9f3c").await.unwrap());
    let mut key = b"window:".to_vec();
    key.extend_from_slice(
        &ttlru::keyed_fingerprint(FINGERPRINT_KEY, "user42:evt-9f3c").to_be_bytes(),
    );
    let mut admin = server.admin();
    let value: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut admin).unwrap();
    let value = String::from_utf8(value).unwrap();
    assert!(
        !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()),
        "the value is a decimal token: {value:?}"
    );
    let remaining: i64 = redis::cmd("PTTL").arg(&key).query(&mut admin).unwrap();
    assert!(
        remaining > 55_000 && remaining <= 60_000,
        "expires with the window: {remaining} ms left"
    );
    assert_eq!(server.dbsize(), 1, "the event ID itself is stored nowhere");
}
