//! A connection's socket, corked for its last response.
//!
//! When a client wants one request per connection (`Connection: close`,
//! or HTTP/1.0 without `keep-alive`), hyper writes the response and then
//! shuts the connection down: a `writev`, then a `shutdown`. With
//! `TCP_NODELAY` each leaves at once, so the response and the FIN travel
//! as two TCP segments, and the client acknowledges both.
//!
//! nginx sends the two together. Its `tcp_nopush` *corks* the socket
//! (`TCP_CORK`, tcp(7)): the kernel holds back a segment that is not full
//! until the cork is pulled or the connection is shut down, and a shutdown
//! adds the FIN to the segment it holds. [`Socket`] does the same for a
//! connection's last response: the service marks it ([`Last::mark`]) and
//! the socket corks itself before hyper writes it. A short connection
//! then takes 8 segments instead of 10.
//!
//! Only a response whose body is all in memory is marked: a body that
//! arrives over time (a CGI script's output) would sit in the corked
//! socket for up to 200 ms at a time. And a mark made in error costs no
//! data: if hyper reads again after a corked response, the socket uncorks
//! first and the segment it held leaves at once.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::header::CONNECTION;
use http::{HeaderMap, Version};
use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The mark the service sets when the response it returns is the
/// connection's last; shared with the connection's [`Socket`].
#[derive(Debug, Clone, Default)]
pub struct Last(Arc<AtomicBool>);

impl Last {
    /// Marks the next response written as the connection's last.
    pub fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a response was marked, unmarking it.
    fn take(&self) -> bool {
        // A load first: the common answer, no, costs no atomic write.
        self.0.load(Ordering::Relaxed) && self.0.swap(false, Ordering::Relaxed)
    }
}

/// A TCP stream that corks itself for the response marked [`Last`].
#[derive(Debug)]
pub struct Socket {
    stream: TcpStream,
    last: Last,
    corked: bool,
}

impl Socket {
    /// Wraps `stream`; `last` is the service's half of the mark.
    pub fn new(stream: TcpStream, last: Last) -> Self {
        Socket {
            stream,
            last,
            corked: false,
        }
    }

    // ANCHOR: cork
    /// Corks the socket before the first write of a marked response.
    fn cork_for_last(&mut self) {
        if !self.corked && self.last.take() {
            self.corked = self.set_cork(true);
        }
    }

    /// Whether the cork is now as asked. On failure the socket simply
    /// stays as it was: corking saves packets, it is never needed.
    fn set_cork(&self, cork: bool) -> bool {
        SockRef::from(&self.stream).set_tcp_cork(cork).is_ok()
    }
}
// ANCHOR_END: cork

// ANCHOR: uncork
impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.corked {
            // The connection goes on after all: let the held data go.
            self.corked = !self.set_cork(false);
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}
// ANCHOR_END: uncork

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.cork_for_last();
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.cork_for_last();
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Whether a request of `version` with these headers asks for its
/// connection to close after the response (RFC 9112 §9.3): `close`, or
/// HTTP/1.0 without `keep-alive`.
pub fn asks_to_close(version: Version, headers: &HeaderMap) -> bool {
    if has_option(headers, "close") {
        return true;
    }
    version == Version::HTTP_10 && !has_option(headers, "keep-alive")
}

/// Whether the `Connection` headers list `option` (case-insensitive).
fn has_option(headers: &HeaderMap, option: &str) -> bool {
    headers.get_all(CONNECTION).iter().any(|value| {
        value
            .as_bytes()
            .split(|&byte| byte == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(option.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn headers(connection: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in connection {
            headers.append(CONNECTION, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn which_requests_ask_to_close() {
        let one_one = Version::HTTP_11;
        let one_oh = Version::HTTP_10;
        assert!(!asks_to_close(one_one, &headers(&[])));
        assert!(asks_to_close(one_one, &headers(&["close"])));
        assert!(asks_to_close(one_one, &headers(&["Keep-Alive, CLOSE"])));
        assert!(asks_to_close(one_one, &headers(&["upgrade", " close "])));
        assert!(!asks_to_close(one_one, &headers(&["closed, keep-alive"])));
        assert!(asks_to_close(one_oh, &headers(&[])));
        assert!(!asks_to_close(one_oh, &headers(&["keep-alive"])));
        assert!(asks_to_close(one_oh, &headers(&["keep-alive, close"])));
        let mut odd = HeaderMap::new();
        odd.insert(CONNECTION, HeaderValue::from_bytes(b"\xffclose").unwrap());
        assert!(!asks_to_close(one_one, &odd));
    }

    /// A connected pair: the server's end wrapped in a [`Socket`].
    async fn pair() -> (Socket, Last, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let last = Last::default();
        (Socket::new(accepted, last.clone()), last, client)
    }

    fn is_corked(socket: &Socket) -> bool {
        SockRef::from(&socket.stream).tcp_cork().unwrap()
    }

    #[tokio::test]
    async fn an_unmarked_response_is_not_corked() {
        let (mut socket, _last, _client) = pair().await;
        socket.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        assert!(!is_corked(&socket));
    }

    #[tokio::test]
    async fn the_last_response_is_corked_and_its_shutdown_sends_it_all() {
        let (mut socket, last, mut client) = pair().await;
        last.mark();
        socket.write_all(b"the last response").await.unwrap();
        assert!(is_corked(&socket));
        socket.shutdown().await.unwrap();
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"the last response");
    }

    #[tokio::test]
    async fn reading_again_uncorks() {
        let (mut socket, last, mut client) = pair().await;
        last.mark();
        socket.write_all(b"not the last after all").await.unwrap();
        assert!(is_corked(&socket));
        client.write_all(b"next request").await.unwrap();
        let mut request = [0; 12];
        socket.read_exact(&mut request).await.unwrap();
        assert!(!is_corked(&socket));
        let mut response = [0; 22];
        client.read_exact(&mut response).await.unwrap();
        assert_eq!(&response, b"not the last after all");
        // The mark was for one response: the next is sent uncorked.
        socket.write_all(b"next response").await.unwrap();
        assert!(!is_corked(&socket));
    }
}
