//! The gateway: the interface where a server and an application meet.
//!
//! The server knows sockets and HTTP; the application knows its pages. They
//! meet here, and know nothing else of each other, in the shape Python
//! standardised as WSGI (PEP 3333) — itself CGI/1.1 moved in-process:
//!
//! 1. The server calls [`Application::call`] with an [`Environ`] — the CGI
//!    meta-variables of the request plus the WSGI extras: the URL scheme,
//!    the body as a reader (`wsgi.input`), an error stream that ends up in
//!    the server's log (`wsgi.errors`), and three truthful flags.
//! 2. The application calls [`StartResponse::start`] with a status and its
//!    headers, exactly once — or, after an error and only before anything
//!    was sent, [`StartResponse::restart_after_error`].
//! 3. The application returns its body as an iterator of byte chunks. It
//!    may call `start` lazily, inside the iterator, as long as it does so
//!    before yielding the first chunk: the server sends nothing until then.
//!
//! The server, never the application, frames the response (`Content-Length`,
//! chunked or close-delimited), which is why hop-by-hop headers from an
//! application are refused. Where PEP 3333 has `close()` on the iterable,
//! Rust has `Drop`: the server drops the body on success, on error and when
//! the client goes away.

use std::borrow::Cow;
use std::io::{self, Cursor, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::StatusCode;

use crate::environ::Vars;

/// An application's failure. Boxed: applications fail in their own ways,
/// and the server only logs the error and answers 500.
pub type AppError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: byte chunks, produced lazily, each possibly a failure.
pub type Body = Box<dyn Iterator<Item = Result<Vec<u8>, AppError>> + Send>;

// ANCHOR: application
/// An application: everything behind the gateway.
///
/// Implemented for any `Fn(Environ, StartResponse) -> Result<Body, AppError>`,
/// so a closure is an application.
pub trait Application: Send + Sync {
    /// Handles one request.
    ///
    /// # Errors
    ///
    /// Any failure before the body exists; the server answers 500.
    fn call(&self, environ: Environ, start_response: StartResponse) -> Result<Body, AppError>;
}

impl<F> Application for F
where
    F: Fn(Environ, StartResponse) -> Result<Body, AppError> + Send + Sync,
{
    fn call(&self, environ: Environ, start_response: StartResponse) -> Result<Body, AppError> {
        self(environ, start_response)
    }
}
// ANCHOR_END: application

// ANCHOR: environ
/// What the application receives: the request, described.
#[derive(Debug)]
pub struct Environ {
    /// The CGI/1.1 meta-variables: `REQUEST_METHOD`, `PATH_INFO`,
    /// `HTTP_USER_AGENT`, … (built by [`crate::environ::build`]).
    pub vars: Vars,
    /// `wsgi.url_scheme`: `http` (this server speaks no TLS).
    pub url_scheme: &'static str,
    /// `wsgi.input`: the request body, already read (and de-chunked) by the
    /// server, bounded by its body limit.
    pub input: Cursor<Vec<u8>>,
    /// `wsgi.errors`: text written here becomes lines in the server's log.
    pub errors: ErrorStream,
    /// `wsgi.multithread`: whether another thread may call the application
    /// at the same time. False for the iterative server.
    pub multithread: bool,
    /// `wsgi.multiprocess`: whether other processes run the same
    /// application. False here; true once chapter 3 forks.
    pub multiprocess: bool,
    /// `wsgi.run_once`: whether the process handles only this request.
    pub run_once: bool,
    /// What middleware adds for the application beneath it, by type: WSGI
    /// lets a server or middleware put its own keys in the environ
    /// (`beaker.session`, say); this is that, typed. Chapter 6's session
    /// middleware puts the request's session here.
    pub extensions: http::Extensions,
}
// ANCHOR_END: environ

/// `wsgi.errors`: collects text and logs each complete line as a warning.
#[derive(Debug, Default)]
pub struct ErrorStream {
    /// Bytes of the current line, until its newline arrives.
    pending: Vec<u8>,
    /// Where the request came from, to tag each log line.
    tag: String,
}

impl ErrorStream {
    /// An error stream whose lines are tagged with `tag` (e.g. the request).
    pub fn new(tag: impl Into<String>) -> Self {
        ErrorStream {
            pending: Vec::new(),
            tag: tag.into(),
        }
    }

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        tracing::warn!(target: "wsgi.errors", "[{}] {}", self.tag, text.trim_end());
    }
}

