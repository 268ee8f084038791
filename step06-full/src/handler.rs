//! The handler: which part of the server answers a request.
//!
//! Part 1's server had one kind of answer, a file. Part 2 adds three kinds
//! of *dynamic* content, and part 3 applications mounted at URL prefixes;
//! this file routes between them, mounts first, then by what
//! [`Files::locate`] resolved (and confined) the path to:
//!
//! | found                         | answered by                          |
//! |-------------------------------|--------------------------------------|
//! | a path under a `[[mount]]`    | its application ([`crate::mount`])   |
//! | a cached file (GET/HEAD)      | [`Files::fast_path`], on the spot    |
//! | a CGI script, any method      | [`crate::cgi::process`], a process   |
//! | a PHP page, any method        | the same, with php-cgi as program    |
//! | an SSI document (GET/HEAD)    | [`crate::ssi`], parsed and evaluated |
//! | a file, directory or listing  | [`Files::respond`]                   |
//!
//! A script may answer with `Location: /other/path` and no status: the
//! server then serves that path instead, as a GET, without telling the
//! client (a *local redirect*), at most [`MAX_LOCAL_REDIRECTS`] times in a
//! row.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::Semaphore;

use crate::access::error_line;
use crate::cgi::meta::{self, Context, ScriptTarget};
use crate::cgi::process::{self, Invocation, Outcome, ResourceLimits, Timeouts};
use crate::files::{Body, Files, Found, Kind, Script, plain_error};
use crate::server::Site;

/// How many local redirects may follow one another (reference §1.5);
/// a script that redirects to itself gets a 500 after that many.
pub const MAX_LOCAL_REDIRECTS: usize = 10;

/// What dynamic content needs, built from the configuration.
#[derive(Debug)]
pub struct Dynamic {
    /// The php-cgi program, found at start; `None` when PHP is enabled but
    /// php-cgi is missing (PHP pages then get a 503 that says so).
    pub php: Option<PathBuf>,
    /// What `php.binary` said, for the message when it was not found.
    pub php_wanted: String,
    /// The CGI header and idle timeouts.
    pub timeouts: Timeouts,
    /// The resource limits every script and SSI command runs under.
    pub limits: ResourceLimits,
    /// The largest request body a script is given (413 beyond it).
    pub max_body: u64,
    /// Export `Authorization` to scripts.
    pub pass_authorization: bool,
    /// One permit per script allowed to run at once.
    pub slots: Arc<Semaphore>,
    /// How many permits `slots` was made with.
    pub max_processes: usize,
    /// `exec` allowed in every SSI document.
    pub ssi_exec: bool,
    /// Canonical directories under which SSI `exec` is allowed.
    pub ssi_exec_directories: Vec<PathBuf>,
}

/// The two ends of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// The client.
    pub peer: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
}

/// A request body: still on the wire, already read, or none at all.
pub enum RequestBody {
    /// hyper's body, not read yet.
    Incoming(Incoming),
    /// Read (or made up: a local redirect and an SSI include have none).
    Read(Option<Bytes>),
}

/// A boxed response future: routing recurses (a local redirect is routed
/// again), and a recursive `async fn` needs a box.
pub type Responding<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;

// ANCHOR: respond
// ANCHOR: cached_first
/// Answers `request`, whose body is `body`.
pub async fn respond(
    site: Arc<Site>,
    request: &Parts,
    body: RequestBody,
    conn: Conn,
) -> Response<Body> {
    // A cached file first, before the routing future exists: that future
    // holds every kind of response (a CGI run, an SSI page), so it is
    // large (about 20 KiB), and building and boxing it for each request
    // was the biggest cost of a cache hit.
    match cached(&site, request) {
        Some(response) => response,
        None => route(site, request, body, conn, None, 0).await,
    }
}

/// The answer to a `GET` or `HEAD` of a file the cache holds, unless a
/// mounted application owns the path.
///
/// The cache is asked first: a URL it knows was served as a file, which
/// a mount would have prevented, so the mount check (which decodes the
/// path) runs only on a hit, and a request for an application pays for it
/// once, in `route_inner`, rather than twice.
fn cached(site: &Site, request: &Parts) -> Option<Response<Body>> {
    let safe = request.method == Method::GET || request.method == Method::HEAD;
    if !safe {
        return None;
    }
    let response = site.files.fast_path(request)?;
    if site.mounts.find(request.uri.path()).is_some() {
        return None;
    }
    Some(response)
}
// ANCHOR_END: cached_first

