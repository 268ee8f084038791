//! The connection: reading whole requests from a byte stream, and the life of
//! one client from accept to close.
//!
//! TCP delivers a stream of bytes, not messages: one `read` may return half a
//! request line, or a request and a half. So [`Connection`] keeps a buffer,
//! asks the parser whether the bytes so far make a complete head, and reads
//! more until they do — never trusting a single fixed-size read, the mistake
//! the classic tutorials make. The body is then read by `Content-Length`.
//! [`Connection`] is generic over `Read + Write`, so tests drive it with
//! in-memory streams that deliver one byte at a time.
//!
//! [`serve_connection`] is one client's whole life in this chapter: read one
//! request, hand it to the handler, write the response, close.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::error::{Error, HttpError, Result};
use crate::request::{self, Framing, Request, Version};
use crate::response::Response;

// ANCHOR: timeouts
/// The largest request body this step accepts (413 beyond it). Bodies are
/// held in memory here, so the limit is also a memory bound per connection.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// How long a single `read` may wait for bytes before the client is
/// considered gone. Without it one silent client would block this
/// one-at-a-time server forever.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a whole request may take to arrive (408 beyond it). The
/// per-read timeout alone would let a client send one byte every 9 seconds
/// and hold the server for ever (the "slowloris" attack).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// After the response, how long we keep reading (and discarding) what the
/// client still sends before closing. See [`linger_and_close`].
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
// ANCHOR_END: timeouts

/// How many bytes each `read` asks the kernel for.
const READ_CHUNK: usize = 4096;

/// A byte stream plus the bytes read from it but not yet used.
#[derive(Debug)]
pub struct Connection<S> {
    /// The socket (or, in tests, anything that reads and writes).
    stream: S,
    /// Bytes received and not yet consumed: part of a head, a body, or the
    /// start of a pipelined next request.
    buffer: Vec<u8>,
    /// The request line of the request being read, as received, for the
    /// log — also when the request was refused ("GARBAGE" is logged too).
    request_line: String,
}

impl<S: Read + Write> Connection<S> {
    /// Wraps a stream with an empty buffer.
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            buffer: Vec::with_capacity(READ_CHUNK),
            request_line: String::new(),
        }
    }

    // ANCHOR: read_request
    /// Reads one complete request, head and body.
    ///
    /// Returns `Ok(None)` when the peer closed the connection before sending
    /// anything: that is how a client says goodbye, not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Http`] when the request must be refused with a status (the
    /// parser's errors, 408 on timeout, 411 for a chunked body, 413 for a
    /// body over [`MAX_BODY_BYTES`]); [`Error::Io`] when the socket fails.
    pub fn read_request(&mut self) -> Result<Option<Request>> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let Some(mut request) = self.read_head(deadline)? else {
            return Ok(None);
        };
        // Decide how long the body is before reading any of it.
        let length = match request.framing {
            Framing::None => 0,
            Framing::Length(n) => check_body_length(n)?,
            // Chunked bodies arrive in chapter 2, where applications need them.
            Framing::Chunked => {
                return Err(HttpError::new(
                    StatusCode::LENGTH_REQUIRED,
                    "chunked request bodies are not supported by this step; send Content-Length",
                )
                .into());
            }
        };
        self.answer_expect(&request, length)?;
        request.body = self.read_exact_body(length, deadline)?;
        Ok(Some(request))
    }
    // ANCHOR_END: read_request

    // ANCHOR: read_head
    /// Reads until the buffer holds a complete request head, parses it, and
    /// removes it from the buffer; body bytes that came along stay there.
    ///
    /// Returns `Ok(None)` when the peer closed before sending anything.
    ///
    /// # Errors
    ///
    /// The parser's refusals, 400 when the peer closes mid-head, 408 after
    /// `deadline`, and socket errors.
    pub fn read_head(&mut self, deadline: Instant) -> Result<Option<Request>> {
        let (request, head_len) = loop {
            self.request_line = first_line(&self.buffer);
            if let Some(parsed) = request::parse_head(&self.buffer)? {
                break parsed;
            }
            if self.fill(deadline)? == 0 {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                return Err(HttpError::bad_request("connection closed mid-request").into());
            }
        };
        self.buffer.drain(..head_len);
        self.request_line = request.request_line();
        Ok(Some(request))
    }
    // ANCHOR_END: read_head

    /// Reads until `length` body bytes are buffered, then takes them.
    ///
    /// # Errors
    ///
    /// 400 when the peer closes inside the body, 408 after `deadline`, and
    /// socket errors.
    pub fn read_exact_body(&mut self, length: usize, deadline: Instant) -> Result<Vec<u8>> {
        while self.buffer.len() < length {
            if self.fill(deadline)? == 0 {
                return Err(HttpError::bad_request("connection closed inside the body").into());
            }
        }
        Ok(self.buffer.drain(..length).collect())
    }

    /// `Expect: 100-continue` asks "shall I send the body?" before sending
    /// it (RFC 9110 §10.1.1). Say yes, or 417 for an expectation we do not
    /// know. HTTP/1.0 clients cannot expect anything, so they are ignored.
    /// `length` is the declared body length: when all of it is already
    /// buffered, the client did not wait, and no `100 Continue` is sent.
    ///
    /// # Errors
    ///
    /// 417 for an unknown expectation; the socket's write error.
    pub fn answer_expect(&mut self, request: &Request, length: usize) -> Result<()> {
        let Some(expect) = request.header("expect") else {
            return Ok(());
        };
        if request.version == Version::Http10 {
            return Ok(());
        }
        if !expect.eq_ignore_ascii_case(b"100-continue") {
            return Err(HttpError::new(
                StatusCode::EXPECTATION_FAILED,
                "the only expectation understood is 100-continue",
            )
            .into());
        }
        if length > self.buffer.len() {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            self.stream.flush()?;
        }
        Ok(())
    }

    /// The bytes received but not consumed yet.
    pub fn buffer(&self) -> &[u8] {
        &self.buffer
    }

    /// Removes and returns the first `n` buffered bytes (fewer if fewer
    /// are buffered).
    pub fn consume(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buffer.len());
        self.buffer.drain(..n).collect()
    }

    /// Reads once more into the buffer; returns how many bytes came (0 at
    /// end of stream).
    ///
    /// # Errors
    ///
    /// 408 when `deadline` has passed or the socket's read timeout fires;
    /// other socket errors as they are.
    pub fn fill(&mut self, deadline: Instant) -> Result<usize> {
        if Instant::now() >= deadline {
            return Err(request_timeout());
        }
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                // A signal interrupted the read before any byte came: retry.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // The socket's read timeout fired (Linux reports WouldBlock).
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(request_timeout());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes a response; `HEAD` requests get the head only.
    ///
    /// # Errors
    ///
    /// The socket's write error, if the client has gone.
    pub fn write_response(&mut self, response: &Response, head_only: bool) -> io::Result<()> {
        response.write_to(&mut self.stream, head_only)
    }

    /// The request line of the last request read or refused, as received
    /// (at most [`LOGGED_LINE_CHARS`] characters), or `""` if none arrived.
    pub fn request_line(&self) -> &str {
        &self.request_line
    }

    /// The stream itself, for writing a response in another way (chapter 2
    /// streams application bodies through it).
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Gives back the stream (to close it properly).
    pub fn into_inner(self) -> S {
        self.stream
    }
}

