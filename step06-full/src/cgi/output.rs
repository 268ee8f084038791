//! Parsing what a CGI script prints: a header block, an empty line, a body.
//!
//! In chapter 2 a WSGI application handed the server its status and headers
//! as values. A CGI script is a separate program that *prints* them, so the
//! server has to parse text it did not write and must not trust (RFC 3875
//! §6). This file is the pure half of that work: [`parse_head`] is fed the
//! bytes read so far from the script's stdout and answers "need more", "here
//! is the head, and the body starts at this offset", or an error; then
//! [`Head::classify`] says what the server should do with the head — serve
//! another path internally, redirect the client, or send the script's
//! response. No I/O happens here, so every rule is a unit test over bytes.
//!
//! Every [`OutputError`] becomes a 500 for the client and one line in the
//! error log, which is why its messages read like Apache's ("malformed
//! header from script", "End of script output before headers") and quote
//! the offending bytes, escaped and cut short.
//!
//! Header lines are split by hand rather than with `httparse`: a script's
//! output is not an HTTP message (no status line, `Status:` instead, LF
//! alone allowed), and the splitting is this section's lesson.

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, StatusCode};

/// The longest header line accepted, in bytes of text (the LF or CRLF that
/// ends it is not counted).
///
/// 8 KiB is what the server allows a client per request header (§6.7 of the
/// reference) and Apache's default `LimitRequestFieldSize`; a script that
/// needs more is printing something that is not a header.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// The largest header block accepted, in bytes, line endings and the empty
/// line included.
///
/// The limit bounds how much the server buffers before it can answer: until
/// the empty line arrives nothing can be sent, so without a cap a script
/// printing endless header lines would grow the buffer forever.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How much of an offending line an error quotes.
///
/// Enough to recognise the line in the error log; short enough that a
/// script dumping binary onto stdout cannot flood the log through us.
const LOG_EXCERPT_BYTES: usize = 80;

/// What the server's 302 body is sent as, for [`Disposition::ClientRedirect`].
pub const REDIRECT_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// Why a script's output could not be turned into a response.
///
/// The caller answers 500 for every variant and logs the [`Display`] text,
/// which is written for that log. Offending bytes are quoted escaped (`\r`,
/// `\xhh`, …) and cut at 80 bytes, so a hostile line cannot forge log lines.
///
/// [`Display`]: std::fmt::Display
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// The script's stdout closed before the empty line that ends the head
    /// (it crashed, exited early, or printed no headers at all).
    #[error("End of script output before headers")]
    EndBeforeHeaders,
    /// A line with no `:` in it: usually a script that forgot its headers
    /// and started with the body.
    #[error("malformed header from script: Bad header: {line}")]
    Malformed {
        /// The line, escaped and truncated.
        line: String,
    },
    /// A line starting with a space or tab: an obsolete folded continuation,
    /// which CGI never had and which could smuggle text into a header.
    #[error("malformed header from script: continuation line: {line}")]
    Continuation {
        /// The line, escaped and truncated.
        line: String,
    },
    /// The text before the `:` is not an RFC 9110 token (it has a space, a
    /// control character, or is empty).
    #[error("bad header name from script: {line}")]
    BadName {
        /// The whole line, escaped and truncated.
        line: String,
    },
    /// A value holding a control character other than tab: a bare CR, NUL,
    /// DEL… Forwarding it could split the response (header injection).
    #[error("bad header value from script: {name}: {value}")]
    BadValue {
        /// The header's name, lowercased.
        name: String,
        /// The value, escaped and truncated.
        value: String,
    },
    /// `Status` is not three digits from 100 to 599, optionally followed by
    /// a reason phrase.
    #[error("invalid status line from script: {value}")]
    InvalidStatus {
        /// The `Status` value, escaped and truncated.
        value: String,
    },
    /// `Status` or `Location` appeared twice: the script's intent is
    /// ambiguous, and guessing would hide its bug.
    #[error("duplicate {name} header from script")]
    Duplicate {
        /// `"status"` or `"location"`.
        name: &'static str,
    },
    /// A `Location` without `Status` that is neither a local path (`/…`)
    /// nor an absolute URI (`scheme:…`), or an empty `Location`.
    #[error("bad Location from script (expected /path or an absolute URI): {value}")]
    BadLocation {
        /// The `Location` value, escaped and truncated.
        value: String,
    },
    /// A header line longer than [`MAX_LINE_BYTES`].
    #[error("header line too long: over {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    /// No empty line within the first [`MAX_HEAD_BYTES`] bytes.
    #[error("header block too long: over {MAX_HEAD_BYTES} bytes")]
    HeadTooLong,
}

/// The result of parsing a script's output.
pub type Result<T> = std::result::Result<T, OutputError>;

/// The `Status` a script asked for, with the reason phrase to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The code, checked to lie in 100–599.
    pub code: StatusCode,
    /// The script's reason phrase, or the standard one when it gave none
    /// (`Status: 418` becomes "I'm a teapot").
    pub reason: String,
}

