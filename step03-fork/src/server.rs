//! The server: a process per connection, with `fork()`.
//!
//! The parent does one thing: accept a connection, `fork()`, and go back to
//! `accept` at once. The child — a copy of the parent, descriptors and all —
//! serves that one connection through chapter 2's gateway and exits. A
//! slow `/sleep` now occupies one child, not the whole server.
//!
//! `fork` copies the descriptor table. After it, the client socket is open
//! twice (parent and child) and so is the listening socket. Each process
//! must close the copies it does not use: the child its listener, the
//! parent its client socket. [`Options::leak_client_sockets`] makes the
//! parent forget, on purpose, so the book can show what happens: the client
//! never sees the end of a response delimited by the close (the kernel
//! sends the FIN only when the *last* copy closes), and the parent runs out
//! of descriptors.
//!
//! This step never waits for its children. Each one that exits becomes a
//! zombie: the kernel keeps its exit status (and its process-table slot)
//! until the parent collects it with `wait`. Chapter 4 does.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use nix::unistd::{ForkResult, fork};
use step02_wsgi::{Application, GatewayOptions, serve_connection};

/// What the server should do besides serving.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The classic bug, on purpose: the parent keeps its copy of every
    /// client socket instead of closing it.
    pub leak_client_sockets: bool,
}

/// Refuses to fork from a process that has more than one thread.
///
/// `fork` copies only the calling thread. A lock held by any other thread
/// at that moment (inside `malloc`, the logger, anything) stays locked in
/// the child forever, with nobody to release it. Only a single-threaded
/// process can fork and then run arbitrary code in the child safely.
///
/// # Errors
///
/// When `/proc/self/task` lists more than one thread (or cannot be read).
pub fn ensure_single_threaded() -> io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(io::Error::other(format!(
            "refusing to fork: this process has {threads} threads; fork is only safe single-threaded"
        )));
    }
    Ok(())
}

// ANCHOR: run
/// Accepts forever, forking a child per connection.
///
/// Stops only when killed: it has no signal handling of its own. `kill
/// PARENT` (SIGTERM) ends the parent at once while the children finish
/// their connections; Ctrl-C in a terminal signals the whole process group,
/// children included, so requests in flight die with it. Chapter 4 adds a
/// graceful stop.
///
/// # Errors
///
/// If the process is not single-threaded, or `fork` itself fails.
pub fn run(
    listener: TcpListener,
    app: Arc<dyn Application>,
    options: &Options,
) -> io::Result<Infallible> {
    ensure_single_threaded()?;
    let gateway = GatewayOptions {
        script_name: String::new(),
        multithread: false,
        // Every connection runs in its own process.
        multiprocess: true,
    };
    // With the bug on, the parent's copies pile up here, never closed.
    let mut leaked: Vec<TcpStream> = Vec::new();
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE (out of descriptors) is what the leak leads to.
                tracing::warn!("accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        // SAFETY: this process is single-threaded (checked at the top of
        // `run`, and nothing here starts a thread), so the child is a
        // complete copy of a consistent process: no lock can be held by a
        // thread that does not exist in the child. The child only serves
        // one connection and exits; it never returns into this loop.
        // An embedded Python must be told about the fork (step02's fork.rs).
        let guard = step02_wsgi::fork::prepare();
        #[allow(unsafe_code)]
        let forked = unsafe { fork() };
        match forked {
            Ok(ForkResult::Child) => {
                guard.child();
                // The child: close its copy of the listener, serve, exit.
                drop(listener);
                serve_child(stream, peer, &*app, &gateway);
            }
            Ok(ForkResult::Parent { child }) => {
                guard.parent();
                tracing::debug!(%peer, "forked child {child}");
                if options.leak_client_sockets {
                    leaked.push(stream);
                } else {
                    // The parent's copy: close it, or the client never sees
                    // end-of-file and the parent runs out of descriptors.
                    drop(stream);
                }
            }
            Err(e) => {
                guard.parent();
                // Out of processes (EAGAIN): this client gets nothing.
                tracing::error!(%peer, "fork failed: {e}");
                drop(stream);
            }
        }
    }
}
// ANCHOR_END: run

/// The child's whole life: one connection, then exit.
fn serve_child(
    stream: TcpStream,
    peer: SocketAddr,
    app: &dyn Application,
    gateway: &GatewayOptions,
) -> ! {
    serve_connection(stream, peer, app, gateway);
    // Exit without returning into the parent's accept loop.
    std::process::exit(0);
}
