//! A load generator: many clients, many requests, one summary.
//!
//! The tutorials this project grew from shipped a little forking client
//! (`client3.py --max-clients --max-conns`) to hammer their servers; this is
//! that client grown up, in the spirit of `wrk`. Each client is a thread
//! that, until its quota or the deadline, connects (or reuses its
//! keep-alive connection), sends a request, reads the whole response,
//! optionally holds the connection open, and records the latency or the
//! kind of error. [`run`] returns a [`Report`]: counts, throughput and
//! latency percentiles.
//!
//! Blocking threads are the right tool here: a few hundred clients, each
//! waiting on one socket, is exactly what threads do well (chapter 5
//! explains when they stop being the right tool).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use test_support::Client;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header to send.
    pub host: String,
    /// The path (and query) to request.
    pub path: String,
    /// How many clients run at once.
    pub clients: usize,
    /// Requests per client (ignored when `duration` is set).
    pub requests: u64,
    /// Run for this long instead of a fixed count.
    pub duration: Option<Duration>,
    /// Reuse each client's connection (HTTP/1.1 keep-alive) instead of
    /// opening a new one per request.
    pub keep_alive: bool,
    /// After each response, keep the connection open this long before
    /// closing it (what `client3.py` did, to pile up open connections).
    pub hold: Duration,
    /// How long one request may take before it counts as a timeout.
    pub timeout: Duration,
}

impl Config {
    /// A config for `url` (`http://host:port/path`) with small defaults.
    ///
    /// # Errors
    ///
    /// A malformed URL, or a host that does not resolve.
    pub fn for_url(url: &str) -> io::Result<Config> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "only http:// URLs"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr = authority
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no address for host"))?;
        Ok(Config {
            addr,
            host: authority.to_owned(),
            path: path.to_owned(),
            clients: 10,
            requests: 10,
            duration: None,
            keep_alive: false,
            hold: Duration::ZERO,
            timeout: Duration::from_secs(10),
        })
    }
}

/// The kinds of failure counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKindCount {
    /// The connection was refused (nothing listening, or the backlog full).
    Connect,
    /// No answer within the timeout.
    Timeout,
    /// The server reset the connection.
    Reset,
    /// The connection closed before a complete response.
    Closed,
    /// The bytes were not a valid HTTP response.
    BadResponse,
    /// A complete response whose status was not 2xx or 3xx.
    Status,
    /// Anything else (descriptor exhaustion on the client, …).
    Other,
}

impl fmt::Display for ErrorKindCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKindCount::Connect => "connect",
            ErrorKindCount::Timeout => "timeout",
            ErrorKindCount::Reset => "reset",
            ErrorKindCount::Closed => "closed early",
            ErrorKindCount::BadResponse => "bad response",
            ErrorKindCount::Status => "non-2xx/3xx status",
            ErrorKindCount::Other => "other",
        })
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Successful requests (2xx or 3xx).
    pub ok: u64,
    /// Failures by kind.
    pub errors: BTreeMap<ErrorKindCount, u64>,
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Body bytes received.
    pub bytes: u64,
}

impl Report {
    /// All failures.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful requests per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which `p` percent of requests completed.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} requests in {:.2}s, {} errors, {:.1} requests/s, {:.1} KiB received",
            self.ok + self.error_count(),
            self.elapsed.as_secs_f64(),
            self.error_count(),
            self.requests_per_sec(),
            self.bytes as f64 / 1024.0
        )?;
        writeln!(
            f,
            "latency: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.latencies.last().copied().unwrap_or_default()
        )?;
        for (kind, count) in &self.errors {
            writeln!(f, "errors ({kind}): {count}")?;
        }
        Ok(())
    }
}

/// Live counters, for a progress line while the run goes on.
#[derive(Debug, Default)]
pub struct Progress {
    /// Successful requests so far.
    pub ok: AtomicU64,
    /// Failed requests so far.
    pub errors: AtomicU64,
}

