//! Hello: the smallest application behind the gateway.
//!
//! Compare it with PEP 3333's first example: set the status and headers,
//! return the body. The server adds `Date`, `Server`, the framing and
//! everything else HTTP needs.

use http::StatusCode;

use crate::gateway::{AppError, Body, Environ, StartResponse, body_once};

// ANCHOR: hello
/// Answers every request with "Hello, world!".
///
/// # Errors
///
/// Only if `start_response` refuses its headers (it will not).
pub fn hello(_environ: Environ, start_response: StartResponse) -> Result<Body, AppError> {
    start_response.start(
        StatusCode::OK,
        vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
    )?;
    Ok(body_once("Hello, world!\n"))
}
// ANCHOR_END: hello
