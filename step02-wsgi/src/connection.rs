//! One client's life, now through the gateway.
//!
//! As in chapter 1: read a request, answer, close. What changed is the
//! middle. Instead of a handler returning a finished response, the server
//! builds an [`Environ`], calls the application, waits for the first
//! non-empty body chunk (by then the application must have called
//! `start_response`), chooses the framing, and streams the rest.
//!
//! An application is someone else's code, so every call into it — `call`
//! and each `next()` of its body — runs under `catch_unwind`: a panic
//! becomes a 500 (or, once the head is sent, an aborted response), is
//! logged, and the server serves the next client.

use std::any::Any;
use std::io::Cursor;
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};

use http::StatusCode;
use step01_iterative::connection::{READ_TIMEOUT, linger_and_close};
use step01_iterative::request::Request;
use step01_iterative::response::Persistence;
use step01_iterative::{Connection, Error, HttpError, Response};

use crate::environ::{self, Origin};
use crate::gateway::{Application, Body, Environ, ErrorStream, StartResponse};
use crate::request::read_request;
use crate::response::{BodyError, BodyFraming, BodyWriter, choose_framing, write_head};

/// How the gateway presents itself to applications.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// The URL prefix the application is mounted at (`""` for the root).
    pub script_name: String,
    /// `wsgi.multithread`: may the application be called concurrently?
    pub multithread: bool,
    /// `wsgi.multiprocess`: do other processes run it too?
    pub multiprocess: bool,
}

// ANCHOR: serve_connection
/// Serves one client through the gateway: read, call the application,
/// stream its response, close.
pub fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: &dyn Application,
    options: &GatewayOptions,
) {
    if let Err(e) = stream.set_read_timeout(Some(READ_TIMEOUT)) {
        tracing::warn!(%peer, "cannot set read timeout: {e}");
    }
    let local = stream.local_addr().unwrap_or(peer);
    let mut connection = Connection::new(stream);
    match read_request(&mut connection) {
        Ok(Some(request)) => {
            let origin = Origin {
                peer,
                local,
                script_name: options.script_name.clone(),
                // The application runs in our process and does its own
                // authentication: it needs the credentials.
                pass_authorization: true,
            };
            let line = request.request_line();
            let sent = respond(
                &mut connection,
                request,
                &origin,
                app,
                options,
                Persistence::Close,
            );
            log_access(peer, &line, sent.status, sent.bytes);
            if sent.close_delimited {
                // The close *is* the end of this body, and the request was
                // read whole before answering: nothing is left to linger
                // for. Just close our descriptor; the FIN goes out when the
                // last copy of it is closed (chapter 3 shows why that
                // matters).
                drop(connection);
                return;
            }
        }
        Ok(None) => {}
        Err(Error::Http(error)) => {
            tracing::info!(%peer, "refused: {error}");
            let response = Response::error(&error);
            let line = connection.request_line().to_owned();
            // A refused HEAD request still gets no body.
            let head_only = line.starts_with("HEAD ");
            let bytes = if head_only {
                0
            } else {
                response.body.len() as u64
            };
            log_access(peer, &line, error.status.as_u16(), bytes);
            if let Err(e) = connection.write_response(&response, head_only) {
                tracing::debug!(%peer, "cannot send the error page: {e}");
            }
        }
        Err(Error::Io(e)) => tracing::debug!(%peer, "connection failed: {e}"),
    }
    linger_and_close(connection.into_inner());
}
// ANCHOR_END: serve_connection

