//! Static files under hyper: the chapter 5 rules, plus everything a real
//! file server adds.
//!
//! [`Files::locate`] resolves a request's path under the document root,
//! and [`Files::respond`] answers a GET or HEAD with what it found (the
//! handler sends scripts and SSI pages elsewhere):
//!
//! 1. methods: GET and HEAD; the other standard methods get 405 with
//!    `Allow: GET, HEAD`; a method HTTP does not define gets 501
//!    ([`Files::refuse_method`]);
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
//! Part 2 adds [`Kinds`]: which files are CGI scripts, PHP pages or SSI
//! documents, and the walk that finds a script with a path after it.
//!
//! File-system calls block, so they run on tokio's blocking pool
//! (`spawn_blocking`), never on the threads that drive connections (the
//! one exception, the cache's fast path, says why).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use step01_iterative::HttpError;
use step01_iterative::response::{SERVER_NAME, escape_html, status_line_text};
use step05_threadpool::confine::{self, Root};
use step05_threadpool::mime::MimeTypes;
use step05_threadpool::static_files::encode_url_text;
use tokio_util::io::ReaderStream;

use crate::cache::{Cache, Entry, Identity};
use crate::conditional::{self, Precondition, RangeOutcome, Validators};
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
    /// Which files are scripts or SSI documents rather than content.
    pub kinds: Kinds,
}

// ANCHOR: kinds
/// What a file under the root is, and so which handler answers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Content, sent as it is.
    Static,
    /// A CGI/1.1 script, run.
    Cgi,
    /// A PHP page, run by php-cgi.
    Php,
    /// A Server Side Includes document, parsed.
    Ssi,
}

/// The rules that make a file a script: configured CGI directories (on
/// the *canonical* path, so a symbolic link elsewhere in the tree cannot
/// expose a script's source as static content) and extensions.
#[derive(Debug, Clone, Default)]
pub struct Kinds {
    /// Canonical directories whose every file is a CGI script.
    pub cgi_directories: Vec<PathBuf>,
    /// The same directories as URL paths, as configured (`/cgi-bin`).
    pub cgi_url_prefixes: Vec<String>,
    /// Extensions of CGI scripts anywhere (`cgi`).
    pub cgi_extensions: Vec<String>,
    /// Extensions of PHP pages (`php`).
    pub php_extensions: Vec<String>,
    /// Extensions of SSI documents (`shtml`).
    pub ssi_extensions: Vec<String>,
}

impl Kinds {
    /// The kind of the file at the canonical path `path`.
    pub fn of(&self, path: &Path) -> Kind {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let has = |list: &[String]| list.iter().any(|e| e == extension);
        if self.in_cgi_directory(path) || has(&self.cgi_extensions) {
            Kind::Cgi
        } else if has(&self.php_extensions) {
            Kind::Php
        } else if has(&self.ssi_extensions) {
            Kind::Ssi
        } else {
            Kind::Static
        }
    }

    /// Whether `path` is a CGI directory or lies under one.
    pub fn in_cgi_directory(&self, path: &Path) -> bool {
        self.cgi_directories.iter().any(|dir| path.starts_with(dir))
    }

