//! Redis failing under the set: killed and restarted, frozen (SIGSTOP), and a
//! write that lands after the client gave up on it. Every call must stay bounded
//! by `call_timeout`, answer per the fail mode, and the same set must recover
//! without being rebuilt.
//!
//! Time bounds are upper bounds with wide margins: the machine is shared.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::RedisServer;
use ttlru_redis::{Error, FailMode, RedisSeenSet};

const FINGERPRINT_KEY: u128 = 0xdead_5eed_u128;
const CALL_TIMEOUT: Duration = Duration::from_millis(200);
/// What a call may take beyond `call_timeout` on a busy machine.
const MARGIN: Duration = Duration::from_millis(150);
const COOL_DOWN: Duration = Duration::from_millis(400);
const BREAKER_FAILURES: u32 = 3;

async fn replica(
    server: &RedisServer,
    fail_mode: FailMode,
    local_capacity: u64,
) -> RedisSeenSet<str> {
    RedisSeenSet::<str>::builder()
        .url(server.url())
        .namespace("faults:")
        .time_to_live(Duration::from_secs(60))
        .fingerprint_key(FINGERPRINT_KEY)
        .local_capacity(local_capacity)
        .call_timeout(CALL_TIMEOUT)
        .breaker(BREAKER_FAILURES, COOL_DOWN)
        .fail_mode(fail_mode)
        .build()
        .await
        .expect("build")
}

/// Runs an insert, failing the test if it takes longer than `call_timeout` + margin.
async fn bounded_insert(seen: &RedisSeenSet<str>, key: &str) -> Result<bool, Error> {
    let started = Instant::now();
    let answer = seen.insert(key).await;
    let took = started.elapsed();
    assert!(
        took <= CALL_TIMEOUT + MARGIN,
        "insert({key}) took {took:?}, more than call_timeout {CALL_TIMEOUT:?} + {MARGIN:?}: {answer:?}"
    );
    answer
}