/// Routes one request; `protocol` is `Some("INCLUDED")` for an SSI
/// sub-request, `redirects` counts local redirects so far.
pub fn route<'a>(
    site: Arc<Site>,
    request: &'a Parts,
    body: RequestBody,
    conn: Conn,
    protocol: Option<&'static str>,
    redirects: usize,
) -> Responding<'a> {
    Box::pin(route_inner(site, request, body, conn, protocol, redirects))
}

async fn route_inner(
    site: Arc<Site>,
    request: &Parts,
    body: RequestBody,
    conn: Conn,
    protocol: Option<&'static str>,
    redirects: usize,
) -> Response<Body> {
    // A mounted application owns everything under its prefix.
    if let Some(mount) = site.mounts.find(request.uri.path()) {
        return crate::mount::serve(&site, mount, request, body, conn).await;
    }
    let safe = request.method == Method::GET || request.method == Method::HEAD;
    // A first request already tried the cache in `respond`; a local
    // redirect or an SSI include (a sub-request) has not.
    let sub_request = redirects > 0 || protocol.is_some();
    if sub_request
        && safe
        && let Some(response) = site.files.fast_path(request)
    {
        return response;
    }
    let found = match site.files.locate(&request.uri).await {
        Ok(found) => found,
        Err(response) => {
            // A script that could not be found or run is logged, as every
            // row of the CGI error table must be (reference §1.7).
            if site.files.kinds.names_a_script(request.uri.path()) {
                site.errors.write(error_line(
                    "cgi",
                    "error",
                    Some(conn.peer),
                    &format!(
                        "script {} not run: {}",
                        request.uri.path(),
                        response.status()
                    ),
                ));
            }
            return response;
        }
    };
    match found {
        Found::Script(script) => {
            let outcome = run_script(&site, request, body, script, conn, protocol).await;
            match outcome {
                Outcome::Response(response) => response,
                Outcome::LocalRedirect(target) => {
                    if redirects >= MAX_LOCAL_REDIRECTS {
                        site.errors.write(error_line(
                            "cgi",
                            "error",
                            Some(conn.peer),
                            &format!(
                                "more than {MAX_LOCAL_REDIRECTS} local redirects, the last to {target}"
                            ),
                        ));
                        return plain_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "too many local redirects",
                        );
                    }
                    let again = redirected(request, &target);
                    let body = RequestBody::Read(None);
                    route(site, &again, body, conn, protocol, redirects + 1).await
                }
            }
        }
        // An SSI page reached from inside another page's include (a
        // script there redirected to it) would start a new evaluation
        // with its depth count at zero, and could recurse for ever.
        Found::File {
            kind: Kind::Ssi, ..
        } if protocol.is_some() => plain_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an included request cannot lead to another SSI page",
        ),
        Found::File {
            kind: Kind::Ssi,
            path,
            metadata,
            ..
        } if safe => crate::ssi_page::respond(site, request, path, metadata, conn).await,
        found if safe => site.files.respond(request, found).await,
        _ => Files::refuse_method(&request.method),
    }
}
// ANCHOR_END: respond

/// The request a local redirect turns into: a GET of `target` with the
/// original headers, minus those that described the original body.
fn redirected(original: &Parts, target: &http::uri::PathAndQuery) -> Parts {
    bodiless_get(original, http::Uri::from(target.clone()))
}

