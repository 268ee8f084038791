//! Mounted applications: chapter 2's gateway, served under hyper.
//!
//! Chapter 2 defined the meeting point of a server and an application —
//! an [`Application`] called with an [`Environ`] and a [`StartResponse`],
//! returning its body as an iterator of chunks — and served it one
//! connection at a time. Here the full server mounts such applications at
//! URL prefixes from its configuration: `/servlet/visits` (a servlet,
//! [`crate::servlet`]), `/apps/hello` (one of chapter 2's demos), `/py`
//! (a Flask application, with the `python` feature). A request under a
//! prefix goes to its application; `SCRIPT_NAME` is the prefix and
//! `PATH_INFO` the rest, exactly as WSGI mounts them.
//!
//! Prefixes are matched on the *decoded, normalised* path, the one the
//! file handler serves, as chapter 5 did: matched on the raw text,
//! `/apps/%65nv/x`, `/apps/./env/x` or `//apps/env/x` would miss the mount
//! at `/apps/env` and reach the files under its prefix, which the mount
//! is there to hide; and `/apps/env/../x` would reach the application
//! although it names `/apps/x`. The application then sees that normalised
//! path, so `SCRIPT_NAME` and `PATH_INFO` split where the match was made
//! (`REQUEST_URI` stays as the client sent it).
//!
//! Applications are synchronous (WSGI is), so each call runs on tokio's
//! blocking pool. The body iterator is pulled there too, and its chunks
//! cross to the connection's task through a small channel: a slow client
//! slows the application down instead of filling memory.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Frame;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use step01_iterative::response::SERVER_NAME;
use step02_wsgi::environ::{self, Origin};
use step02_wsgi::gateway::{Application, Environ, ErrorStream, ResponseHead, StartResponse};
use step05_threadpool::confine::canonical_path;
use tokio::sync::{mpsc, oneshot};

use crate::access::error_line;
use crate::cgi::meta;
use crate::files::{Body, plain_error};
use crate::handler::{self, Conn, RequestBody};
use crate::server::Site;

/// How many body chunks may wait between the application and the client.
const CHUNKS_IN_FLIGHT: usize = 4;

/// An application mounted at a URL prefix.
pub struct Mount {
    /// The prefix, as configured, without a trailing slash (`/py`).
    pub prefix: String,
    /// What the configuration named, for logs (`servlet visits`).
    pub label: String,
    /// The application.
    pub app: Arc<dyn Application>,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("prefix", &self.prefix)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

// ANCHOR: find
/// The mounts, longest prefix first, so `/py/admin` wins over `/py`.
#[derive(Debug, Default)]
pub struct Mounts(Vec<Mount>);

impl Mounts {
    /// Orders `mounts` for matching.
    pub fn new(mut mounts: Vec<Mount>) -> Mounts {
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Mounts(mounts)
    }