/// A parsed header block: what the script said, minus what the server must
/// decide for itself.
///
/// Framing headers (`Content-Length`, `Transfer-Encoding`) and the other
/// hop-by-hop headers are dropped: the server frames the response, and a
/// length the script got wrong would desynchronise the client's connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// `Status:`, if the script sent one. `None` is not "200": it is what
    /// makes a `Location` a redirect the server handles (see
    /// [`Head::classify`]).
    pub status: Option<Status>,
    /// `Location:`, if the script sent one, as printed.
    pub location: Option<HeaderValue>,
    /// Every other header, in the order printed. Repeated names stay
    /// separate entries, so two `Set-Cookie` lines stay two lines.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// What the server does with a parsed head (RFC 3875 §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// `Location: /path` without `Status`: discard everything the script
    /// printed and serve this path (and query) as a fresh GET with no body.
    /// The caller counts these and gives up after 10 in a row.
    LocalRedirect(PathAndQuery),
    /// `Location: scheme:…` without `Status`: answer 302 Found with this
    /// `Location`. The script's body and `Content-Type` are discarded and
    /// the server sends [`redirect_body`] as [`REDIRECT_CONTENT_TYPE`]; the
    /// script's other headers (cookies, say) are kept.
    ClientRedirect {
        /// The absolute URI, as printed.
        location: HeaderValue,
    },
    /// Send the script's response: this status line, `location` if set
    /// (passed through as printed, so relative references work), then
    /// [`Head::headers`] and the body that follows the head.
    Response {
        /// The script's `Status`, or 200 OK when it sent none.
        status: Status,
        /// The script's `Location`, when it sent one along with `Status`.
        location: Option<HeaderValue>,
    },
}

/// Headers the script may print but the server never forwards: they
/// describe the connection or the framing, and both belong to the server.
/// Names are lowercase because [`HeaderName`] stores them that way.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

// ANCHOR: parse_head
/// Parses the header block at the start of `buf`, the script's stdout so
/// far.
///
/// Returns `Ok(None)` when the empty line has not arrived yet: read more,
/// append, and call again with the whole buffer. Returns the head and the
/// number of bytes it took, line endings and empty line included, so the
/// body is `&buf[consumed..]`. Lines may end in LF or CRLF, mixed.
///
/// The answer never depends on how the bytes were split between calls: a
/// prefix of the output gives either `Ok(None)` or the same answer as the
/// whole. Errors are reported as soon as they are certain, so the caller
/// never buffers more than [`MAX_HEAD_BYTES`] plus one read.
///
/// An empty head (the output starts with an empty line) is accepted: it is
/// a 200 with no headers at all. RFC 3875's grammar wants at least one
/// header, but Apache's header scanner also stops at an empty first line
/// and serves what follows, and refusing it would protect nothing.
///
/// # Errors
///
/// Any [`OutputError`] except [`OutputError::EndBeforeHeaders`] (that one
/// comes from [`parse_head_at_eof`]): a line without `:`, a continuation
/// line, a name that is not a token, a value with control characters, an
/// invalid or repeated `Status`, a repeated `Location`, or a line or block
/// over its limit.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>> {
    let mut head = Head::default();
    // `rest` is what follows the lines handled so far. Each call starts
    // again from the top: re-scanning at most 64 KiB is cheap, and a pure
    // function cannot get out of step with the caller's buffer (hyper does
    // the same with httparse for request heads).
    let mut rest = buf;
    loop {
        let start = buf.len() - rest.len();
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            // An unfinished line. Its text so far is everything except a
            // final CR, which may turn out to be half of a CRLF.
            let text = rest.strip_suffix(b"\r").unwrap_or(rest);
            check_limits(start, text.len(), buf.len())?;
            return Ok(None);
        };
        let (raw, after) = rest.split_at(lf);
        // `after` starts with the LF itself, which belongs to this line.
        rest = after.get(1..).unwrap_or_default();
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        check_limits(start, line.len(), buf.len() - rest.len())?;
        if line.is_empty() {
            return Ok(Some((head, buf.len() - rest.len())));
        }
        head.add_line(line)?;
    }
}
// ANCHOR_END: parse_head

/// Like [`parse_head`], for when the script's stdout has closed: there is
/// nothing more to wait for, so an unfinished head is an error.
///
/// # Errors
///
/// [`OutputError::EndBeforeHeaders`] if `buf` holds no complete head, and
/// otherwise whatever [`parse_head`] reports.
pub fn parse_head_at_eof(buf: &[u8]) -> Result<(Head, usize)> {
    parse_head(buf)?.ok_or(OutputError::EndBeforeHeaders)
}

/// Fails if the line starting at `start`, with `text_len` bytes of text
/// seen so far, or the head, whose first `end` bytes have been seen, is over
/// its limit.
///
/// When both are, the one crossed at the earlier byte wins, the head on a
/// tie. That rule is what makes the answer independent of where the buffer
/// was cut: a prefix can only see crossings at offsets the whole output
/// would report too, and none later than those.
fn check_limits(start: usize, text_len: usize, end: usize) -> Result<()> {
    // The offset of the first byte past each limit, if it has been seen.
    let line_over = (text_len > MAX_LINE_BYTES).then_some(start + MAX_LINE_BYTES);
    let head_over = (end > MAX_HEAD_BYTES).then_some(MAX_HEAD_BYTES);
    match (line_over, head_over) {
        (Some(line), Some(head)) if line < head => Err(OutputError::LineTooLong),
        (_, Some(_)) => Err(OutputError::HeadTooLong),
        (Some(_), None) => Err(OutputError::LineTooLong),
        (None, None) => Ok(()),
    }
}

