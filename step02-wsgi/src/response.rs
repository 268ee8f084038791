//! Framing an application's response: who decides where the body ends.
//!
//! An application yields chunks without saying how many will come. The
//! server must still tell the client where the body ends, and it picks the
//! first of these that applies (PEP 3333 and RFC 9112 §6.3 agree):
//!
//! 1. no body at all for 1xx, 204 and 304 responses;
//! 2. the application's own `Content-Length`, if it gave one;
//! 3. `Content-Length` computed by the server, when the whole body is
//!    already known — the application returned a single chunk;
//! 4. `Transfer-Encoding: chunked` for an HTTP/1.1 client: each chunk is
//!    sent as it comes, prefixed by its size, and a zero-size chunk ends it;
//! 5. for an HTTP/1.0 client, which does not know chunked: no length at
//!    all, and the end of the body is the close of the connection.
//!
//! The server never holds back a chunk to learn the length (PEP 3333
//! forbids delaying a block), so a streaming application is streamed.

use std::io::{self, Write};
use std::time::SystemTime;

use step01_iterative::request::Version;
use step01_iterative::response::{Persistence, SERVER_NAME};

use crate::gateway::ResponseHead;

/// How the body of a response is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// The status forbids a body (1xx, 204, 304): none is sent.
    NoBody,
    /// `Content-Length: n`, then exactly n bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No length: the body ends when the connection closes (HTTP/1.0).
    CloseDelimited,
}

// ANCHOR: choose
/// Chooses the framing for `head`. `known_length` is the body's length if
/// the server already holds all of it.
///
/// # Errors
///
/// A message if the application's `Content-Length` is not a number.
pub fn choose_framing(
    head: &ResponseHead,
    known_length: Option<u64>,
    version: Version,
) -> Result<BodyFraming, String> {
    let code = head.status.as_u16();
    if (100..200).contains(&code) || code == 204 || code == 304 {
        return Ok(BodyFraming::NoBody);
    }
    if let Some(value) = head.header("content-length") {
        let length = value
            .trim()
            .parse()
            .map_err(|_| format!("the application sent Content-Length {value:?}"))?;
        return Ok(BodyFraming::Length(length));
    }
    Ok(match (known_length, version) {
        (Some(length), _) => BodyFraming::Length(length),
        (None, Version::Http11) => BodyFraming::Chunked,
        (None, Version::Http10) => BodyFraming::CloseDelimited,
    })
}
// ANCHOR_END: choose

/// Writes the status line and headers: ours (`Date`, `Server`, unless the
/// application set them), the application's, the framing header, and
/// `Connection` header for `persistence` (this chapter always closes;
/// chapter 5 keeps connections open).
///
/// # Errors
///
/// The socket's write error.
pub fn write_head<W: Write>(
    out: &mut W,
    head: &ResponseHead,
    framing: BodyFraming,
    persistence: Persistence,
) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(512);
    write!(
        bytes,
        "HTTP/1.1 {} {}\r\n",
        head.status.as_str(),
        head.reason
    )?;
    if head.header("date").is_none() {
        write!(
            bytes,
            "Date: {}\r\n",
            httpdate::fmt_http_date(SystemTime::now())
        )?;
    }
    if head.header("server").is_none() {
        write!(bytes, "Server: {SERVER_NAME}\r\n")?;
    }
    for (name, value) in &head.headers {
        // A body-less status must not carry a length (RFC 9110 §8.6).
        if framing == BodyFraming::NoBody && name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        write!(bytes, "{name}: {value}\r\n")?;
    }
    match framing {
        BodyFraming::Length(n) if head.header("content-length").is_none() => {
            write!(bytes, "Content-Length: {n}\r\n")?;
        }
        BodyFraming::Chunked => bytes.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        _ => {}
    }
    bytes.extend_from_slice(persistence.header_line());
    bytes.extend_from_slice(b"\r\n");
    out.write_all(&bytes)
}

/// A body that went wrong on the way out.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The socket failed (usually: the client went away).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The application sent more bytes than its Content-Length; the extra
    /// bytes were not sent.
    #[error("the application sent more than its Content-Length of {0}")]
    TooLong(u64),
    /// The application sent fewer bytes than its Content-Length.
    #[error("the application sent {sent} bytes of its Content-Length of {declared}")]
    TooShort {
        /// Bytes sent.
        sent: u64,
        /// Bytes declared.
        declared: u64,
    },
}

// ANCHOR: body_writer
/// Writes body chunks in the chosen framing.
#[derive(Debug)]
pub struct BodyWriter<W> {
    out: W,
    framing: BodyFraming,
    /// Body bytes written so far (before chunk framing).
    written: u64,
    /// HEAD: count the bytes, send nothing.
    head_only: bool,
}

impl<W: Write> BodyWriter<W> {
    /// A writer for a body in `framing`; with `head_only`, nothing is sent.
    pub fn new(out: W, framing: BodyFraming, head_only: bool) -> Self {
        BodyWriter {
            out,
            framing,
            written: 0,
            head_only,
        }
    }