// ANCHOR: run
/// Runs the load and returns the report. `progress`, if given, is updated
/// after every request.
pub fn run(config: &Config, progress: Option<Arc<Progress>>) -> Report {
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = config.duration.map(|d| started + d);
    let handles: Vec<_> = (0..config.clients.max(1))
        .map(|_| {
            let config = config.clone();
            let progress = progress.clone();
            let stop = Arc::clone(&stop);
            thread::spawn(move || client(&config, deadline, &stop, progress.as_deref()))
        })
        .collect();
    let mut report = Report::default();
    for handle in handles {
        // A client thread only panics on a bug here; count it, don't crash.
        let Ok(part) = handle.join() else {
            *report.errors.entry(ErrorKindCount::Other).or_default() += 1;
            continue;
        };
        report.ok += part.ok;
        report.bytes += part.bytes;
        report.latencies.extend(part.latencies);
        for (kind, n) in part.errors {
            *report.errors.entry(kind).or_default() += n;
        }
    }
    report.latencies.sort_unstable();
    report.elapsed = started.elapsed();
    report
}
// ANCHOR_END: run

/// One client's loop.
fn client(
    config: &Config,
    deadline: Option<Instant>,
    stop: &AtomicBool,
    progress: Option<&Progress>,
) -> Report {
    let mut report = Report::default();
    let mut connection: Option<Client> = None;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: stepwise-load\r\n{}\r\n",
        config.path,
        config.host,
        if config.keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    let mut sent = 0u64;
    loop {
        let more = match deadline {
            Some(deadline) => Instant::now() < deadline,
            None => sent < config.requests,
        };
        if !more || stop.load(Ordering::Relaxed) {
            break;
        }
        sent += 1;
        let started = Instant::now();
        let outcome = one_request(config, &request, &mut connection);
        match outcome {
            Ok(bytes) => {
                report.ok += 1;
                report.bytes += bytes;
                report.latencies.push(started.elapsed());
                if let Some(p) = progress {
                    p.ok.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(kind) => {
                *report.errors.entry(kind).or_default() += 1;
                connection = None;
                if let Some(p) = progress {
                    p.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !config.hold.is_zero() {
            thread::sleep(config.hold);
        }
        if !config.keep_alive {
            connection = None;
        }
    }
    report
}

/// Sends one request and reads its response; returns the body size.
fn one_request(
    config: &Config,
    request: &str,
    connection: &mut Option<Client>,
) -> Result<u64, ErrorKindCount> {
    if connection.is_none() {
        let stream = TcpStream::connect_timeout(&config.addr, config.timeout).map_err(classify)?;
        let _ = stream.set_nodelay(true);
        *connection = Some(Client::from_stream(stream, config.timeout).map_err(classify)?);
    }
    let Some(client) = connection.as_mut() else {
        return Err(ErrorKindCount::Other);
    };
    client.send(request.as_bytes()).map_err(classify)?;
    let response = client.read_response(false).map_err(classify)?;
    if response.status >= 400 {
        return Err(ErrorKindCount::Status);
    }
    let closes = response
        .header("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
    if closes {
        *connection = None;
    }
    Ok(response.body.len() as u64)
}

fn classify(error: io::Error) -> ErrorKindCount {
    match error.kind() {
        ErrorKind::ConnectionRefused => ErrorKindCount::Connect,
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ErrorKindCount::Timeout,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            ErrorKindCount::Reset
        }
        ErrorKind::UnexpectedEof => ErrorKindCount::Closed,
        ErrorKind::InvalidData => ErrorKindCount::BadResponse,
        _ => ErrorKindCount::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let report = Report {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            ok: 100,
            ..Report::default()
        };
        assert_eq!(report.percentile(50.0), Duration::from_millis(51));
        assert_eq!(report.percentile(99.0), Duration::from_millis(99));
        assert_eq!(report.percentile(100.0), Duration::from_millis(100));
    }

    #[test]
    fn parses_urls() {
        let config = Config::for_url("http://127.0.0.1:8080/sleep?ms=1").unwrap();
        assert_eq!(config.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.path, "/sleep?ms=1");
        assert_eq!(Config::for_url("http://127.0.0.1:1").unwrap().path, "/");
        assert!(Config::for_url("https://x/").is_err());
    }
}
