//! The request: parsing an HTTP/1.x request head from bytes.
//!
//! A request arrives as bytes, in as many pieces as the network likes. The
//! parser here never touches a socket: [`parse_head`] looks at everything
//! received so far and answers "not complete yet" (`Ok(None)`), "here is the
//! head and how long it was" (`Ok(Some(..))`), or "this can never become a
//! valid request" (an [`HttpError`] carrying the status to answer with).
//! httparse does the byte-level grammar; this file adds what a server must
//! decide on top of it: the limits (414, 431), which methods and versions it
//! serves (501, 505), `Host` rules, and how the body is framed.

use http::StatusCode;

use crate::error::HttpError;
use crate::target;

// ANCHOR: limits
/// The longest request-target we accept (414 beyond it). RFC 9112 asks
/// servers to accept at least 8000 octets; Apache allows 8190.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// The largest request head, request line plus headers (431 beyond it).
/// Real requests are well under 8 KiB; 64 KiB leaves room for big cookies
/// while bounding the memory one connection can make us hold.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The largest single header field, name and value (431 beyond it).
pub const MAX_FIELD_BYTES: usize = 8 * 1024;

/// The most header fields in one request (431 beyond it). This is also the
/// size of the array httparse fills, so it costs nothing per request.
pub const MAX_HEADERS: usize = 100;
// ANCHOR_END: limits

/// The methods this server knows. Anything else, including `get` (method
/// names are case-sensitive), is answered with 501 Not Implemented.
pub const KNOWN_METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
];

/// The HTTP version of a request. Only the 1.x family is spoken here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: one request per connection unless asked otherwise.
    Http10,
    /// HTTP/1.1: requires `Host`, persistent by default.
    Http11,
}

impl Version {
    /// The version as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How the body that follows the head is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    None,
    /// Exactly this many bytes follow (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`: a series of sized chunks ends the body.
    Chunked,
}

/// One header field exactly as received: name case kept, value as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name, a token (`User-Agent`); compare it case-insensitively.
    pub name: String,
    /// The field value with surrounding whitespace removed. Bytes, not text:
    /// HTTP allows obsolete non-ASCII octets here.
    pub value: Vec<u8>,
}

// ANCHOR: request
/// A parsed request: the head, then the body once the connection read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method exactly as sent (`GET`); one of [`KNOWN_METHODS`].
    pub method: String,
    /// The raw request-target (`/echo?x=1`), still percent-encoded.
    pub target: String,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// Every header field, in the order received.
    pub headers: Vec<Header>,
    /// How the body is framed; the connection reads it accordingly.
    pub framing: Framing,
    /// The request line and headers exactly as received, through the blank
    /// line that ends them. `/echo` sends these bytes back.
    pub head: Vec<u8>,
    /// The body; empty until the connection has read it.
    pub body: Vec<u8>,
}
// ANCHOR_END: request

impl Request {
    /// The first value of the header `name` (case-insensitive), as bytes.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The target split into path and query (both still encoded).
    ///
    /// Cannot fail for a parsed request: [`parse_head`] already checked the
    /// target's form, so a failure here falls back to the root path.
    pub fn target_parts(&self) -> target::Target<'_> {
        target::split(&self.target).unwrap_or(target::Target {
            path: "/",
            query: None,
        })
    }

    /// The request line as received, without its line ending, for logs.
    pub fn request_line(&self) -> String {
        format!("{} {} {}", self.method, self.target, self.version.as_str())
    }
}

// ANCHOR: parse_head
/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete: the caller reads more
/// bytes and calls again. On success returns the request (with an empty
/// body) and the number of bytes the head used; anything after them, a body
/// or a pipelined request, is left untouched in `buf`.
///
/// # Errors
///
/// An [`HttpError`] whose status says why the bytes can never become a
/// request this server serves: 400, 414, 431, 501 or 505.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
    // A request line longer than any target we accept is refused before its
    // end even arrives: otherwise a client could stream a single endless
    // line into our memory.
    if !buf.contains(&b'\n') && buf.len() > MAX_TARGET_BYTES + 64 {
        return Err(uri_too_long());
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(head_too_large());
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "more than 100 header fields",
            ));
        }
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(e) => return Err(HttpError::bad_request(format!("malformed request: {e}"))),
    };
    if head_len > MAX_HEAD_BYTES {
        return Err(head_too_large());
    }
    // httparse fills every field of a complete request; the fallbacks below
    // are never taken, but a server path does not unwrap.
    let method = parsed.method.unwrap_or_default().to_owned();
    let target = parsed.path.unwrap_or_default().to_owned();
    let version = match parsed.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    if target.len() > MAX_TARGET_BYTES {
        return Err(uri_too_long());
    }
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        if field.name.len() + field.value.len() > MAX_FIELD_BYTES {
            return Err(HttpError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "a header field is larger than 8 KiB",
            ));
        }
        headers.push(Header {
            name: field.name.to_owned(),
            value: field.value.trim_ascii().to_vec(),
        });
    }
    let request = Request {
        framing: framing(&headers)?,
        method,
        target,
        version,
        headers,
        head: buf[..head_len].to_vec(),
        body: Vec::new(),
    };
    check_request(&request)?;
    Ok(Some((request, head_len)))
}
// ANCHOR_END: parse_head

