//! Static files under hyper: the chapter 5 rules, plus everything a real
//! file server adds.
//!
//! [`Files::serve`] answers a GET or HEAD from the document root:
//!
//! 1. methods: GET and HEAD; the other standard methods get 405 with
//!    `Allow: GET, HEAD`; a method HTTP does not define gets 501;
//! 2. confinement: chapter 5's [`confine`] functions, unchanged — decode
//!    once, no dot-segments, stay under the canonical root, check the open
//!    file;
//! 3. directories: 301 to add the slash, then the configured index files in
//!    order, then a listing if enabled ([`crate::listing`]), else 404;
//! 4. validators and conditionals ([`crate::conditional`]): a strong
//!    `ETag` from size and nanosecond mtime, `Last-Modified`, 304 / 412;
//! 5. ranges: 206 with `Content-Range`, 416 when unsatisfiable;
//! 6. the body: from the cache ([`crate::cache`]) or read into it when
//!    small, streamed from disk when large.
//!
//! File-system calls block, so they run on tokio's blocking pool
//! (`spawn_blocking`), never on the threads that drive connections.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use step01_iterative::HttpError;
use step01_iterative::response::{SERVER_NAME, escape_html, status_line_text};
use step05_threadpool::confine::{self, Root};
use step05_threadpool::mime::MimeTypes;
use step05_threadpool::static_files::encode_url_text;
use tokio_util::io::ReaderStream;

use crate::cache::{Cache, Identity};
use crate::conditional::{self, Precondition, RangeOutcome};
use crate::listing;

/// A response body: whole bytes, or a file streamed in chunks.
pub type Body = BoxBody<Bytes, io::Error>;

/// How much of a streamed file is read at a time.
const STREAM_CHUNK: usize = 64 * 1024;

/// The methods HTTP defines; other tokens get 501 Not Implemented.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

/// What the file handler needs, built from the configuration.
pub struct Files {
    /// The document root, canonical.
    pub root: Root,
    /// Extension → Content-Type.
    pub mime: MimeTypes,
    /// Tried in order for a directory.
    pub index_files: Vec<String>,
    /// Show listings for directories without an index.
    pub listing: bool,
    /// The in-memory cache, if enabled.
    pub cache: Option<Cache>,
    /// Send `X-Cache: HIT|MISS`.
    pub x_cache_header: bool,
}

/// What a request resolved to, found on the blocking pool.
enum Found {
    File {
        path: PathBuf,
        file: File,
        metadata: std::fs::Metadata,
        /// Resolved with no symbolic link on the way: only then may the
        /// URL's resolution be remembered for the fast path.
        direct: bool,
    },
    Redirect(String),
    Listing(String),
}

