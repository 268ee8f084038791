//! Chapter 4: reaping children, and stopping gracefully.
//!
//! Chapter 3 forked a child per connection and never waited for them, so
//! every finished child stayed a zombie. This step handles SIGCHLD and
//! reaps with a `waitpid(-1, WNOHANG)` loop — after first showing (behind
//! `--reap once`) why one `wait` per signal is not enough: signals of one
//! kind coalesce. It also stops gracefully on SIGTERM or Ctrl-C: no new
//! connections, the children in flight finish (bounded), then exit.
//!
//! What changed since chapter 3: the accept loop now waits in `poll` on
//! the listener *and* on self-pipes written by the signal handlers, which
//! keeps all real work out of signal handlers and the process
//! single-threaded, as `fork` needs. The connection handling is chapter 2's.
//!
//! # Layout
//!
//! - [`signals`] — the self-pipe: what runs inside a handler (one write).
//! - [`reap`] — `waitpid` in a loop, and the one-per-signal mistake.
//! - [`server`] — poll, accept and fork, reap, stop.
//!
//! Run it with `cargo run -p step04-reaping`.

pub mod reap;
pub mod server;
pub mod signals;

pub use reap::ReapMode;
pub use server::{Options, run};