    /// Whether the URL path looks like it names a script: under a
    /// configured CGI URL directory, or with a script's extension. Used to
    /// log the failures of the reference's §1.7 error table that happen
    /// before any script is found (404, 403).
    pub fn names_a_script(&self, url_path: &str) -> bool {
        let in_directory = self.cgi_url_prefixes.iter().any(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            url_path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        let extension = |list: &[String]| {
            url_path.split('/').any(|segment| {
                segment
                    .rsplit_once('.')
                    .is_some_and(|(_, ext)| list.iter().any(|e| e == ext))
            })
        };
        in_directory || extension(&self.cgi_extensions) || extension(&self.php_extensions)
    }
}
// ANCHOR_END: kinds

/// What a request resolved to, found on the blocking pool.
pub enum Found {
    /// A regular file to send (or, for [`Kind::Ssi`], to parse).
    File {
        /// Its canonical path.
        path: PathBuf,
        /// The descriptor, opened with the confinement checks.
        file: File,
        /// Its metadata, from that descriptor.
        metadata: std::fs::Metadata,
        /// Resolved with no symbolic link on the way: only then may the
        /// URL's resolution be remembered for the fast path.
        direct: bool,
        /// Static or SSI.
        kind: Kind,
    },
    /// A script to run ([`Kind::Cgi`] or [`Kind::Php`]).
    Script(Script),
    /// A 301 to this location (a directory without its slash).
    Redirect(String),
    /// A directory listing page.
    Listing(String),
}

/// A script found for a request, and how the URL splits around it.
#[derive(Debug, Clone)]
pub struct Script {
    /// CGI or PHP.
    pub kind: Kind,
    /// Its canonical path.
    pub path: PathBuf,
    /// The decoded URL path that named it (`SCRIPT_NAME`).
    pub script_name: Vec<u8>,
    /// The decoded rest of the URL path (`PATH_INFO`), maybe empty.
    pub path_info: Vec<u8>,
    /// Whether the file may be executed (checked before spawning: 403).
    pub executable: bool,
}

impl Files {
    // ANCHOR: serve
    /// The answer for a method the static handler does not serve: 405 with
    /// `Allow` for a method HTTP defines, 501 for one it does not.
    pub fn refuse_method(method: &Method) -> Response<Body> {
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
        plain_error(StatusCode::NOT_IMPLEMENTED, "unknown method")
    }

    /// Resolves the request's path under the root, on the blocking pool.
    ///
    /// # Errors
    ///
    /// The error response (400, 403, 404, 500) when it resolves to nothing
    /// servable.
    pub async fn locate(self: &Arc<Self>, uri: &http::Uri) -> Result<Found, Response<Body>> {
        let path = uri.path().to_owned();
        let query = uri.query().map(str::to_owned);
        let files = Arc::clone(self);
        let found = tokio::task::spawn_blocking(move || files.find(&path, query.as_deref())).await;
        match found {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => Err(plain_error(e.status, &e.detail)),
            Err(_) => Err(plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file lookup failed",
            )),
        }
    }

