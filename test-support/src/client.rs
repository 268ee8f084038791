//! A raw HTTP client: send exact bytes, parse exactly what comes back.
//!
//! Tests must see what is really on the wire — header order, the reason
//! phrase, whether the body was chunked — so this client hides nothing: it
//! writes the bytes it is given and parses the response by the rules of
//! RFC 9112 §6.3 (no body for HEAD, 1xx, 204 and 304; chunked; Content-Length;
//! otherwise until the server closes).

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a read may wait before the test fails instead of hanging.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The version in the status line, e.g. `HTTP/1.1`.
    pub version: String,
    /// The status code.
    pub status: u16,
    /// The reason phrase, possibly empty.
    pub reason: String,
    /// Header fields in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked.
    pub body: Vec<u8>,
    /// Whether the body was sent with chunked transfer coding.
    pub chunked: bool,
    /// The status line and headers exactly as received.
    pub head: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection, for sending several requests or reading several
/// responses (keep-alive, pipelining).
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects to `addr` with [`DEFAULT_READ_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// The connect error.
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(DEFAULT_READ_TIMEOUT))?;
        Ok(Client {
            reader: BufReader::new(stream),
        })
    }

    /// Wraps an already connected stream, with `timeout` for reads.
    ///
    /// # Errors
    ///
    /// The socket option error.
    pub fn from_stream(stream: TcpStream, timeout: Duration) -> io::Result<Client> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Client {
            reader: BufReader::new(stream),
        })
    }

    /// Changes how long reads wait before failing with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// The socket option error.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.reader.get_ref().set_read_timeout(Some(timeout))
    }

    /// Writes `bytes` as they are.
    ///
    /// # Errors
    ///
    /// The write error.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Another handle on the same socket (to read raw bytes past the
    /// parser, or from another thread).
    ///
    /// # Errors
    ///
    /// The `dup` error.
    pub fn try_clone_stream(&self) -> io::Result<TcpStream> {
        self.reader.get_ref().try_clone()
    }

    /// Closes the sending half: the server sees end-of-file.
    ///
    /// # Errors
    ///
    /// The shutdown error.
    pub fn finish_sending(&self) -> io::Result<()> {
        self.reader.get_ref().shutdown(std::net::Shutdown::Write)
    }

    /// Reads one response; `head_request` says the request was HEAD (so no
    /// body follows whatever the headers say). Interim 1xx responses
    /// (`100 Continue`) are skipped.
    ///
    /// # Errors
    ///
    /// I/O errors, a timeout (`WouldBlock`), or `InvalidData` for a response
    /// that is not valid HTTP/1.x.
    pub fn read_response(&mut self, head_request: bool) -> io::Result<RawResponse> {
        read_response(&mut self.reader, head_request)
    }

    /// Reads until the server closes the connection; returns the bytes.
    ///
    /// # Errors
    ///
    /// I/O errors, including a timeout if the server never closes.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.reader.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Whether the server has closed: a read returns end-of-file within
    /// `timeout` (any bytes still unread are discarded).
    pub fn sees_eof_within(&mut self, timeout: Duration) -> bool {
        if self.set_read_timeout(timeout).is_err() {
            return false;
        }
        let mut sink = [0u8; 4096];
        loop {
            match self.reader.read(&mut sink) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return e.kind() == ErrorKind::ConnectionReset,
            }
        }
    }
}

/// Connects, sends `bytes`, and reads one response.
///
/// # Errors
///
/// See [`Client::read_response`].
pub fn send(addr: SocketAddr, bytes: &[u8]) -> io::Result<RawResponse> {
    let mut client = Client::connect(addr)?;
    client.send(bytes)?;
    let head = bytes.starts_with(b"HEAD ");
    client.read_response(head)
}

/// `GET path` over HTTP/1.1 with `Connection: close`.
///
/// # Errors
///
/// See [`Client::read_response`].
pub fn get(addr: SocketAddr, path: &str) -> io::Result<RawResponse> {
    send(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Parses one response from `reader`.
///
/// # Errors
///
/// See [`Client::read_response`].
pub fn read_response<R: BufRead>(reader: &mut R, head_request: bool) -> io::Result<RawResponse> {
    loop {
        let response = read_one(reader, head_request)?;
        if !(100..200).contains(&response.status) || response.status == 101 {
            return Ok(response);
        }
    }
}

fn read_one<R: BufRead>(reader: &mut R, head_request: bool) -> io::Result<RawResponse> {
    let mut head = Vec::new();
    let status_line = read_line(reader, &mut head)?;
    if status_line.is_empty() {
        return Err(invalid("connection closed before a response"));
    }
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_owned();
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(&format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_owned();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(&format!("bad status line {status_line:?}")));
    }

    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut head)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(&format!("header line without ':' {line:?}")))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut response = RawResponse {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        chunked: false,
        head,
    };
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        response.chunked = true;
        response.body = read_chunked(reader)?;
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(&format!("bad Content-Length {length:?}")))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        response.body = body;
    } else {
        reader.read_to_end(&mut response.body)?;
    }
    Ok(response)
}

/// Reads a line ending in LF; returns it without CRLF, appending the raw
/// bytes to `raw`. End of stream gives an empty string.
fn read_line<R: BufRead>(reader: &mut R, raw: &mut Vec<u8>) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    raw.extend_from_slice(&line);
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("response head is not UTF-8"))
}

fn read_chunked<R: BufRead>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut scratch = Vec::new();
    loop {
        let size_line = read_line(reader, &mut scratch)?;
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(&format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(reader, &mut scratch)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader, &mut scratch)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], head: bool) -> RawResponse {
        read_response(&mut &bytes[..], head).unwrap()
    }

    #[test]
    fn content_length_body() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 2\r\n\r\nhiEXTRA",
            false,
        );
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
        assert_eq!(r.headers[0], ("A".to_owned(), "1".to_owned()));
        assert_eq!(r.body, b"hi");
    }

    #[test]
    fn chunked_body() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nT: 1\r\n\r\n",
            false,
        );
        assert!(r.chunked);
        assert_eq!(r.body, b"abcd");
    }

    #[test]
    fn close_delimited_body_and_interim_responses() {
        let r = parse(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nall of it",
            false,
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"all of it");
    }

    #[test]
    fn head_and_304_have_no_body() {
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
                .body
                .is_empty()
        );
        assert!(
            parse(
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
                false
            )
            .body
            .is_empty()
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(read_response(&mut &b"SSH-2.0\r\n\r\n"[..], false).is_err());
        assert!(read_response(&mut &b""[..], false).is_err());
    }
}
