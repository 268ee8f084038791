//! Serving an SSI page: the server's side of the [`crate::ssi`] engine.
//!
//! The engine is pure and synchronous; it reaches the world through its
//! [`Host`] trait. `PageHost` is that world: `include virtual` is a real
//! GET sub-request through the whole server (static files, CGI and PHP
//! with `SERVER_PROTOCOL=INCLUDED`), `include file` and `fsize` read under
//! the document root with the same confinement as any request, `exec`
//! runs a shell or a script, and directive failures go to the error log.
//!
//! The engine runs on tokio's blocking pool, since it reads files and
//! waits for sub-requests one after another. A sub-request is async code,
//! so the blocking thread hands it back to the runtime with
//! `Handle::block_on` and waits — allowed on a blocking-pool thread. A
//! nested SSI document is evaluated on the same thread, in place; only a
//! script run by a sub-request goes back to the runtime.
//!
//! The page is sent chunked, with no `Content-Length`, `ETag` or
//! `Last-Modified` (reference §3.1): its content changes with every request
//! (dates, includes), so it is never cached and never answered 304.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use step01_iterative::response::SERVER_NAME;
use tokio::runtime::Handle;

use crate::access::error_line;
use crate::cgi::meta::{self, Context, ScriptTarget};
use crate::cgi::process::Outcome;
use crate::files::{Body, Found, Kind, plain_error};
use crate::handler::{self, Conn, RequestBody};
use crate::server::Site;
use crate::ssi::{self, CgiOutput, Document, FileInfo, Host, Included, Target};

/// The largest SSI document parsed (500 beyond it): the whole page is
/// held in memory while it is evaluated.
pub const MAX_SSI_SOURCE: u64 = 8 * 1024 * 1024;

/// The most output kept from an `exec cmd` (the rest is discarded).
const MAX_EXEC_OUTPUT: u64 = 1024 * 1024;

// ANCHOR: respond
/// Answers a GET or HEAD for the SSI document at `path`.
pub async fn respond(
    site: Arc<Site>,
    request: &Parts,
    path: PathBuf,
    metadata: Metadata,
    conn: Conn,
) -> Response<Body> {
    let head_only = request.method == Method::HEAD;
    let runtime = Handle::current();
    let request = request.clone();
    let errors = site.errors.clone();
    let page = tokio::task::spawn_blocking(move || {
        let source = read_source(&path, &metadata)?;
        let document = document(&request, &path, &metadata);
        let vars = page_variables(&site, &request, &document, conn);
        let mut host = PageHost {
            site,
            runtime,
            page: path.clone(),
            request,
            conn,
        };
        Ok::<_, String>(ssi::evaluate(&source, &document, &vars, &mut host))
    })
    .await;
    let page = match page {
        Ok(Ok(page)) => page,
        Ok(Err(message)) => {
            errors.write(error_line("include", "error", Some(conn.peer), &message));
            return plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be processed",
            );
        }
        Err(_) => {
            return plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be processed",
            );
        }
    };
    let mut response = Response::new(if head_only {
        crate::files::empty()
    } else {
        chunked(page)
    });
    let out = response.headers_mut();
    out.insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
// ANCHOR_END: respond

/// A body of unknown length to hyper, so it is sent chunked (or, to an
/// HTTP/1.0 client, delimited by closing the connection).
fn chunked(page: Vec<u8>) -> Body {
    let frame = Ok::<_, std::io::Error>(Frame::data(Bytes::from(page)));
    StreamBody::new(futures_util::stream::iter([frame])).boxed()
}

fn read_source(path: &Path, metadata: &Metadata) -> Result<Vec<u8>, String> {
    if metadata.len() > MAX_SSI_SOURCE {
        return Err(format!(
            "{} is larger than {MAX_SSI_SOURCE} bytes: not parsed",
            path.display()
        ));
    }
    let mut source = Vec::with_capacity(metadata.len() as usize);
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_SSI_SOURCE).read_to_end(&mut source))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(source)
}

/// The engine's description of the document at `path`, named by `request`.
fn document(request: &Parts, path: &Path, metadata: &Metadata) -> Document {
    let raw_path = request.uri.path();
    let mut uri = step01_iterative::target::percent_decode(raw_path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|_| raw_path.to_owned());
    // A directory's index page is named by the directory's URL; its
    // DOCUMENT_URI names the page itself, as Apache's does.
    if uri.ends_with('/')
        && let Some(name) = path.file_name()
    {
        uri.push_str(&name.to_string_lossy());
    }
    Document {
        path: path.to_path_buf(),
        uri,
        modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        query: request.uri.query().map(str::to_owned),
        path_info: String::new(),
        owner: nix::unistd::User::from_uid(metadata.uid().into())
            .ok()
            .flatten()
            .map(|user| user.name),
    }
}