/// The rules a syntactically valid head must still follow.
fn check_request(request: &Request) -> Result<(), HttpError> {
    if !KNOWN_METHODS.contains(&request.method.as_str()) {
        return Err(HttpError::new(
            StatusCode::NOT_IMPLEMENTED,
            "unknown method (method names are case-sensitive)",
        ));
    }
    // RFC 9112 §3.2: a 1.1 request without Host, or any request with more
    // than one, is a 400. Two Hosts are how request-smuggling attacks confuse
    // a proxy and the server behind it about where a request goes.
    let hosts = request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .count();
    if hosts > 1 {
        return Err(HttpError::bad_request("more than one Host header"));
    }
    if hosts == 0 && request.version == Version::Http11 {
        return Err(HttpError::bad_request("HTTP/1.1 request without Host"));
    }
    let parts = target::split(&request.target)?;
    if parts.path == "*" && request.method != "OPTIONS" {
        return Err(HttpError::bad_request("'*' is only a target for OPTIONS"));
    }
    // Refuse broken escapes now, once, for every route: no handler needs to
    // remember to.
    target::percent_decode(parts.path)?;
    Ok(())
}

/// Works out the body's framing from `Content-Length` and
/// `Transfer-Encoding` (RFC 9112 §6.1–6.3).
fn framing(headers: &[Header]) -> Result<Framing, HttpError> {
    let mut length: Option<u64> = None;
    let mut codings: Vec<String> = Vec::new();
    for header in headers {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = parse_content_length(&header.value)?;
            if length.is_some_and(|seen| seen != value) {
                return Err(HttpError::bad_request("conflicting Content-Length"));
            }
            length = Some(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let text = String::from_utf8_lossy(&header.value).to_ascii_lowercase();
            codings.extend(
                text.split(',')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
        }
    }
    if codings.is_empty() {
        return Ok(length.map_or(Framing::None, Framing::Length));
    }
    // Both at once is the classic request-smuggling shape: two parsers may
    // disagree on where this body ends. Refuse it outright.
    if length.is_some() {
        return Err(HttpError::bad_request(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    if codings.iter().any(|c| c != "chunked") {
        return Err(HttpError::new(
            StatusCode::NOT_IMPLEMENTED,
            "the only transfer coding supported is chunked",
        ));
    }
    if codings.len() > 1 {
        return Err(HttpError::bad_request("chunked applied more than once"));
    }
    Ok(Framing::Chunked)
}

/// A Content-Length value: digits only, no sign, no list, no overflow.
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    let invalid = || HttpError::bad_request("invalid Content-Length");
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    std::str::from_utf8(value)
        .map_err(|_| invalid())?
        .parse()
        .map_err(|_| invalid())
}

/// httparse only knows HTTP/1.0 and HTTP/1.1. A well-formed `HTTP/x.y` we do
/// not speak is a 505; anything else in that place is plain garbage.
fn version_error(buf: &[u8]) -> HttpError {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end].trim_ascii_end();
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HttpError::new(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "only HTTP/1.0 and HTTP/1.1 are supported",
            )
        }
        _ => HttpError::bad_request("malformed HTTP version"),
    }
}

fn uri_too_long() -> HttpError {
    HttpError::new(StatusCode::URI_TOO_LONG, "request-target longer than 8 KiB")
}