impl Files {
    // ANCHOR: serve
    /// Answers `request` from the document root.
    pub async fn serve<B>(self: &Arc<Self>, request: &Request<B>) -> Response<Body> {
        let method = request.method().clone();
        if method != Method::GET && method != Method::HEAD {
            if KNOWN_METHODS.contains(&method.as_str()) {
                let mut refused = plain_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "only GET and HEAD are allowed here",
                );
                refused
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return refused;
            }
            return plain_error(StatusCode::NOT_IMPLEMENTED, "unknown method");
        }
        if let Some(response) = self.fast_path(request) {
            return response;
        }
        let path = request.uri().path().to_owned();
        let query = request.uri().query().map(str::to_owned);
        let files = Arc::clone(self);
        let found = tokio::task::spawn_blocking(move || files.find(&path, query.as_deref())).await;
        let found = match found {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return plain_error(e.status, &e.detail),
            Err(_) => {
                return plain_error(StatusCode::INTERNAL_SERVER_ERROR, "the file lookup failed");
            }
        };
        let head_only = method == Method::HEAD;
        match found {
            Found::Redirect(location) => redirect(&location),
            Found::Listing(page) => {
                let mut response = html(StatusCode::OK, page);
                if head_only {
                    *response.body_mut() = empty();
                }
                response
            }
            Found::File {
                path,
                file,
                metadata,
                direct,
            } => {
                // Remember how this URL resolved: only for a direct path
                // (a symlink may be re-pointed at any time) and not for a
                // directory index (a new index file must be noticed).
                if let Some(cache) = &self.cache
                    && direct
                    && cache.admits(metadata.len())
                    && !request.uri().path().ends_with('/')
                {
                    cache.remember(request.uri().path(), &path);
                }
                self.file(request.headers(), &method, &path, file, &metadata)
                    .await
            }
        }
    }
    // ANCHOR_END: serve

    // ANCHOR: fast_path
    /// A file already in the cache, found without leaving the event loop:
    /// the URL's last resolution, one `stat` of that file, and a cache entry
    /// that still matches its inode, size and nanosecond mtime. A `stat`
    /// of a recently used path is answered from the kernel's dentry and
    /// inode caches in about a microsecond, so it runs here rather than on
    /// the blocking pool, whose hand-off costs more than the call. Any doubt
    /// (not remembered, gone, changed) falls back to the full resolution and
    /// confinement checks.
    ///
    /// Safe against a path swapped under us: the entry was confined when
    /// it was stored, and a different file behind the same name has a
    /// different device and inode, so it never matches.
    fn fast_path<B>(&self, request: &Request<B>) -> Option<Response<Body>> {
        let cache = self.cache.as_ref()?;
        let canonical = cache.resolved(request.uri().path())?;
        let metadata = std::fs::metadata(&canonical)
            .ok()
            .filter(std::fs::Metadata::is_file)?;
        let bytes = cache.get(&canonical, Identity::of(&metadata))?;
        Some(self.respond_file(
            request.headers(),
            request.method(),
            &canonical,
            &metadata,
            bytes,
            true,
        ))
    }
    // ANCHOR_END: fast_path

    /// Resolves the URL path (blocking: runs on tokio's blocking pool).
    fn find(&self, raw_path: &str, query: Option<&str>) -> Result<Found, HttpError> {
        let mut segments = confine::segments(raw_path)?;
        let path = self.root.resolve(&segments)?;
        let (file, metadata) = confine::open(&path)?;
        if !metadata.is_dir() {
            // Direct when the canonical path is the plain join: no symlink.
            let mut joined = self.root.path().to_path_buf();
            joined.extend(&segments);
            let direct = joined == path;
            return regular(path, file, metadata, direct);
        }
        if !raw_path.ends_with('/') {
            // Re-encoded: only URL characters may reach the Location header.
            let query = query
                .map(|q| format!("?{}", encode_url_text(q, true)))
                .unwrap_or_default();
            return Ok(Found::Redirect(format!(
                "{}/{query}",
                encode_url_text(raw_path, true)
            )));
        }
        for index in &self.index_files {
            segments.push(index.into());
            let candidate = self.root.resolve(&segments);
            segments.pop();
            // An index that is missing, or escapes the root, is skipped.
            if let Ok(candidate) = candidate
                && let Ok((file, metadata)) = confine::open(&candidate)
                && metadata.is_file()
            {
                return regular(candidate, file, metadata, false);
            }
        }
        if !self.listing {
            return Err(HttpError::new(StatusCode::NOT_FOUND, "no index file here"));
        }
        let entries =
            listing::read_entries(&path, &self.root).map_err(|e| confine::io_status(&e))?;
        Ok(Found::Listing(listing::render(raw_path, &entries)))
    }

    // ANCHOR: file
    /// Answers for a regular file found by the full resolution: from the
    /// cache, read into it, or (too large for it) streamed from disk.
    async fn file(
        &self,
        headers: &HeaderMap,
        method: &Method,
        path: &Path,
        file: File,
        metadata: &std::fs::Metadata,
    ) -> Response<Body> {
        let identity = Identity::of(metadata);
        let Some(cache) = self.cache.as_ref().filter(|c| c.admits(identity.size)) else {
            return self
                .stream_file(headers, method, path, file, metadata)
                .await;
        };
        if let Some(bytes) = cache.get(path, identity) {
            return self.respond_file(headers, method, path, metadata, bytes, true);
        }
        let size = identity.size;
        let read = tokio::task::spawn_blocking(move || read_whole(file, size)).await;
        match read {
            Ok(Ok(bytes)) => {
                cache.insert(path.to_owned(), identity, bytes.clone());
                self.respond_file(headers, method, path, metadata, bytes, false)
            }
            Ok(Err(e)) => {
                tracing::error!("cannot read {}: {e}", path.display());
                plain_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the file could not be read",
                )
            }
            Err(_) => plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file could not be read",
            ),
        }
    }
    // ANCHOR_END: file

    // ANCHOR: body
    /// The response for a file whose whole content is in memory: a range is
    /// a slice of the same bytes, with no copy.
    fn respond_file(
        &self,
        headers: &HeaderMap,
        method: &Method,
        path: &Path,
        metadata: &std::fs::Metadata,
        bytes: Bytes,
        hit: bool,
    ) -> Response<Body> {
        match self.head(headers, method, path, metadata, Some(hit)) {
            Ok((response, range)) => {
                let body = if *method == Method::HEAD {
                    empty()
                } else {
                    full(bytes.slice(range.start as usize..range.end as usize))
                };
                response.body(body).unwrap_or_else(|_| fallback())
            }
            Err(response) => *response,
        }
    }

    /// The response for a file too large for the cache: streamed from disk.
    async fn stream_file(
        &self,
        headers: &HeaderMap,
        method: &Method,
        path: &Path,
        file: File,
        metadata: &std::fs::Metadata,
    ) -> Response<Body> {
        let (response, range) = match self.head(headers, method, path, metadata, None) {
            Ok(found) => found,
            Err(response) => return *response,
        };
        if *method == Method::HEAD {
            return response.body(empty()).unwrap_or_else(|_| fallback());
        }
        match stream(file, range).await {
            Ok(body) => response.body(body).unwrap_or_else(|_| fallback()),
            Err(e) => {
                tracing::error!("cannot stream {}: {e}", path.display());
                plain_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the file could not be read",
                )
            }
        }
    }
    // ANCHOR_END: body

    /// Validators, conditionals and the range: either the response head to
    /// fill with the returned range, or a finished response (304, 412, 416).
    fn head(
        &self,
        headers: &HeaderMap,
        method: &Method,
        path: &Path,
        metadata: &std::fs::Metadata,
        cache_hit: Option<bool>,
    ) -> Result<(http::response::Builder, std::ops::Range<u64>), Box<Response<Body>>> {
        let length = metadata.len();
        let modified = metadata.modified().unwrap_or_else(|_| SystemTime::now());
        let validators = conditional::validators(length, modified, SystemTime::now());
        let mut response = Response::builder()
            .header(header::SERVER, SERVER_NAME)
            .header(header::ETAG, validators.etag.as_str())
            .header(
                header::LAST_MODIFIED,
                conditional::last_modified_header(&validators),
            )
            .header(header::ACCEPT_RANGES, "bytes");
        match conditional::evaluate(method, headers, &validators) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                let not_modified = response.status(StatusCode::NOT_MODIFIED).body(empty());
                return Err(Box::new(not_modified.unwrap_or_else(|_| fallback())));
            }
            Precondition::Failed => {
                return Err(Box::new(plain_error(
                    StatusCode::PRECONDITION_FAILED,
                    "a precondition failed",
                )));
            }
        }
        let (status, range) = match conditional::range(method, headers, length, &validators) {
            RangeOutcome::Full => (StatusCode::OK, 0..length),
            RangeOutcome::Partial(range) => {
                response = response.header(
                    header::CONTENT_RANGE,
                    conditional::content_range(&range, length),
                );
                (StatusCode::PARTIAL_CONTENT, range)
            }
            RangeOutcome::Unsatisfiable => {
                let mut refused = plain_error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "the range is outside the file",
                );
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
                    refused.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Err(Box::new(refused));
            }
        };
        response = response
            .status(status)
            .header(header::CONTENT_TYPE, self.mime.content_type(path))
            .header(header::CONTENT_LENGTH, range.end - range.start);
        if self.x_cache_header
            && let Some(hit) = cache_hit
        {
            response = response.header("x-cache", if hit { "HIT" } else { "MISS" });
        }
        Ok((response, range))
    }
}

