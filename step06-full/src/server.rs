//! The server: tokio's event loop and hyper's HTTP/1.1, in layers.
//!
//! Chapter 5 gave every connection a thread, so 10,000 idle keep-alive
//! clients needed 10,000 threads. Here a connection is a *task*: a small
//! state machine that tokio polls when its socket is ready and that costs
//! a few kilobytes while it waits. A handful of threads (one per core) run
//! them all. hyper does, on each connection, what chapters 1–5 wrote by
//! hand — parsing, framing, keep-alive, pipelining — and calls our
//! handler with each request.
//!
//! Around that core:
//!
//! - **a connection limit**: a semaphore permit is taken *before* `accept`,
//!   so beyond `max_clients` new connections wait in the kernel's backlog
//!   instead of being accepted and refused;
//! - **timeouts**: hyper's header-read timer bounds both the wait for the
//!   next request on a kept-alive connection and the arrival of its head,
//!   timed by one alarm per connection ([`ConnectionTimer`]);
//! - **the last response corked**: on a connection that closes after it,
//!   the response and the FIN leave in one TCP segment ([`Socket`]);
//! - **title-case headers** on the wire (`Content-Type`), as nginx and
//!   Apache send them; hyper keeps names in lowercase inside;
//! - **graceful shutdown**: stop accepting, let every connection finish the
//!   request it is on (hyper stops keeping them alive), bounded in time;
//! - **reload**: the [`Site`] lives behind a lock and is swapped whole on
//!   SIGHUP; a connection keeps the site it started with.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::files::{Body, Files};
use crate::handler::{Conn, Dynamic, RequestBody};
use crate::log::Log;
use crate::mount::Mounts;
use crate::session::SweeperHandle;
use crate::socket::{Last, Socket, asks_to_close};
use crate::timer::ConnectionTimer;

/// Everything a request needs; replaced whole on reload.
pub struct Site {
    /// Static files (and, in parts 2–3, dynamic content).
    pub files: Arc<Files>,
    /// The access log (Combined Log Format).
    pub access: Log,
    /// The error log (Apache's format).
    pub errors: Log,
    /// CGI, PHP and SSI settings.
    pub dynamic: Arc<Dynamic>,
    /// Applications mounted at URL prefixes (servlets, chapter 2's apps,
    /// WSGI).
    pub mounts: Mounts,
    /// Deletes expired sessions in the background while the site lives.
    pub sweeper: Option<SweeperHandle>,
}

/// The current site, shared by every connection and swapped on reload.
#[derive(Clone)]
pub struct SharedSite(Arc<RwLock<Arc<Site>>>);

impl SharedSite {
    /// Shares `site`.
    pub fn new(site: Site) -> Self {
        SharedSite(Arc::new(RwLock::new(Arc::new(site))))
    }

    /// The site as it is now.
    pub fn current(&self) -> Arc<Site> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the site; connections already open keep the old one.
    pub fn replace(&self, site: Site) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(site);
    }
}

/// Limits that apply to connections, not requests.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the backlog.
    pub max_clients: usize,
    /// Time to receive the next request head (covers idle keep-alive).
    pub header_read: Duration,
    /// The largest request head hyper buffers.
    pub max_header: usize,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown: Duration,
}

// ANCHOR: run
/// Serves on every listener until `stop` completes, then shuts down
/// gracefully.
pub async fn run(
    listeners: Vec<TcpListener>,
    site: SharedSite,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_clients));
    let graceful = Arc::new(GracefulShutdown::new());
    let (stopping, stopped) = watch::channel(false);
    let acceptors: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let accept = accept_loop(
                listener,
                site.clone(),
                limits,
                Arc::clone(&permits),
                Arc::clone(&graceful),
                stopped.clone(),
            );
            tokio::spawn(accept)
        })
        .collect();

    stop.await;
    let _ = stopping.send(true);
    for acceptor in acceptors {
        let _ = acceptor.await;
    }
    // Every acceptor has returned its handle on `graceful`; take it back.
    let Ok(graceful) = Arc::try_unwrap(graceful) else {
        tracing::error!("connections still referenced at shutdown");
        return;
    };
    let started = Instant::now();
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed in {:?}", started.elapsed()),
        () = tokio::time::sleep(limits.shutdown) => {
            tracing::warn!("connections still open after {:?}; exiting anyway", limits.shutdown);
        }
    }
}
// ANCHOR_END: run

