//! Bad options, bad servers and misuse: each is a typed error, quickly, never a
//! panic or a hang.

mod support;

use std::time::{Duration, Instant};

use support::{RedisServer, fake_server, free_port};
use ttlru_redis::{Error, FailMode, RedisSeenSet};

/// A builder with every required option set, to a port nobody listens on
/// (options are checked before any network).
fn valid_builder() -> ttlru_redis::RedisSeenSetBuilder<str> {
    RedisSeenSet::<str>::builder()
        .url(format!("redis://127.0.0.1:{}/", free_port()))
        .time_to_live(Duration::from_secs(60))
        .fingerprint_key(1)
}

fn expect_invalid(result: Result<RedisSeenSet<str>, Error>, expected_option: &str) {
    match result {
        Err(Error::InvalidConfig { option, reason }) => {
            assert_eq!(option, expected_option, "{reason}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected InvalidConfig for {expected_option}, got {other:?}"),
    }
}

#[tokio::test]
async fn out_of_range_and_missing_options_are_refused_naming_the_option() {
    expect_invalid(
        valid_builder().time_to_live(Duration::ZERO).build().await,
        "time_to_live",
    );
    expect_invalid(
        valid_builder().time_to_live(Duration::MAX).build().await,
        "time_to_live",
    );
    expect_invalid(
        RedisSeenSet::<str>::builder()
            .time_to_live(Duration::from_secs(1))
            .fingerprint_key(1)
            .build()
            .await,
        "url",
    );
    expect_invalid(
        RedisSeenSet::<str>::builder()
            .url("redis://127.0.0.1:1/")
            .time_to_live(Duration::from_secs(1))
            .build()
            .await,
        "fingerprint_key",
    );
    expect_invalid(
        RedisSeenSet::<str>::builder()
            .url("redis://127.0.0.1:1/")
            .fingerprint_key(1)
            .build()
            .await,
        "time_to_live",
    );
    expect_invalid(
        valid_builder().fail_mode(FailMode::LocalOnly).build().await,
        "fail_mode",
    );
    expect_invalid(
        valid_builder().call_timeout(Duration::ZERO).build().await,
        "call_timeout",
    );
    expect_invalid(
        valid_builder()
            .breaker(0, Duration::from_secs(1))
            .build()
            .await,
        "breaker",
    );
    expect_invalid(
        valid_builder()
            .cluster_urls(["redis://127.0.0.1:1/"])
            .build()
            .await,
        "cluster_urls",
    );
    expect_invalid(
        RedisSeenSet::<str>::builder()
            .cluster_urls(Vec::<String>::new())
            .time_to_live(Duration::from_secs(1))
            .fingerprint_key(1)
            .build()
            .await,
        "cluster_urls",
    );
}

#[tokio::test]
async fn an_empty_batch_answers_nothing_without_a_call() {
    let server = RedisServer::start();
    let seen = RedisSeenSet::<str>::builder()
        .url(server.url())
        .time_to_live(Duration::from_secs(60))
        .fingerprint_key(1)
        .build()
        .await
        .unwrap();
    assert_eq!(seen.insert_many(&[]).await.unwrap(), Vec::<bool>::new());
    assert_eq!(seen.stats().remote_calls, 0);
}

#[tokio::test]
async fn an_unreachable_url_is_a_quick_connect_error() {
    let started = Instant::now();
    let result = valid_builder().build().await;
    assert!(matches!(result, Err(Error::Connect(_))), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

/// Builds against `url` with a 1 s connect timeout; the build must fail, with
/// a Redis-side error, within the timeout plus a margin.
async fn build_fails_in_time(url: String) -> Error {
    let connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        RedisSeenSet::<str>::builder()
            .url(url)
            .time_to_live(Duration::from_secs(60))
            .fingerprint_key(1)
            .connect_timeout(connect_timeout)
            .build(),
    )
    .await
    .expect("build hung for 10 s");
    let took = started.elapsed();
    assert!(
        took <= connect_timeout + Duration::from_millis(500),
        "took {took:?}"
    );
    let error = result.expect_err("a server that is not Redis was accepted");
    assert!(
        matches!(
            error,
            Error::Connect(_) | Error::Timeout { .. } | Error::UnexpectedReply(_)
        ),
        "{error:?}"
    );
    error
}

#[tokio::test]
async fn a_server_speaking_another_protocol_is_refused_at_build() {
    // As documented on build: a server that is not Redis is a Connect error.
    let error = build_fails_in_time(fake_server(b"HTTP/1.1 200 OK\r\n\r\n")).await;
    assert!(matches!(error, Error::Connect(_)), "{error:?}");
}

#[tokio::test]
async fn a_server_that_says_nothing_is_refused_within_the_connect_timeout() {
    // As documented on build: connecting for longer than connect_timeout.
    let error = build_fails_in_time(fake_server(b"")).await;
    assert!(
        matches!(error, Error::Timeout { after } if after == Duration::from_secs(1)),
        "{error:?}"
    );
}

fn blocking_set(server: &RedisServer) -> ttlru_redis::blocking::RedisSeenSet<str> {
    ttlru_redis::blocking::RedisSeenSet::<str>::builder()
        .url(server.url())
        .time_to_live(Duration::from_secs(60))
        .fingerprint_key(1)
        .build()
        .expect("build outside a runtime")
}

#[test]
fn the_blocking_api_inside_an_async_runtime_answers_without_stalling_it() {
    // An async task calling the blocking set holds up its own worker for the call,
    // as any blocking call does, but must neither panic (as a nested `block_on`
    // would) nor deadlock (the set's connection runs on the set's own runtime,
    // not on the caller's). A current-thread runtime is the hardest case: the
    // caller's task is the only thread that runtime has.
    let server = RedisServer::start();
    let seen = blocking_set(&server);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let built = ttlru_redis::blocking::RedisSeenSet::<str>::builder()
            .url(server.url())
            .time_to_live(Duration::from_secs(60))
            .fingerprint_key(1)
            .build();
        let other = built.expect("build inside a runtime");
        assert!(seen.insert("evt-1").unwrap());
        assert!(!other.insert("evt-1").unwrap(), "the other replica sees it");
        assert_eq!(
            seen.insert_many(&["evt-1", "evt-2"]).unwrap(),
            [false, true]
        );
        assert!(seen.contains("evt-2").unwrap());
        let claim = seen.claim("evt-3").unwrap().expect("first sighting");
        assert!(claim.release().unwrap());
        assert!(seen.remove("evt-1").unwrap());
        // And the caller's own runtime still works afterwards.
        tokio::time::sleep(Duration::from_millis(1)).await;
    });
    assert!(seen.insert("evt-1").unwrap(), "removed above: new again");
}

#[tokio::test]
async fn a_redis_older_than_7_is_refused_at_build_naming_the_version() {
    // SET .. NX GET, which the set relies on, came with Redis 7.0.
    let url =
        support::canned_redis("# Server\r\nredis_version:6.2.14\r\nredis_mode:standalone\r\n");
    let error = build_fails_in_time(url).await;
    assert!(
        matches!(&error, Error::UnexpectedReply(what) if what.contains("6.2.14")),
        "{error:?}"
    );
}