/// A GET of `uri` made on behalf of `original` (a local redirect, an SSI
/// include): its version and headers, minus those that described its
/// body, since the new request has none.
pub fn bodiless_get(original: &Parts, uri: http::Uri) -> Parts {
    let mut headers: HeaderMap = original.headers.clone();
    for name in [
        http::header::CONTENT_LENGTH,
        http::header::CONTENT_TYPE,
        http::header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    let mut request = http::Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.version_mut() = original.version;
    *request.headers_mut() = headers;
    request.into_parts().0
}

// ANCHOR: run_script
/// Runs a CGI script or a PHP page for `request`.
pub async fn run_script(
    site: &Site,
    request: &Parts,
    body: RequestBody,
    script: Script,
    conn: Conn,
    protocol: Option<&'static str>,
) -> Outcome {
    let dynamic = &site.dynamic;
    let fail = |status, detail: &str| Outcome::Response(plain_error(status, detail));
    let program = match script.kind {
        Kind::Php => match &dynamic.php {
            Some(php) => php.clone(),
            None => {
                let message = format!(
                    "PHP is not available: php-cgi ({}) was not found; install it \
                     (Debian: apt-get install php-cgi) or set php.binary",
                    dynamic.php_wanted
                );
                site.errors
                    .write(error_line("php", "error", Some(conn.peer), &message));
                return fail(StatusCode::SERVICE_UNAVAILABLE, &message);
            }
        },
        _ if !script.executable => {
            site.errors.write(error_line(
                "cgi",
                "error",
                Some(conn.peer),
                &format!("script not executable: {}", script.path.display()),
            ));
            return fail(StatusCode::FORBIDDEN, "the script is not executable");
        }
        _ => script.path.clone(),
    };
    // The body first: a client uploading slowly must not hold a slot
    // while no script runs.
    let body = match read_body(request, body, dynamic.max_body).await {
        Ok(body) => body,
        Err(response) => return Outcome::Response(response),
    };
    // Then a slot: beyond `cgi.max_processes` the answer is 503 at once,
    // not a queue of forks.
    let Ok(permit) = Arc::clone(&dynamic.slots).try_acquire_owned() else {
        site.errors.write(error_line(
            "cgi",
            "warn",
            Some(conn.peer),
            "cgi.max_processes scripts already running; answered 503",
        ));
        let mut busy = plain_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many scripts are running; try again shortly",
        );
        busy.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
        return Outcome::Response(busy);
    };
    let target = ScriptTarget {
        filename: script.path.clone(),
        script_name: script.script_name.clone(),
        path_info: script.path_info.clone(),
    };
    let context = Context {
        peer: conn.peer,
        local: conn.local,
        document_root: site.files.root.path(),
        pass_authorization: dynamic.pass_authorization,
        protocol,
    };
    let length = body.as_ref().map(Bytes::len);
    let mut vars = match meta::variables(request, length, &target, &context) {
        Ok(vars) => vars,
        Err(e) => return fail(e.status, &e.detail),
    };
    if script.kind == Kind::Php {
        // php-cgi refuses to run without it ("cgi.force_redirect").
        vars.set("REDIRECT_STATUS", "200");
    }
    let file_name = script
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A CGI script runs in its own directory (RFC 3875 §7.2). php-cgi
    // does not: it reads a `php.ini` from its working directory *instead
    // of* the system one, so one uploaded next to a page would configure
    // PHP. It starts in `/` and changes into the page's directory itself.
    let directory = match script.kind {
        Kind::Php => PathBuf::from("/"),
        _ => script
            .path
            .parent()
            .map_or_else(|| site.files.root.path().to_path_buf(), PathBuf::from),
    };
    let invocation = Invocation {
        program,
        directory,
        vars,
        body: body.unwrap_or_default(),
        label: script.path.display().to_string(),
        peer: conn.peer,
        nph: script.kind == Kind::Cgi && crate::cgi::output::is_nph(&file_name),
        head_only: request.method == Method::HEAD,
        limits: dynamic.limits,
    };
    process::run(invocation, dynamic.timeouts, &site.errors, permit).await
}
// ANCHOR_END: run_script

// ANCHOR: read_body
/// Reads the whole request body, up to `limit` bytes. hyper has already
/// undone a chunked transfer coding, so what arrives is the body itself,
/// and its length is the `CONTENT_LENGTH` the script will see. `None` when
/// the request has no body at all.
///
/// # Errors
///
/// 413 beyond the limit, 400 when the client breaks off.
pub async fn read_body(
    request: &Parts,
    body: RequestBody,
    limit: u64,
) -> Result<Option<Bytes>, Response<Body>> {
    let incoming = match body {
        RequestBody::Read(bytes) => return Ok(bytes),
        RequestBody::Incoming(incoming) => incoming,
    };
    let has_body = request.headers.contains_key(http::header::CONTENT_LENGTH)
        || request
            .headers
            .contains_key(http::header::TRANSFER_ENCODING);
    if !has_body {
        return Ok(None);
    }
    let declared = request
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(incoming, limit).collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(plain_error(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
    }
}
// ANCHOR_END: read_body

fn too_large() -> Response<Body> {
    let mut refused = plain_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is larger than limits.max_body",
    );
    // The rest of the body is not read: the connection cannot be reused.
    refused.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    refused
}

/// Whether `exec` may run in the SSI document at the canonical `path`:
/// decided on where the file is, not on the URL that named it, so
/// `/ssi/exec/../page.shtml` cannot borrow the permission of `/ssi/exec`.
pub fn ssi_exec_allowed(dynamic: &Dynamic, path: &std::path::Path) -> bool {
    dynamic.ssi_exec
        || dynamic
            .ssi_exec_directories
            .iter()
            .any(|directory| path.starts_with(directory))
}

/// A response's body, read whole (for SSI includes).
///
/// # Errors
///
/// The body's error, as text.
pub async fn collect(response: Response<Body>) -> Result<(StatusCode, Bytes), String> {
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, bytes))
}