fn regular(
    path: PathBuf,
    file: File,
    metadata: std::fs::Metadata,
    direct: bool,
) -> Result<Found, HttpError> {
    if !metadata.is_file() {
        return Err(HttpError::new(StatusCode::NOT_FOUND, "no such file"));
    }
    Ok(Found::File {
        path,
        file,
        metadata,
        direct,
    })
}

/// Reads a whole (small) file; it must still have the size we checked.
fn read_whole(mut file: File, size: u64) -> io::Result<Bytes> {
    let mut bytes = Vec::with_capacity(size as usize);
    file.read_to_end(&mut bytes)?;
    if bytes.len() as u64 != size {
        return Err(io::Error::other("the file changed while being read"));
    }
    Ok(Bytes::from(bytes))
}

/// Streams `range` of `file` in chunks of [`STREAM_CHUNK`].
async fn stream(mut file: File, range: std::ops::Range<u64>) -> io::Result<Body> {
    file.seek(SeekFrom::Start(range.start))?;
    let file = tokio::fs::File::from_std(file);
    let limited = tokio::io::AsyncReadExt::take(file, range.end - range.start);
    let chunks = ReaderStream::with_capacity(limited, STREAM_CHUNK).map_ok(Frame::data);
    Ok(StreamBody::new(chunks).boxed())
}

/// A body of whole bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// An HTML page.
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::SERVER, SERVER_NAME)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_LENGTH, page.len())
        .body(full(page))
        .unwrap_or_else(|_| fallback())
}

/// An error page for `status`, with an escaped detail.
pub fn plain_error(status: StatusCode, detail: &str) -> Response<Body> {
    let title = status_line_text(status);
    html(
        status,
        format!(
            "<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n<body><h1>{title}</h1><p>{}</p>\
             <hr><address>{SERVER_NAME}</address></body></html>\n",
            escape_html(detail)
        ),
    )
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = html(
        StatusCode::MOVED_PERMANENTLY,
        format!(
            "<!DOCTYPE html>\n<p>Moved to <a href=\"{0}\">{0}</a></p>\n",
            escape_html(location)
        ),
    );
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The response of last resort, if building one failed (it cannot: every
/// header above is a valid value).
fn fallback() -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
