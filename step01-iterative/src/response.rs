//! The response: a status, headers and a body, and how they go on the wire.
//!
//! Every response this step sends is framed the same simple way: a status
//! line, `Date`, `Server`, the handler's own headers, a `Content-Length`
//! that says exactly how many body bytes follow, and `Connection: close`,
//! because this server closes the connection after each response. Without
//! `Content-Length` (or chunking, chapter 2) a client cannot tell where the
//! body ends except by waiting for the close, and a browser given the wrong
//! length hangs or truncates.

use std::io::{self, Write};
use std::time::SystemTime;

use http::StatusCode;

use crate::error::HttpError;

/// What this server calls itself in `Server:` (and, later, in CGI's
/// `SERVER_SOFTWARE`): `stepwise/<crate version>`.
pub const SERVER_NAME: &str = concat!("stepwise/", env!("CARGO_PKG_VERSION"));

/// Headers [`Response::write_to`] always writes itself; a handler's own
/// copies are skipped.
pub const SERVER_HEADERS: [&str; 4] = ["Date", "Server", "Content-Length", "Connection"];

/// A complete response held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code; its reason phrase comes from the standard table.
    pub status: StatusCode,
    /// Headers set by the handler, in order (`Content-Type`, `Allow`, …).
    /// `Date`, `Server`, `Content-Length` and `Connection` are added when
    /// the response is written, so a handler cannot get them wrong.
    pub headers: Vec<(String, String)>,
    /// The body. Written after the head, except for `HEAD` requests.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with the given status and no headers or body.
    pub fn new(status: StatusCode) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// An HTML page: `text/html; charset=utf-8`.
    pub fn html(status: StatusCode, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status)
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_body(body)
    }

    /// Plain text: `text/plain; charset=utf-8`.
    pub fn text(status: StatusCode, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(body)
    }

    /// The page sent for an [`HttpError`]: the status and its detail.
    pub fn error(error: &HttpError) -> Self {
        let title = status_line_text(error.status);
        Self::html(
            error.status,
            format!(
                "<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n\
                 <body><h1>{title}</h1><p>{}</p><hr><address>{SERVER_NAME}</address></body></html>\n",
                escape_html(&error.detail)
            ),
        )
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces the body (builder style).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    // ANCHOR: write_to
    /// Writes the response to `out`: the head, then (unless `head_only`,
    /// for a `HEAD` request) the body. This chapter always closes the
    /// connection afterwards, and says so with `Connection: close`.
    ///
    /// # Errors
    ///
    /// Any error from `out`, such as a client that already hung up.
    pub fn write_to<W: Write>(&self, out: &mut W, head_only: bool) -> io::Result<()> {
        self.write_with(out, head_only, Persistence::Close)
    }

    /// Like [`write_to`](Self::write_to), for a connection that may stay
    /// open (chapter 5's keep-alive).
    ///
    /// # Errors
    ///
    /// Any error from `out`.
    pub fn write_with<W: Write>(
        &self,
        out: &mut W,
        head_only: bool,
        persistence: Persistence,
    ) -> io::Result<()> {
        let mut head = self.head_bytes(self.body.len() as u64, persistence);
        if !head_only {
            // One write for small responses: head and body together.
            head.extend_from_slice(&self.body);
        }
        out.write_all(&head)?;
        out.flush()
    }

    /// The status line and headers, with `Content-Length: length`. A file
    /// server writes this head, then streams the file itself.
    pub fn head_bytes(&self, length: u64, persistence: Persistence) -> Vec<u8> {
        let mut head = Vec::with_capacity(256);
        // The status line always says HTTP/1.1, also to 1.0 clients: it names
        // the version we speak, not the one we were asked in (RFC 9110 §6.2).
        let _ = write!(head, "HTTP/1.1 {}\r\n", status_line_text(self.status));
        let _ = write!(
            head,
            "Date: {}\r\n",
            httpdate::fmt_http_date(SystemTime::now())
        );
        let _ = write!(head, "Server: {SERVER_NAME}\r\n");
        for (name, value) in &self.headers {
            // These are the server's to send; a handler's copy would be a
            // duplicate, and two Content-Lengths make a response invalid.
            if SERVER_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
                continue;
            }
            let _ = write!(head, "{name}: {value}\r\n");
        }
        // HEAD gets the Content-Length the GET would have had (RFC 9110 §9.3.2).
        // 1xx, 204 and 304 carry none (RFC 9110 §8.6).
        let code = self.status.as_u16();
        if !((100..200).contains(&code) || code == 204 || code == 304) {
            let _ = write!(head, "Content-Length: {length}\r\n");
        }
        head.extend_from_slice(persistence.header_line());
        head.extend_from_slice(b"\r\n");
        head
    }
    // ANCHOR_END: write_to
}

/// Whether the connection stays open after a response, and how that is
/// said on the wire (RFC 9112 §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// The server closes after this response: `Connection: close`.
    Close,
    /// The connection stays open. HTTP/1.1 needs no header for that; an
    /// HTTP/1.0 client that asked with `Connection: keep-alive` gets the
    /// same header back (`echo`), or it would assume a close.
    KeepAlive {
        /// Send `Connection: keep-alive` (to an HTTP/1.0 client).
        echo: bool,
    },
}

impl Persistence {
    /// The `Connection` header line to send, if any.
    pub fn header_line(self) -> &'static [u8] {
        match self {
            Persistence::Close => b"Connection: close\r\n",
            Persistence::KeepAlive { echo: true } => b"Connection: keep-alive\r\n",
            Persistence::KeepAlive { echo: false } => b"",
        }
    }
}

/// `404 Not Found`: the code and its standard reason phrase.
pub fn status_line_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_str(),
        status.canonical_reason().unwrap_or("Unknown")
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(response: &Response, head_only: bool) -> String {
        let mut out = Vec::new();
        response.write_to(&mut out, head_only).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_response_is_framed_on_the_wire() {
        let text = written(&Response::text(StatusCode::OK, "hi"), false);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{text}");
        assert!(text.contains(&format!("\r\nServer: {SERVER_NAME}\r\n")));
        assert!(text.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"));
        assert!(text.ends_with("\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"));
    }

    #[test]
    fn a_handler_cannot_duplicate_the_servers_headers() {
        let response = Response::text(StatusCode::OK, "hi").with_header("content-length", "99");
        let text = written(&response, false);
        assert_eq!(text.matches("ontent-").count(), 2, "{text}");
        assert!(!text.contains("99"));
    }

    #[test]
    fn head_only_keeps_the_length_and_drops_the_body() {
        let text = written(&Response::text(StatusCode::OK, "hello"), true);
        assert!(text.ends_with("Content-Length: 5\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn error_pages_escape_their_detail() {
        let page = Response::error(&HttpError::bad_request("<script>"));
        let body = String::from_utf8(page.body).unwrap();
        assert!(body.contains("<h1>400 Bad Request</h1>"));
        assert!(body.contains("&lt;script&gt;"));
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape_html(r#"a&b<c>"d"'e"#),
            "a&amp;b&lt;c&gt;&quot;d&quot;&#39;e"
        );
    }
}
