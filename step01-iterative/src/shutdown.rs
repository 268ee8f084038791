//! Shutdown: stopping a server that is blocked in `accept`.
//!
//! A server spends its idle time inside `accept(2)`, which blocks until a
//! client connects. Setting a "please stop" flag is not enough: nobody looks
//! at the flag until `accept` returns. So [`Shutdown::trigger`] sets the flag
//! and then connects to the listener itself, which makes the blocked
//! `accept` return; the accept loop sees the flag and stops. (Rust's
//! standard library retries `accept` when a signal interrupts it, so a
//! signal alone would not wake it either.)
//!
//! Ctrl-C and `kill` arrive as the signals SIGINT and SIGTERM.
//! [`trigger_on_signals`] turns them into a trigger from a small thread,
//! using signal-hook, so that no code of ours runs inside a signal handler.
//! Chapter 4 explains why that matters.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How long the wake-up connection may take; it goes to ourselves over
/// loopback, so this only matters if the listener is already gone.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

// ANCHOR: shutdown
/// A cloneable "stop now" handle for one listener.
#[derive(Debug, Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Set once, by the first trigger; read by the accept loop.
    requested: AtomicBool,
    /// Where to connect to wake the accept loop: the listener's address,
    /// with an unspecified IP (0.0.0.0, ::) replaced by loopback.
    wake: SocketAddr,
}

impl Shutdown {
    /// A handle for `listener`; keep a clone wherever a stop may come from.
    ///
    /// # Errors
    ///
    /// Fails only if the listener's local address cannot be read.
    pub fn for_listener(listener: &TcpListener) -> io::Result<Self> {
        let mut wake = listener.local_addr()?;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        Ok(Shutdown {
            inner: Arc::new(Inner {
                requested: AtomicBool::new(false),
                wake,
            }),
        })
    }

    /// Asks the server to stop, and wakes its accept loop.
    pub fn trigger(&self) {
        if !self.inner.requested.swap(true, Ordering::SeqCst) {
            // The connection itself is the message; it is dropped at once.
            let _ = TcpStream::connect_timeout(&self.inner.wake, WAKE_TIMEOUT);
        }
    }

    /// Whether a stop was requested.
    pub fn is_triggered(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }
}
// ANCHOR_END: shutdown

// ANCHOR: signals
/// Triggers `shutdown` on the first SIGINT or SIGTERM; a second one exits
/// at once (the server may be busy with a long request).
///
/// # Errors
///
/// Fails if the signal handlers cannot be registered.
pub fn trigger_on_signals(shutdown: Shutdown) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = signals.forever();
            if let Some(signal) = received.next() {
                tracing::info!("signal {signal} received: finishing the current connection");
                shutdown.trigger();
            }
            if received.next().is_some() {
                eprintln!("second signal: exiting now");
                std::process::exit(130);
            }
        })?;
    Ok(())
}
// ANCHOR_END: signals