impl Head {
    /// Checks one header line (without its line ending) and files it.
    fn add_line(&mut self, line: &[u8]) -> Result<()> {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(OutputError::Continuation {
                line: excerpt(line),
            });
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(OutputError::Malformed {
                line: excerpt(line),
            });
        };
        let (name, value) = line.split_at(colon);
        let value = trim(value.get(1..).unwrap_or_default());

        // RFC 9110 tokens only: this also refuses `Name : v` (space before
        // the colon), which clients and proxies disagree about. HeaderName
        // checks again and lowercases, so `Content-type` from php-cgi
        // compares equal to `content-type`.
        let name = match HeaderName::from_bytes(name) {
            Ok(parsed) if !name.is_empty() && name.iter().all(|&b| is_tchar(b)) => parsed,
            _ => {
                return Err(OutputError::BadName {
                    line: excerpt(line),
                });
            }
        };
        // The line was split at LF, but a bare CR would still end the line
        // for some clients, and NUL truncates strings in C ones: a value
        // with either would let the script (or whoever fed it input) inject
        // headers of its own.
        let value = match HeaderValue::from_bytes(value) {
            Ok(parsed) if value.iter().all(|&b| is_value_byte(b)) => parsed,
            _ => {
                return Err(OutputError::BadValue {
                    name: name.as_str().to_owned(),
                    value: excerpt(value),
                });
            }
        };

        match name.as_str() {
            "status" => {
                if self.status.is_some() {
                    return Err(OutputError::Duplicate { name: "status" });
                }
                self.status = Some(parse_status(value.as_bytes())?);
            }
            "location" => {
                if self.location.is_some() {
                    return Err(OutputError::Duplicate { name: "location" });
                }
                self.location = Some(value);
            }
            hop if HOP_BY_HOP.contains(&hop) => {}
            _ => self.headers.push((name, value)),
        }
        Ok(())
    }

    // ANCHOR: classify
    /// Decides what the server does with this head (RFC 3875 §6.2).
    ///
    /// A `Status` header makes everything a plain response, `Location`
    /// included: php-cgi always adds `Status: 302 Found` to a redirect, so
    /// PHP's `Location`s (even relative ones) go to the client as printed.
    /// Without `Status`, `Location` decides:
    ///
    /// | `Location`        | disposition                         |
    /// |-------------------|-------------------------------------|
    /// | absent            | response, 200 OK                    |
    /// | `/path?query`     | local redirect: serve that path     |
    /// | `scheme:…`        | client redirect: 302 Found          |
    /// | anything else     | error                               |
    ///
    /// A missing `Content-Type` is left missing: RFC 3875 §6.3.1 says not to
    /// guess, and Apache forwards such responses as they are.
    ///
    /// # Errors
    ///
    /// [`OutputError::BadLocation`] for an empty `Location`, or one without
    /// `Status` that is neither a path the URI grammar accepts nor an
    /// absolute URI.
    pub fn classify(&self) -> Result<Disposition> {
        let bad_location = |value: &HeaderValue| OutputError::BadLocation {
            value: excerpt(value.as_bytes()),
        };
        match (&self.status, &self.location) {
            (_, Some(location)) if location.is_empty() => Err(bad_location(location)),
            (Some(status), location) => Ok(Disposition::Response {
                status: status.clone(),
                location: location.clone(),
            }),
            (None, None) => Ok(Disposition::Response {
                status: Status::from_code(StatusCode::OK),
                location: None,
            }),
            (None, Some(location)) if location.as_bytes().starts_with(b"/") => {
                // A URI holds visible ASCII only (anything else arrives
                // percent-encoded), and PathAndQuery checks the finer
                // grammar, so the router never sees a space or raw UTF-8.
                // It drops a `#fragment`, which only means something to a
                // browser.
                let bytes = location.as_bytes();
                match PathAndQuery::try_from(bytes) {
                    Ok(path) if bytes.iter().all(u8::is_ascii_graphic) => {
                        Ok(Disposition::LocalRedirect(path))
                    }
                    _ => Err(bad_location(location)),
                }
            }
            (None, Some(location)) if is_absolute_uri(location.as_bytes()) => {
                Ok(Disposition::ClientRedirect {
                    location: location.clone(),
                })
            }
            (None, Some(location)) => Err(bad_location(location)),
        }
    }
    // ANCHOR_END: classify
}

impl Status {
    /// A status with its standard reason phrase.
    fn from_code(code: StatusCode) -> Status {
        // `canonical_reason` knows the registered codes; for the others
        // (`Status: 299`) fall back on the name of the class, which RFC 9110
        // §15 gives for every hundred.
        let reason = code
            .canonical_reason()
            .unwrap_or(match code.as_u16() / 100 {
                1 => "Informational",
                2 => "Successful",
                3 => "Redirection",
                4 => "Client Error",
                _ => "Server Error",
            });
        Status {
            code,
            reason: reason.to_owned(),
        }
    }
}

