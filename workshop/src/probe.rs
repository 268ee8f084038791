//! Talking to the server under test, and remembering what was said.
//!
//! A [`Probe`] is one request, described rather than written out: method,
//! path, headers, a body (sent with `Content-Length`, or chunked). It writes
//! its exact bytes to the server, and the resulting [`Exchange`] keeps
//! them next to the response, so any check can fail with the whole
//! conversation on screen and a `curl` line that repeats it by hand.
//!
//! Every read is bounded: a server that never answers fails the check after
//! the probe's timeout instead of hanging it. Inputs a check makes up (a
//! header value, two numbers to add) come from [`token`] and
//! [`random_below`], so a server cannot pass by answering a fixed string.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use test_support::{Client, RawResponse};

use crate::failure::{Failure, show_bytes};
use crate::subject::Server;

/// How long a probe waits for a response unless told otherwise. Every
/// chapter answers a local request in milliseconds; five seconds leaves
/// room for a loaded CI machine and still fails quickly.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long connecting may take (a full listen backlog makes the kernel
/// drop handshakes; the client retries after a second).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many characters of a body a failure message shows.
const SHOWN_BODY_CHARS: usize = 600;

/// The port the learner's server uses when started by hand, for the
/// `curl` lines in failure messages.
const DEFAULT_PORT: u16 = 8080;

/// One request, to send and to describe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request-target, e.g. `/echo?x=1`.
    pub target: String,
    /// Header fields in the order sent, after `Host` and before the framing
    /// headers and `Connection: close`, which the probe adds itself.
    pub headers: Vec<(String, String)>,
    /// The body, in the pieces it is sent as: one piece is sent with
    /// `Content-Length`, several (after [`Probe::chunked`]) as chunks.
    pub pieces: Vec<Vec<u8>>,
    /// Whether the body goes with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// How long to wait for the response.
    pub timeout: Duration,
}