    /// The mount whose prefix `path` (the raw request path) lies under,
    /// once decoded and normalised (`canonical_path`). A prefix matches
    /// whole segments only: `/py` takes `/py`, `/py/x` and `/p%79/x`,
    /// never `/python` or `/py/../x`. A path that cannot be normalised is
    /// under no mount: the file handler answers it with the right error.
    pub fn find(&self, path: &str) -> Option<&Mount> {
        if self.0.is_empty() {
            return None;
        }
        let path = canonical_path(path)?;
        self.0.iter().find(|mount| under(&path, &mount.prefix))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
// ANCHOR_END: find

/// Whether `path` is `prefix` itself or below it, by whole segments.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What a normalised path must encode again to be a request-target: `%`
/// (it was decoded once and must not be twice), `?` and `#` (they would
/// end the path), and what a target may not hold at all.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The request-target the application sees: the normalised path, encoded
/// again, and the query as sent. `None` for a path [`canonical_path`]
/// refuses (a request [`Mounts::find`] never routes here).
fn normalised_target(request: &Parts) -> Option<String> {
    let path = canonical_path(request.uri.path())?;
    let mut target = utf8_percent_encode(&path, PATH_ESCAPES).to_string();
    if let Some(query) = request.uri.query() {
        target.push('?');
        target.push_str(query);
    }
    Some(target)
}

// ANCHOR: serve
/// Answers `request` with the application mounted at `mount`.
pub async fn serve(
    site: &Arc<Site>,
    mount: &Mount,
    request: &Parts,
    body: RequestBody,
    conn: Conn,
) -> Response<Body> {
    let input = match handler::read_body(request, body, site.dynamic.max_body).await {
        Ok(input) => input,
        Err(response) => return response,
    };
    let origin = Origin {
        peer: conn.peer,
        local: conn.local,
        script_name: mount.prefix.clone(),
        pass_authorization: true,
    };
    let mut gateway_request = meta::request_of(request);
    let Some(normalised) = normalised_target(request) else {
        return plain_error(StatusCode::BAD_REQUEST, "malformed path");
    };
    let sent = std::mem::replace(&mut gateway_request.target, normalised);
    let mut vars = match environ::build(&gateway_request, &origin) {
        Ok(vars) => vars,
        Err(e) => return plain_error(e.status, &e.detail),
    };
    // REQUEST_URI is what the client sent, as Apache has it; only the
    // split into SCRIPT_NAME and PATH_INFO uses the normalised path.
    vars.set("REQUEST_URI", sent);
    if let Some(input) = &input {
        vars.set("CONTENT_LENGTH", input.len().to_string());
    }
    let environ = Environ {
        vars,
        url_scheme: "http",
        input: Cursor::new(input.map(Vec::from).unwrap_or_default()),
        errors: ErrorStream::new(format!("{} {}", request.method, request.uri)),
        multithread: true,
        multiprocess: false,
        run_once: false,
        extensions: http::Extensions::new(),
    };
    let (head_sender, head) = oneshot::channel();
    let (chunk_sender, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let app = Arc::clone(&mount.app);
    tokio::task::spawn_blocking(move || call(app.as_ref(), environ, head_sender, chunk_sender));
    let head = match head.await {
        Ok(Ok(head)) => head,
        Ok(Err(failure)) => {
            site.errors.write(error_line(
                "app",
                "error",
                Some(conn.peer),
                &format!("{}: {failure}", mount.label),
            ));
            return plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the application failed; the error log says why",
            );
        }
        Err(_) => {
            return plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the application ended without answering",
            );
        }
    };
    respond(head, chunks, request.method == http::Method::HEAD)
}
// ANCHOR_END: serve

/// One chunk of the body, or the failure that cuts it short.
type Chunk = std::io::Result<Frame<Bytes>>;

// ANCHOR: call
/// Calls the application on a blocking-pool thread: its head goes back
/// through `head` once the first chunk exists (an application may call
/// `start_response` lazily, inside its iterator), then each chunk through
/// `chunks`. A panic or an error before the head is a 500; after it, the
/// body is cut off so the client sees it incomplete.
fn call(
    app: &dyn Application,
    environ: Environ,
    head: oneshot::Sender<Result<Started, String>>,
    chunks: mpsc::Sender<Chunk>,
) {
    let start = StartResponse::new();
    let called = catch_unwind(AssertUnwindSafe(|| app.call(environ, start.clone())));
    let mut body = match called {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            let _ = head.send(Err(format!("application error: {e}")));
            return;
        }
        Err(_) => {
            let _ = head.send(Err("the application panicked".to_owned()));
            return;
        }
    };
    // The first chunk that is not empty: until it exists the application
    // may still call start_response (PEP 3333). Then one more: a body that
    // turns out to be one chunk goes out with a Content-Length, as chapter
    // 2's server sends it, instead of chunked.
    let first = match next_non_empty(&mut body) {
        Ok(first) => first,
        Err(failure) => {
            let _ = head.send(Err(failure));
            return;
        }
    };
    let second = match &first {
        Some(_) => match next_non_empty(&mut body) {
            Ok(second) => second,
            Err(failure) => {
                let _ = head.send(Err(failure));
                return;
            }
        },
        None => None,
    };
    let Some(response_head) = start.take_for_sending() else {
        let _ = head.send(Err("the application never called start_response".to_owned()));
        return;
    };
    let whole = second.is_none().then(|| first.clone().unwrap_or_default());
    if head
        .send(Ok(Started {
            head: response_head,
            whole,
        }))
        .is_err()
        || second.is_none()
    {
        return;
    }
    for chunk in [first, second].into_iter().flatten() {
        if chunks.blocking_send(Ok(Frame::data(chunk.into()))).is_err() {
            // The client went away; dropping `body` is the application's
            // close().
            return;
        }
    }
    loop {
        match next_non_empty(&mut body) {
            Ok(Some(chunk)) => {
                if chunks.blocking_send(Ok(Frame::data(chunk.into()))).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(failure) => {
                // After the head: cut the body, so the client sees it
                // incomplete.
                let _ = chunks.blocking_send(Err(std::io::Error::other(failure)));
                return;
            }
        }
    }
}

/// What the application's head turned into: the head, and the whole body
/// when it was a single chunk.
struct Started {
    head: ResponseHead,
    whole: Option<Vec<u8>>,
}

/// The body's next chunk that is not empty, `None` at its end; a failure
/// or a panic inside the iterator is an error message.
fn next_non_empty(body: &mut step02_wsgi::gateway::Body) -> Result<Option<Vec<u8>>, String> {
    loop {
        match catch_unwind(AssertUnwindSafe(|| body.next())) {
            Ok(Some(Ok(chunk))) if chunk.is_empty() => {}
            Ok(Some(Ok(chunk))) => return Ok(Some(chunk)),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(format!("application error: {e}")),
            Err(_) => return Err("the application panicked".to_owned()),
        }
    }
}
// ANCHOR_END: call

/// The hyper response for an application's head and body chunks.
fn respond(started: Started, chunks: mpsc::Receiver<Chunk>, head_only: bool) -> Response<Body> {
    let Started { head, whole } = started;
    let body = match whole {
        _ if head_only => crate::files::empty(),
        // hyper sends a whole body with its Content-Length.
        Some(bytes) => crate::files::full(bytes),
        None => crate::files::channel_body(chunks),
    };
    let mut response = Response::new(body);
    *response.status_mut() = head.status;
    crate::files::set_reason(&mut response, &head.reason);
    let headers = response.headers_mut();
    headers.insert(http::header::SERVER, HeaderValue::from_static(SERVER_NAME));
    for (name, value) in head.headers {
        // The gateway has already refused invalid and hop-by-hop headers.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(prefixes: &[&str]) -> Mounts {
        let hello: Arc<dyn Application> = Arc::new(step02_wsgi::apps::hello::hello);
        Mounts::new(
            prefixes
                .iter()
                .map(|prefix| Mount {
                    prefix: (*prefix).to_owned(),
                    label: (*prefix).to_owned(),
                    app: Arc::clone(&hello),
                })
                .collect(),
        )
    }

    fn found<'a>(mounts: &'a Mounts, path: &str) -> Option<&'a str> {
        mounts.find(path).map(|mount| mount.prefix.as_str())
    }

