//! Chapter 3: a process per connection, with `fork()`.
//!
//! Chapter 1 and 2 served one client at a time. Here the parent process
//! accepts and forks, and a child process serves each connection with
//! chapter 2's gateway — so a slow request no longer blocks anyone. The
//! price shows up at once, and the chapter reproduces it on purpose:
//! descriptors duplicated by `fork` that must be closed on both sides (the
//! `--leak-client-sockets` flag forgets to), and children that become
//! zombies because nobody waits for them (this step never does; chapter 4
//! fixes it).
//!
//! What changed since chapter 2: only the accept loop, in [`server`]. The
//! connection handling and the applications are chapter 2's, unchanged.
//!
//! # Layout
//!
//! - [`server`] — accept, fork, close the right copies; no reaping.
//!
//! Run it with `cargo run -p step03-fork`.

pub mod server;

pub use server::{Options, run};
