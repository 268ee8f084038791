//! Reading a whole request, now with chunked bodies.
//!
//! Chapter 1 refused `Transfer-Encoding: chunked` with 411. Applications
//! need request bodies however the client sends them, so this step reads
//! the head with chapter 1's [`Connection`], then the body by its framing:
//! `Content-Length` as before, or chunked through the [`Decoder`], bounded
//! by the same body limit. Either way the application gets the whole body,
//! and the environ gets its real length.

use std::io::{Read, Write};
use std::time::Instant;

use step01_iterative::connection::{MAX_BODY_BYTES, REQUEST_TIMEOUT, check_body_length};
use step01_iterative::request::{Framing, Request};
use step01_iterative::{Connection, HttpError, Result};

use crate::chunked::Decoder;

// ANCHOR: read_request
/// Reads one request with its body, de-chunked if it was chunked.
///
/// Returns `Ok(None)` when the client closed without sending anything.
///
/// # Errors
///
/// As chapter 1's `read_request`, except that chunked bodies are read: 400
/// for a malformed chunk, 413 past the body limit.
pub fn read_request<S: Read + Write>(connection: &mut Connection<S>) -> Result<Option<Request>> {
    read_request_by(connection, Instant::now() + REQUEST_TIMEOUT)
}
// ANCHOR_END: read_request

/// Like [`read_request`], with the whole request due by `deadline` (408
/// after it). Chapter 5 sets its own deadline per request.
///
/// # Errors
///
/// As [`read_request`].
pub fn read_request_by<S: Read + Write>(
    connection: &mut Connection<S>,
    deadline: Instant,
) -> Result<Option<Request>> {
    let Some(mut request) = connection.read_head(deadline)? else {
        return Ok(None);
    };
    match request.framing {
        Framing::None => {}
        Framing::Length(n) => {
            let length = check_body_length(n)?;
            connection.answer_expect(&request, length)?;
            request.body = connection.read_exact_body(length, deadline)?;
        }
        Framing::Chunked => {
            // The length is unknown; a client that asked whether to send
            // gets its 100 Continue.
            connection.answer_expect(&request, usize::MAX)?;
            let mut decoder = Decoder::new(MAX_BODY_BYTES);
            loop {
                let used = decoder.feed(connection.buffer())?;
                connection.consume(used);
                if decoder.is_done() {
                    break;
                }
                if connection.fill(deadline)? == 0 {
                    return Err(
                        HttpError::bad_request("connection closed inside a chunked body").into(),
                    );
                }
            }
            request.body = decoder.into_body();
        }
    }
    Ok(Some(request))
}