impl Probe {
    /// A request with no headers and no body.
    pub fn new(method: &str, target: &str) -> Self {
        Probe {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            pieces: Vec::new(),
            chunked: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `GET target`.
    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    /// Adds a header field (builder style).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body, sent with `Content-Length`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.pieces = vec![body.into()];
        self.chunked = false;
        self
    }

    /// Sets the body, sent chunked, one chunk per piece.
    pub fn chunked(mut self, pieces: &[&[u8]]) -> Self {
        self.pieces = pieces.iter().map(|p| p.to_vec()).collect();
        self.chunked = true;
        self
    }

    /// Waits `timeout` for the response instead of [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The body as one byte string.
    pub fn body_bytes(&self) -> Vec<u8> {
        self.pieces.concat()
    }

    /// Every header field as sent to `addr`, in order: `Host`, the probe's
    /// own, the framing header, `Connection: close`.
    pub fn header_fields(&self, addr: SocketAddr) -> Vec<(String, String)> {
        let mut fields = vec![("Host".to_owned(), addr.to_string())];
        fields.extend(self.headers.iter().cloned());
        if self.chunked {
            fields.push(("Transfer-Encoding".into(), "chunked".into()));
        } else if !self.pieces.is_empty() {
            fields.push(("Content-Length".into(), self.body_bytes().len().to_string()));
        }
        fields.push(("Connection".into(), "close".into()));
        fields
    }

    /// The request's head: request line, header fields, empty line.
    pub fn head_bytes(&self, addr: SocketAddr) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        for (name, value) in self.header_fields(addr) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// The body as it goes on the wire (chunk sizes and all, if chunked).
    pub fn body_on_the_wire(&self) -> Vec<u8> {
        if !self.chunked {
            return self.body_bytes();
        }
        let mut wire = Vec::new();
        for piece in self.pieces.iter().filter(|p| !p.is_empty()) {
            wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        wire
    }

    /// The exact bytes sent to `addr`.
    pub fn bytes(&self, addr: SocketAddr) -> Vec<u8> {
        let mut bytes = self.head_bytes(addr);
        bytes.extend_from_slice(&self.body_on_the_wire());
        bytes
    }

    /// A `curl` command that sends the same request to a server started by
    /// hand on port 8080 (curl adds `Host` and the framing itself).
    pub fn curl(&self) -> String {
        let has_body = !self.pieces.is_empty();
        let mut words = vec!["curl -i".to_owned()];
        match (self.method.as_str(), has_body) {
            ("HEAD", _) => words[0] = "curl -I".to_owned(),
            ("GET", false) | ("POST", true) => {}
            (method, _) => words.push(format!("-X {method}")),
        }
        for (name, value) in &self.headers {
            words.push(format!("-H {}", shell_quote(&format!("{name}: {value}"))));
        }
        if self.chunked {
            words.push("-H 'Transfer-Encoding: chunked'".to_owned());
        }
        if has_body {
            words.push("--data-binary @-".to_owned());
        }
        words.push(shell_quote(&format!(
            "http://127.0.0.1:{DEFAULT_PORT}{}",
            self.target
        )));
        let curl = words.join(" ");
        if has_body {
            format!("printf {} | {curl}", printf_quote(&self.body_bytes()))
        } else {
            curl
        }
    }

    /// Sends the request on a new connection to `server` and reads the
    /// response.
    ///
    /// # Errors
    ///
    /// A [`Failure`] showing what was sent, when the connection fails, the
    /// server closes or resets it without a response, or no response
    /// arrives within the timeout.
    pub fn send(&self, server: &Server) -> Result<Exchange, Failure> {
        let addr = server.addr();
        let sent = self.bytes(addr);
        let try_it = format!("{}\n{}", server.run_line, self.curl());
        let fail = |problem: String| {
            Failure::new(problem)
                .sent(show_bytes(&sent, SHOWN_BODY_CHARS))
                .try_it(try_it.clone())
        };
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .map_err(|e| fail(format!("cannot connect to the server: {e}")))?;
        let mut client = Client::from_stream(stream, self.timeout)
            .map_err(|e| fail(format!("cannot set up the connection: {e}")))?;
        client
            .send(&sent)
            .map_err(|e| fail(format!("the server did not take the request: {e}")))?;
        let response = client
            .read_response(self.method == "HEAD")
            .map_err(|e| fail(no_response(&e, self.timeout)))?;
        Ok(Exchange {
            sent,
            response,
            try_it,
        })
    }
}

/// What a failed read of a response means, in words.
pub fn no_response(error: &io::Error, timeout: Duration) -> String {
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            format!("no response within {} s", timeout.as_secs_f32())
        }
        ErrorKind::ConnectionReset => "the server reset the connection".to_owned(),
        ErrorKind::UnexpectedEof => "the server closed the connection mid-response".to_owned(),
        _ => format!("no valid response: {error}"),
    }
}

/// A request and the response it got.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The bytes sent.
    pub sent: Vec<u8>,
    /// The response, parsed.
    pub response: RawResponse,
    /// How to repeat it by hand.
    pub try_it: String,
}

impl Exchange {
    /// The response's status code.
    pub fn status(&self) -> u16 {
        self.response.status
    }

    /// The first value of response header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.header(name)
    }

    /// The response body (de-chunked).
    pub fn body(&self) -> &[u8] {
        &self.response.body
    }

    /// The response body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        self.response.text()
    }

    /// The response as shown in failure messages: head, then the body,
    /// shortened.
    pub fn shown_response(&self) -> String {
        let head = show_bytes(&self.response.head, usize::MAX);
        let body = if self.response.body.is_empty() {
            "(no body)".to_owned()
        } else {
            show_bytes(&self.response.body, SHOWN_BODY_CHARS)
        };
        format!("{head}\n{body}")
    }

    /// A failure about this exchange: `problem`, what was `expected`, and
    /// the conversation.
    pub fn fail(&self, problem: impl Into<String>, expected: impl Into<String>) -> Failure {
        Failure::new(problem)
            .sent(show_bytes(&self.sent, SHOWN_BODY_CHARS))
            .expected(expected)
            .got(self.shown_response())
            .try_it(self.try_it.clone())
    }

    /// `Ok` if the status is `status`, else a failure saying so.
    ///
    /// # Errors
    ///
    /// The failure, with `why` as the expectation's explanation.
    pub fn expect_status(&self, status: u16, why: &str) -> Result<&Self, Failure> {
        if self.status() == status {
            return Ok(self);
        }
        Err(self.fail(
            format!("expected status {status}, got {}", self.status()),
            format!("{status}: {why}"),
        ))
    }
}

