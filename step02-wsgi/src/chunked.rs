//! Chunked request bodies: decoding `Transfer-Encoding: chunked`.
//!
//! A client that does not know its body's length in advance sends it in
//! chunks, each prefixed by its size in hex, ending with a zero-size chunk:
//!
//! ```text
//! 5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n
//! ```
//!
//! Applications want the body, not the chunks, and CGI/1.1 requires a
//! `CONTENT_LENGTH`, so the server de-chunks the whole body first, up to the
//! same limit as any body (413 beyond it). [`Decoder`] is a small state
//! machine fed whatever bytes have arrived; like chapter 1's parser it never
//! touches a socket, so tests can split the input at every byte.

use http::StatusCode;
use step01_iterative::HttpError;

/// The longest chunk-size line (size, extensions, CRLF) we accept.
/// Extensions are allowed but ignored; a kilobyte of them is already absurd.
pub const MAX_SIZE_LINE: usize = 1024;

/// The most trailer bytes we read (and drop) after the last chunk.
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Where the decoder is in the chunked stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line; holds the bytes of the line seen so far.
    Size,
    /// Inside a chunk's data, with this many bytes still to come.
    Data(u64),
    /// After a chunk's data: expecting CR LF.
    DataEnd,
    /// After the last chunk: reading trailer lines until an empty one.
    Trailers,
    /// The body is complete.
    Done,
}

// ANCHOR: decoder
/// Decodes a chunked body incrementally.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    /// The current line (a size line or a trailer line), until its LF.
    line: Vec<u8>,
    /// Trailer bytes seen so far, to bound them.
    trailer_bytes: usize,
    /// The decoded body so far.
    body: Vec<u8>,
    /// The largest body accepted (413 beyond it).
    limit: u64,
}

impl Decoder {
    /// A decoder that refuses bodies larger than `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Decoder {
            state: State::Size,
            line: Vec::new(),
            trailer_bytes: 0,
            body: Vec::new(),
            limit,
        }
    }

    /// Consumes bytes from `input`; returns how many were used. Once the
    /// body is complete ([`is_done`](Self::is_done)), the rest of `input`
    /// (a pipelined request) is left unused.
    ///
    /// # Errors
    ///
    /// 400 for a malformed chunk size or missing CRLF, 413 when the body
    /// grows past the limit, 431 for oversized trailers.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, HttpError> {
        let mut used = 0;
        while used < input.len() && self.state != State::Done {
            match self.state {
                State::Size | State::Trailers | State::DataEnd => {
                    let byte = input[used];
                    used += 1;
                    self.line.push(byte);
                    if byte == b'\n' {
                        self.end_of_line()?;
                    } else {
                        self.check_line_length()?;
                    }
                }
                State::Data(remaining) => {
                    let available = (input.len() - used) as u64;
                    let take = remaining.min(available) as usize;
                    self.body.extend_from_slice(&input[used..used + take]);
                    used += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::Done => {}
            }
        }
        Ok(used)
    }
    // ANCHOR_END: decoder

    /// Whether the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The decoded body.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    fn check_line_length(&mut self) -> Result<(), HttpError> {
        match self.state {
            State::Size if self.line.len() > MAX_SIZE_LINE => {
                Err(HttpError::bad_request("chunk-size line too long"))
            }
            State::DataEnd if self.line.len() > 2 => {
                Err(HttpError::bad_request("chunk data not followed by CRLF"))
            }
            State::Trailers => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err(HttpError::new(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "chunked trailers larger than 8 KiB",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn end_of_line(&mut self) -> Result<(), HttpError> {
        let line = std::mem::take(&mut self.line);
        let text = line.trim_ascii_end();
        match self.state {
            State::Size => {
                let size = parse_size(text)?;
                if self.body.len() as u64 + size > self.limit {
                    return Err(HttpError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "chunked request body larger than the limit",
                    ));
                }
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::Data(size)
                };
            }
            State::DataEnd => {
                if !text.is_empty() {
                    return Err(HttpError::bad_request("chunk data not followed by CRLF"));
                }
                self.state = State::Size;
            }
            // Trailer fields are read and dropped; an empty line ends them.
            State::Trailers if text.is_empty() => self.state = State::Done,
            _ => {}
        }
        Ok(())
    }
}

/// `1a;name=value` → 26. Hex digits only, at most 15 of them (no overflow).
fn parse_size(line: &[u8]) -> Result<u64, HttpError> {
    let bad = || HttpError::bad_request("malformed chunk size");
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";

    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), HttpError> {
        let mut decoder = Decoder::new(1024);
        let mut used = 0;
        for piece in input.chunks(step) {
            used += decoder.feed(piece)?;
            if decoder.is_done() {
                break;
            }
        }
        assert!(decoder.is_done(), "not done after all input");
        Ok((decoder.into_body(), used))
    }

    #[test]
    fn decodes_whole_and_split_at_every_size() {
        for step in 1..=BODY.len() {
            let (body, used) = decode_all(BODY, step).unwrap();
            assert_eq!(body, b"hello world", "step {step}");
            assert_eq!(&BODY[used..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn accepts_bare_lf_and_an_empty_body() {
        assert_eq!(decode_all(b"3\nabc\n0\n\n", 64).unwrap().0, b"abc");
        assert_eq!(decode_all(b"0\r\n\r\n", 64).unwrap().0, b"");
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [
            &b"z\r\n"[..],
            b"\r\n",
            b"-1\r\n",
            b"3\r\nabcX\r\n",
            b"ffffffffffffffffff\r\n",
        ] {
            let err = Decoder::new(1024).feed(bad).unwrap_err();
            assert_eq!(err.status, 400, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn enforces_the_limit() {
        let mut decoder = Decoder::new(4);
        let err = decoder.feed(b"3\r\nabc\r\n2\r\n").unwrap_err();
        assert_eq!(err.status, 413);
    }

    #[test]
    fn bounds_size_lines_and_trailers() {
        let long_line = vec![b'1'; MAX_SIZE_LINE + 2];
        assert_eq!(Decoder::new(1024).feed(&long_line).unwrap_err().status, 400);
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(std::iter::repeat_n(b'x', MAX_TRAILER_BYTES + 1));
        assert_eq!(Decoder::new(1024).feed(&trailers).unwrap_err().status, 431);
    }
}
