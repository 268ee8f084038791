//! Stepwise's benchmarks: inputs shared by the criterion benchmarks.
//!
//! The benchmarks themselves live in `benches/`, one file per topic, and
//! run with `cargo bench -p benches` (a quick profile by default;
//! `STEPWISE_BENCH_FULL=1` for criterion's full measurement). `cargo test
//! --benches` runs each one once, which is how CI proves they still work.
//!
//! - `parser` — chapter 1's request parser on small, typical and large
//!   request heads, whole and arriving in pieces.
//! - `confinement` — chapter 5's path confinement on ordinary and hostile
//!   paths (the security boundary must stay cheap, or it will be skipped).
//! - `models` — every chapter's concurrency model end to end over loopback:
//!   each server's own binary, started once per workload, driven by the
//!   workspace's `loadgen` with 1, 8 and 64 clients on a tiny
//!   response, a 1 KiB and a 1 MB static file, and a mix with one slow
//!   client (head-of-line blocking). Reported as requests/s. Chapter 5's
//!   and 6's comparison with nginx and lighttpd stays in
//!   `book/transcripts/chNN/perf.sh` (it needs `wrk` and those servers).
//!
//! One binary sits beside them: `compare` (`src/bin/compare.rs`, `cargo run
//! --release -p benches --bin compare`) starts every chapter's server, and
//! nginx and lighttpd when they are installed, drives each with `loadgen`
//! on the same workloads (static files, a tiny response, CGI, PHP, 10,000
//! idle connections) and prints Markdown tables with the ratios to nginx
//! and lighttpd. It is not a criterion benchmark and CI does not run it.
//!
//! [`charts`] draws the runner's results as SVG (`compare --charts DIR`, or
//! `cargo run -p benches --bin charts -- RESULTS.json DIR` for a saved run).

use std::time::Duration;

pub mod charts;

/// A request as curl sends it.
pub const SMALL: &[u8] =
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

/// A request as a browser sends it: a dozen headers and a cookie.
pub const BROWSER: &[u8] = b"GET /docs/index.html?lang=en HTTP/1.1\r\n\
Host: example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-GB,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://example.com/\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; lang=en\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Priority: u=0, i\r\n\r\n";

/// A head with 90 headers: near the limit of 100.
pub fn many_headers() -> Vec<u8> {
    let mut head = b"GET /big HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..90 {
        head.extend_from_slice(format!("X-Header-{i}: value number {i}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Paths for the confinement benchmark: (name, raw path).
pub const PATHS: [(&str, &str); 6] = [
    ("plain", "/docs/index.html"),
    ("deep", "/a/b/c/d/e/f/g/h/i/j/k/l/file.txt"),
    ("encoded", "/caf%C3%A9/na%C3%AFve%20file.txt"),
    ("dot-segments", "/a/./b/../c/./d/../../e/file.txt"),
    ("traversal", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
    ("encoded-slash", "/a%2f..%2f..%2fetc%2fpasswd"),
];

/// Whether the full profile was asked for (`STEPWISE_BENCH_FULL` set).
pub fn full() -> bool {
    std::env::var_os("STEPWISE_BENCH_FULL").is_some()
}

/// How long criterion measures each benchmark: short by default so
/// `cargo bench -p benches` finishes in a few minutes (most of it the
/// end-to-end `models`); the full profile with `STEPWISE_BENCH_FULL=1`.
pub fn measurement_time() -> Duration {
    if full() {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(500)
    }
}

/// How long an end-to-end benchmark warms up (the server's caches, the
/// kernel's socket buffers) before criterion measures: criterion's default
/// of 3 s would be most of a quick run.
pub fn warm_up_time() -> Duration {
    if full() {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(200)
    }
}

/// Samples per end-to-end benchmark: criterion's minimum (10) by default,
/// 30 in the full profile. Each sample is a whole load-generator run, so
/// criterion's default of 100 would mostly measure thread start-up.
pub fn end_to_end_samples() -> usize {
    if full() { 30 } else { 10 }
}