/// After a restart, inserts fresh keys until one is answered by Redis rather
/// than by the fail mode, each call bounded; panics if that takes over 10 s.
/// Returns the key Redis answered.
async fn wait_for_recovery(seen: &RedisSeenSet<str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 0.. {
        let key = format!("after-restart-{attempt}");
        let degraded = seen.stats().degraded;
        let answer = bounded_insert(seen, &key).await;
        if let Ok(first) = answer
            && seen.stats().degraded == degraded
        {
            assert!(first, "a fresh key after the restart is new");
            return key;
        }
        assert!(
            Instant::now() < deadline,
            "the set did not recover within 10 s of the restart: {:?}, {:?}",
            answer,
            seen.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!()
}

/// Batches sent by three tasks on clones of `seen` until `stop`: calls in flight
/// when the server dies. Returns the slowest call's duration.
fn background_stream(
    seen: &RedisSeenSet<str>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Duration>> {
    (0..3)
        .map(|task| {
            let (seen, stop) = (seen.clone(), stop.clone());
            tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                for round in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let keys: Vec<String> = (0..16)
                        .map(|i| format!("stream-{task}-{round}-{i}"))
                        .collect();
                    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                    let started = Instant::now();
                    // Any answer the fail mode allows; only the time is checked here.
                    let _ = seen.insert_many(&keys).await;
                    slowest = slowest.max(started.elapsed());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                slowest
            })
        })
        .collect()
}

/// The part every fail mode shares: healthy, killed while batches are in
/// flight (`while_down` checks the answers), restarted, recovered, and what it
/// recovers to is really Redis.
async fn killed_then_restarted(
    fail_mode: FailMode,
    local_capacity: u64,
    while_down: impl AsyncFnOnce(&RedisSeenSet<str>),
) {
    let mut server = RedisServer::start();
    let seen = replica(&server, fail_mode, local_capacity).await;
    for i in 0..100 {
        assert!(bounded_insert(&seen, &format!("before-{i}")).await.unwrap());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stream = background_stream(&seen, &stop);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Blocking work off the runtime's threads, so the stream's timings are its own.
    tokio::task::block_in_place(|| server.kill());
    while_down(&seen).await;
    tokio::task::block_in_place(|| server.restart());
    let key = wait_for_recovery(&seen).await;
    stop.store(true, Ordering::Relaxed);
    for task in stream {
        let slowest = task.await.unwrap();
        assert!(
            slowest <= CALL_TIMEOUT + MARGIN,
            "a batch in flight took {slowest:?}, more than call_timeout {CALL_TIMEOUT:?} + {MARGIN:?}"
        );
    }
    // The answer came from Redis: another replica sees the key there.
    let other = replica(&server, FailMode::Closed, 0).await;
    assert!(
        !other.insert(&key).await.unwrap(),
        "{key} is not in the restarted Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_killed_server_errors_within_the_call_timeout_and_recovers_after_restart() {
    killed_then_restarted(FailMode::Closed, 0, async |seen| {
        let mut unavailable = 0;
        for i in 0..10 {
            match bounded_insert(seen, &format!("while-down-{i}")).await {
                Ok(answer) => panic!("Closed answered {answer} with Redis down"),
                Err(Error::Unavailable) => unavailable += 1,
                Err(error) => assert!(error.is_unavailable(), "{error:?}"),
            }
        }
        assert!(
            unavailable > 0,
            "the breaker never opened: {:?}",
            seen.stats()
        );
        assert!(seen.breaker_open());
        assert_eq!(
            seen.stats().degraded,
            0,
            "Closed answers nothing it does not know"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_killed_server_answers_true_and_recovers_after_restart() {
    killed_then_restarted(FailMode::Open, 0, async |seen| {
        // Even keys Redis had: with Redis down, Open processes everything.
        let degraded = seen.stats().degraded;
        for i in 0..10 {
            assert!(bounded_insert(seen, &format!("before-{i}")).await.unwrap());
        }
        assert!(seen.stats().degraded >= degraded + 10);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_only_killed_server_answers_from_the_local_filter_and_recovers_after_restart() {
    killed_then_restarted(FailMode::LocalOnly, 10_000, async |seen| {
        let before = seen.stats();
        for i in 0..10 {
            // Seen by this process before the kill: the filter still knows them.
            assert!(!bounded_insert(seen, &format!("before-{i}")).await.unwrap());
            // New keys are new once, then duplicates, per the filter alone.
            let key = format!("while-down-{i}");
            assert!(bounded_insert(seen, &key).await.unwrap());
            assert!(!bounded_insert(seen, &key).await.unwrap());
        }
        let stats = seen.stats();
        assert!(stats.degraded >= before.degraded + 10, "{stats:?}");
        assert!(stats.local_hits >= before.local_hits + 20, "{stats:?}");
    })
    .await;
}

#[tokio::test]
async fn a_frozen_server_costs_the_call_timeout_until_the_breaker_opens_then_nothing() {
    let mut server = RedisServer::start();
    let seen = replica(&server, FailMode::Closed, 0).await;
    assert!(seen.insert("warm-up").await.unwrap());
    server.stop();
    for i in 0..BREAKER_FAILURES {
        let started = Instant::now();
        let answer = bounded_insert(&seen, &format!("frozen-{i}")).await;
        assert!(matches!(answer, Err(Error::Timeout { .. })), "{answer:?}");
        assert!(
            started.elapsed() >= CALL_TIMEOUT * 9 / 10,
            "a frozen server cannot answer before the timeout"
        );
    }
    assert!(seen.breaker_open());
    assert_eq!(seen.stats().breaker_openings, 1);
    let calls_before = seen.stats().remote_calls;
    for i in 0..20 {
        let started = Instant::now();
        let answer = seen.insert(&format!("turned-away-{i}")).await;
        let took = started.elapsed();
        assert!(matches!(answer, Err(Error::Unavailable)), "{answer:?}");
        assert!(
            took < CALL_TIMEOUT / 4,
            "an open breaker should answer at once, took {took:?}"
        );
    }
    assert_eq!(
        seen.stats().remote_calls,
        calls_before,
        "an open breaker sends nothing"
    );
    server.resume();
    // After the cool-down one probe finds Redis back and closes the breaker.
    let deadline = Instant::now() + COOL_DOWN + Duration::from_secs(5);
    loop {
        if bounded_insert(&seen, "after-resume").await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {:?}", seen.stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!seen.breaker_open());
    assert!(seen.insert("after-resume-2").await.unwrap());
}

/// Holds every write the server receives for `pause` (`CLIENT PAUSE .. WRITE`).
fn pause_writes(server: &RedisServer, pause: Duration) {
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(pause.as_millis() as u64)
        .arg("WRITE")
        .query(&mut server.admin())
        .unwrap();
}

/// Pauses the server's writes for longer than `call_timeout`, inserts `key` (a
/// timeout under `Closed`: the SET was sent and waits in the server), and returns
/// once the pause has ended and the write has run.
async fn insert_whose_write_lands_late(server: &RedisServer, seen: &RedisSeenSet<str>, key: &str) {
    let pause = CALL_TIMEOUT * 3;
    let paused_at = Instant::now();
    pause_writes(server, pause);
    let answer = seen.insert(key).await;
    assert!(matches!(answer, Err(Error::Timeout { .. })), "{answer:?}");
    tokio::time::sleep_until((paused_at + pause + Duration::from_millis(200)).into()).await;
}

#[tokio::test]
async fn a_write_that_lands_after_the_timeout_is_still_this_process_first_sighting() {
    let server = RedisServer::start();
    let a = replica(&server, FailMode::Closed, 1_000).await;
    let b = replica(&server, FailMode::Closed, 1_000).await;
    insert_whose_write_lands_late(&server, &a, "evt-late-write").await;
    let mut key = b"faults:".to_vec();
    key.extend_from_slice(
        &ttlru::keyed_fingerprint(FINGERPRINT_KEY, "evt-late-write").to_be_bytes(),
    );
    let landed: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query(&mut server.admin())
        .unwrap();
    assert!(
        landed,
        "the timed-out write never reached Redis: the test tells nothing"
    );

    assert!(
        a.insert("evt-late-write").await.unwrap(),
        "the retry lost the event as a duplicate of its own timed-out write"
    );
    assert_eq!(a.stats().own_claims_recognised, 1);
    assert!(!b.insert("evt-late-write").await.unwrap());
    assert!(!a.insert("evt-late-write").await.unwrap());
    assert_eq!(a.stats().remote_new + b.stats().remote_new, 1);
}

#[tokio::test]
async fn a_claim_that_reuses_a_timed_out_insert_is_still_not_cached_by_other_replicas() {
    // The documented promise: a key held by an unreleased claim is never cached
    // by other replicas' front filters, so a released claim is processed again
    // wherever the retry lands. Here the claim is the retry of an insert that
    // timed out (and whose write landed later).
    let server = RedisServer::start();
    let a = replica(&server, FailMode::Closed, 1_000).await;
    let b = replica(&server, FailMode::Closed, 1_000).await;
    insert_whose_write_lands_late(&server, &a, "evt-retried-as-claim").await;

    let claim = a
        .claim("evt-retried-as-claim")
        .await
        .unwrap()
        .expect("its own timed-out write: a first sighting");
    assert!(
        !b.insert("evt-retried-as-claim").await.unwrap(),
        "claimed by A"
    );
    assert!(
        claim.release().await.unwrap(),
        "processing failed: released"
    );
    assert!(
        b.insert("evt-retried-as-claim").await.unwrap(),
        "B cached the claimed key as a plain duplicate: the released event is lost on B"
    );
}

/// Inserts `keys` in batches, retrying each failed batch until Redis answers,
/// as a consumer that nacks and redelivers would; returns the first sightings.
async fn insert_retrying(seen: RedisSeenSet<str>, keys: Vec<String>) -> usize {
    let mut first_sightings = 0;
    for batch in keys.chunks(64) {
        let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match seen.insert_many(&batch).await {
                Ok(answers) => {
                    first_sightings += answers.iter().filter(|&&first| first).count();
                    break;
                }
                Err(error) => {
                    assert!(error.is_unavailable(), "{error:?}");
                    assert!(Instant::now() < deadline, "no answer for 20 s: {error:?}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    first_sightings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_batches_through_repeated_write_pauses_give_exactly_one_true_per_key() {
    // Writes held up past the timeout land later; each replica retries its failed
    // batches. A key whose late write is not recognised by its retry gets no
    // `true` at all; a retry that claims it again gets two.
    const KEYS: usize = 20_000;
    let server = RedisServer::start();
    let a = replica(&server, FailMode::Closed, 0).await;
    let b = replica(&server, FailMode::Closed, 10_000).await;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("evt-{i}")).collect();
    let reversed: Vec<String> = keys.iter().rev().cloned().collect();
    // Write pauses, one at once and then every 500 ms until both streams are done.
    let done = Arc::new(AtomicBool::new(false));
    let pauser = {
        let (done, mut admin) = (done.clone(), server.admin());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let _: () = redis::cmd("CLIENT")
                    .arg("PAUSE")
                    .arg(300)
                    .arg("WRITE")
                    .query(&mut admin)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let streams = [
        tokio::spawn(insert_retrying(a.clone(), keys)),
        tokio::spawn(insert_retrying(b.clone(), reversed)),
    ];
    let mut first_sightings = 0;
    for stream in streams {
        first_sightings += stream.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    pauser.join().unwrap();
    let (a, b) = (a.stats(), b.stats());
    assert!(
        a.timeouts + b.timeouts > 0,
        "no call timed out: the pauses came too late to test anything"
    );
    assert_eq!(first_sightings, KEYS, "A: {a:?}\nB: {b:?}");
    assert!(
        a.own_claims_recognised + b.own_claims_recognised > 0,
        "no late write was recognised by its retry: A: {a:?}\nB: {b:?}"
    );
    assert_eq!(server.dbsize(), KEYS as u64);
}

#[tokio::test]
async fn a_slow_follow_up_does_not_stretch_a_call_past_the_call_timeout() {
    // A remote duplicate on a replica with a front filter takes a second round
    // trip (how long the key has left, to cache it no longer than Redis keeps
    // it). call_timeout bounds the whole call, that round trip included: here the
    // SET uses most of it and the PTTL would take far longer.
    let server = RedisServer::start();
    let a = replica(&server, FailMode::Closed, 0).await;
    const DELAYS: &[(&[u8], Duration)] = &[
        (b"SET", Duration::from_millis(170)),
        (b"PTTL", Duration::from_secs(2)),
    ];
    let proxied = support::slow_proxy(server.port(), DELAYS);
    let b = RedisSeenSet::<str>::builder()
        .url(proxied)
        .namespace("faults:")
        .time_to_live(Duration::from_secs(60))
        .fingerprint_key(FINGERPRINT_KEY)
        .local_capacity(1_000)
        .call_timeout(CALL_TIMEOUT)
        .build()
        .await
        .unwrap();
    assert!(a.insert("evt-1").await.unwrap());
    let started = Instant::now();
    let answer = b.insert("evt-1").await;
    let took = started.elapsed();
    // Tighter than MARGIN: a follow-up with a fresh call_timeout of its own
    // would end at 170 ms + 200 ms.
    assert!(
        took < CALL_TIMEOUT + Duration::from_millis(120),
        "the call took {took:?} with a call_timeout of {CALL_TIMEOUT:?}"
    );
    assert!(
        !answer.unwrap(),
        "Redis answered: a duplicate, whether or not it could be cached"
    );
}

#[tokio::test]
async fn a_call_dropped_by_its_caller_after_sending_still_counts_as_its_first_sighting() {
    // The caller's own deadline (a select!, a shorter timeout) drops the future
    // after the SET went out; the write lands later. The next call for the key
    // must recognise it, as after a call that timed out by itself.
    let server = RedisServer::start();
    let a = replica(&server, FailMode::Closed, 1_000).await;
    let b = replica(&server, FailMode::Closed, 1_000).await;
    let pause = Duration::from_millis(500);
    let paused_at = Instant::now();
    pause_writes(&server, pause);
    let dropped = tokio::time::timeout(Duration::from_millis(50), a.insert("evt-dropped")).await;
    assert!(
        dropped.is_err(),
        "the call should still be waiting: {dropped:?}"
    );
    tokio::time::sleep_until((paused_at + pause + Duration::from_millis(200)).into()).await;
    assert!(
        a.insert("evt-dropped").await.unwrap(),
        "the event was lost as a duplicate of its own dropped call's write"
    );
    assert_eq!(a.stats().own_claims_recognised, 1);
    assert!(!b.insert("evt-dropped").await.unwrap());
}
