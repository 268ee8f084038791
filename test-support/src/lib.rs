//! The test fixture every chapter shares: start a server, talk raw HTTP to
//! it, stop it.
//!
//! Every step's integration tests need the same three things, so they live
//! here once:
//!
//! - [`TestServer`] starts a server on `127.0.0.1:0`, either in-process
//!   through the step library's `run(listener, shutdown)` on a thread, or by
//!   spawning the step's binary with `--port 0` and reading the address it
//!   prints. Dropping it stops the server, also when a test panics. Servers
//!   that fork (chapters 3–5) must be spawned: forking inside the
//!   multithreaded test harness is unsound.
//! - [`Client`] and [`send`] write exact bytes and parse the response:
//!   status, headers in order, and a body delimited by `Content-Length`,
//!   chunked encoding or the close of the connection.
//! - [`proc`] reads `/proc` to count a process's descriptors and zombie
//!   children, so what the book asks readers to observe with `ps` and `ls
//!   /proc/PID/fd` is asserted by tests too.
//!
//! # Panics
//!
//! This is test code: setup failures (no free port, a binary that does not
//! start) panic with a message saying what went wrong, which is what a
//! failing test should do.

pub mod client;
pub mod proc;
pub mod server;

pub use client::{Client, RawResponse, get, send};
pub use server::{StopSignal, TestServer};

/// Whether the tests run in CI (the `CI` environment variable is set).
///
/// Tests that need an external program skip with a printed reason on a
/// developer's machine where it is missing, and fail in CI, which installs
/// everything.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}
