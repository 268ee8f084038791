//! Chapter 1: an iterative HTTP/1.x server, one connection at a time.
//!
//! The whole server is a loop: accept a connection, read one request from
//! it, answer, close, repeat. Small as it is, it is a real HTTP server: it
//! reads requests that arrive in pieces, enforces limits on everything a
//! client controls, refuses what it does not support with the right status,
//! and frames every response so a client knows where it ends.
//!
//! What it cannot do is serve two clients at once: while one request is
//! being handled, every other client waits. The book's chapter 1 shows
//! this, and chapter 3 fixes it.
//!
//! # Layout
//!
//! - [`request`] — parsing a request head from bytes (httparse), limits,
//!   framing; no sockets, so tests feed byte literals.
//! - [`target`] — splitting the request-target, percent-decoding once.
//! - [`response`] — a response and its exact bytes on the wire.
//! - [`connection`] — reading whole requests from a stream; one client's
//!   life from accept to a clean close.
//! - [`handler`] — the routes: `/`, `/echo`, `/sleep`, 404.
//! - [`server`] — the accept loop (the concurrency model: none).
//! - [`shutdown`] — waking the accept loop to stop; Ctrl-C and SIGTERM.
//! - [`cli`] — flags shared by every step, binding, announcing.
//! - [`error`] — what can go wrong, and which status it becomes.
//!
//! Run it with `cargo run -p step01-iterative`.

pub mod cli;
pub mod connection;
pub mod error;
pub mod handler;
pub mod request;
pub mod response;
pub mod server;
pub mod shutdown;
pub mod target;

pub use connection::{Connection, serve_connection};
pub use error::{Error, HttpError, Result};
pub use request::Request;
pub use response::Response;
pub use server::{run, serve};
pub use shutdown::Shutdown;
