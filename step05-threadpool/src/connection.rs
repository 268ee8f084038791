//! One client's life, now with keep-alive: many requests per connection.
//!
//! Chapters 1–4 closed the connection after every response. Opening a TCP
//! connection costs a round trip (and a process, in chapters 3–4), so
//! HTTP/1.1 keeps it open by default (RFC 9112 §9.3). This loop, written by
//! hand, follows the rules:
//!
//! - HTTP/1.1 persists unless either side says `Connection: close`;
//!   HTTP/1.0 persists only if the client asked with `Connection:
//!   keep-alive`, and then the response says so too.
//! - Pipelined requests (sent before the previous response arrived) are
//!   read from the buffer and answered in order.
//! - An idle connection is closed after [`Limits::idle_timeout`], silently;
//!   a request that starts but does not finish in time gets 408.
//! - At most [`Limits::max_requests`] requests per connection, then
//!   `Connection: close`; also when the server is shutting down.
//!
//! Keep-alive has a cost in this model: a worker thread belongs to one
//! connection for as long as it stays open, idle or not. That is why the
//! idle timeout is short, and why chapter 6 moves to async I/O.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use http::StatusCode;
use step01_iterative::connection::linger_and_close;
use step01_iterative::request::{Request, Version};
use step01_iterative::response::Persistence;
use step01_iterative::{Connection, Error, Response};
use step02_wsgi::request::read_request_by;

use crate::handler::Site;

// ANCHOR: limits
/// The keep-alive and slow-client limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a connection may sit idle between requests (Apache's
    /// default: 5 s). Idle connections hold a worker, so short is kind.
    pub idle_timeout: Duration,
    /// How long one request may take to arrive once it has started (408
    /// beyond it): the defence against clients that dribble bytes.
    pub request_timeout: Duration,
    /// Requests per connection before we close it (Apache: 100).
    pub max_requests: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_requests: 100,
        }
    }
}
// ANCHOR_END: limits

// ANCHOR: serve_connection
/// Serves requests on one connection until either side closes it.
///
/// `stopping` says whether the server is shutting down: then the response
/// in progress is the connection's last.
pub fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    site: &Site,
    limits: Limits,
    stopping: &dyn Fn() -> bool,
) {
    let local = stream.local_addr().unwrap_or(peer);
    // Responses go out as soon as they are written. Without this, Nagle's
    // algorithm holds a small second write (a body after its head) until
    // the first is acknowledged, and the client's delayed ACK makes that
    // ~40 ms per response on a kept-alive connection.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    // A read blocks at most this long; the deadline below bounds the total.
    let read_timeout = limits.idle_timeout.min(limits.request_timeout);
    if let Err(e) = stream.set_read_timeout(Some(read_timeout)) {
        tracing::warn!(%peer, "cannot set read timeout: {e}");
    }
    let mut connection = Connection::new(stream);
    let mut served = 0u32;
    loop {
        let deadline = Instant::now() + limits.request_timeout;
        let request = match read_request_by(&mut connection, deadline) {
            Ok(Some(request)) => request,
            // The client closed between requests: the normal end.
            Ok(None) => break,
            Err(Error::Http(error)) => {
                // A timeout before any byte of a new request is just an
                // idle connection ending, not an error to report.
                let idle = error.status == StatusCode::REQUEST_TIMEOUT
                    && connection.buffer().is_empty()
                    && connection.request_line().is_empty();
                if !idle {
                    refuse(&mut connection, peer, site, &error);
                }
                break;
            }
            Err(Error::Io(e)) => {
                tracing::debug!(%peer, "connection failed: {e}");
                break;
            }
        };
        served += 1;
        let persistence = persistence(&request, served >= limits.max_requests || stopping());
        let line = request.request_line();
        let outcome = site.respond(&mut connection, request, peer, local, persistence);
        site.log
            .record(peer.ip(), &line, outcome.status, outcome.bytes);
        if outcome.closes {
            break;
        }
    }
    linger_and_close(connection.into_inner());
}
// ANCHOR_END: serve_connection

// ANCHOR: persistence
/// Whether this connection stays open after the response to `request`.
pub fn persistence(request: &Request, server_wants_close: bool) -> Persistence {
    let connection = request
        .header("connection")
        .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
        .unwrap_or_default();
    let says = |token: &str| connection.split(',').any(|t| t.trim() == token);
    let client_wants_open = match request.version {
        Version::Http11 => !says("close"),
        Version::Http10 => says("keep-alive"),
    };
    if server_wants_close || !client_wants_open {
        Persistence::Close
    } else {
        Persistence::KeepAlive {
            echo: request.version == Version::Http10,
        }
    }
}
// ANCHOR_END: persistence

/// Answers a request we refuse (400, 408, 413, …) and closes: after a
/// broken request the byte stream cannot be trusted to find the next one.
fn refuse(
    connection: &mut Connection<TcpStream>,
    peer: SocketAddr,
    site: &Site,
    error: &step01_iterative::HttpError,
) {
    let response = Response::error(error);
    let line = connection.request_line().to_owned();
    let head_only = line.starts_with("HEAD ");
    let bytes = if head_only {
        0
    } else {
        response.body.len() as u64
    };
    site.log.record(
        peer.ip(),
        if line.is_empty() { "-" } else { &line },
        error.status.as_u16(),
        bytes,
    );
    if let Err(e) = response.write_with(connection.stream_mut(), head_only, Persistence::Close) {
        tracing::debug!(%peer, "cannot send the error page: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_iterative::request::parse_head;

    fn request(bytes: &[u8]) -> Request {
        parse_head(bytes).unwrap().unwrap().0
    }

    #[test]
    fn http11_persists_unless_closed() {
        let open = request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            persistence(&open, false),
            Persistence::KeepAlive { echo: false }
        );
        assert_eq!(persistence(&open, true), Persistence::Close);
        let close = request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n");
        assert_eq!(persistence(&close, false), Persistence::Close);
        let listed = request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: TE, close\r\n\r\n");
        assert_eq!(persistence(&listed, false), Persistence::Close);
    }

    #[test]
    fn http10_persists_only_when_asked_and_is_answered_in_kind() {
        let plain = request(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(persistence(&plain, false), Persistence::Close);
        let asked = request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            persistence(&asked, false),
            Persistence::KeepAlive { echo: true }
        );
    }
}