/// Parses a `Status` value: three digits, then optionally whitespace and a
/// reason phrase.
fn parse_status(value: &[u8]) -> Result<Status> {
    let invalid = || OutputError::InvalidStatus {
        value: excerpt(value),
    };
    let (digits, after) = value.split_at(value.len().min(3));
    if digits.len() != 3 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    // "2000" or "200OK" are not a code followed by a reason: Apache would
    // read 2000 and refuse it, and "200OK" is a typo worth a log line.
    if !matches!(after.first(), None | Some(b' ' | b'\t')) {
        return Err(invalid());
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    // StatusCode accepts up to 999; HTTP defines classes 1 to 5 only.
    let code = match StatusCode::from_u16(code) {
        Ok(code) if (100..=599).contains(&code.as_u16()) => code,
        _ => return Err(invalid()),
    };
    let reason = trim(after);
    if reason.is_empty() {
        return Ok(Status::from_code(code));
    }
    // The value already passed the control-character check; the reason
    // must also be text, because it goes out in the status line.
    let reason = String::from_utf8(reason.to_vec()).map_err(|_| invalid())?;
    Ok(Status { code, reason })
}

/// Whether `value` starts like an absolute URI (RFC 3986 §3: a scheme, a
/// colon, and something after it) and is made of characters a URI may hold
/// unencoded: visible ASCII, no spaces.
fn is_absolute_uri(value: &[u8]) -> bool {
    let Some(colon) = value.iter().position(|&b| b == b':') else {
        return false;
    };
    let (scheme, rest) = value.split_at(colon);
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    scheme_ok && rest.len() > 1 && value.iter().all(u8::is_ascii_graphic)
}

/// Builds the small HTML page sent with a [`Disposition::ClientRedirect`],
/// for clients that do not follow `Location` by themselves.
///
/// The URI is HTML-escaped, and any byte outside ASCII is percent-encoded,
/// so a hostile `Location` cannot inject markup.
pub fn redirect_body(location: &HeaderValue) -> Bytes {
    let mut href = String::new();
    for &b in location.as_bytes() {
        match b {
            b'&' => href.push_str("&amp;"),
            b'<' => href.push_str("&lt;"),
            b'>' => href.push_str("&gt;"),
            b'"' => href.push_str("&quot;"),
            b'\'' => href.push_str("&#39;"),
            0x20..=0x7e => href.push(char::from(b)),
            _ => href.push_str(&format!("%{b:02X}")),
        }
    }
    Bytes::from(format!(
        "<!DOCTYPE html>\n<html><head><title>302 Found</title></head>\n\
         <body><h1>Found</h1>\n<p>This page is now at <a href=\"{href}\">{href}</a>.</p>\n\
         </body></html>\n"
    ))
}

/// Whether a script is a non-parsed-header (NPH) script, by Apache's naming
/// convention: its file name starts with `nph-` (case matters, as in
/// Apache).
///
/// RFC 3875 §5 has the server copy an NPH script's output untouched. hyper
/// owns the connection and writes every response head itself, so this
/// server does the nearest it can: it parses the script's own status line
/// and headers, passes them on unchanged (no `Server` added), and closes
/// the connection afterwards. A path is accepted too: only its last
/// component counts, so `/srv/nph-dir/x.cgi` is not NPH.
pub fn is_nph(script_file_name: &str) -> bool {
    let file_name = script_file_name
        .rsplit('/')
        .next()
        .unwrap_or(script_file_name);
    file_name.starts_with("nph-")
}

/// RFC 9110 §5.6.2: the characters of a token (a header name).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// RFC 9110 §5.5: a field value is visible characters, spaces, tabs and
/// (obsolete but tolerated) bytes from 0x80 up. No other control byte.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80
}