/// How much of a refused request line the log keeps.
pub const LOGGED_LINE_CHARS: usize = 200;

/// The first line of `buffer` (without its line ending), cut short for logs.
fn first_line(buffer: &[u8]) -> String {
    let end = buffer
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end])
        .chars()
        .take(LOGGED_LINE_CHARS)
        .collect()
}

/// Checks a declared body length against [`MAX_BODY_BYTES`].
///
/// # Errors
///
/// 413 when the body is larger than the limit.
pub fn check_body_length(length: u64) -> Result<usize> {
    if length > MAX_BODY_BYTES {
        return Err(HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body larger than 1 MiB",
        )
        .into());
    }
    // Fits: the limit is far below usize::MAX.
    Ok(length as usize)
}

fn request_timeout() -> Error {
    HttpError::new(
        StatusCode::REQUEST_TIMEOUT,
        "the request took too long to arrive",
    )
    .into()
}

// ANCHOR: serve_connection
/// Serves one client: reads a request, answers it, and closes.
///
/// Every outcome ends in a response or a logged close: a refused request is
/// answered with its error page, a handler's answer is written, a broken
/// socket is only logged. Nothing here can take the server down.
pub fn serve_connection<H>(stream: TcpStream, peer: SocketAddr, handler: &H)
where
    H: Fn(&Request) -> Response,
{
    if let Err(e) = stream.set_read_timeout(Some(READ_TIMEOUT)) {
        tracing::warn!(%peer, "cannot set read timeout: {e}");
    }
    let mut connection = Connection::new(stream);
    let outcome = match connection.read_request() {
        Ok(Some(request)) => {
            let response = handler(&request);
            let head_only = request.method == "HEAD";
            log_access(peer, &request.request_line(), &response, head_only);
            connection.write_response(&response, head_only)
        }
        // The client connected and left without a word (a port scan, a
        // browser's speculative connection): nothing to answer.
        Ok(None) => Ok(()),
        Err(Error::Http(error)) => {
            let response = Response::error(&error);
            tracing::info!(%peer, "refused: {error}");
            let line = connection.request_line().to_owned();
            log_access(
                peer,
                if line.is_empty() { "-" } else { &line },
                &response,
                false,
            );
            connection.write_response(&response, false)
        }
        Err(Error::Io(e)) => Err(e),
    };
    if let Err(e) = outcome {
        tracing::debug!(%peer, "connection failed: {e}");
    }
    linger_and_close(connection.into_inner());
}
// ANCHOR_END: serve_connection