fn head_too_large() -> HttpError {
    HttpError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request head larger than 64 KiB",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] =
        b"GET /echo?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\n\r\n";

    fn status_of(bytes: &[u8]) -> u16 {
        parse_head(bytes).unwrap_err().status.as_u16()
    }

    #[test]
    fn parses_a_complete_head() {
        let (request, used) = parse_head(SIMPLE).unwrap().unwrap();
        assert_eq!(used, SIMPLE.len());
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/echo?x=1");
        assert_eq!(request.version, Version::Http11);
        assert_eq!(request.header("user-agent"), Some(&b"test"[..]));
        assert_eq!(request.framing, Framing::None);
        assert_eq!(request.head, SIMPLE);
        assert_eq!(request.request_line(), "GET /echo?x=1 HTTP/1.1");
    }

    // ANCHOR: split_test
    #[test]
    fn a_head_split_at_every_byte_is_incomplete_until_the_last() {
        for cut in 0..SIMPLE.len() {
            assert_eq!(parse_head(&SIMPLE[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse_head(SIMPLE).unwrap().is_some());
    }
    // ANCHOR_END: split_test

    #[test]
    fn pipelined_bytes_are_left_untouched() {
        let mut bytes = SIMPLE.to_vec();
        bytes.extend_from_slice(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
        let (_, used) = parse_head(&bytes).unwrap().unwrap();
        assert_eq!(&bytes[used..], b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
        let (second, _) = parse_head(&bytes[used..]).unwrap().unwrap();
        assert_eq!(second.target, "/second");
    }

    #[test]
    fn body_bytes_are_left_for_the_connection() {
        let bytes = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let (request, used) = parse_head(bytes).unwrap().unwrap();
        assert_eq!(request.framing, Framing::Length(5));
        assert_eq!(&bytes[used..], b"hello");
    }

    #[test]
    fn http10_may_omit_host() {
        let (request, _) = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(request.version, Version::Http10);
    }

    #[test]
    fn garbage_is_400() {
        assert_eq!(status_of(b"GARBAGE\r\n\r\n"), 400);
        assert_eq!(status_of(b"GET / HTTP/1.1 extra\r\n\r\n"), 400);
        assert_eq!(status_of(b"\x00\x01\x02\r\n\r\n"), 400);
        assert_eq!(status_of(b"GET / FOO/1.1\r\nHost: x\r\n\r\n"), 400);
    }

    #[test]
    fn host_rules() {
        assert_eq!(status_of(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(
            status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400
        );
        assert_eq!(
            status_of(b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n"),
            400
        );
    }

    #[test]
    fn malformed_header_lines_are_400() {
        // Whitespace between the name and the colon (RFC 9112 §5.1).
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
        // obs-fold: a line starting with whitespace continues the previous one.
        assert_eq!(
            status_of(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status_of(b"GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n"),
            400
        );
    }

    #[test]
    fn unknown_methods_are_501() {
        assert_eq!(status_of(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n"), 501);
        assert_eq!(status_of(b"get / HTTP/1.1\r\nHost: x\r\n\r\n"), 501);
    }

    #[test]
    fn other_versions_are_505() {
        assert_eq!(status_of(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status_of(b"GET / HTTP/0.9\r\n\r\n"), 505);
        assert_eq!(status_of(b"GET / HTTP/1\r\n\r\n"), 400);
    }

    #[test]
    fn targets_are_checked() {
        assert_eq!(status_of(b"GET echo HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status_of(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status_of(b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status_of(b"GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert!(
            parse_head(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap()
                .is_some()
        );
        let (r, _) = parse_head(b"GET http://x/echo HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.target_parts().path, "/echo");
    }

    #[test]
    fn long_targets_are_414() {
        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(MAX_TARGET_BYTES)
        );
        assert_eq!(status_of(long.as_bytes()), 414);
        // Refused before the line even ends.
        let endless = format!("GET /{}", "a".repeat(MAX_TARGET_BYTES + 100));
        assert_eq!(status_of(endless.as_bytes()), 414);
        // 8000 octets must still be accepted (RFC 9112 §3).
        let ok = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(7999));
        assert!(parse_head(ok.as_bytes()).unwrap().is_some());
    }

    #[test]
    fn large_heads_are_431() {
        let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(status_of(&many), 431);

        let big_field = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "y".repeat(9000)
        );
        assert_eq!(status_of(big_field.as_bytes()), 431);

        // A head that never ends is refused once it passes the limit.
        let mut endless = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        while endless.len() <= MAX_HEAD_BYTES {
            endless.extend_from_slice(b"X-Filler: 0123456789abcdef0123456789abcdef\r\n");
        }
        assert_eq!(status_of(&endless), 431);
    }

    #[test]
    fn content_length_rules() {
        let req = |cl: &str| format!("POST / HTTP/1.1\r\nHost: x\r\n{cl}\r\n\r\n");
        for bad in [
            "Content-Length: -1",
            "Content-Length: 1x",
            "Content-Length: ",
            "Content-Length: 1, 1",
        ] {
            assert_eq!(status_of(req(bad).as_bytes()), 400, "{bad}");
        }
        let conflicting = req("Content-Length: 1\r\nContent-Length: 2");
        assert_eq!(status_of(conflicting.as_bytes()), 400);
        let repeated = req("Content-Length: 3\r\nContent-Length: 3");
        let (r, _) = parse_head(repeated.as_bytes()).unwrap().unwrap();
        assert_eq!(r.framing, Framing::Length(3));
        let overflow = req("Content-Length: 99999999999999999999999");
        assert_eq!(status_of(overflow.as_bytes()), 400);
    }

    #[test]
    fn transfer_encoding_rules() {
        let req = |te: &str| format!("POST / HTTP/1.1\r\nHost: x\r\n{te}\r\n\r\n");
        let (r, _) = parse_head(req("Transfer-Encoding: chunked").as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        assert_eq!(status_of(req("Transfer-Encoding: gzip").as_bytes()), 501);
        assert_eq!(
            status_of(req("Transfer-Encoding: gzip, chunked").as_bytes()),
            501
        );
        assert_eq!(
            status_of(req("Transfer-Encoding: chunked, chunked").as_bytes()),
            400
        );
        let both = req("Transfer-Encoding: chunked\r\nContent-Length: 3");
        assert_eq!(status_of(both.as_bytes()), 400);
    }
}
