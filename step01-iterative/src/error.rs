//! Errors: what can go wrong while serving one connection.
//!
//! Two kinds of failure matter to an HTTP server, and they end differently.
//! An [`HttpError`] is the client's fault or a limit we enforce: it already
//! knows its status code, so the connection answers it (400, 413, 431, …)
//! and then closes. An I/O error means the socket itself failed: there is no
//! one left to answer, so the connection is logged and dropped. Neither ever
//! takes the server down.

use std::borrow::Cow;
use std::fmt;
use std::io;

use http::StatusCode;

/// A failure that maps to an HTTP status and a short, human-readable detail.
///
/// The detail is shown on the error page (HTML-escaped) and in the log. It
/// is written by the server, never copied from the request, so a client
/// cannot put text into our log through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status the client receives, e.g. 400 or 431.
    pub status: StatusCode,
    /// Why, in a few words: "header block larger than 64 KiB".
    pub detail: Cow<'static, str>,
}

impl HttpError {
    /// An error with the given status and detail.
    pub fn new(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> Self {
        HttpError {
            status,
            detail: detail.into(),
        }
    }

    /// 400 Bad Request: the bytes are not a valid HTTP/1.x request.
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for HttpError {}

/// Everything that can end a connection early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was refused with a status; answer it, then close.
    #[error("{0}")]
    Http(#[from] HttpError),
    /// The socket failed (reset, broken pipe, …); nobody is left to answer.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
