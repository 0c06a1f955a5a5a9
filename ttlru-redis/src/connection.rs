//! The connection to Redis, standalone or cluster, and the few commands the set
//! sends. Every command here is safe to repeat with the same arguments, which is
//! what lets a call retry once after an error.

use std::time::Duration;

use futures_util::future::try_join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisError, Value};

use crate::claim_token::Token;
use crate::error::Error;

/// Deletes a key only if it still holds the given claim token, atomically.
const COMPARE_AND_DELETE: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Replaces the key's token with another, keeping its expiry, only if it still
/// holds the first, atomically.
const COMPARE_AND_REPLACE: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0";

/// How the set reaches Redis. Both kinds multiplex every concurrent call over
/// shared connections; cloning one is cheap.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server (or a Sentinel-managed primary's address): a multiplexed
    /// connection that reconnects with backoff after it breaks.
    Standalone(ConnectionManager),
    /// Redis Cluster: commands routed by hash slot, node connections managed by
    /// redis-rs's async cluster client.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Connection::Standalone(_) => "Connection::Standalone",
            Connection::Cluster(_) => "Connection::Cluster",
        })
    }
}

/// Where to connect.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Standalone(String),
    Cluster(Vec<String>),
}

impl Connection {
    /// Connects and checks that the server is a Redis that supports
    /// `SET .. NX GET` (7.0 or newer). Not bounded in time here: the caller is.
    pub(crate) async fn open(target: &Target, connect_timeout: Duration) -> Result<Self, Error> {
        // rustls needs a process-wide crypto provider; keep the application's if
        // it installed one.
        #[cfg(feature = "tls")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let connection = match target {
            Target::Standalone(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|error| Error::invalid("url", error.to_string()))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    // The set bounds each call itself (`call_timeout`).
                    .set_response_timeout(None)
                    // Reconnect quickly after a restart; while Redis stays down the
                    // breaker, not the backoff, keeps calls cheap.
                    .set_min_delay(Duration::from_millis(20))
                    .set_max_delay(Duration::from_millis(500))
                    .set_number_of_retries(3);
                let manager = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(Error::Connect)?;
                Connection::Standalone(manager)
            }
            Target::Cluster(urls) => {
                let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(connect_timeout)
                    .retries(1)
                    .build()
                    .map_err(|error| Error::invalid("cluster_urls", error.to_string()))?;
                let connection = client
                    .get_async_connection()
                    .await
                    .map_err(Error::Connect)?;
                Connection::Cluster(connection)
            }
        };
        connection.check_server().await?;
        Ok(connection)
    }

    async fn check_server(&self) -> Result<(), Error> {
        let info = self
            .query(redis::cmd("INFO").arg("server"))
            .await
            .map_err(Error::Connect)?;
        let text = match info {
            Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Value::VerbatimString { text, .. } => text,
            Value::SimpleString(text) => text,
            // A cluster answers per node; any one tells the version.
            Value::Map(nodes) => match nodes.into_iter().next() {
                Some((_, Value::BulkString(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                _ => String::new(),
            },
            other => {
                return Err(Error::UnexpectedReply(format!(
                    "INFO server answered {other:?}"
                )));
            }
        };
        let version = text
            .lines()
            .find_map(|line| line.strip_prefix("redis_version:"))
            .ok_or_else(|| {
                Error::UnexpectedReply("INFO server has no redis_version".to_string())
            })?;
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|major| major.trim().parse().ok())
            .unwrap_or(0);
        if major < 7 {
            return Err(Error::UnexpectedReply(format!(
                "Redis 7.0 or newer is needed (for SET .. NX GET); the server is {}",
                version.trim()
            )));
        }
        Ok(())
    }

    async fn query(&self, command: &Cmd) -> Result<Value, RedisError> {
        match self {
            Connection::Standalone(manager) => command.query_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => command.query_async(&mut cluster.clone()).await,
        }
    }

    /// Runs the commands and returns their replies in order: one pipeline on a
    /// standalone server; on a cluster, each command on its own, all at once
    /// (the cluster client routes each by slot and pipelines per node), so a
    /// batch never meets a cross-slot error.
    async fn run_all(&self, commands: Vec<Cmd>) -> Result<Vec<Value>, RedisError> {
        match self {
            Connection::Standalone(manager) => {
                let mut pipeline = redis::pipe();
                for command in commands {
                    pipeline.add_command(command);
                }
                pipeline.query_async(&mut manager.clone()).await
            }
            Connection::Cluster(cluster) => {
                try_join_all(commands.into_iter().map(|command| {
                    let mut cluster = cluster.clone();
                    async move { command.query_async::<Value>(&mut cluster).await }
                }))
                .await
            }
        }
    }

    /// `SET key token NX GET PX ttl` for each key: `None` where the key was absent
    /// (now set to the token), `Some(old value)` where it was present (left as is).
    pub(crate) async fn set_if_absent(
        &self,
        keys: &[Vec<u8>],
        tokens: &[Token],
        time_to_live_ms: u64,
    ) -> Result<Vec<Option<Vec<u8>>>, CallFailure> {
        let commands = keys
            .iter()
            .zip(tokens)
            .map(|(key, token)| {
                let mut command = redis::cmd("SET");
                command
                    .arg(key)
                    .arg(token.value())
                    .arg("NX")
                    .arg("GET")
                    .arg("PX")
                    .arg(time_to_live_ms);
                command
            })
            .collect();
        let replies = self.run_all(commands).await?;
        check_count(&replies, keys.len())?;
        replies.into_iter().map(optional_bytes).collect()
    }

    /// `PTTL key` for each key: the remaining milliseconds, or `None` for a key
    /// that is gone or has no expiry.
    pub(crate) async fn remaining_ms(
        &self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<u64>>, CallFailure> {
        let commands = keys
            .iter()
            .map(|key| {
                let mut command = redis::cmd("PTTL");
                command.arg(key);
                command
            })
            .collect();
        let replies = self.run_all(commands).await?;
        check_count(&replies, keys.len())?;
        replies
            .into_iter()
            .map(|reply| match reply {
                Value::Int(ms) => Ok(u64::try_from(ms).ok()),
                other => Err(unexpected("PTTL", &other)),
            })
            .collect()
    }

    /// `EXISTS key`.
    pub(crate) async fn exists(&self, key: &[u8]) -> Result<bool, CallFailure> {
        match self.query(redis::cmd("EXISTS").arg(key)).await? {
            Value::Int(count) => Ok(count > 0),
            other => Err(unexpected("EXISTS", &other)),
        }
    }

    /// `DEL key`: whether it was there.
    pub(crate) async fn delete(&self, key: &[u8]) -> Result<bool, CallFailure> {
        match self.query(redis::cmd("DEL").arg(key)).await? {
            Value::Int(count) => Ok(count > 0),
            other => Err(unexpected("DEL", &other)),
        }
    }

    /// Deletes the key if it still holds `token`: whether it did.
    pub(crate) async fn delete_if_holds(
        &self,
        key: &[u8],
        token: Token,
    ) -> Result<bool, CallFailure> {
        // EVAL, not a cached script: a restarted or failed-over server has no
        // script cache, and the script is tiny.
        let mut command = redis::cmd("EVAL");
        command
            .arg(COMPARE_AND_DELETE)
            .arg(1)
            .arg(key)
            .arg(token.value());
        match self.query(&command).await? {
            Value::Int(count) => Ok(count > 0),
            other => Err(unexpected("the compare-and-delete script", &other)),
        }
    }
}

impl Connection {
    /// Swaps `old` for `new` in the key if it still holds `old`: whether it did.
    pub(crate) async fn replace_token(
        &self,
        key: &[u8],
        old: Token,
        new: Token,
    ) -> Result<bool, CallFailure> {
        let mut command = redis::cmd("EVAL");
        command
            .arg(COMPARE_AND_REPLACE)
            .arg(1)
            .arg(key)
            .arg(old.value())
            .arg(new.value());
        match self.query(&command).await? {
            Value::Int(count) => Ok(count > 0),
            other => Err(unexpected("the compare-and-replace script", &other)),
        }
    }
}

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) enum CallFailure {
    Redis(RedisError),
    Unexpected(String),
}

impl From<RedisError> for CallFailure {
    fn from(error: RedisError) -> Self {
        CallFailure::Redis(error)
    }
}

impl From<CallFailure> for Error {
    fn from(failure: CallFailure) -> Self {
        match failure {
            CallFailure::Redis(error) => Error::Redis(error),
            CallFailure::Unexpected(what) => Error::UnexpectedReply(what),
        }
    }
}

fn unexpected(command: &str, reply: &Value) -> CallFailure {
    CallFailure::Unexpected(format!("{command} answered {reply:?}"))
}

fn check_count(replies: &[Value], expected: usize) -> Result<(), CallFailure> {
    if replies.len() == expected {
        Ok(())
    } else {
        Err(CallFailure::Unexpected(format!(
            "{} replies to {expected} commands",
            replies.len()
        )))
    }
}

fn optional_bytes(reply: Value) -> Result<Option<Vec<u8>>, CallFailure> {
    match reply {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(bytes)),
        Value::SimpleString(text) => Ok(Some(text.into_bytes())),
        Value::Int(number) => Ok(Some(number.to_string().into_bytes())),
        other => Err(unexpected("SET .. NX GET", &other)),
    }
}