    #[test]
    fn prefixes_match_whole_segments_longest_first() {
        let mounts = mounts(&["/py", "/py/admin", "/deep/er/path"]);
        assert_eq!(found(&mounts, "/py"), Some("/py"));
        assert_eq!(found(&mounts, "/py/"), Some("/py"));
        assert_eq!(found(&mounts, "/py/x"), Some("/py"));
        assert_eq!(found(&mounts, "/py/admin/x"), Some("/py/admin"));
        assert_eq!(found(&mounts, "/py/administrator"), Some("/py"));
        assert_eq!(found(&mounts, "/deep/er/path/x"), Some("/deep/er/path"));
        for path in ["/python", "/", "/p", "/deep/er", "/deep/er/pathology"] {
            assert_eq!(found(&mounts, path), None, "{path}");
        }
    }

    #[test]
    fn prefixes_match_the_path_the_file_handler_would_serve() {
        let mounts = mounts(&["/py"]);
        // Other spellings of a path under the mount are under it.
        for path in [
            "/p%79/x",
            "/%70%79",
            "/./py/x",
            "//py/x",
            "/a/../py/x",
            "/py//x",
        ] {
            assert_eq!(found(&mounts, path), Some("/py"), "{path}");
        }
        // A path that only starts with the prefix's text is not.
        for path in [
            "/py/../x", "/py/..", "/py%2Fx", "/../py", "/py/%zz", "/py/%ff",
        ] {
            assert_eq!(found(&mounts, path), None, "{path}");
        }
    }

    #[test]
    fn the_application_sees_the_normalised_target() {
        let target = |uri: &str| {
            let (parts, ()) = http::Request::get(uri)
                .body(())
                .expect("a valid request")
                .into_parts();
            normalised_target(&parts)
        };
        assert_eq!(target("/py").as_deref(), Some("/py"));
        assert_eq!(
            target("/p%79/./a//b/?x=%20").as_deref(),
            Some("/py/a/b/?x=%20")
        );
        // Decoded once, encoded again: an escaped `%` or `?` stays escaped
        // and never becomes a second decoding or the start of the query.
        assert_eq!(
            target("/py/a%2541%3Fb%23c").as_deref(),
            Some("/py/a%2541%3Fb%23c")
        );
        assert_eq!(
            target("/py/caf%C3%A9%20x").as_deref(),
            Some("/py/caf%C3%A9%20x")
        );
    }
}