// ANCHOR: accept_loop
/// Accepts connections on one listener and spawns a task for each.
async fn accept_loop(
    listener: TcpListener,
    site: SharedSite,
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    mut stopped: watch::Receiver<bool>,
) {
    without_nagle(&listener);
    let listening = listener.local_addr().ok();
    let mut backoff = Duration::from_millis(10);
    loop {
        // A free slot first: at the limit we stop accepting, and the
        // kernel's backlog holds the next clients.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = stopped.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: back off, don't spin.
                    tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        backoff = Duration::from_millis(10);
        let Some(local) = local_address(listening, &stream) else {
            continue;
        };
        let conn = Conn { peer, local };
        let site = site.current();
        let last = Last::default();
        let socket = Socket::new(stream, last.clone());
        let service = service_fn(move |request: Request<Incoming>| {
            let site = Arc::clone(&site);
            // A connection's last response leaves with its FIN if its
            // body is all in memory (see `socket`).
            let closing = asks_to_close(request.version(), request.headers()).then(|| last.clone());
            async move {
                let response = handle(site, request, conn).await;
                if let Some(last) = closing
                    && response.body().size_hint().exact().is_some()
                {
                    last.mark();
                }
                Ok::<_, Infallible>(response)
            }
        });
        let connection = http1::Builder::new()
            .timer(ConnectionTimer::new())
            .header_read_timeout(limits.header_read)
            .keep_alive(true)
            .title_case_headers(true)
            .max_buf_size(limits.max_header.max(8192))
            .serve_connection(TokioIo::new(socket), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
}
// ANCHOR_END: accept_loop

/// Each response goes out as soon as it is written, with no Nagle delay
/// (`TCP_NODELAY`). Set on the listener, the option is inherited by every
/// connection it accepts (on Linux): one system call per listener instead
/// of one per connection.
fn without_nagle(listener: &TcpListener) {
    if let Err(e) = SockRef::from(listener).set_tcp_nodelay(true) {
        tracing::warn!("cannot set TCP_NODELAY on the listener: {e}");
    }
}

/// The server's end of a connection: the listener's own address, unless
/// it listens on all addresses (`0.0.0.0`, `[::]`), where only the kernel
/// knows which one the client reached (`getsockname`).
fn local_address(listening: Option<SocketAddr>, stream: &TcpStream) -> Option<SocketAddr> {
    match listening {
        Some(addr) if !addr.ip().is_unspecified() => Some(addr),
        _ => stream.local_addr().ok(),
    }
}

// ANCHOR: handle
/// Answers one request and logs it.
pub async fn handle(site: Arc<Site>, request: Request<Incoming>, conn: Conn) -> Response<Body> {
    // The time the request was *received* is what the log records; no
    // line is formatted when no log would receive it.
    let received = site.access.enabled().then(chrono::Local::now);
    let (parts, body) = request.into_parts();
    let access = site.access.clone();
    let response = match host_problem(&parts) {
        Some(problem) => crate::files::plain_error(http::StatusCode::BAD_REQUEST, problem),
        None => crate::handler::respond(site, &parts, RequestBody::Incoming(body), conn).await,
    };
    if let Some(received) = received {
        let request = Request::from_parts(parts, ());
        access.write(crate::access::combined_line(
            conn.peer, &request, &response, received,
        ));
    }
    response
}
// ANCHOR_END: handle

/// RFC 9112 §3.2, which hyper leaves to us: an HTTP/1.1 request needs
/// exactly one `Host`, and no request may carry two (two Hosts are how
/// smuggling attacks make a proxy and a server disagree).
fn host_problem(request: &http::request::Parts) -> Option<&'static str> {
    let hosts = request.headers.get_all(http::header::HOST).iter().count();
    if hosts > 1 {
        return Some("more than one Host header");
    }
    if hosts == 0 && request.version == http::Version::HTTP_11 {
        return Some("HTTP/1.1 request without Host");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener on loopback, a client connected to it, and the server's
    /// end of that connection.
    async fn connected(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        (client, accepted)
    }

    #[tokio::test]
    async fn connections_accepted_by_the_listener_have_no_nagle_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (_client, before) = connected(&listener).await;
        assert!(!before.nodelay().unwrap(), "the kernel's default changed");
        without_nagle(&listener);
        let (_client, after) = connected(&listener).await;
        assert!(after.nodelay().unwrap());
    }

    #[tokio::test]
    async fn the_local_address_is_the_listeners_unless_it_listens_on_all() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (_client, accepted) = connected(&listener).await;
        let specific: SocketAddr = "192.0.2.7:8080".parse().unwrap();
        assert_eq!(local_address(Some(specific), &accepted), Some(specific));
        // On 0.0.0.0 only the socket knows which address was reached.
        let all: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let reached = accepted.local_addr().unwrap();
        assert_eq!(local_address(Some(all), &accepted), Some(reached));
        assert_eq!(local_address(None, &accepted), Some(reached));
    }
}
