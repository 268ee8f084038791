//! The server: an iterative accept loop, one connection at a time.
//!
//! This is the simplest concurrency model there is: none. The loop accepts
//! a connection, serves it completely, closes it, and only then accepts the
//! next. While one client is being served — or is slowly sending its
//! request, or waiting on `/sleep` — every other client waits in the
//! kernel's listen backlog. Chapter 3 changes exactly this file.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crate::connection::serve_connection;
use crate::handler;
use crate::shutdown::Shutdown;

/// The first pause after a failed `accept`; it doubles on each consecutive
/// failure up to [`MAX_ACCEPT_BACKOFF`].
const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The longest pause between retries of a failing `accept`. Running out of
/// descriptors (EMFILE) is the usual cause; it clears once connections
/// close, so we wait rather than give up.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves this chapter's routes on `listener` until `shutdown` triggers.
///
/// # Errors
///
/// None in practice: accept errors are logged and retried. The `Result`
/// keeps the signature every chapter shares.
pub fn run(listener: TcpListener, shutdown: Shutdown) -> io::Result<()> {
    serve(listener, shutdown, |stream, peer| {
        serve_connection(stream, peer, &handler::handle)
    })
}

// ANCHOR: serve
/// The accept loop: hands each connection to `on_connection`, one at a
/// time, until `shutdown` triggers. Chapter 2 passes its gateway here.
///
/// # Errors
///
/// None in practice; see [`run`].
pub fn serve<C>(listener: TcpListener, shutdown: Shutdown, mut on_connection: C) -> io::Result<()>
where
    C: FnMut(TcpStream, SocketAddr),
{
    let mut backoff = FIRST_ACCEPT_BACKOFF;
    loop {
        let accepted = listener.accept();
        // A trigger wakes us with a connection of its own: check first.
        if shutdown.is_triggered() {
            if let Ok((stream, peer)) = accepted {
                on_connection(stream, peer);
            }
            finish_queued(&listener, &mut on_connection);
            tracing::info!("shutting down");
            return Ok(());
        }
        match accepted {
            Ok((stream, peer)) => {
                backoff = FIRST_ACCEPT_BACKOFF;
                // Everything for this client happens here, before the next
                // accept: that is what "iterative" means.
                on_connection(stream, peer);
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}
// ANCHOR_END: serve

// ANCHOR: finish_queued
/// Serves the clients that connected before the shutdown, then returns.
///
/// Connections waiting in the kernel's backlog have been accepted by the
/// kernel already: from the client's side the server took them. Closing
/// the listener now would reset them. So we accept without blocking until
/// the backlog is empty, and serve each one. (The wake-up connection is
/// among them; it sends nothing, so serving it costs nothing.)
fn finish_queued<C>(listener: &TcpListener, on_connection: &mut C)
where
    C: FnMut(TcpStream, SocketAddr),
{
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::warn!("cannot drain the backlog: {e}");
        return;
    }
    // Accepted sockets do not inherit O_NONBLOCK on Linux: each one is
    // served in blocking mode as usual.
    while let Ok((stream, peer)) = listener.accept() {
        on_connection(stream, peer);
    }
}
// ANCHOR_END: finish_queued
