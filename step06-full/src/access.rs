//! Log lines: the access log's Combined Log Format and the error log's
//! Apache layout (the server-behaviour reference §4).
//!
//! Access: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`,
//! where `%t` is when the request was *received*, `%b` is the body size
//! (`-` for none: HEAD and 304 log `-`), and everything that comes from the
//! client is escaped (`"` → `\"`, `\` → `\\`, control bytes → `\xhh`) so a
//! client can never forge a line.
//!
//! Error: `[Sun Nov 22 01:37:59.835963 2026] [core:error] [pid 9078:tid
//! 9078] [client 127.0.0.1:36012] message`.

use std::net::SocketAddr;

use chrono::{DateTime, Local};
use http::{Request, Response, header};

// ANCHOR: combined_line
/// One Combined Log Format line for `request` and its `response`.
pub fn combined_line<B, R>(
    peer: SocketAddr,
    request: &Request<B>,
    response: &Response<R>,
    received: DateTime<Local>,
) -> String {
    let request_line = format!(
        "{} {} {:?}",
        request.method(),
        request.uri(),
        request.version()
    );
    let bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "0" && request.method() != http::Method::HEAD)
        .unwrap_or("-");
    let header_text = |name: header::HeaderName| {
        request
            .headers()
            .get(name)
            .map(|v| escape(&String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or_else(|| "-".to_owned())
    };
    format!(
        "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\"",
        peer.ip(),
        received.format("%d/%b/%Y:%H:%M:%S %z"),
        escape(&request_line),
        response.status().as_u16(),
        bytes,
        header_text(header::REFERER),
        header_text(header::USER_AGENT),
    )
}
// ANCHOR_END: combined_line

/// One error-log line in Apache 2.4's layout.
pub fn error_line(module: &str, level: &str, client: Option<SocketAddr>, message: &str) -> String {
    let now = Local::now();
    let pid = std::process::id();
    let client = client.map(|c| format!(" [client {c}]")).unwrap_or_default();
    format!(
        "[{}] [{module}:{level}] [pid {pid}:tid {pid}]{client} {}",
        now.format("%a %b %d %H:%M:%S%.6f %Y"),
        escape(message)
    )
}

/// Escapes what a client controls (chapter 5's rule, shared).
pub use step05_threadpool::access_log::escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_format() {
        let request = Request::builder()
            .uri("/a?b=1")
            .header("user-agent", "curl/8 \"x\"")
            .body(())
            .unwrap();
        let response = Response::builder()
            .status(200)
            .header("content-length", "12")
            .body(())
            .unwrap();
        let line = combined_line(
            "127.0.0.1:5000".parse().unwrap(),
            &request,
            &response,
            Local::now(),
        );
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(
            line.ends_with("] \"GET /a?b=1 HTTP/1.1\" 200 12 \"-\" \"curl/8 \\\"x\\\"\""),
            "{line}"
        );
    }

    #[test]
    fn head_and_empty_bodies_log_a_dash() {
        let request = Request::builder().method("HEAD").uri("/").body(()).unwrap();
        let response = Response::builder()
            .status(200)
            .header("content-length", "12")
            .body(())
            .unwrap();
        let line = combined_line(
            "127.0.0.1:5000".parse().unwrap(),
            &request,
            &response,
            Local::now(),
        );
        assert!(line.contains("\" 200 - \""), "{line}");
    }

    #[test]
    fn error_lines_look_like_apaches() {
        let line = error_line(
            "cgi",
            "error",
            Some("127.0.0.1:36012".parse().unwrap()),
            "bad \"header\"",
        );
        assert!(line.starts_with('['));
        assert!(line.contains("] [cgi:error] [pid "), "{line}");
        assert!(
            line.ends_with("[client 127.0.0.1:36012] bad \\\"header\\\""),
            "{line}"
        );
    }
}
