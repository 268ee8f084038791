//! Static files: serving what is under the document root, by the rules.
//!
//! For a request that no mounted application claims, [`serve`] does, in
//! order (the server-behaviour reference §5–6):
//!
//! 1. methods: GET and HEAD; anything else is 405 with `Allow: GET, HEAD`;
//! 2. confinement ([`crate::confine`]): decode once, remove dot-segments,
//!    stay under the root, then open the file and check the open handle;
//! 3. a directory without its trailing slash → 301 to the same path with
//!    the slash (query kept), so relative links inside it resolve; a
//!    directory with it → its `index.html`, or 404 (this step has no
//!    directory listings: chapter 6 does);
//! 4. `Last-Modified` from the file's mtime (never later than now), and
//!    `If-Modified-Since` → 304 with no body;
//! 5. the file itself, `Content-Length` and `Content-Type` from the mime
//!    table, **streamed** in chunks — never read whole into memory, so a
//!    4 GB file costs no more memory than a 4 KB one.

use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use step01_iterative::request::Request;
use step01_iterative::response::Persistence;
use step01_iterative::{HttpError, Response};

use crate::confine::{self, Root};
use crate::mime::MimeTypes;

/// Files up to this size are read into memory and sent with their head in
/// one write; larger ones are streamed.
pub const SMALL_FILE: u64 = 64 * 1024;

/// The file served for a directory.
pub const INDEX_FILE: &str = "index.html";

/// What the static file handler needs.
#[derive(Debug, Clone)]
pub struct Files {
    /// The document root.
    pub root: Root,
    /// Extension → Content-Type.
    pub mime: MimeTypes,
}

/// What was sent, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// The status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The connection must close (the response could not be completed).
    pub broken: bool,
}

// ANCHOR: serve
/// Answers `request` from the document root.
pub fn serve<W: Write>(
    out: &mut W,
    request: &Request,
    files: &Files,
    persistence: Persistence,
) -> Served {
    let head_only = request.method == "HEAD";
    let response = match find(request, files) {
        Ok(Found::File {
            file,
            metadata,
            path,
        }) => {
            return send_file(out, request, files, file, &metadata, &path, persistence);
        }
        Ok(Found::Redirect(location)) => {
            let shown = step01_iterative::response::escape_html(&location);
            Response::html(
                StatusCode::MOVED_PERMANENTLY,
                format!("<!DOCTYPE html>\n<p>Moved to <a href=\"{shown}\">{shown}</a></p>\n"),
            )
            .with_header("Location", &location)
        }
        Err(error) => error_response(&error),
    };
    send(out, &response, head_only, persistence)
}
// ANCHOR_END: serve

/// What a request resolves to.
enum Found {
    File {
        file: File,
        metadata: Metadata,
        path: std::path::PathBuf,
    },
    Redirect(String),
}

// ANCHOR: find
fn find(request: &Request, files: &Files) -> Result<Found, HttpError> {
    if request.method != "GET" && request.method != "HEAD" {
        return Err(HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are allowed here",
        ));
    }
    let parts = request.target_parts();
    let mut segments = confine::segments(parts.path)?;
    let path = files.root.resolve(&segments)?;
    let (file, metadata) = confine::open(&path)?;
    if metadata.is_dir() {
        if !parts.path.ends_with('/') {
            // The path as the client wrote it, re-encoded so that nothing
            // but URL characters reaches the Location header, plus "/".
            let query = parts
                .query
                .map(|q| format!("?{}", encode_url_text(q, true)))
                .unwrap_or_default();
            return Ok(Found::Redirect(format!(
                "{}/{query}",
                encode_url_text(parts.path, true)
            )));
        }
        // The index goes through confinement too: it could be a symlink out.
        segments.push(INDEX_FILE.into());
        let index = files.root.resolve(&segments)?;
        let (file, metadata) = confine::open(&index)?;
        return regular(file, metadata, index);
    }
    regular(file, metadata, path)
}
// ANCHOR_END: find

