//! The server: fork per connection, reap every child, stop gracefully.
//!
//! Chapter 3's loop blocked in `accept`. This one blocks in `poll(2)` on
//! three descriptors at once: the listening socket, and the two self-pipes
//! the signal handlers write to ([`crate::signals`]). Whichever is ready is
//! handled in plain code:
//!
//! - SIGCHLD → reap ([`crate::reap`]);
//! - SIGTERM / SIGINT → stop accepting, serve what is already queued, wait
//!   (bounded) for the children in flight, exit;
//! - the listener → accept what is queued (at most [`ACCEPT_BATCH`] per
//!   wake-up, so reaping is never starved), forking a child for each.
//!
//! EINTR: a signal arriving while we sit in `poll` makes it fail with
//! EINTR — `poll` is never restarted automatically — and we simply loop:
//! the signal's byte is in its pipe, and the next `poll` reports it. (The
//! Python tutorials' `accept` raised on EINTR and crashed the server;
//! Rust's `accept` retries EINTR itself, but `poll` shows the real thing.)

use std::collections::HashSet;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, pthread_sigmask};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};
use step02_wsgi::{Application, GatewayOptions, serve_connection};
use step03_fork::server::ensure_single_threaded;

use crate::reap::{ReapMode, reap_all, reap_once};
use crate::signals::{self, SignalPipes};

/// At most this many connections are accepted (and forked) per wake-up
/// before going back to `poll`, so that under a steady stream of clients
/// the loop still gets to SIGCHLD and reaps.
const ACCEPT_BATCH: usize = 32;

/// After a stop's timeout (or a second signal), how long children get to
/// exit after SIGTERM before they are killed outright.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How the server reaps and stops.
#[derive(Debug, Clone)]
pub struct Options {
    /// The reaping strategy (`Once` only to show the bug).
    pub reap: ReapMode,
    /// How long a stop waits for children in flight before terminating
    /// them.
    pub shutdown_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reap: ReapMode::Loop,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

// ANCHOR: run
/// Serves until SIGTERM or SIGINT, forking a child per connection and
/// reaping every child that exits.
///
/// # Errors
///
/// If the process is not single-threaded, or the signal pipes or `poll`
/// fail.
pub fn run(listener: TcpListener, app: Arc<dyn Application>, options: &Options) -> io::Result<()> {
    ensure_single_threaded()?;
    let pipes = signals::install()?;
    // Non-blocking, so we can accept everything queued and never block in
    // accept after poll said "ready" (another process may have taken it).
    listener.set_nonblocking(true)?;
    let mut children: HashSet<Pid> = HashSet::new();
    loop {
        let (connections, exited, stop) = wait_for_events(&listener, &pipes)?;
        // Drain a pipe *before* acting on it (see signals::drain).
        if exited {
            let signals = signals::drain(&pipes.child_exited);
            let reaped = match options.reap {
                ReapMode::Loop => reap_all(&mut children),
                ReapMode::Once => (0..signals).map(|_| reap_once(&mut children)).sum(),
            };
            tracing::debug!(
                "{signals} SIGCHLD, {reaped} reaped, {} running",
                children.len()
            );
        }
        if stop {
            signals::drain(&pipes.stop);
            tracing::info!(
                "stopping: no new connections; {} children in flight",
                children.len()
            );
            // Serve what is already queued, then close the listener.
            while let Some(accepted) = accept_one(&listener, &mut children)? {
                if let Accepted::InChild(stream, peer) = accepted {
                    child_main(listener, pipes, stream, peer, &*app);
                }
            }
            drop(listener);
            wait_for_children(&pipes, &mut children, options);
            return Ok(());
        }
        if connections {
            for _ in 0..ACCEPT_BATCH {
                match accept_one(&listener, &mut children)? {
                    Some(Accepted::InChild(stream, peer)) => {
                        child_main(listener, pipes, stream, peer, &*app)
                    }
                    Some(Accepted::Forked) => {}
                    None => break,
                }
            }
        }
    }
}
// ANCHOR_END: run

// ANCHOR: poll
/// Blocks until the listener or a signal pipe is readable; returns which.
fn wait_for_events(listener: &TcpListener, pipes: &SignalPipes) -> io::Result<(bool, bool, bool)> {
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(pipes.child_exited.as_fd(), PollFlags::POLLIN),
            PollFd::new(pipes.stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                return Ok((ready(&fds[0]), ready(&fds[1]), ready(&fds[2])));
            }
            // A signal interrupted poll: its byte is waiting; poll again.
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
// ANCHOR_END: poll

/// What [`accept_one`] did.
enum Accepted {
    /// We are the parent: a child now serves the connection.
    Forked,
    /// We are the new child, holding the connection to serve.
    InChild(TcpStream, SocketAddr),
}

// ANCHOR: accept_one
/// Accepts one queued connection and forks a child for it; `None` when
/// the queue is empty.
///
/// # Errors
///
/// Only if the signal mask cannot be changed.
fn accept_one(listener: &TcpListener, children: &mut HashSet<Pid>) -> io::Result<Option<Accepted>> {
    let (stream, peer) = loop {
        match listener.accept() {
            Ok(accepted) => break accepted,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                return Ok(None);
            }
        }
    };
    // Block our signals across fork: until the child has reset its
    // handlers, a signal sent to it would run the parent's handler and
    // write into the parent's pipe. Blocked, it waits until the reset.
    let handled = signals::handled();
    let mut previous = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&handled), Some(&mut previous))?;
    let guard = step02_wsgi::fork::prepare();
    // SAFETY: the process is single-threaded (checked in `run`; signal
    // handling uses a self-pipe, not a thread), so the child is a
    // consistent copy. The child returns to `run` only to be handed to
    // `child_main`, which never returns.
    #[allow(unsafe_code)]
    let forked = unsafe { fork() };
    match forked {
        Ok(ForkResult::Child) => {
            guard.child();
            if let Err(e) = signals::restore_defaults_in_child() {
                tracing::warn!("child cannot reset its signals: {e}");
            }
            pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None)?;
            Ok(Some(Accepted::InChild(stream, peer)))
        }
        Ok(ForkResult::Parent { child }) => {
            guard.parent();
            pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None)?;
            children.insert(child);
            // Close the parent's copy (chapter 3's lesson).
            drop(stream);
            Ok(Some(Accepted::Forked))
        }
        Err(e) => {
            guard.parent();
            pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None)?;
            tracing::error!(%peer, "fork failed: {e}");
            Ok(Some(Accepted::Forked))
        }
    }
}
// ANCHOR_END: accept_one

