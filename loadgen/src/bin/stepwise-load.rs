//! `stepwise-load`: hammer a server and summarise what happened.
//!
//! Prints a live progress line on stderr while it runs (when stderr is a
//! terminal, or with `--progress`), then the summary: requests, errors by
//! kind, requests per second and latency percentiles.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p loadgen -- -c 50 -n 100 http://127.0.0.1:8080/
//! cargo run --release -p loadgen -- -c 50 -d 10 -k http://127.0.0.1:8080/
//! cargo run --release -p loadgen -- -c 100 -n 1 --hold 30 http://127.0.0.1:8080/   # pile up open connections
//! ```

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use clap::Parser;
use loadgen::{Config, Progress, run};

/// A small wrk-like load generator (Stepwise).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The URL to request, e.g. http://127.0.0.1:8080/
    url: String,
    /// Concurrent clients.
    #[arg(short, long, default_value_t = 10)]
    clients: usize,
    /// Requests per client.
    #[arg(short = 'n', long, default_value_t = 10)]
    requests: u64,
    /// Run for this many seconds instead of a fixed number of requests.
    #[arg(short, long)]
    duration: Option<f64>,
    /// Reuse connections (HTTP/1.1 keep-alive).
    #[arg(short, long)]
    keep_alive: bool,
    /// Keep each connection open this many seconds after its response.
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// Seconds before a request counts as timed out.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Show the progress line even when stderr is not a terminal.
    #[arg(long)]
    progress: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config::for_url(&args.url)?;
    config.clients = args.clients;
    config.requests = args.requests;
    config.duration = args.duration.map(Duration::from_secs_f64);
    config.keep_alive = args.keep_alive;
    config.hold = Duration::from_secs_f64(args.hold);
    config.timeout = Duration::from_secs_f64(args.timeout);

    let progress = Arc::new(Progress::default());
    if args.progress || std::io::stderr().is_terminal() {
        let live = Arc::clone(&progress);
        // A daemon-like reporter; it ends with the process.
        thread::spawn(move || {
            loop {
                thread::sleep(Duration::from_millis(500));
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r{} ok, {} errors",
                    live.ok.load(Ordering::Relaxed),
                    live.errors.load(Ordering::Relaxed)
                );
                let _ = err.flush();
            }
        });
    }
    let report = run(&config, Some(progress));
    eprintln!();
    print!("{report}");
    Ok(())
}