    /// Sends one chunk.
    ///
    /// # Errors
    ///
    /// The socket's error, or [`BodyError::TooLong`] (after sending what
    /// still fitted) when the application overruns its Content-Length.
    pub fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        // An empty chunk would end a chunked body early ("0\r\n\r\n").
        if chunk.is_empty() || self.framing == BodyFraming::NoBody {
            return Ok(());
        }
        let mut chunk = chunk;
        let mut overrun = None;
        if let BodyFraming::Length(declared) = self.framing {
            let room = declared.saturating_sub(self.written);
            if chunk.len() as u64 > room {
                chunk = &chunk[..room as usize];
                overrun = Some(declared);
            }
        }
        self.written += chunk.len() as u64;
        if !self.head_only && !chunk.is_empty() {
            if self.framing == BodyFraming::Chunked {
                write!(self.out, "{:x}\r\n", chunk.len())?;
                self.out.write_all(chunk)?;
                self.out.write_all(b"\r\n")?;
            } else {
                self.out.write_all(chunk)?;
            }
        }
        match overrun {
            Some(declared) => Err(BodyError::TooLong(declared)),
            None => Ok(()),
        }
    }

    /// Body bytes written so far (counted, not sent, for HEAD).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Ends the body: the last chunk for chunked framing, a check that the
    /// declared length was met for `Content-Length`.
    ///
    /// # Errors
    ///
    /// The socket's error, or [`BodyError::TooShort`].
    pub fn finish(mut self) -> Result<u64, BodyError> {
        match self.framing {
            BodyFraming::Chunked if !self.head_only => self.out.write_all(b"0\r\n\r\n")?,
            BodyFraming::Length(declared) if self.written < declared && !self.head_only => {
                return Err(BodyError::TooShort {
                    sent: self.written,
                    declared,
                });
            }
            _ => {}
        }
        self.out.flush()?;
        Ok(self.written)
    }
}
// ANCHOR_END: body_writer

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn head(status: StatusCode, headers: &[(&str, &str)]) -> ResponseHead {
        ResponseHead {
            status,
            reason: status.canonical_reason().unwrap_or("").into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn framing_rules_in_order() {
        let plain = head(StatusCode::OK, &[]);
        let v11 = Version::Http11;
        assert_eq!(
            choose_framing(&head(StatusCode::NO_CONTENT, &[]), Some(3), v11),
            Ok(BodyFraming::NoBody)
        );
        assert_eq!(
            choose_framing(&head(StatusCode::NOT_MODIFIED, &[]), None, v11),
            Ok(BodyFraming::NoBody)
        );
        let declared = head(StatusCode::OK, &[("Content-Length", "10")]);
        assert_eq!(
            choose_framing(&declared, Some(3), v11),
            Ok(BodyFraming::Length(10))
        );
        assert_eq!(
            choose_framing(&plain, Some(3), v11),
            Ok(BodyFraming::Length(3))
        );
        assert_eq!(choose_framing(&plain, None, v11), Ok(BodyFraming::Chunked));
        assert_eq!(
            choose_framing(&plain, None, Version::Http10),
            Ok(BodyFraming::CloseDelimited)
        );
        let bogus = head(StatusCode::OK, &[("Content-Length", "ten")]);
        assert!(choose_framing(&bogus, None, v11).is_err());
    }

    fn written(framing: BodyFraming, chunks: &[&[u8]]) -> (Vec<u8>, Result<u64, BodyError>) {
        let mut out = Vec::new();
        let mut writer = BodyWriter::new(&mut out, framing, false);
        let mut failed = None;
        for chunk in chunks {
            if let Err(e) = writer.write_chunk(chunk) {
                failed = Some(e);
            }
        }
        let result = match failed {
            Some(e) => Err(e),
            None => writer.finish(),
        };
        (out, result)
    }

    #[test]
    fn chunked_bodies_skip_empty_chunks_and_end_with_zero() {
        let (bytes, result) = written(BodyFraming::Chunked, &[b"hello", b"", b" world!"]);
        assert_eq!(bytes, b"5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n");
        assert_eq!(result.unwrap(), 12);
    }

    #[test]
    fn content_length_is_enforced_both_ways() {
        let (bytes, result) = written(BodyFraming::Length(4), &[b"abc", b"def"]);
        assert_eq!(bytes, b"abcd");
        assert!(matches!(result, Err(BodyError::TooLong(4))));
        let (_, result) = written(BodyFraming::Length(4), &[b"ab"]);
        assert!(matches!(
            result,
            Err(BodyError::TooShort {
                sent: 2,
                declared: 4
            })
        ));
    }

    #[test]
    fn head_lines() {
        let mut out = Vec::new();
        let h = head(StatusCode::OK, &[("Content-Type", "text/plain")]);
        write_head(&mut out, &h, BodyFraming::Chunked, Persistence::Close).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nDate: "));
        assert!(text.ends_with(
            "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ));
        let mut out = Vec::new();
        let h = head(StatusCode::NOT_MODIFIED, &[("Content-Length", "5")]);
        write_head(&mut out, &h, BodyFraming::NoBody, Persistence::Close).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("Content-Length"));
    }
}