// ANCHOR: child_main
/// The child's whole life. It owns the listener and the signal pipes it
/// inherited, and closes them first: they are the parent's business, and
/// an open copy of the listening socket would keep accepting connections
/// (in the kernel's backlog) after the parent stopped listening.
fn child_main(
    listener: TcpListener,
    pipes: SignalPipes,
    stream: TcpStream,
    peer: SocketAddr,
    app: &dyn Application,
) -> ! {
    drop(listener);
    drop(pipes);
    // Accepted sockets are blocking, whatever the listener was.
    let gateway = GatewayOptions {
        script_name: String::new(),
        multithread: false,
        multiprocess: true,
    };
    serve_connection(stream, peer, app, &gateway);
    std::process::exit(0);
}
// ANCHOR_END: child_main

// ANCHOR: wait_for_children
/// Waits for the children in flight, up to the shutdown timeout or a
/// second stop signal; then terminates the rest and reaps them.
fn wait_for_children(pipes: &SignalPipes, children: &mut HashSet<Pid>, options: &Options) {
    let deadline = Instant::now() + options.shutdown_timeout;
    reap_all(children);
    while !children.is_empty() && Instant::now() < deadline {
        let (_, again) = wait_on_pipes(pipes, deadline);
        signals::drain(&pipes.child_exited);
        reap_all(children);
        if again {
            signals::drain(&pipes.stop);
            tracing::warn!("second stop signal: not waiting any longer");
            break;
        }
    }
    if !children.is_empty() {
        terminate(pipes, children);
    }
    tracing::info!("all children done; exiting");
}

/// SIGTERM to every child; SIGKILL to any still alive after a grace period.
fn terminate(pipes: &SignalPipes, children: &mut HashSet<Pid>) {
    tracing::warn!("terminating {} children", children.len());
    for pid in children.iter() {
        let _ = kill(*pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + KILL_GRACE;
    while !children.is_empty() && Instant::now() < deadline {
        wait_on_pipes(pipes, deadline);
        signals::drain(&pipes.child_exited);
        reap_all(children);
    }
    for pid in children.drain() {
        tracing::warn!("child {pid} ignored SIGTERM; killing it");
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
}
// ANCHOR_END: wait_for_children

/// Waits (at most a second, and not past `deadline`) for a signal pipe;
/// returns (SIGCHLD seen, stop seen).
fn wait_on_pipes(pipes: &SignalPipes, deadline: Instant) -> (bool, bool) {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .min(Duration::from_secs(1));
    let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
    let mut fds = [
        PollFd::new(pipes.child_exited.as_fd(), PollFlags::POLLIN),
        PollFd::new(pipes.stop.as_fd(), PollFlags::POLLIN),
    ];
    match poll(&mut fds, timeout) {
        Ok(_) => {
            let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        }
        Err(_) => (false, false),
    }
}
