//! The environ dumper: the learner's window into the interface.
//!
//! It answers every request with a plain-text listing of every variable the
//! application received, so you can watch how a request becomes an environ:
//! try `curl 'http://127.0.0.1:8080/a%20b/c?x=1' -H 'X-Test: 1' -d 'hello'`.

use std::fmt::Write as _;
use std::io::Read;

use http::StatusCode;

use crate::gateway::{AppError, Body, Environ, StartResponse, body_once};

/// Lists the environ, one `NAME=value` per line, sorted.
///
/// # Errors
///
/// Only if reading the in-memory body fails (it cannot).
pub fn environ_dump(mut environ: Environ, start_response: StartResponse) -> Result<Body, AppError> {
    let mut body = Vec::new();
    environ.input.read_to_end(&mut body)?;
    let text = render(&environ, body.len());
    start_response.start(
        StatusCode::OK,
        vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
    )?;
    Ok(body_once(text))
}

// ANCHOR: render
/// The listing: meta-variables, then the WSGI extras.
pub fn render(environ: &Environ, body_length: usize) -> String {
    let mut text = String::new();
    for (name, value) in environ.vars.iter() {
        // `{:?}`-style escaping keeps control characters visible.
        let value = String::from_utf8_lossy(value);
        let _ = writeln!(text, "{name}={}", value.escape_debug());
    }
    let _ = writeln!(text, "wsgi.url_scheme={}", environ.url_scheme);
    let _ = writeln!(text, "wsgi.input=<{body_length} bytes>");
    let _ = writeln!(text, "wsgi.errors=<the server's log>");
    let _ = writeln!(text, "wsgi.multithread={}", environ.multithread);
    let _ = writeln!(text, "wsgi.multiprocess={}", environ.multiprocess);
    let _ = writeln!(text, "wsgi.run_once={}", environ.run_once);
    text
}
// ANCHOR_END: render