impl Write for ErrorStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
        Ok(())
    }
}

impl Drop for ErrorStream {
    fn drop(&mut self) {
        // A last line without its newline is still a line: never lose it.
        let _ = self.flush();
    }
}

/// The status line and headers an application chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase the application gave (or the standard one).
    pub reason: Cow<'static, str>,
    /// The application's headers, in its order.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a call to [`StartResponse`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// `start` was called a second time without an error.
    #[error("start_response called twice (use restart_after_error after an error)")]
    AlreadyStarted,
    /// The head is already on the wire: it can no longer change.
    #[error("the response head has already been sent")]
    AlreadySent,
    /// A hop-by-hop header: framing and connection handling are the server's.
    #[error("hop-by-hop header {0:?} is the server's to send")]
    HopByHop(String),
    /// A header name that is not a token, or a value holding CR, LF or NUL
    /// (which would let the application inject headers).
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
}

/// Headers that describe one connection, not the response (RFC 9110 §7.6.1),
/// plus the framing ones: PEP 3333 forbids them from applications.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

// ANCHOR: start_response
/// `start_response`: how an application sets its status and headers.
///
/// A cheap, cloneable handle: an application may move a clone into its body
/// iterator and call it there, lazily, before the first chunk.
#[derive(Debug, Clone, Default)]
pub struct StartResponse {
    state: Arc<Mutex<Started>>,
}

#[derive(Debug, Default)]
struct Started {
    /// The head as last set, if `start` was called.
    head: Option<ResponseHead>,
    /// Set by the server once the head is on the wire.
    sent: bool,
}

impl StartResponse {
    /// A fresh handle. The server makes one per request; a middleware makes
    /// one for the application it wraps.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the status (with its standard reason phrase) and headers.
    ///
    /// # Errors
    ///
    /// [`StartError::AlreadyStarted`] on a second call; hop-by-hop or
    /// malformed headers. A refused call leaves no head, and the server
    /// answers 500.
    pub fn start(
        &self,
        status: StatusCode,
        headers: Vec<(String, String)>,
    ) -> Result<(), StartError> {
        let reason = status.canonical_reason().unwrap_or("Unknown");
        self.start_with_reason(status, reason.into(), headers)
    }

    /// Like [`start`](Self::start), with the application's own reason phrase.
    ///
    /// # Errors
    ///
    /// As for [`start`](Self::start).
    pub fn start_with_reason(
        &self,
        status: StatusCode,
        reason: Cow<'static, str>,
        headers: Vec<(String, String)>,
    ) -> Result<(), StartError> {
        let mut state = self.lock();
        if state.head.is_some() {
            return Err(StartError::AlreadyStarted);
        }
        state.head = Some(validated(status, reason, headers)?);
        Ok(())
    }

    /// `start_response(status, headers, exc_info)`: after an error, replace
    /// the head — allowed only while nothing has been sent. After that the
    /// application can only fail, and the server aborts the response.
    ///
    /// # Errors
    ///
    /// [`StartError::AlreadySent`] once the head is on the wire; malformed
    /// headers.
    pub fn restart_after_error(
        &self,
        status: StatusCode,
        headers: Vec<(String, String)>,
    ) -> Result<(), StartError> {
        let mut state = self.lock();
        if state.sent {
            return Err(StartError::AlreadySent);
        }
        let reason = status.canonical_reason().unwrap_or("Unknown").into();
        state.head = Some(validated(status, reason, headers)?);
        Ok(())
    }