/// One line per request, in the spirit of a web server's access log.
fn log_access(peer: SocketAddr, request_line: &str, response: &Response, head_only: bool) {
    let bytes = if head_only { 0 } else { response.body.len() };
    tracing::info!(
        "{} \"{}\" {} {}",
        peer.ip(),
        request_line.escape_debug(),
        response.status.as_u16(),
        bytes
    );
}

// ANCHOR: linger
/// Closes a connection without destroying the response we just sent.
///
/// If we close a socket while unread bytes from the client sit in its
/// receive buffer (say, the body of a request we refused with 413), the
/// kernel answers with a TCP reset, and a reset can make the client discard
/// the response it has not read yet. So we first send our FIN (`shutdown`
/// of the write half: "nothing more from us"), then read and discard until
/// the client closes too, bounded in time and bytes. Apache calls this a
/// "lingering close".
pub fn linger_and_close(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER_TIMEOUT));
    let deadline = Instant::now() + LINGER_TIMEOUT;
    let mut discarded = 0u64;
    let mut chunk = [0u8; READ_CHUNK];
    while Instant::now() < deadline && discarded < MAX_BODY_BYTES {
        match (&stream).read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n as u64,
        }
    }
    // Dropping the stream closes the descriptor.
}
// ANCHOR_END: linger

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory stream that hands out its input `step` bytes per read.
    struct Trickle {
        input: Vec<u8>,
        position: usize,
        step: usize,
        output: Vec<u8>,
    }

    impl Trickle {
        fn new(input: &[u8], step: usize) -> Self {
            Trickle {
                input: input.to_vec(),
                position: 0,
                step,
                output: Vec::new(),
            }
        }
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let end = (self.position + self.step.min(buf.len())).min(self.input.len());
            let n = end - self.position;
            buf[..n].copy_from_slice(&self.input[self.position..end]);
            self.position = end;
            Ok(n)
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const POST: &[u8] = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world";

    #[test]
    fn reads_a_request_delivered_one_byte_at_a_time() {
        let mut connection = Connection::new(Trickle::new(POST, 1));
        let request = connection.read_request().unwrap().unwrap();
        assert_eq!(request.target, "/echo");
        assert_eq!(request.body, b"hello world");
        // Then the peer closes: no more requests.
        assert!(connection.read_request().unwrap().is_none());
    }

    #[test]
    fn leaves_pipelined_bytes_in_the_buffer() {
        let mut bytes = POST.to_vec();
        bytes.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut connection = Connection::new(Trickle::new(&bytes, 7));
        assert_eq!(
            connection.read_request().unwrap().unwrap().body,
            b"hello world"
        );
        assert_eq!(connection.read_request().unwrap().unwrap().target, "/next");
    }

    fn refusal(bytes: &[u8]) -> u16 {
        match Connection::new(Trickle::new(bytes, 64)).read_request() {
            Err(Error::Http(e)) => e.status.as_u16(),
            other => panic!("expected an HTTP error, got {other:?}"),
        }
    }

    #[test]
    fn refuses_what_this_step_does_not_support() {
        assert_eq!(
            refusal(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            411
        );
        let too_big = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(refusal(too_big.as_bytes()), 413);
        assert_eq!(refusal(b"GET / HTTP/1.1\r\nHost: x\r\n"), 400);
        let mut garbage = Connection::new(Trickle::new(b"GARBAGE\r\n\r\n", 64));
        assert!(garbage.read_request().is_err());
        assert_eq!(garbage.request_line(), "GARBAGE");
        assert_eq!(
            refusal(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nshort"),
            400
        );
        assert_eq!(
            refusal(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: tea\r\nContent-Length: 1\r\n\r\nx"),
            417
        );
    }

    /// A client that sends half a request and then goes quiet: the socket's
    /// read timeout surfaces as `WouldBlock`.
    struct Silent(Vec<u8>, bool);

    impl Read for Silent {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if std::mem::replace(&mut self.1, true) {
                return Err(io::Error::from(ErrorKind::WouldBlock));
            }
            buf[..self.0.len()].copy_from_slice(&self.0);
            Ok(self.0.len())
        }
    }

    impl Write for Silent {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_silent_client_gets_408() {
        let mut connection = Connection::new(Silent(b"GET / HTTP/1.1\r\n".to_vec(), false));
        match connection.read_request() {
            Err(Error::Http(e)) => assert_eq!(e.status, StatusCode::REQUEST_TIMEOUT),
            other => panic!("expected 408, got {other:?}"),
        }
    }

    #[test]
    fn answers_100_continue_before_reading_the_body() {
        let bytes =
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi";
        // Deliver the head alone first, as a client waiting for 100 would.
        let mut connection = Connection::new(Trickle::new(bytes, bytes.len() - 2));
        let request = connection.read_request().unwrap().unwrap();
        assert_eq!(request.body, b"hi");
        assert_eq!(
            connection.into_inner().output,
            b"HTTP/1.1 100 Continue\r\n\r\n"
        );
    }
}