/// Percent-encodes every byte that may not appear as it is in a URL path
/// or query (RFC 3986 `pchar`, plus `/` and `?`). With `keep_escapes`, `%`
/// is kept, so escapes the client already sent stay as they were (for text
/// that is still encoded); without it, `%` itself is encoded (for decoded
/// text).
pub fn encode_url_text(text: &str, keep_escapes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/?".contains(&byte)
            || (keep_escapes && byte == b'%');
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-encodes a decoded URL *path*: like `encode_url_text` without
/// `keep_escapes`, and `?` too, which in a path would start the query.
pub fn encode_url_path(path: &str) -> String {
    encode_url_text(path, false).replace('?', "%3F")
}

/// Only regular files are served (not devices, sockets, FIFOs, …).
fn regular(file: File, metadata: Metadata, path: std::path::PathBuf) -> Result<Found, HttpError> {
    if !metadata.is_file() {
        return Err(HttpError::new(StatusCode::NOT_FOUND, "no such file"));
    }
    Ok(Found::File {
        file,
        metadata,
        path,
    })
}

// ANCHOR: send_file
fn send_file<W: Write>(
    out: &mut W,
    request: &Request,
    files: &Files,
    file: File,
    metadata: &Metadata,
    path: &Path,
    persistence: Persistence,
) -> Served {
    let head_only = request.method == "HEAD";
    let modified = last_modified(metadata);
    let last_modified = httpdate::fmt_http_date(modified);
    // If-Modified-Since: "has it changed since the copy I have?" An invalid
    // date is ignored (RFC 9110 §13.1.3).
    let unchanged = request
        .header("if-modified-since")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| modified <= since);
    if unchanged {
        let response =
            Response::new(StatusCode::NOT_MODIFIED).with_header("Last-Modified", &last_modified);
        return send(out, &response, true, persistence);
    }
    let length = metadata.len();
    let mut head = Response::new(StatusCode::OK)
        .with_header("Content-Type", &files.mime.content_type(path))
        .with_header("Last-Modified", &last_modified)
        .head_bytes(length, persistence);
    if head_only {
        return match out.write_all(&head) {
            Ok(()) => Served {
                status: 200,
                bytes: 0,
                broken: false,
            },
            Err(e) => broken(200, 0, &e),
        };
    }
    // A small file goes out in the same write as its head: one system call
    // and one TCP segment instead of two.
    if length <= SMALL_FILE {
        let mut file = file;
        let start = head.len();
        head.resize(start + length as usize, 0);
        if let Err(e) = file.read_exact(&mut head[start..]) {
            // It shrank since we looked: nothing has been sent yet.
            tracing::error!("{} could not be read whole: {e}", path.display());
            let error = HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file could not be read",
            );
            let served = send(out, &error_response(&error), false, Persistence::Close);
            // We said `Connection: close`; mean it.
            return Served {
                broken: true,
                ..served
            };
        }
        return match out.write_all(&head) {
            Ok(()) => Served {
                status: 200,
                bytes: length,
                broken: false,
            },
            Err(e) => broken(200, 0, &e),
        };
    }
    if let Err(e) = out.write_all(&head) {
        return broken(200, 0, &e);
    }
    // Stream exactly the length we announced, even if the file grows.
    // `io::copy` reads into a buffer and writes it out, 8 KiB at a time
    // (std does not use sendfile(2) from a file to a socket; the book's
    // strace shows it).
    let mut body = file.take(length);
    let copied = match io::copy(&mut body, out) {
        Ok(n) => n,
        Err(e) => return broken(200, 0, &e),
    };
    if copied < length {
        // The file shrank under us: the promised length cannot be kept, and
        // the only honest thing left is to close the connection.
        tracing::error!(
            "{} shrank while being sent ({copied} of {length} bytes)",
            path.display()
        );
        return Served {
            status: 200,
            bytes: copied,
            broken: true,
        };
    }
    let _ = out.flush();
    Served {
        status: 200,
        bytes: copied,
        broken: false,
    }
}
// ANCHOR_END: send_file

/// The file's modification time in whole seconds, never after now: a
/// file dated in the future would make `If-Modified-Since` lie.
fn last_modified(metadata: &Metadata) -> SystemTime {
    let now = SystemTime::now();
    let mtime = metadata.modified().unwrap_or(now).min(now);
    let seconds = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

fn error_response(error: &HttpError) -> Response {
    let response = Response::error(error);
    if error.status == StatusCode::METHOD_NOT_ALLOWED {
        return response.with_header("Allow", "GET, HEAD");
    }
    response
}

fn send<W: Write>(
    out: &mut W,
    response: &Response,
    head_only: bool,
    persistence: Persistence,
) -> Served {
    let status = response.status.as_u16();
    match response.write_with(out, head_only, persistence) {
        Ok(()) => Served {
            status,
            bytes: if head_only {
                0
            } else {
                response.body.len() as u64
            },
            broken: false,
        },
        Err(e) => broken(status, 0, &e),
    }
}

fn broken(status: u16, bytes: u64, error: &io::Error) -> Served {
    tracing::debug!("client went away: {error}");
    Served {
        status,
        bytes,
        broken: true,
    }
}