// ANCHOR: respond
/// Calls the application for one request and sends its response.
///
/// `persistence` is what the server would like after this response
/// (chapter 2 always closes; chapter 5 keeps connections open); a body
/// that can only end with the close forces [`Persistence::Close`]. The
/// returned [`Sent`] says what went out and whether to close now.
pub fn respond(
    connection: &mut Connection<TcpStream>,
    mut request: Request,
    origin: &Origin,
    app: &dyn Application,
    options: &GatewayOptions,
    persistence: Persistence,
) -> Sent {
    let head_only = request.method == "HEAD";
    let vars = match environ::build(&request, origin) {
        Ok(vars) => vars,
        Err(error) => return send_error(connection, &error, persistence),
    };
    let environ = Environ {
        vars,
        url_scheme: "http",
        // The body moves into wsgi.input: no copy of up to a megabyte.
        input: Cursor::new(std::mem::take(&mut request.body)),
        errors: ErrorStream::new(request.request_line()),
        multithread: options.multithread,
        multiprocess: options.multiprocess,
        run_once: false,
        extensions: http::Extensions::new(),
    };
    let start = StartResponse::new();

    // 1. Call the application. It returns a body, fails, or panics.
    let called = catch_unwind(AssertUnwindSafe(|| app.call(environ, start.clone())));
    let mut body = match called {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            return app_failed(connection, &format!("application error: {e}"), persistence);
        }
        Err(panic) => return app_failed(connection, &panic_message(&*panic), persistence),
    };

    // 2. Pull chunks until a non-empty one (or the end): only then must the
    //    head exist, and only then is anything sent (PEP 3333).
    let mut first = Vec::new();
    let mut finished = false;
    while first.is_empty() && !finished {
        match next_chunk(&mut body) {
            Some(Ok(chunk)) => first = chunk,
            None => finished = true,
            Some(Err(e)) => return app_failed(connection, &e, persistence),
        }
    }
    // A body whose iterator promises nothing more is complete: its length
    // is known without waiting for anything.
    if !finished && body.size_hint().1 == Some(0) {
        finished = true;
    }
    let Some(head) = start.take_for_sending() else {
        return app_failed(
            connection,
            "the application did not call start_response",
            persistence,
        );
    };
    let known_length = finished.then_some(first.len() as u64);
    let framing = match choose_framing(&head, known_length, request.version) {
        Ok(framing) => framing,
        Err(why) => return app_failed(connection, &why, persistence),
    };
    // Without a length, only the close can end the body.
    let persistence = if framing == BodyFraming::CloseDelimited {
        Persistence::Close
    } else {
        persistence
    };

    // 3. Send the head, the first chunk, and then each chunk as it comes.
    let status = head.status.as_u16();
    let stream = connection.stream_mut();
    if let Err(e) = write_head(stream, &head, framing, persistence) {
        tracing::debug!("client went away: {e}");
        return Sent::failed(status, 0);
    }
    let mut writer = BodyWriter::new(stream, framing, head_only || framing == BodyFraming::NoBody);
    let mut outcome = writer.write_chunk(&first);
    // HEAD needs no more of the body; dropping it below closes it.
    while outcome.is_ok() && !head_only && !finished {
        match next_chunk(&mut body) {
            Some(Ok(chunk)) => outcome = writer.write_chunk(&chunk),
            None => break,
            Some(Err(e)) => {
                // Too late for a 500: the head is out. Leave the body
                // unfinished (no last chunk) so the client sees it was cut.
                tracing::error!("application failed mid-response: {e}; aborting");
                return Sent::failed(status, writer.written());
            }
        }
    }
    let written = writer.written();
    let result = outcome.and_then(|()| writer.finish());
    // `body` is dropped here: that is PEP 3333's close(), on every path.
    drop(body);
    match result {
        Ok(sent) => Sent {
            status,
            bytes: sent,
            close_delimited: framing == BodyFraming::CloseDelimited,
            closes: persistence == Persistence::Close,
        },
        Err(BodyError::Io(e)) => {
            tracing::debug!("client went away: {e}");
            Sent::failed(status, written)
        }
        // A body that broke its own Content-Length: the connection cannot
        // be trusted for another request.
        Err(e) => {
            tracing::error!("{e}");
            Sent::failed(status, written)
        }
    }
}
// ANCHOR_END: respond

/// What [`respond`] sent, for the log and for closing properly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The body ended with the connection (HTTP/1.0, no length).
    pub close_delimited: bool,
    /// The connection must close now: `Connection: close` was sent, or the
    /// response failed half-way.
    pub closes: bool,
}

impl Sent {
    /// A response that went wrong on the way out: close the connection.
    fn failed(status: u16, bytes: u64) -> Self {
        Sent {
            status,
            bytes,
            close_delimited: false,
            closes: true,
        }
    }
}

/// The next chunk of the body, with a panic in the application's iterator
/// turned into an error.
fn next_chunk(body: &mut Body) -> Option<Result<Vec<u8>, String>> {
    match catch_unwind(AssertUnwindSafe(|| body.next())) {
        Ok(None) => None,
        Ok(Some(Ok(chunk))) => Some(Ok(chunk)),
        Ok(Some(Err(e))) => Some(Err(format!("application error: {e}"))),
        Err(panic) => Some(Err(panic_message(&*panic))),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".to_owned());
    format!("application panicked: {text}")
}

/// Logs an application failure and answers 500, if nothing was sent yet.
fn app_failed(connection: &mut Connection<TcpStream>, why: &str, persistence: Persistence) -> Sent {
    tracing::error!("{why}");
    send_error(
        connection,
        &HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "the application failed"),
        persistence,
    )
}

fn send_error(
    connection: &mut Connection<TcpStream>,
    error: &HttpError,
    persistence: Persistence,
) -> Sent {
    let response = Response::error(error);
    if let Err(e) = response.write_with(connection.stream_mut(), false, persistence) {
        tracing::debug!("cannot send the error page: {e}");
        return Sent::failed(error.status.as_u16(), 0);
    }
    Sent {
        status: error.status.as_u16(),
        bytes: response.body.len() as u64,
        close_delimited: false,
        closes: persistence == Persistence::Close,
    }
}

fn log_access(peer: SocketAddr, request_line: &str, status: u16, bytes: u64) {
    let line = if request_line.is_empty() {
        "-"
    } else {
        request_line
    };
    tracing::info!("{} \"{}\" {status} {bytes}", peer.ip(), line.escape_debug());
}
