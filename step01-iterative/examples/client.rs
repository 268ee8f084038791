//! A raw HTTP client: sends one request and prints the response bytes as
//! they arrive, headers and all.
//!
//! `curl -v` shows a response too, but curl parses it first. This client
//! prints exactly what came over the socket, so you can see the status line,
//! every header, the blank line and the body — and, with `--raw-request`,
//! send bytes no well-behaved client would.
//!
//! Run with:
//!
//! ```text
//! cargo run -p step01-iterative --example client -- http://127.0.0.1:8080/echo
//! cargo run -p step01-iterative --example client -- -X POST -d 'name=Ann' http://127.0.0.1:8080/echo
//! cargo run -p step01-iterative --example client -- --raw-request 'GARBAGE\r\n\r\n' http://127.0.0.1:8080/
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

/// Send one HTTP request and print the raw response bytes.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// The URL, e.g. http://127.0.0.1:8080/echo (plain http only).
    url: String,
    /// The method to send.
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,
    /// A request body (sent with Content-Length).
    #[arg(short, long)]
    data: Option<String>,
    /// Send these bytes instead of a request (`\r` and `\n` are unescaped).
    #[arg(long)]
    raw_request: Option<String>,
    /// Also print the request that was sent, to stderr.
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (authority, path) = split_url(&args.url)?;
    let request = match &args.raw_request {
        Some(raw) => raw.replace("\\r", "\r").replace("\\n", "\n").into_bytes(),
        None => build_request(&args.method, authority, path, args.data.as_deref()),
    };
    if args.verbose {
        eprintln!(
            "> {}",
            String::from_utf8_lossy(&request).replace('\n', "\n> ")
        );
    }
    let mut stream =
        TcpStream::connect(authority).with_context(|| format!("cannot connect to {authority}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.write_all(&request)?;
    // Print the response as it arrives, until the server closes.
    let mut out = io::stdout().lock();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => out.write_all(&buffer[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the response"),
        }
    }
    out.flush()?;
    Ok(())
}

/// `http://host:port/path?q` → (`host:port`, `/path?q`).
fn split_url(url: &str) -> anyhow::Result<(&str, &str)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("only http:// URLs are supported: {url}");
    };
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

fn build_request(method: &str, host: &str, path: &str, data: Option<&str>) -> Vec<u8> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: stepwise-client\r\n\
         Accept: */*\r\nConnection: close\r\n"
    );
    if let Some(data) = data {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        request.push_str(&format!("Content-Length: {}\r\n\r\n{data}", data.len()));
    } else {
        request.push_str("\r\n");
    }
    request.into_bytes()
}