    /// Answers a GET or HEAD with what [`Files::locate`] found: a file, a
    /// redirect or a listing. (Scripts and SSI documents are the
    /// handler's; here they would be sent as content.)
    pub async fn respond(&self, request: &Parts, found: Found) -> Response<Body> {
        let method = &request.method;
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
            Found::Script(script) => {
                tracing::error!(
                    "script {} reached the static handler",
                    script.path.display()
                );
                plain_error(StatusCode::FORBIDDEN, "scripts are not served as files")
            }
            Found::File {
                path,
                file,
                metadata,
                direct,
                kind,
            } => {
                // Remember how this URL resolved: only for a direct path
                // (a symlink may be re-pointed at any time), not for a
                // directory index (a new index file must be noticed), and
                // only for content (the fast path sends bytes as they are).
                if let Some(cache) = &self.cache
                    && direct
                    && kind == Kind::Static
                    && cache.admits(metadata.len())
                    && !request.uri.path().ends_with('/')
                {
                    cache.remember(request.uri.path(), &path);
                }
                self.file(&request.headers, method, &path, file, &metadata)
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
    pub fn fast_path(&self, request: &Parts) -> Option<Response<Body>> {
        let cache = self.cache.as_ref()?;
        let canonical = cache.resolved(request.uri.path())?;
        // Checked less than `cache.revalidate` ago: no system call at all.
        if let Some(entry) = cache.trusted(&canonical) {
            return Some(self.respond_file(&request.headers, &request.method, entry, true));
        }
        let metadata = std::fs::metadata(&canonical)
            .ok()
            .filter(std::fs::Metadata::is_file)?;
        let entry = cache.get(&canonical, Identity::of(&metadata))?;
        Some(self.respond_file(&request.headers, &request.method, entry, true))
    }
    // ANCHOR_END: fast_path

    // ANCHOR: find
    /// Resolves the URL path (blocking: runs on tokio's blocking pool).
    fn find(&self, raw_path: &str, query: Option<&str>) -> Result<Found, HttpError> {
        let mut segments = confine::segments(raw_path)?;
        let path = match self.root.resolve(&segments) {
            Ok(path) => path,
            // `/cgi-bin/env.cgi/extra` names no file, but a script and
            // the path after it (PATH_INFO).
            Err(e) if e.status == StatusCode::NOT_FOUND => {
                return self.find_script(&segments, raw_path).ok_or(e);
            }
            Err(e) => return Err(e),
        };
        let (file, metadata) = confine::open(&path)?;
        if !metadata.is_dir() {
            let kind = self.kinds.of(&path);
            if matches!(kind, Kind::Cgi | Kind::Php) {
                return Ok(Found::Script(script(
                    kind,
                    path,
                    &metadata,
                    &segments,
                    &[],
                    false,
                )));
            }
            // Direct when the canonical path is the plain join: no symlink.
            let mut joined = self.root.path().to_path_buf();
            joined.extend(&segments);
            let direct = joined == path;
            return regular(path, file, metadata, direct, kind);
        }
        if self.kinds.in_cgi_directory(&path) {
            // A listing would show which scripts exist.
            return Err(HttpError::new(
                StatusCode::FORBIDDEN,
                "directories under a CGI directory are not listed",
            ));
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
            // An index that is missing, or escapes the root, is skipped.
            if let Ok(candidate) = candidate
                && let Ok((file, metadata)) = confine::open(&candidate)
                && metadata.is_file()
            {
                let kind = self.kinds.of(&candidate);
                if matches!(kind, Kind::Cgi | Kind::Php) {
                    let found = script(kind, candidate, &metadata, &segments, &[], false);
                    return Ok(Found::Script(found));
                }
                return regular(candidate, file, metadata, false, kind);
            }
            segments.pop();
        }
        if !self.listing {
            return Err(HttpError::new(StatusCode::NOT_FOUND, "no index file here"));
        }
        let entries =
            listing::read_entries(&path, &self.root).map_err(|e| confine::io_status(&e))?;
        Ok(Found::Listing(listing::render(raw_path, &entries)))
    }

    /// The script named by a leading part of `segments`, the rest being its
    /// PATH_INFO; `None` when no leading part is a script (a static file
    /// with a path after it is not found, as in Apache by default).
    fn find_script(&self, segments: &[OsString], raw_path: &str) -> Option<Found> {
        for i in 1..segments.len() {
            let path = self.root.resolve(&segments[..i]).ok()?;
            let metadata = std::fs::metadata(&path).ok()?;
            if metadata.is_dir() {
                continue;
            }
            let kind = self.kinds.of(&path);
            if !metadata.is_file() || !matches!(kind, Kind::Cgi | Kind::Php) {
                return None;
            }
            let trailing_slash = raw_path.ends_with('/');
            let found = script(
                kind,
                path,
                &metadata,
                &segments[..i],
                &segments[i..],
                trailing_slash,
            );
            return Some(Found::Script(found));
        }
        None
    }
    // ANCHOR_END: find

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
        if let Some(entry) = cache.get(path, identity) {
            return self.respond_file(headers, method, entry, true);
        }
        let size = identity.size;
        let read = tokio::task::spawn_blocking(move || read_whole(file, size)).await;
        match read {
            Ok(Ok(body)) => {
                let file_headers = Arc::new(self.file_headers(path, metadata));
                let entry = Entry::new(identity, body, file_headers);
                cache.insert(path.to_owned(), entry.clone());
                self.respond_file(headers, method, entry, false)
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

    /// The validators and header values of the file at `path`.
    fn file_headers(&self, path: &Path, metadata: &std::fs::Metadata) -> FileHeaders {
        let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        FileHeaders::new(metadata.len(), modified, &self.mime.content_type(path))
    }

    // ANCHOR: body
    /// The response for a file whose whole content is in memory: a range is
    /// a slice of the same bytes, with no copy.
    fn respond_file(
        &self,
        headers: &HeaderMap,
        method: &Method,
        entry: Entry,
        hit: bool,
    ) -> Response<Body> {
        match self.head(headers, method, &entry.headers, Some(hit)) {
            Ok((response, range)) => {
                let body = if *method == Method::HEAD {
                    empty()
                } else {
                    full(entry.body.slice(range.start as usize..range.end as usize))
                };
                response.map(|()| body)
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
        let file_headers = self.file_headers(path, metadata);
        let (response, range) = match self.head(headers, method, &file_headers, None) {
            Ok(found) => found,
            Err(response) => return *response,
        };
        if *method == Method::HEAD {
            return response.map(|()| empty());
        }
        match stream(file, range).await {
            Ok(body) => response.map(|()| body),
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

    // ANCHOR: head
    /// Validators, conditionals and the range: either the response head to
    /// fill with the returned range, or a finished response (304, 412, 416).
    ///
    /// A full response starts from the file's ready-made head
    /// ([`FileHeaders`]): one clone of a `HeaderMap` copies its table and
    /// shares every value's bytes, so a cache hit neither formats nor
    /// hashes a header name.
    fn head(
        &self,
        headers: &HeaderMap,
        method: &Method,
        file: &FileHeaders,
        cache_hit: Option<bool>,
    ) -> Result<Head, Box<Response<Body>>> {
        // A file dated in the future has its Last-Modified clamped to the
        // present, which moves on: recompute rather than use a stale clamp.
        let refreshed;
        let file = if file.settled {
            file
        } else {
            refreshed = FileHeaders::new(file.size, file.modified, file.content_type_text());
            &refreshed
        };
        let length = file.size;
        match conditional::evaluate(method, headers, &file.validators) {
            Precondition::Proceed => {}
            Precondition::NotModified => return Err(Box::new(not_modified(file))),
            Precondition::Failed => {
                return Err(Box::new(plain_error(
                    StatusCode::PRECONDITION_FAILED,
                    "a precondition failed",
                )));
            }
        }
        let mut response = Response::new(());
        *response.headers_mut() = file.template.clone();
        // The template says `X-Cache: HIT`, the common case.
        let out = response.headers_mut();
        match cache_hit {
            Some(true) if self.x_cache_header => {}
            Some(false) if self.x_cache_header => {
                out.insert(X_CACHE, HeaderValue::from_static("MISS"));
            }
            _ => {
                out.remove(X_CACHE);
            }
        }
        let range = match conditional::range(method, headers, length, &file.validators) {
            RangeOutcome::Full => 0..length,
            RangeOutcome::Partial(range) => {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let out = response.headers_mut();
                out.insert(
                    header::CONTENT_LENGTH,
                    HeaderValue::from(range.end - range.start),
                );
                let value = conditional::content_range(&range, length);
                if let Ok(value) = HeaderValue::from_str(&value) {
                    out.insert(header::CONTENT_RANGE, value);
                }
                range
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
        Ok((response, range))
    }
    // ANCHOR_END: head
}

/// A file response's head without its body, and the bytes of the file the
/// body is to hold.
type Head = (Response<()>, Range<u64>);

/// `X-Cache: HIT` or `MISS`.
const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-cache");

/// A 304 Not Modified: the validators and no representation headers
/// (RFC 9110 §15.4.5).
fn not_modified(file: &FileHeaders) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    let out = response.headers_mut();
    out.insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
    out.insert(header::ETAG, file.etag.clone());
    out.insert(header::LAST_MODIFIED, file.last_modified.clone());
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

// ANCHOR: file_headers
/// The parts of a file's response head that depend only on the version of
/// the file. Formatting an ETag and an HTTP date costs more than the rest
/// of a cache hit together, so they are made once, when the file is read
/// into the cache, and kept in its entry.
#[derive(Debug)]
pub struct FileHeaders {
    /// Compared with the request's `If-*` and `Range` headers.
    pub validators: Validators,
    /// The file's length in bytes.
    pub size: u64,
    /// Its modification time, to recompute an unsettled `Last-Modified`.
    modified: SystemTime,
    etag: HeaderValue,
    last_modified: HeaderValue,
    content_type: HeaderValue,
    /// The head of a full `200` response, `X-Cache: HIT` included, in the
    /// order it goes on the wire.
    template: HeaderMap,
    /// Whether `Last-Modified` is final. A file dated in the future has it
    /// clamped to the present (see [`conditional::validators`]), and the
    /// present moves on.
    settled: bool,
}

impl FileHeaders {
    /// The header values for a file of `size` bytes modified at
    /// `modified`, served as `content_type`.
    pub fn new(size: u64, modified: SystemTime, content_type: &str) -> FileHeaders {
        let now = SystemTime::now();
        let validators = conditional::validators(size, modified, now);
        let last_modified = conditional::last_modified_header(&validators);
        let etag = header_value(&validators.etag, "\"\"");
        let last_modified = header_value(&last_modified, "Thu, 01 Jan 1970 00:00:00 GMT");
        // A type from a mime.types file that is not a valid header value
        // is served as bytes rather than not at all.
        let content_type = header_value(content_type, "application/octet-stream");
        let mut template = HeaderMap::with_capacity(7);
        template.insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
        template.insert(header::ETAG, etag.clone());
        template.insert(header::LAST_MODIFIED, last_modified.clone());
        template.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        template.insert(header::CONTENT_TYPE, content_type.clone());
        template.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        template.insert(X_CACHE, HeaderValue::from_static("HIT"));
        FileHeaders {
            etag,
            last_modified,
            content_type,
            template,
            settled: modified <= now,
            validators,
            size,
            modified,
        }
    }

    fn content_type_text(&self) -> &str {
        self.content_type
            .to_str()
            .unwrap_or("application/octet-stream")
    }
}
// ANCHOR_END: file_headers

/// `text` as a header value, or `fallback` if it cannot be one.
fn header_value(text: &str, fallback: &'static str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(fallback))
}

fn regular(
    path: PathBuf,
    file: File,
    metadata: std::fs::Metadata,
    direct: bool,
    kind: Kind,
) -> Result<Found, HttpError> {
    if !metadata.is_file() {
        return Err(HttpError::new(StatusCode::NOT_FOUND, "no such file"));
    }
    Ok(Found::File {
        path,
        file,
        metadata,
        direct,
        kind,
    })
}

/// A script, with its URL split into SCRIPT_NAME and PATH_INFO (decoded,
/// `/`-joined segments).
fn script(
    kind: Kind,
    path: PathBuf,
    metadata: &std::fs::Metadata,
    named_by: &[OsString],
    rest: &[OsString],
    trailing_slash: bool,
) -> Script {
    let join = |parts: &[OsString]| {
        let mut joined = Vec::new();
        for part in parts {
            joined.push(b'/');
            joined.extend_from_slice(part.as_bytes());
        }
        joined
    };
    let mut path_info = join(rest);
    if trailing_slash && !path_info.is_empty() {
        path_info.push(b'/');
    }
    Script {
        kind,
        executable: metadata.permissions().mode() & 0o111 != 0,
        path,
        script_name: join(named_by),
        path_info,
    }
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
async fn stream(mut file: File, range: Range<u64>) -> io::Result<Body> {
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

/// A body whose frames arrive through `receiver`, from a task or thread
/// still producing them; an `Err` frame cuts the response short.
pub fn channel_body(receiver: tokio::sync::mpsc::Receiver<io::Result<Frame<Bytes>>>) -> Body {
    let frames = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|frame| (frame, receiver))
    });
    StreamBody::new(frames).boxed()
}

/// Sends `reason` on the status line of `response` instead of the
/// standard phrase, when it differs and hyper can send it.
pub fn set_reason<B>(response: &mut Response<B>, reason: &str) {
    if response.status().canonical_reason() != Some(reason)
        && let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason.as_bytes().to_vec())
    {
        response.extensions_mut().insert(phrase);
    }
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
