//! The handler: a pure function from a request to a response.
//!
//! The handler never sees a socket. It gets a parsed [`Request`] and returns
//! a [`Response`], which makes it trivial to test and lets later chapters
//! call the same routes from forked children, pool workers and async tasks.
//!
//! Routes of this chapter:
//! - `/` — a small HTML page;
//! - `/echo` — the request exactly as received, so you can see what your
//!   browser or `curl` really sends;
//! - `/sleep?ms=N` — waits N milliseconds (default 5000, at most 60000)
//!   before answering: the slow request that shows why one connection at a
//!   time is not enough;
//! - anything else — 404.

use std::thread;
use std::time::Duration;

use http::StatusCode;

use crate::error::HttpError;
use crate::request::Request;
use crate::response::Response;
use crate::target;

/// How long `/sleep` sleeps when no `ms` is given. Five seconds is long
/// enough to start a second request by hand while the first is waiting.
pub const DEFAULT_SLEEP_MS: u64 = 5_000;

/// The longest `/sleep` allowed, so one request cannot occupy the server
/// indefinitely.
pub const MAX_SLEEP_MS: u64 = 60_000;

// ANCHOR: handle
/// Routes a request to the page that answers it.
pub fn handle(request: &Request) -> Response {
    let parts = request.target_parts();
    // parse_head has already refused malformed escapes, so this decoding
    // succeeds; routing happens on the decoded path, exactly once.
    let path = target::percent_decode(parts.path).unwrap_or_default();
    match path.as_slice() {
        b"/" => only_get_or_head(request, home),
        b"/echo" => echo(request),
        b"/sleep" => only_get_or_head(request, || sleep(parts.query)),
        _ => not_found(),
    }
}
// ANCHOR_END: handle

/// Answers GET and HEAD with `page`; any other known method gets 405 with
/// the `Allow` header that RFC 9110 §15.5.6 requires.
fn only_get_or_head(request: &Request, page: impl FnOnce() -> Response) -> Response {
    if request.method == "GET" || request.method == "HEAD" {
        page()
    } else {
        Response::error(&HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this page answers GET and HEAD",
        ))
        .with_header("Allow", "GET, HEAD")
    }
}

fn home() -> Response {
    Response::html(
        StatusCode::OK,
        "<!DOCTYPE html>\n<html><head><title>Stepwise, chapter 1</title></head>\n<body>\n\
         <h1>Hello from an iterative server</h1>\n\
         <p>This server handles one connection at a time.</p>\n<ul>\n\
         <li><a href=\"/echo\">/echo</a> shows the request your browser sent</li>\n\
         <li><a href=\"/sleep?ms=5000\">/sleep?ms=5000</a> answers after five seconds; \
         open it, then this page in another tab</li>\n</ul>\n</body></html>\n",
    )
}

// ANCHOR: echo
/// The request exactly as it arrived: request line, headers, blank line, body.
fn echo(request: &Request) -> Response {
    let mut raw = request.head.clone();
    raw.extend_from_slice(&request.body);
    Response::text(StatusCode::OK, raw)
}
// ANCHOR_END: echo

fn sleep(query: Option<&str>) -> Response {
    let ms = match query.and_then(|q| target::query_param(q, "ms")) {
        None => DEFAULT_SLEEP_MS,
        Some(text) => match text.parse::<u64>() {
            Ok(ms) if ms <= MAX_SLEEP_MS => ms,
            _ => {
                return Response::error(&HttpError::bad_request(
                    "ms must be a whole number of milliseconds from 0 to 60000",
                ));
            }
        },
    };
    thread::sleep(Duration::from_millis(ms));
    Response::text(StatusCode::OK, format!("slept {ms} ms\n"))
}

fn not_found() -> Response {
    Response::error(&HttpError::new(
        StatusCode::NOT_FOUND,
        "there is no page at this address",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_head;

    fn request(bytes: &[u8]) -> Request {
        let (mut request, used) = parse_head(bytes).unwrap().unwrap();
        request.body = bytes[used..].to_vec();
        request
    }

    #[test]
    fn home_page() {
        let response = handle(&request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(response.status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&response.body).contains("<h1>"));
    }

    #[test]
    fn echo_returns_the_request_bytes() {
        let bytes = b"POST /echo?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        let response = handle(&request(bytes));
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.body, bytes);
    }

    #[test]
    fn routes_on_the_decoded_path() {
        let response = handle(&request(b"GET /%65cho HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(response.status, StatusCode::OK);
    }

    #[test]
    fn sleep_validates_its_parameter() {
        let fast = handle(&request(b"GET /sleep?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(fast.body, b"slept 0 ms\n");
        for bad in ["ms=-1", "ms=60001", "ms=abc"] {
            let bytes = format!("GET /sleep?{bad} HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(handle(&request(bytes.as_bytes())).status, 400, "{bad}");
        }
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        let response = handle(&request(b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            response
                .headers
                .contains(&("Allow".into(), "GET, HEAD".into()))
        );
    }

    #[test]
    fn unknown_paths_are_404() {
        let response = handle(&request(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(response.status, StatusCode::NOT_FOUND);
    }
}
