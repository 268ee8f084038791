//! Signals: turning SIGCHLD, SIGTERM and SIGINT into bytes on a pipe.
//!
//! A signal handler interrupts the program *anywhere* — in the middle of
//! `malloc`, while the logger holds its lock, halfway through updating the
//! set of children. Code inside a handler may therefore only call
//! async-signal-safe functions (`write`, `waitpid`, `_exit`, … — see
//! `signal-safety(7)`); no allocation, no locks, no `println!`. Python's
//! tutorial server called `os.wait()` from its handler, which is safe in C
//! terms, but any bookkeeping beyond that would not be.
//!
//! This step's design keeps the handler trivial: the **self-pipe trick**.
//! signal-hook installs a handler that writes one byte to a socket we own
//! and does nothing else. The main loop `poll`s that socket beside the
//! listening socket, so a signal simply becomes one more thing that is
//! "ready", handled in ordinary code, where anything is allowed. And the
//! process stays single-threaded (no signal thread, as chapter 1 used),
//! which `fork` requires.

use std::io::{self, ErrorKind, Read};
use std::os::unix::net::UnixStream;

use nix::sys::signal::{SigHandler, Signal, signal};
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook::low_level::pipe;

// ANCHOR: install
/// The read ends of the two self-pipes.
#[derive(Debug)]
pub struct SignalPipes {
    /// One byte per SIGCHLD delivered: a child exited (maybe several).
    pub child_exited: UnixStream,
    /// One byte per SIGTERM or SIGINT: stop.
    pub stop: UnixStream,
}

/// Registers the handlers. From now on a signal only writes a byte.
///
/// # Errors
///
/// If the socket pairs cannot be created or a handler not installed.
pub fn install() -> io::Result<SignalPipes> {
    let (child_exited, child_writer) = UnixStream::pair()?;
    let (stop, stop_writer) = UnixStream::pair()?;
    // The handler must never block: a full pipe simply drops the byte
    // (the reader is woken by the bytes already there).
    child_writer.set_nonblocking(true)?;
    stop_writer.set_nonblocking(true)?;
    child_exited.set_nonblocking(true)?;
    stop.set_nonblocking(true)?;
    pipe::register(SIGCHLD, child_writer)?;
    pipe::register(SIGTERM, stop_writer.try_clone()?)?;
    pipe::register(SIGINT, stop_writer)?;
    Ok(SignalPipes { child_exited, stop })
}
// ANCHOR_END: install

/// The signals this module's pipes carry: blocked around `fork` by the
/// servers that use them (chapter 4, and chapter 5's pre-fork pool).
pub fn handled() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        set.add(signal);
    }
    set
}

/// Empties a self-pipe; returns how many bytes (signals) it held.
///
/// Read *before* acting on the signal: a signal arriving while we act then
/// leaves a fresh byte, and we wake again. The other order could lose it.
pub fn drain(mut pipe: &UnixStream) -> usize {
    let mut buffer = [0u8; 256];
    let mut total = 0;
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // WouldBlock: empty now.
            Err(_) => return total,
        }
    }
}

// ANCHOR: child_defaults
/// In a freshly forked child: undo the parent's signal handling.
///
/// The child inherits the parent's handlers, and they write into the
/// *parent's* pipes: a SIGTERM sent to a child would look like one sent to
/// the parent. So the child restores the defaults for SIGCHLD and SIGTERM,
/// and ignores SIGINT: a Ctrl-C in the terminal reaches the whole process
/// group, and we want the children to finish the request they are serving
/// while the parent shuts down gracefully.
///
/// # Errors
///
/// If `sigaction` fails (it does not, for these signals).
#[allow(unsafe_code)]
pub fn restore_defaults_in_child() -> nix::Result<()> {
    // SAFETY: called in a single-threaded child right after fork. Setting
    // SIG_DFL or SIG_IGN installs no Rust code as a handler, so no handler
    // can run code that is not async-signal-safe.
    unsafe {
        signal(Signal::SIGCHLD, SigHandler::SigDfl)?;
        signal(Signal::SIGTERM, SigHandler::SigDfl)?;
        signal(Signal::SIGINT, SigHandler::SigIgn)?;
    }
    Ok(())
}
// ANCHOR_END: child_defaults