/// Whether a `Content-Type` value names `media_type` (parameters aside).
pub fn content_type_is(value: Option<&str>, media_type: &str) -> bool {
    value.is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(media_type))
    })
}

/// `text` in single quotes for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `bytes` as a quoted `printf` format that prints exactly those bytes.
fn printf_quote(bytes: &[u8]) -> String {
    let mut format = String::new();
    for &b in bytes {
        match b {
            b'\\' => format.push_str(r"\\"),
            b'%' => format.push_str("%%"),
            b'\n' => format.push_str(r"\n"),
            b'\r' => format.push_str(r"\r"),
            b'\t' => format.push_str(r"\t"),
            b' '..=b'~' => format.push(char::from(b)),
            _ => format.push_str(&format!(r"\{b:03o}")),
        }
    }
    shell_quote(&format)
}

/// A fresh random token of eight hex digits, to send and look for.
pub fn token() -> String {
    format!("{:08x}", next_random() & 0xffff_ffff)
}

/// A random number below `bound` (which must not be 0).
pub fn random_below(bound: u64) -> u64 {
    next_random() % bound.max(1)
}

/// xorshift64*: plenty for making up test inputs; no crate needed. Seeded
/// from the clock and the process id, so each run sends different values.
fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        x = (nanos ^ (u64::from(std::process::id()) << 32)) | 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    STATE.store(x, Ordering::Relaxed);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    #[test]
    fn writes_exact_bytes() {
        let probe = Probe::new("POST", "/echo").header("X-A", "1").body("hi");
        assert_eq!(
            probe.bytes(addr()),
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nX-A: 1\r\n\
              Content-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
    }

    #[test]
    fn writes_chunks() {
        let probe = Probe::new("PUT", "/").chunked(&[b"hello", b"", b" world!"]);
        let bytes = String::from_utf8(probe.bytes(addr())).unwrap();
        assert!(bytes.contains("Transfer-Encoding: chunked\r\n"));
        assert!(!bytes.contains("Content-Length"));
        assert!(bytes.ends_with("\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n"));
        assert_eq!(probe.body_bytes(), b"hello world!");
    }

    #[test]
    fn curl_lines_repeat_the_request() {
        assert_eq!(
            Probe::get("/headers").header("X-A", "it's").curl(),
            r"curl -i -H 'X-A: it'\''s' 'http://127.0.0.1:8080/headers'"
        );
        assert_eq!(
            Probe::new("PUT", "/x").body(b"a\n%\x00".to_vec()).curl(),
            r"printf 'a\n%%\000' | curl -i -X PUT --data-binary @- 'http://127.0.0.1:8080/x'"
        );
        assert_eq!(
            Probe::new("HEAD", "/").curl(),
            "curl -I 'http://127.0.0.1:8080/'"
        );
    }

    #[test]
    fn content_types_match_without_parameters() {
        assert!(content_type_is(
            Some("text/plain; charset=utf-8"),
            "text/plain"
        ));
        assert!(content_type_is(
            Some("Application/JSON"),
            "application/json"
        ));
        assert!(!content_type_is(Some("text/plainer"), "text/plain"));
        assert!(!content_type_is(None, "text/plain"));
    }

    #[test]
    fn tokens_differ() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
        assert!((0..100).all(|_| random_below(7) < 7));
    }
}
