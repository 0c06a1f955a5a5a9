//! A service with the `metrics` feature: an order-event consumer that drops
//! duplicate events through a `Cache` named `orders-dedup`, and serves `/metrics` on
//! 127.0.0.1 in the Prometheus text format (`metrics-exporter-prometheus`), with the
//! process RSS next to the cache's own figures: the two signals the seen-set incident
//! was diagnosed with (RSS climbing while the live entries should have stayed flat).
//!
//! ```text
//! cargo run --release --features metrics --example prometheus                  # serves until stopped
//! curl http://127.0.0.1:9898/metrics
//! cargo run --release --features metrics --example prometheus -- --serve-for 2 # then scrapes itself, prints, exits
//! cargo run --release --features metrics --example prometheus -- --port 0      # any free port (printed)
//! ```
//!
//! The cache's figures are published by its background sweeper's tick, so the
//! event path pays nothing for them; the RSS is read from `/proc/self/statm` on
//! each scrape. `tests/metrics.rs` runs this service and checks what it serves
//! against `Cache::stats()`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ttlru::Cache;

/// The cache's name: the `cache` label of its metrics.
pub const CACHE_NAME: &str = "orders-dedup";
/// How often the sweeper purges expired entries and publishes the figures.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// The process's resident set size, in bytes.
pub const RESIDENT_METRIC: &str = "process_resident_memory_bytes";

/// The running service: its dedup cache, where it serves, and its event stream.
pub struct Service {
    pub cache: Arc<Cache<String, u64>>,
    pub address: SocketAddr,
    /// Ends after the given number of events (or never), returning the
    /// duplicates it dropped.
    pub traffic: JoinHandle<u64>,
}

/// Installs the Prometheus recorder (once per process), builds the cache, and
/// starts serving on `127.0.0.1:port` (0: any free port) and consuming `events`
/// events (`None`: for ever).
pub fn start(port: u16, events: Option<u64>) -> io::Result<Service> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(io::Error::other)?;
    let cache: Arc<Cache<String, u64>> = Arc::new(
        Cache::builder()
            .name(CACHE_NAME)
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(60))
            .background_sweeper(SWEEP_EVERY)
            .build(),
    );
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || serve(&listener, &handle));
    let traffic = {
        let cache = cache.clone();
        std::thread::spawn(move || consume(&cache, events))
    };
    Ok(Service {
        cache,
        address,
        traffic,
    })
}

/// The consumer: events arrive in batches, a fifth of them redeliveries of a
/// recent one; the first sighting of an ID is processed, the others dropped.
fn consume(cache: &Cache<String, u64>, events: Option<u64>) -> u64 {
    const BATCH: u64 = 1_000;
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut duplicates = 0;
    for sequence in 0..events.unwrap_or(u64::MAX) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let id = if state.is_multiple_of(5) {
            sequence.saturating_sub(state % 1_000) // a redelivery of a recent event
        } else {
            sequence
        };
        let event_id = format!("order-{id:012}");
        // Atomic: of concurrent deliveries, exactly one stores its sequence number.
        if cache.get_or_insert_with(event_id, || sequence) != sequence {
            duplicates += 1;
        }
        if sequence % BATCH == BATCH - 1 && events.is_none() {
            std::thread::sleep(Duration::from_millis(10)); // a steady 100 k events/s
        }
    }
    duplicates
}

fn serve(listener: &TcpListener, handle: &PrometheusHandle) {
    for stream in listener.incoming().flatten() {
        // A client that goes away mid-request is its own problem, not the server's.
        let _ = respond(stream, handle);
    }
}

fn respond(mut stream: TcpStream, handle: &PrometheusHandle) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Read the headers too: closing with unread input would reset the connection.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let (status, body) = if request_line.starts_with("GET /metrics ") {
        metrics::gauge!(RESIDENT_METRIC).set(resident_bytes().unwrap_or(0) as f64);
        handle.run_upkeep();
        ("200 OK", handle.render())
    } else {
        ("404 Not Found", "try /metrics\n".to_string())
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The process's resident set size: `/proc/self/statm`'s second field, in pages,
/// times the page size the kernel gave the process (in `/proc/self/auxv`).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size().unwrap_or(4096))
}

/// `AT_PAGESZ` from the auxiliary vector: pairs of native words, type then value.
fn page_size() -> Option<u64> {
    const AT_PAGESZ: u64 = 6;
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    let word = std::mem::size_of::<usize>();
    auxv.chunks_exact(2 * word).find_map(|pair| {
        let read = |bytes: &[u8]| {
            let mut buffer = [0u8; 8];
            buffer[..word].copy_from_slice(bytes);
            u64::from_ne_bytes(buffer)
        };
        (read(&pair[..word]) == AT_PAGESZ).then(|| read(&pair[word..]))
    })
}

/// `GET /metrics` over plain HTTP/1.1: the body of a 200 response.
pub fn scrape(address: SocketAddr) -> io::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("no end of headers"))?;
    if !head.starts_with("HTTP/1.1 200 ") {
        return Err(io::Error::other(format!("unexpected response: {head}")));
    }
    Ok(body.to_string())
}

/// The value of `metric` in a scraped body, for the sample labelled `labels`
/// (as written between the braces, e.g. `cache="orders-dedup"`; empty for none).
pub fn sample(body: &str, metric: &str, labels: &str) -> Option<f64> {
    let series = if labels.is_empty() {
        metric.to_string()
    } else {
        format!("{metric}{{{labels}}}")
    };
    body.lines()
        .find_map(|line| line.strip_prefix(&series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

fn main() -> ExitCode {
    let mut port = 9898;
    let mut serve_for = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|value| value.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--port", Some(value)) if value <= u64::from(u16::MAX) => port = value as u16,
            ("--serve-for", Some(seconds)) => serve_for = Some(Duration::from_secs(seconds)),
            _ => {
                eprintln!("usage: prometheus [--port N] [--serve-for SECONDS]");
                return ExitCode::FAILURE;
            }
        }
    }
    let service = match start(port, None) {
        Ok(service) => service,
        Err(error) => {
            eprintln!("could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("serving http://{}/metrics", service.address);
    let Some(serve_for) = serve_for else {
        // Serves until the process is stopped; the traffic never ends.
        let _ = service.traffic.join();
        return ExitCode::SUCCESS;
    };
    let started = Instant::now();
    std::thread::sleep(serve_for);
    let body = match scrape(service.address) {
        Ok(body) => body,
        Err(error) => {
            eprintln!("could not scrape itself: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "after {:.1} s, /metrics has:",
        started.elapsed().as_secs_f64()
    );
    for line in body.lines() {
        if line.starts_with("ttlru_") || line.starts_with(RESIDENT_METRIC) {
            println!("  {line}");
        }
    }
    let label = format!("cache=\"{CACHE_NAME}\"");
    if sample(&body, "ttlru_entries", &label).is_none() {
        eprintln!("the sweeper published nothing for {CACHE_NAME}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