/// The CGI variables of the page's request, which SSI pages can echo and
/// test, and which `exec cmd` passes to its shell.
fn page_variables(
    site: &Site,
    request: &Parts,
    document: &Document,
    conn: Conn,
) -> BTreeMap<String, String> {
    let target = ScriptTarget {
        filename: document.path.clone(),
        script_name: document.uri.clone().into_bytes(),
        path_info: Vec::new(),
    };
    let context = Context {
        peer: conn.peer,
        local: conn.local,
        document_root: site.files.root.path(),
        pass_authorization: false,
        protocol: None,
    };
    match meta::variables(request, None, &target, &context) {
        Ok(vars) => vars
            .iter()
            .map(|(name, value)| (name.to_owned(), String::from_utf8_lossy(value).into_owned()))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

// ANCHOR: host
/// The server as the SSI engine sees it.
struct PageHost {
    site: Arc<Site>,
    runtime: Handle,
    /// The page's file, canonical: `exec` is allowed or not by where it
    /// is, and `exec cmd` runs in its directory.
    page: PathBuf,
    /// The page's own request: sub-requests copy its headers and query.
    request: Parts,
    conn: Conn,
}

impl PageHost {
    /// A GET sub-request for `url` (absolute, or relative to the page).
    fn sub_request(&self, url: &str) -> Result<Parts, String> {
        let absolute = if url.starts_with('/') {
            url.to_owned()
        } else {
            let page = self.request.uri.path();
            let directory = &page[..page.rfind('/').map_or(0, |i| i + 1)];
            format!("{directory}{url}")
        };
        let uri: http::Uri = absolute
            .parse()
            .map_err(|e| format!("{url} is not a URL path: {e}"))?;
        Ok(handler::bodiless_get(&self.request, uri))
    }

    /// A file named relative to `current`'s directory, confined to the
    /// document root like any request (the engine has already refused
    /// absolute paths and `..`).
    fn relative_file(&self, current: &Document, relative: &str) -> Result<PathBuf, String> {
        let directory = current.path.parent().unwrap_or(Path::new("/"));
        let canonical = std::fs::canonicalize(directory.join(relative))
            .map_err(|e| format!("{relative}: {e}"))?;
        if !canonical.starts_with(self.site.files.root.path()) {
            return Err(format!("{relative} is outside the document root"));
        }
        Ok(canonical)
    }

    /// Reads an included file: an SSI document is returned as source, for
    /// the engine to evaluate in place.
    fn included_file(&self, path: &Path, uri: String) -> Result<Included, String> {
        let metadata = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !metadata.is_file() {
            return Err(format!("{} is not a file", path.display()));
        }
        let body = read_source(path, &metadata)?;
        let ssi = (self.site.files.kinds.of(path) == Kind::Ssi).then(|| Document {
            uri,
            ..document(&self.request, path, &metadata)
        });
        Ok(Included { body, ssi })
    }
}

impl Host for PageHost {
    fn exec_allowed(&self) -> bool {
        handler::ssi_exec_allowed(&self.site.dynamic, &self.page)
    }

    fn include_virtual(&mut self, url: &str) -> Result<Included, String> {
        let request = self.sub_request(url)?;
        let site = Arc::clone(&self.site);
        let found = self
            .runtime
            .block_on(site.files.locate(&request.uri))
            .map_err(|response| format!("{url}: {}", response.status()))?;
        match found {
            Found::File {
                kind: Kind::Ssi,
                path,
                ..
            } => self.included_file(&path, request.uri.path().to_owned()),
            Found::Script(script)
                if script.kind == Kind::Cgi
                    && crate::cgi::output::is_nph(
                        &script
                            .path
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy(),
                    ) =>
            {
                Err(format!("{url}: an NPH script cannot be included"))
            }
            _ => {
                // Everything else goes through the whole server, as a
                // request would (scripts see SERVER_PROTOCOL=INCLUDED).
                let route = handler::route(
                    site,
                    &request,
                    RequestBody::Read(None),
                    self.conn,
                    Some("INCLUDED"),
                    0,
                );
                let (status, body) = self.runtime.block_on(async {
                    let response = route.await;
                    handler::collect(response).await
                })?;
                if !status.is_success() {
                    return Err(format!("{url} answered {status}"));
                }
                Ok(Included {
                    body: body.to_vec(),
                    ssi: None,
                })
            }
        }
    }

    fn include_file(&mut self, current: &Document, relative: &str) -> Result<Included, String> {
        let path = self.relative_file(current, relative)?;
        if matches!(self.site.files.kinds.of(&path), Kind::Cgi | Kind::Php) {
            return Err(format!(
                "{relative} is a script: include it with virtual=, which runs it"
            ));
        }
        let uri = match current.uri.rfind('/') {
            Some(i) => format!("{}{relative}", &current.uri[..=i]),
            None => relative.to_owned(),
        };
        self.included_file(&path, uri)
    }

    fn file_info(&mut self, current: &Document, target: &Target) -> Result<FileInfo, String> {
        let path = match target {
            Target::File(relative) => self.relative_file(current, relative)?,
            Target::Virtual(url) => {
                let request = self.sub_request(url)?;
                let found = self
                    .runtime
                    .block_on(self.site.files.locate(&request.uri))
                    .map_err(|response| format!("{url}: {}", response.status()))?;
                match found {
                    Found::File { path, .. } => path,
                    Found::Script(script) => script.path,
                    Found::Redirect(_) | Found::Listing(_) => {
                        return Err(format!("{url} is a directory"));
                    }
                }
            }
        };
        let metadata = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(FileInfo {
            size: metadata.len(),
            modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }

    fn exec_cgi(&mut self, url: &str) -> Result<CgiOutput, String> {
        // The script gets the page's query string (reference §3.2).
        let path = url.split('?').next().unwrap_or(url);
        let with_query = match self.request.uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        let request = self.sub_request(&with_query)?;
        let site = Arc::clone(&self.site);
        let conn = self.conn;
        let outcome = self.runtime.block_on(async {
            let found = site.files.locate(&request.uri).await;
            let Ok(Found::Script(script)) = found else {
                return Err(format!("{url} is not a CGI script"));
            };
            let body = RequestBody::Read(None);
            let outcome =
                handler::run_script(&site, &request, body, script, conn, Some("INCLUDED")).await;
            Ok(match outcome {
                Outcome::LocalRedirect(target) => CgiOutput::Location(target.to_string()),
                Outcome::Response(response) => {
                    let location = response
                        .headers()
                        .get(header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    match location {
                        Some(location) if response.status().is_redirection() => {
                            CgiOutput::Location(location)
                        }
                        _ => {
                            let (status, body) = handler::collect(response).await?;
                            if !status.is_success() {
                                return Err(format!("{url} answered {status}"));
                            }
                            CgiOutput::Body(body.to_vec())
                        }
                    }
                }
            })
        })?;
        Ok(outcome)
    }

    fn exec_cmd(
        &mut self,
        command: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, String> {
        let Ok(permit) = Arc::clone(&self.site.dynamic.slots).try_acquire_owned() else {
            return Err("too many scripts running".to_owned());
        };
        let directory = self.page.parent().map_or_else(
            || self.site.files.root.path().to_path_buf(),
            Path::to_path_buf,
        );
        let timeout = self.site.dynamic.timeouts.header;
        let limits = self.site.dynamic.limits;
        let errors = self.site.errors.clone();
        let peer = self.conn.peer;
        self.runtime.block_on(async move {
            let mut shell = tokio::process::Command::new("/bin/sh");
            shell
                .arg("-c")
                .arg(command)
                .env_clear()
                .env("PATH", meta::SCRIPT_PATH)
                .envs(vars)
                .current_dir(directory)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
            limits.apply(&mut shell);
            let mut child = shell
                .spawn()
                .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
            let pgid = child.id().and_then(|id| i32::try_from(id).ok());
            let stdout = child.stdout.take();
            let stderr = child.stderr.take();
            let read = async {
                let mut output = Vec::new();
                let mut messages = Vec::new();
                if let (Some(stdout), Some(stderr)) = (stdout, stderr) {
                    use tokio::io::AsyncReadExt;
                    // Bounded: a command printing for ever must not take
                    // the server's memory with it.
                    let mut stdout = stdout.take(MAX_EXEC_OUTPUT);
                    let mut stderr = stderr.take(MAX_EXEC_OUTPUT);
                    let _ = tokio::join!(
                        stdout.read_to_end(&mut output),
                        stderr.read_to_end(&mut messages)
                    );
                }
                let _ = child.wait().await;
                (output, messages)
            };
            let result = tokio::time::timeout(timeout, read).await;
            if result.is_err()
                && let Some(pgid) = pgid
            {
                // The whole group, before the child can be reaped and
                // its pid (the group's id) reused.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            drop(permit);
            match result {
                Ok((output, messages)) => {
                    for line in String::from_utf8_lossy(&messages).lines() {
                        errors.write(error_line(
                            "include",
                            "error",
                            Some(peer),
                            &format!("exec cmd: {line}"),
                        ));
                    }
                    Ok(output)
                }
                Err(_) => Err(format!("exec cmd timed out after {timeout:?}")),
            }
        })
    }

    fn log_error(&mut self, message: &str) {
        self.site.errors.write(error_line(
            "include",
            "error",
            Some(self.conn.peer),
            message,
        ));
    }
}
// ANCHOR_END: host