    /// Replaces the reason phrase of the head already set (the Python
    /// gateway keeps an application's own phrase after an error).
    ///
    /// # Errors
    ///
    /// [`StartError::AlreadySent`] once the head is on the wire;
    /// [`StartError::InvalidHeader`] for a phrase with CR, LF or NUL.
    pub fn set_reason(&self, reason: Cow<'static, str>) -> Result<(), StartError> {
        let mut state = self.lock();
        if state.sent {
            return Err(StartError::AlreadySent);
        }
        if reason.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(StartError::InvalidHeader("status reason phrase".into()));
        }
        if let Some(head) = state.head.as_mut() {
            head.reason = reason;
        }
        Ok(())
    }

    /// The head as set so far (a middleware reads its application's here).
    pub fn head(&self) -> Option<ResponseHead> {
        self.lock().head.clone()
    }

    /// Takes the head for sending; from now on it cannot change.
    pub fn take_for_sending(&self) -> Option<ResponseHead> {
        let mut state = self.lock();
        let head = state.head.clone()?;
        state.sent = true;
        Some(head)
    }

    /// Whether the head has been sent.
    pub fn is_sent(&self) -> bool {
        self.lock().sent
    }

    fn lock(&self) -> MutexGuard<'_, Started> {
        // A panic while holding this lock cannot leave `Started` half
        // updated (each update is one assignment), so a poisoned lock is
        // still consistent: use it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: start_response

/// Checks an application's headers before accepting them.
fn validated(
    status: StatusCode,
    reason: Cow<'static, str>,
    headers: Vec<(String, String)>,
) -> Result<ResponseHead, StartError> {
    if reason.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(StartError::InvalidHeader("status reason phrase".into()));
    }
    for (name, value) in &headers {
        if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            return Err(StartError::HopByHop(name.clone()));
        }
        let token = !name.is_empty() && name.bytes().all(is_token_byte);
        let clean = !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if !token || !clean {
            return Err(StartError::InvalidHeader(name.clone()));
        }
    }
    Ok(ResponseHead {
        status,
        reason,
        headers,
    })
}

/// RFC 9110 §5.6.2 token characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A body of one chunk, for applications that build their page in memory.
/// The server can then send it with a `Content-Length`.
pub fn body_once(bytes: impl Into<Vec<u8>>) -> Body {
    Box::new(std::iter::once(Ok(bytes.into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.to_owned(), value.to_owned())]
    }

    #[test]
    fn start_only_once() {
        let start = StartResponse::new();
        start
            .start(StatusCode::OK, header("Content-Type", "text/plain"))
            .unwrap();
        assert_eq!(
            start.start(StatusCode::OK, vec![]),
            Err(StartError::AlreadyStarted)
        );
        assert_eq!(start.head().unwrap().reason, "OK");
    }

    #[test]
    fn restart_only_before_sending() {
        let start = StartResponse::new();
        start.start(StatusCode::OK, vec![]).unwrap();
        start
            .restart_after_error(StatusCode::INTERNAL_SERVER_ERROR, vec![])
            .unwrap();
        assert_eq!(start.head().unwrap().status, 500);
        let sent = start.take_for_sending().unwrap();
        assert_eq!(sent.status, 500);
        assert!(start.is_sent());
        assert_eq!(
            start.restart_after_error(StatusCode::BAD_GATEWAY, vec![]),
            Err(StartError::AlreadySent)
        );
    }

    #[test]
    fn refuses_hop_by_hop_and_injected_headers() {
        let start = StartResponse::new();
        for (name, value) in [
            ("Transfer-Encoding", "chunked"),
            ("connection", "close"),
            ("Keep-Alive", "timeout=5"),
        ] {
            assert!(matches!(
                start.start(StatusCode::OK, header(name, value)),
                Err(StartError::HopByHop(_))
            ));
        }
        for (name, value) in [
            ("X-A", "1\r\nSet-Cookie: evil=1"),
            ("Bad Name", "x"),
            ("", "x"),
        ] {
            assert!(matches!(
                start.start(StatusCode::OK, header(name, value)),
                Err(StartError::InvalidHeader(_))
            ));
        }
        // None of the refused calls counts as a start.
        assert!(start.head().is_none());
    }

    #[test]
    fn custom_reason_phrases() {
        let start = StartResponse::new();
        start
            .start_with_reason(StatusCode::OK, "Fine Thanks".into(), vec![])
            .unwrap();
        assert_eq!(start.head().unwrap().reason, "Fine Thanks");
        let bad = StartResponse::new();
        assert!(
            bad.start_with_reason(StatusCode::OK, "a\r\nb".into(), vec![])
                .is_err()
        );
    }

    #[test]
    fn error_stream_logs_whole_lines_and_keeps_partial_ones() {
        let mut errors = ErrorStream::new("test");
        write!(errors, "one\ntwo").unwrap();
        assert_eq!(errors.pending, b"two");
        errors.flush().unwrap();
        assert!(errors.pending.is_empty());
    }
}