/// Strips spaces and tabs at both ends (the optional whitespace around a
/// field value, RFC 9110 §5.5).
fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| matches!(b, b' ' | b'\t');
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Quotes bytes for the error log: printable ASCII as is, the rest escaped
/// as in the access log (§4.1 of the reference), and at most
/// [`LOG_EXCERPT_BYTES`] of them.
fn excerpt(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(LOG_EXCERPT_BYTES) {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > LOG_EXCERPT_BYTES {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The php-cgi output of §2.2 of the reference, byte for byte.
    const PHP: &[u8] = b"Status: 302 Found\r\n\
        Set-Cookie: a=1\r\n\
        Set-Cookie: b=2; path=/; HttpOnly\r\n\
        Location: /local/page.html\r\n\
        Content-type: text/html; charset=UTF-8\r\n\
        \r\n\
        <p>body</p>";

    fn parse(buf: &[u8]) -> Result<(Head, usize)> {
        parse_head_at_eof(buf)
    }

    fn head(buf: &[u8]) -> Head {
        parse(buf).unwrap().0
    }

    fn headers(head: &Head) -> Vec<(&str, &[u8])> {
        head.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect()
    }

    fn status(code: u16, reason: &str) -> Status {
        Status {
            code: StatusCode::from_u16(code).unwrap(),
            reason: reason.to_owned(),
        }
    }

    /// Feeds `output` the way a reader of a pipe might: every prefix in
    /// turn, as if the bytes arrived one at a time. Each answer must be
    /// "need more" or the final one, and the first answer that is not "need
    /// more" must equal the answer for the whole output.
    fn assert_split_invariant(output: &[u8]) {
        let whole = parse_head(output);
        for cut in 0..output.len() {
            let prefix = parse_head(&output[..cut]);
            assert!(
                matches!(prefix, Ok(None)) || prefix == whole,
                "cut at {cut}: {prefix:?} but whole gives {whole:?}"
            );
        }
    }

    #[test]
    fn php_cgi_output() {
        let (head, consumed) = parse(PHP).unwrap();
        assert_eq!(head.status, Some(status(302, "Found")));
        assert_eq!(head.location.as_ref().unwrap(), "/local/page.html");
        assert_eq!(
            headers(&head),
            [
                ("set-cookie", &b"a=1"[..]),
                ("set-cookie", b"b=2; path=/; HttpOnly"),
                ("content-type", b"text/html; charset=UTF-8"),
            ]
        );
        assert_eq!(&PHP[consumed..], b"<p>body</p>");
        // With Status, even a local-looking Location goes to the client.
        assert_eq!(
            head.classify().unwrap(),
            Disposition::Response {
                status: status(302, "Found"),
                location: Some(HeaderValue::from_static("/local/page.html")),
            }
        );
    }

    #[test]
    fn lf_only_and_mixed_line_endings() {
        let lf = b"Content-Type: text/plain\nX-A: 1\n\nbody";
        let mixed = b"Content-Type: text/plain\r\nX-A: 1\n\r\nbody";
        for output in [&lf[..], &mixed[..]] {
            let (head, consumed) = parse(output).unwrap();
            assert_eq!(
                headers(&head),
                [("content-type", &b"text/plain"[..]), ("x-a", b"1")]
            );
            assert_eq!(&output[consumed..], b"body");
        }
    }

    #[test]
    fn every_split_point_gives_the_same_answer() {
        let samples: [&[u8]; 9] = [
            PHP,
            b"Content-Type: text/plain\n\nhello",
            b"Status: 418\r\nX-A:  spaced \t\r\n\n",
            b"\r\n",
            b"X: 1\r\rY: 2\r\n\r\n",
            b"just text\nmore\n\n",
            b"X: 1\n  folded\n\n",
            b"Status: 600\r\n\r\n",
            b"Bad Name: 1\r\n\r\n",
        ];
        for output in samples {
            assert_split_invariant(output);
        }
    }

    #[test]
    fn byte_by_byte_reading_finds_the_head_when_it_ends() {
        let mut buf = Vec::new();
        let mut answer = None;
        for (i, &b) in PHP.iter().enumerate() {
            buf.push(b);
            if let Some(found) = parse_head(&buf).unwrap() {
                answer = Some((i, found));
                break;
            }
        }
        let (last, (head, consumed)) = answer.unwrap();
        // The head is complete exactly at the LF of the empty line.
        assert_eq!(last + 1, consumed);
        assert_eq!(&PHP[last - 3..=last], b"\r\n\r\n");
        assert_eq!((head, consumed), parse(PHP).unwrap());
    }

    #[test]
    fn body_starts_right_after_the_empty_line() {
        // The body's own blank lines belong to the body.
        let crlf = b"X: 1\r\n\r\n\r\nbody\r\n\r\n";
        let (_, consumed) = parse(crlf).unwrap();
        assert_eq!(consumed, 8);
        assert_eq!(&crlf[consumed..], b"\r\nbody\r\n\r\n");
        let lf = b"X: 1\n\n\nbody\n\n";
        let (_, consumed) = parse(lf).unwrap();
        assert_eq!(consumed, 6);
        assert_eq!(&lf[consumed..], b"\nbody\n\n");
        // Nothing after the head is an empty body, not "need more".
        assert_eq!(parse(b"X: 1\n\n").unwrap().1, 6);
    }

    #[test]
    fn empty_head_is_a_200_with_no_headers() {
        for (output, consumed) in [(&b"\r\nbody"[..], 2), (b"\nbody", 1)] {
            let (head, n) = parse(output).unwrap();
            assert_eq!(head, Head::default());
            assert_eq!(n, consumed);
            assert_eq!(
                head.classify().unwrap(),
                Disposition::Response {
                    status: status(200, "OK"),
                    location: None,
                }
            );
        }
    }

    #[test]
    fn status_with_and_without_reason() {
        assert_eq!(
            head(b"Status: 404 Not Found\r\n\r\n").status,
            Some(status(404, "Not Found"))
        );
        // The script's own phrase is kept, even a non-standard one.
        assert_eq!(
            head(b"Status: 200   All good  \n\n").status,
            Some(status(200, "All good"))
        );
        assert_eq!(
            head(b"Status: 418\r\n\r\n").status,
            Some(status(418, "I'm a teapot"))
        );
        assert_eq!(
            head(b"status:503\n\n").status,
            Some(status(503, "Service Unavailable"))
        );
        // No registered phrase: the class name stands in.
        assert_eq!(
            head(b"Status: 299\n\n").status,
            Some(status(299, "Successful"))
        );
        assert_eq!(
            head(b"Status: 599\n\n").status,
            Some(status(599, "Server Error"))
        );
    }

    #[test]
    fn status_out_of_range_or_not_numeric_is_refused() {
        for value in [
            "99", "099", "600", "999", "abc", "", "2000", "200OK", "20", "-200",
        ] {
            let output = format!("Status: {value}\r\n\r\n");
            assert_eq!(
                parse(output.as_bytes()).unwrap_err(),
                OutputError::InvalidStatus {
                    value: value.to_owned()
                },
                "Status: {value}"
            );
        }
        let err = parse(b"Status: 600\n\n").unwrap_err();
        assert_eq!(err.to_string(), "invalid status line from script: 600");
    }

    #[test]
    fn duplicate_status_or_location_is_refused() {
        assert_eq!(
            parse(b"Status: 200\nStatus: 404\n\n").unwrap_err(),
            OutputError::Duplicate { name: "status" }
        );
        assert_eq!(
            parse(b"Location: /a\nlocation: /b\n\n").unwrap_err(),
            OutputError::Duplicate { name: "location" }
        );
    }

    #[test]
    fn local_path_without_status_is_a_local_redirect() {
        let redirect =
            head(b"Location: /other/page.html?x=1&y=2\r\nSet-Cookie: a=1\r\n\r\nignored");
        assert_eq!(
            redirect.classify().unwrap(),
            Disposition::LocalRedirect(PathAndQuery::from_static("/other/page.html?x=1&y=2"))
        );
        // The fragment means nothing to the server and is dropped.
        assert_eq!(
            head(b"Location: /a#top\n\n").classify().unwrap(),
            Disposition::LocalRedirect(PathAndQuery::from_static("/a"))
        );
    }

    #[test]
    fn absolute_uri_without_status_is_a_302() {
        for uri in [
            "http://example.com/x?y=1",
            "https://a.b",
            "ftp://h/f",
            "urn:isbn:123",
        ] {
            let output = format!("Location: {uri}\nContent-Type: text/plain\n\n");
            assert_eq!(
                head(output.as_bytes()).classify().unwrap(),
                Disposition::ClientRedirect {
                    location: HeaderValue::from_str(uri).unwrap()
                },
                "{uri}"
            );
        }
    }

    #[test]
    fn location_with_status_passes_through_as_printed() {
        // Relative references are fine here: php-cgi sends them for
        // `header("Location: other.php")`.
        for uri in ["other.php", "/x", "http://example.com/", "../up"] {
            let output = format!("Status: 301 Moved Permanently\nLocation: {uri}\n\n");
            assert_eq!(
                head(output.as_bytes()).classify().unwrap(),
                Disposition::Response {
                    status: status(301, "Moved Permanently"),
                    location: Some(HeaderValue::from_str(uri).unwrap()),
                },
                "{uri}"
            );
        }
    }

    #[test]
    fn location_that_is_neither_path_nor_absolute_uri_is_refused() {
        for value in [
            "other.php",
            "example.com/x",
            "://nohost",
            "1http://x",
            "http:",
            "http://a b",
            "/a b",
            "/caf\u{e9}",
        ] {
            let output = format!("Location: {value}\n\n");
            let err = head(output.as_bytes()).classify().unwrap_err();
            assert!(
                matches!(err, OutputError::BadLocation { .. }),
                "{value}: {err:?}"
            );
        }
        // Empty, with or without Status.
        for output in [&b"Location:\n\n"[..], b"Status: 302\nLocation: \n\n"] {
            assert_eq!(
                head(output).classify().unwrap_err(),
                OutputError::BadLocation {
                    value: String::new()
                }
            );
        }
    }

    #[test]
    fn redirect_body_links_to_the_escaped_location() {
        let location = HeaderValue::from_static("http://e.com/?a=1&b=\"<x>\"");
        let body = redirect_body(&location);
        let body = std::str::from_utf8(&body).unwrap();
        assert!(
            body.contains(r#"<a href="http://e.com/?a=1&amp;b=&quot;&lt;x&gt;&quot;">"#),
            "{body}"
        );
        assert!(body.contains("<title>302 Found</title>"));
        let high = HeaderValue::from_bytes(b"http://e.com/\xe9").unwrap();
        assert!(
            std::str::from_utf8(&redirect_body(&high))
                .unwrap()
                .contains("http://e.com/%E9")
        );
    }

    #[test]
    fn no_status_no_location_is_200_and_content_type_is_not_guessed() {
        let head = head(b"X-Script: 1\n\nhello");
        assert_eq!(
            head.classify().unwrap(),
            Disposition::Response {
                status: status(200, "OK"),
                location: None,
            }
        );
        assert!(
            head.headers
                .iter()
                .all(|(name, _)| name != http::header::CONTENT_TYPE)
        );
    }

    #[test]
    fn set_cookie_lines_stay_separate() {
        let head = head(b"Set-Cookie: a=1, b=2\r\nX: y\r\nset-cookie: c=3\r\n\r\n");
        assert_eq!(
            headers(&head),
            [
                ("set-cookie", &b"a=1, b=2"[..]),
                ("x", b"y"),
                ("set-cookie", b"c=3"),
            ]
        );
    }

    #[test]
    fn hop_by_hop_and_framing_headers_are_dropped() {
        let head = head(
            b"Connection: close\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\
              Content-Length: 999\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\n\
              Proxy-Connection: keep-alive\r\nCONTENT-LENGTH: 1\r\nX-Kept: yes\r\n\r\n",
        );
        assert_eq!(headers(&head), [("x-kept", &b"yes"[..])]);
        assert_eq!(head.status, None);
        assert_eq!(head.location, None);
    }

    #[test]
    fn values_are_trimmed_but_inner_whitespace_is_kept() {
        let head = head(b"X-A: \t a \t b \t\r\nX-B:\r\nX-C:    \n\n");
        assert_eq!(
            headers(&head),
            [("x-a", &b"a \t b"[..]), ("x-b", b""), ("x-c", b"")]
        );
    }

    #[test]
    fn control_characters_in_values_are_refused() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"X-A: one\rSet-Cookie: evil=1\r\n\r\n",
                "one\\rSet-Cookie: evil=1",
            ),
            (b"X-A: a\0b\n\n", "a\\x00b"),
            (b"X-A: a\x1bb\n\n", "a\\x1bb"),
            (b"X-A: a\x7fb\n\n", "a\\x7fb"),
            (b"Location: /a\rX: 1\n\n", "/a\\rX: 1"),
        ];
        for (output, quoted) in cases {
            let err = parse(output).unwrap_err();
            let name = if output.starts_with(b"Location") {
                "location"
            } else {
                "x-a"
            };
            assert_eq!(
                err,
                OutputError::BadValue {
                    name: name.to_owned(),
                    value: quoted.to_owned()
                }
            );
        }
        // Bytes from 0x80 up (obs-text, here UTF-8) are tolerated.
        assert_eq!(
            headers(&head(b"X-A: caf\xc3\xa9\n\n")),
            [("x-a", &b"caf\xc3\xa9"[..])]
        );
        // A bare CR at the end of a value is not a line ending.
        assert!(matches!(
            parse(b"X-A: a\r\r\n\r\n").unwrap_err(),
            OutputError::BadValue { .. }
        ));
    }

    #[test]
    fn names_that_are_not_tokens_are_refused() {
        for output in [
            &b"Bad Name: 1\n\n"[..],
            b"X-A : 1\n\n",
            b": no name\n\n",
            b"X\0A: 1\n\n",
            b"X\rA: 1\n\n",
            b"Caf\xc3\xa9: 1\n\n",
            b"(x): 1\n\n",
        ] {
            assert!(
                matches!(parse(output), Err(OutputError::BadName { .. })),
                "{output:?}"
            );
        }
        // The first colon splits, so a colon in the value is fine.
        assert_eq!(
            headers(&head(b"X-Time: 12:30:00\n\n")),
            [("x-time", &b"12:30:00"[..])]
        );
        // Every tchar is a name character.
        assert_eq!(
            headers(&head(b"!#$%&'*+-.^_`|~09Az: 1\n\n"))[0].0,
            "!#$%&'*+-.^_`|~09az"
        );
    }

    #[test]
    fn a_line_without_colon_is_malformed() {
        let err = parse(b"Content-Type: text/html\r\nHello, world!\r\n\r\n").unwrap_err();
        assert_eq!(
            err,
            OutputError::Malformed {
                line: "Hello, world!".to_owned()
            }
        );
        assert_eq!(
            err.to_string(),
            "malformed header from script: Bad header: Hello, world!"
        );
        // php-cgi's "Security Alert!" page has no headers at all.
        assert!(matches!(
            parse(b"<b>Security Alert!</b> The PHP CGI cannot be accessed directly.\n"),
            Err(OutputError::Malformed { .. })
        ));
    }

    #[test]
    fn continuation_lines_are_refused() {
        for output in [
            &b"X-A: 1\r\n continued\r\n\r\n"[..],
            b"X-A: 1\n\tcontinued\n\n",
        ] {
            assert!(matches!(
                parse(output),
                Err(OutputError::Continuation { .. })
            ));
        }
        // Whitespace-only is still a line, not the end of the head.
        assert!(matches!(
            parse(b"X-A: 1\n \nbody"),
            Err(OutputError::Continuation { .. })
        ));
    }

    #[test]
    fn error_quotes_are_escaped_and_truncated() {
        let mut line = b"\"quoted\" \\ \x01".to_vec();
        line.extend(std::iter::repeat_n(b'z', 200));
        line.extend(b"\n\n");
        let OutputError::Malformed { line: quoted } = parse(&line).unwrap_err() else {
            panic!("expected Malformed");
        };
        assert!(quoted.starts_with(r#"\"quoted\" \\ \x01zzz"#), "{quoted}");
        assert!(quoted.ends_with("z..."), "{quoted}");
        assert_eq!(quoted.matches('z').count(), LOG_EXCERPT_BYTES - 12);
    }

    #[test]
    fn line_limit() {
        let at_limit = |ending: &str| {
            format!("X: {}{ending}{ending}", "v".repeat(MAX_LINE_BYTES - 3)).into_bytes()
        };
        for ending in ["\n", "\r\n"] {
            let ok = at_limit(ending);
            assert_eq!(parse(&ok).unwrap().0.headers[0].1.len(), MAX_LINE_BYTES - 3);
            let mut over = ok.clone();
            over.insert(10, b'v');
            assert_eq!(parse_head(&over), Err(OutputError::LineTooLong));
            // Reported as soon as the line is too long, without its end.
            assert_eq!(
                parse_head(&over[..MAX_LINE_BYTES + 1]),
                Err(OutputError::LineTooLong)
            );
            for cut in MAX_LINE_BYTES - 2..over.len() {
                let prefix = parse_head(&over[..cut]);
                assert!(matches!(prefix, Ok(None) | Err(OutputError::LineTooLong)));
            }
        }
        // A full line of text followed by a CR that is not a line ending.
        let mut cr = format!("X: {}\r", "v".repeat(MAX_LINE_BYTES - 3)).into_bytes();
        assert_eq!(parse_head(&cr), Ok(None));
        cr.extend(b"x\n\n");
        assert_eq!(parse_head(&cr), Err(OutputError::LineTooLong));
    }

    #[test]
    fn block_limit() {
        // Lines of 100 bytes with CRLF, up to just under the limit, then the
        // empty line lands exactly on it.
        let line = format!("X-Pad: {}\r\n", "p".repeat(91));
        let mut ok = line.repeat(MAX_HEAD_BYTES / line.len()).into_bytes();
        let pad = MAX_HEAD_BYTES - ok.len() - 2 - "X: \r\n".len();
        ok.extend(format!("X: {}\r\n\r\n", "q".repeat(pad)).into_bytes());
        assert_eq!(ok.len(), MAX_HEAD_BYTES);
        ok.extend(b"body");
        let (_, consumed) = parse(&ok).unwrap();
        assert_eq!(consumed, MAX_HEAD_BYTES);

        // One byte more in the head and it is refused. Cut before the final
        // LF, the head could still end in time, so the parser waits.
        let mut over = ok.clone();
        over.insert(0, b'Y');
        assert_eq!(parse_head(&over), Err(OutputError::HeadTooLong));
        assert_eq!(parse_head(&over[..MAX_HEAD_BYTES]), Ok(None));
        // Endless short lines: refused at the byte that crosses the limit.
        let endless = line.repeat(2 * MAX_HEAD_BYTES / line.len()).into_bytes();
        assert_eq!(parse_head(&endless), Err(OutputError::HeadTooLong));
        for cut in MAX_HEAD_BYTES - 4..MAX_HEAD_BYTES + 4 {
            let prefix = parse_head(&endless[..cut]);
            assert!(matches!(prefix, Ok(None) | Err(OutputError::HeadTooLong)));
        }
    }

    #[test]
    fn limits_cut_anywhere_agree_when_both_are_crossed() {
        // Short lines up to 50 bytes before the block limit, then a line
        // twice too long: the block limit is crossed first, so every cut
        // must report that or wait.
        let short = format!("X-Pad: {}\n", "p".repeat(92));
        let mut output = Vec::new();
        while output.len() < MAX_HEAD_BYTES - 50 {
            output.extend(short.as_bytes());
        }
        output.extend(format!("X: {}\n\n", "a".repeat(2 * MAX_LINE_BYTES)).into_bytes());
        assert_eq!(parse_head(&output), Err(OutputError::HeadTooLong));
        for cut in MAX_HEAD_BYTES - 200..MAX_HEAD_BYTES + 200 {
            let prefix = parse_head(&output[..cut]);
            assert!(
                matches!(prefix, Ok(None) | Err(OutputError::HeadTooLong)),
                "cut at {cut}: {prefix:?}"
            );
        }

        // Both limits crossed at the same byte, and that byte is a CR that
        // might have been half of a CRLF: a cut just after the CR cannot
        // know the line is too long, but it can know the head is, and the
        // whole output says the same.
        let start = MAX_HEAD_BYTES - MAX_LINE_BYTES;
        let filler = format!("X: {}\n", "p".repeat(124));
        assert_eq!(start % filler.len(), 0);
        let mut tie = filler.repeat(start / filler.len()).into_bytes();
        tie.extend(b"X: ");
        tie.resize(start + MAX_LINE_BYTES, b'v');
        tie.extend(b"\rz\n\n");
        assert_eq!(tie[MAX_HEAD_BYTES], b'\r');
        assert_eq!(parse_head(&tie), Err(OutputError::HeadTooLong));
        for cut in MAX_HEAD_BYTES - 2..tie.len() {
            let prefix = parse_head(&tie[..cut]);
            assert!(
                matches!(prefix, Ok(None) | Err(OutputError::HeadTooLong)),
                "cut at {cut}: {prefix:?}"
            );
        }
    }

    #[test]
    fn eof_before_the_empty_line() {
        for output in [
            &b""[..],
            b"Content-Type: text/html\r\n",
            b"Content-Type: text/html\r\n\r",
            b"Content-Type: text/html",
            b"just text without newline",
        ] {
            assert_eq!(parse_head(output), Ok(None), "{output:?}");
            assert_eq!(parse(output), Err(OutputError::EndBeforeHeaders));
        }
        assert_eq!(
            OutputError::EndBeforeHeaders.to_string(),
            "End of script output before headers"
        );
        // An error already certain stays that error at EOF.
        assert!(matches!(
            parse(b"oops\nContent-Type: text/html\n"),
            Err(OutputError::Malformed { .. })
        ));
    }

    #[test]
    fn nph_is_a_file_name_prefix() {
        assert!(is_nph("nph-test.cgi"));
        assert!(is_nph("/srv/www/cgi-bin/nph-test.cgi"));
        assert!(!is_nph("test.cgi"));
        assert!(!is_nph("NPH-test.cgi"));
        assert!(!is_nph("/srv/nph-dir/test.cgi"));
        assert!(!is_nph("x-nph-test.cgi"));
        assert!(!is_nph("nph"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Every byte value in every position of a short line, plus the
        // delimiters around it: no input may panic the parser.
        for b in 0..=255u8 {
            for template in [
                &b"X: ?\n\n"[..],
                b"?: x\n\n",
                b"Status: 20?\n\n",
                b"?\r\n\r\n",
            ] {
                let output: Vec<u8> = template
                    .iter()
                    .map(|&t| if t == b'?' { b } else { t })
                    .collect();
                if let Ok((head, _)) = parse(&output) {
                    let _ = head.classify();
                }
                assert_split_invariant(&output);
            }
        }
    }
}
