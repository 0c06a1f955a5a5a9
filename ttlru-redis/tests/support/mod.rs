//! A real `redis-server` (or a 3-node Redis Cluster) for the integration tests:
//! each test starts its own on free loopback ports and the server dies with it.
//!
//! Missing binaries fail the test with what to install: a test that silently
//! skipped would pass in CI without having checked anything.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Fails the test if `binary` is not on PATH, saying what to install.
pub fn require_binary(binary: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{binary} not found on PATH: apt-get install redis-server \
                 (it provides redis-server and redis-cli, Redis 7.0 or newer)"
            )
        })
}

/// A loopback port nobody listens on now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// A free port whose cluster bus port (+10000) is free as well.
fn free_cluster_port() -> u16 {
    for _ in 0..1_000 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair (p, p + 10000) on 127.0.0.1");
}

/// One `redis-server` child process on a loopback port, killed (and reaped) when
/// dropped, also when the test panics.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    extra_args: Vec<String>,
    child: Option<Child>,
    stopped: bool,
}

impl RedisServer {
    /// A standalone server without persistence.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A server with extra command-line options, on a free port.
    pub fn start_with(extra_args: &[&str]) -> RedisServer {
        // Another process may take the port between our probe and the server's
        // bind: try a few ports before giving up.
        let mut last_failure = String::new();
        for _ in 0..5 {
            match Self::try_start(free_port(), extra_args) {
                Ok(server) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("redis-server did not start: {last_failure}");
    }

    fn try_start(port: u16, extra_args: &[&str]) -> Result<RedisServer, String> {
        require_binary("redis-server");
        let dir = tempfile::Builder::new()
            .prefix("ttlru-redis-test-")
            .tempdir()
            .expect("a temporary directory");
        let mut server = RedisServer {
            port,
            dir,
            extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            child: None,
            stopped: false,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("spawning redis-server: {error}"))?;
        self.child = Some(child);
        self.stopped = false;
        self.wait_until_answering()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn wait_until_answering(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited ({status}); its log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            if self.ping().is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on port {} did not answer PING within 10 s; its log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> redis::RedisResult<()> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_connection_with_timeout(Duration::from_millis(200))?;
        redis::cmd("PING").query::<String>(&mut connection)?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (SIGKILL): connections break, the data is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stopped = false;
    }

    /// Kills the server if it runs, and starts a fresh one on the same port.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(failure) = self.spawn() {
            panic!("restart on the same port failed: {failure}");
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn stop(&mut self) {
        self.signal("-STOP");
        self.stopped = true;
    }

    /// Lets a stopped server run again (SIGCONT).
    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.stopped = false;
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// A synchronous admin connection, independent of the client under test.
    pub fn admin(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("an admin connection")
    }

    /// `INFO memory`'s `used_memory`, in bytes.
    pub fn used_memory(&self) -> u64 {
        info_field(&mut self.admin(), "memory", "used_memory")
    }

    pub fn dbsize(&self) -> u64 {
        redis::cmd("DBSIZE").query(&mut self.admin()).unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL also ends a stopped process.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One field of an `INFO <section>` reply, as a number.
pub fn info_field(connection: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(connection).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .trim()
        .parse()
        .unwrap()
}

/// A Redis Cluster of primaries without replicas, each a [`RedisServer`].
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start(primaries: usize) -> RedisCluster {
        require_binary("redis-cli");
        let nodes: Vec<RedisServer> = (0..primaries)
            .map(|_| {
                let port = free_cluster_port();
                // Relative to the node's --dir, so it goes with its temporary directory.
                let config_file = format!("nodes-{port}.conf");
                let args = [
                    "--cluster-enabled".to_string(),
                    "yes".to_string(),
                    "--cluster-config-file".to_string(),
                    config_file,
                    "--cluster-node-timeout".to_string(),
                    "2000".to_string(),
                ];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                RedisServer::try_start(port, &args)
                    .unwrap_or_else(|failure| panic!("cluster node did not start: {failure}"))
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all_ok = self.nodes.iter().all(|node| {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut node.admin())
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
            });
            if all_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach cluster_state:ok within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Keys held across all primaries.
    pub fn dbsize(&self) -> u64 {
        self.nodes.iter().map(RedisServer::dbsize).sum()
    }
}

/// A TCP server on a free loopback port that is not Redis: each connection is
/// answered with `greeting` (maybe nothing) and then held open, reading and
/// discarding whatever the client sends. Runs until the process ends.
pub fn fake_server(greeting: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream): Result<TcpStream, _> = stream else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = stream.write_all(greeting);
                let mut sink = [0u8; 4096];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    format!("redis://127.0.0.1:{port}/")
}

/// A TCP proxy on a free loopback port in front of `target_port` that holds back
/// each client write containing one of the `delays`' byte strings for that
/// string's delay before passing it on: a Redis that is slow for some commands
/// only. Runs until the process ends.
pub fn slow_proxy(target_port: u16, delays: &'static [(&'static [u8], Duration)]) -> String {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                continue;
            };
            let (mut client_reader, mut server_writer) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 64 * 1024];
                while let Ok(read) = client_reader.read(&mut buffer) {
                    if read == 0 {
                        break;
                    }
                    let chunk = &buffer[..read];
                    for (needle, delay) in delays {
                        if chunk.windows(needle.len()).any(|window| window == *needle) {
                            std::thread::sleep(*delay);
                        }
                    }
                    if server_writer.write_all(chunk).is_err() {
                        break;
                    }
                }
                let _ = server_writer.shutdown(std::net::Shutdown::Both);
            });
            let (mut server_reader, mut client_writer) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server_reader, &mut client_writer);
                let _ = client_writer.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    format!("redis://127.0.0.1:{port}/")
}

/// A TCP server on a free loopback port that answers every RESP command with the
/// same bulk string `reply`: enough of a Redis to be asked `INFO server`.
pub fn canned_redis(reply: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream): Result<TcpStream, _> = stream else {
                continue;
            };
            std::thread::spawn(move || {
                let answer = format!("${}\r\n{reply}\r\n", reply.len());
                let mut buffer = [0u8; 4096];
                while let Ok(read) = stream.read(&mut buffer) {
                    if read == 0 {
                        break;
                    }
                    // One answer per command: each starts with an array header.
                    let text = String::from_utf8_lossy(&buffer[..read]);
                    let commands = text
                        .split("\r\n")
                        .filter(|line| line.starts_with('*'))
                        .count();
                    for _ in 0..commands {
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("redis://127.0.0.1:{port}/")
}
