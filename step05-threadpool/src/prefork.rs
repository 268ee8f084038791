//! The pre-fork model: a pool of processes, forked before anything else.
//!
//! Apache's prefork MPM and the Python process-pool servers this project
//! grew from work like this: the parent binds the listening socket, forks
//! N workers, and from then on only supervises. Each worker is a
//! single-threaded process that calls `accept` on the *shared* listening
//! socket (the kernel hands each connection to exactly one of them) and
//! serves it with the same keep-alive loop as the thread models.
//!
//! The parent reuses chapter 4's machinery: SIGCHLD through a self-pipe,
//! `waitpid` in a loop. A worker that dies (a crash, a `kill`) is replaced,
//! so the pool keeps its size. On SIGTERM or Ctrl-C the parent sends
//! SIGTERM to every worker; each finishes the connection it is serving,
//! and the parent exits once all are reaped (or after a bounded wait).
//!
//! The forking must happen before any thread exists, so this model cannot
//! use chapter 1's signal thread: it is dispatched before that in `main`.

use std::collections::HashSet;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, kill, pthread_sigmask, sigaction,
};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};
use step03_fork::server::ensure_single_threaded;
use step04_reaping::reap::reap_all;
use step04_reaping::signals::{self, SignalPipes};

use crate::connection::{Limits, serve_connection};
use crate::handler::Site;

/// How long a stop waits for workers to finish before killing them.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiting worker looks up from `accept` to check for a stop.
const ACCEPT_TICK: Duration = Duration::from_millis(250);

/// Set by a worker's SIGTERM handler; read by its accept loop.
static STOP: AtomicBool = AtomicBool::new(false);

/// A worker's SIGTERM handler: one atomic store, which is
/// async-signal-safe (no lock, no allocation).
extern "C" fn request_stop(_: nix::libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

// ANCHOR: run
/// Forks `workers` processes serving `site` on `listener`, and supervises
/// them until SIGTERM or SIGINT.
///
/// # Errors
///
/// If the process is not single-threaded, or the signal pipes fail.
pub fn run(
    listener: TcpListener,
    site: Arc<Site>,
    workers: usize,
    limits: Limits,
) -> io::Result<()> {
    ensure_single_threaded()?;
    let pipes = signals::install()?;
    // Workers wake up from a blocking accept every tick to check for a stop
    // (std retries an accept interrupted by a signal, so the signal alone
    // would not wake them). SO_RCVTIMEO on a listening socket bounds accept.
    let tick = TimeVal::new(0, ACCEPT_TICK.as_micros() as nix::libc::suseconds_t);
    setsockopt(&listener, sockopt::ReceiveTimeout, &tick).map_err(io::Error::from)?;

    let mut running: HashSet<Pid> = HashSet::new();
    for _ in 0..workers.max(1) {
        if spawn_worker(&mut running)? == Spawned::InChild {
            worker(listener, pipes, &site, limits);
        }
    }
    loop {
        let (exited, stop) = wait_for_signals(&pipes)?;
        if exited {
            signals::drain(&pipes.child_exited);
            let before = running.len();
            reap_all(&mut running);
            // Keep the pool at its size: replace every worker that died.
            for _ in running.len()..before {
                tracing::warn!("a worker exited; starting a replacement");
                if spawn_worker(&mut running)? == Spawned::InChild {
                    worker(listener, pipes, &site, limits);
                }
            }
        }
        if stop {
            signals::drain(&pipes.stop);
            stop_workers(&pipes, &mut running);
            return Ok(());
        }
    }
}
// ANCHOR_END: run

/// Blocks until a signal pipe is readable: (SIGCHLD, stop).
fn wait_for_signals(pipes: &SignalPipes) -> io::Result<(bool, bool)> {
    loop {
        let mut fds = [
            PollFd::new(pipes.child_exited.as_fd(), PollFlags::POLLIN),
            PollFd::new(pipes.stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                return Ok((ready(&fds[0]), ready(&fds[1])));
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

// ANCHOR: spawn_worker
/// Which side of the fork [`spawn_worker`] returned on.
#[derive(Debug, PartialEq, Eq)]
enum Spawned {
    /// The parent, with the new worker's pid recorded.
    InParent,
    /// The new worker process.
    InChild,
}

/// Forks one worker.
///
/// # Errors
///
/// Only if the signal mask cannot be changed.
fn spawn_worker(running: &mut HashSet<Pid>) -> io::Result<Spawned> {
    // Blocked across fork, as in chapter 4: a signal must not reach the
    // worker while it still has the parent's handlers.
    let handled = signals::handled();
    let mut previous = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&handled), Some(&mut previous))?;
    let guard = step02_wsgi::fork::prepare();
    // SAFETY: the parent is single-threaded (checked in `run`; it starts no
    // thread), so the child is a consistent copy. The child goes straight
    // to `worker`, which never returns.
    #[allow(unsafe_code)]
    let forked = unsafe { fork() };
    let spawned = match forked {
        Ok(ForkResult::Child) => {
            guard.child();
            if let Err(e) =
                signals::restore_defaults_in_child().and_then(|()| install_stop_handler())
            {
                tracing::error!("worker cannot set up its signals: {e}");
                std::process::exit(1);
            }
            Spawned::InChild
        }
        Ok(ForkResult::Parent { child }) => {
            guard.parent();
            running.insert(child);
            Spawned::InParent
        }
        Err(e) => {
            guard.parent();
            tracing::error!("cannot fork a worker: {e}");
            Spawned::InParent
        }
    };
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None)?;
    Ok(spawned)
}

/// A worker's whole life: accept and serve until told to stop, then exit.
/// It owns the listener and closes the parent's signal pipes first.
fn worker(listener: TcpListener, pipes: SignalPipes, site: &Site, limits: Limits) -> ! {
    drop(pipes);
    let stopping = || STOP.load(Ordering::SeqCst);
    while !stopping() {
        match listener.accept() {
            Ok((stream, peer)) => serve_connection(stream, peer, site, limits, &stopping),
            // The accept tick: nothing came; look at STOP again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                std::thread::sleep(ACCEPT_TICK);
            }
        }
    }
    std::process::exit(0);
}
// ANCHOR_END: spawn_worker

/// SIGTERM sets [`STOP`]; no SA_RESTART is needed (accept wakes every tick).
#[allow(unsafe_code)]
fn install_stop_handler() -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(request_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: `request_stop` only stores to an atomic, which is
    // async-signal-safe; it touches no lock and allocates nothing.
    unsafe { sigaction(Signal::SIGTERM, &action) }.map(drop)
}

// ANCHOR: stop_workers
/// Asks every worker to stop, waits (bounded), then kills the rest.
fn stop_workers(pipes: &SignalPipes, running: &mut HashSet<Pid>) {
    tracing::info!("stopping {} workers", running.len());
    for pid in running.iter() {
        let _ = kill(*pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    reap_all(running);
    while !running.is_empty() && Instant::now() < deadline {
        let mut fds = [PollFd::new(pipes.child_exited.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(250u16));
        signals::drain(&pipes.child_exited);
        reap_all(running);
    }
    for pid in running.drain() {
        tracing::warn!("worker {pid} did not stop in time; killing it");
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
}
// ANCHOR_END: stop_workers
