//! Chapter 5: pools, keep-alive, and serving files safely.
//!
//! Chapters 3–4 paid for a new process per connection. This chapter keeps
//! a fixed set of workers instead — threads in a hand-written
//! [`ThreadPool`](pool::ThreadPool) with a bounded queue, or processes
//! forked once at start — and compares them with a thread per connection
//! and with rayon's pool. With workers that live long, keeping connections
//! open between requests (HTTP/1.1 keep-alive) pays off, so this step
//! writes keep-alive by hand, with the timeouts that stop slow clients from
//! holding every worker. And it finally serves files from a document root,
//! by rules that keep every request inside it.
//!
//! What changed since chapter 4: new concurrency models ([`server`],
//! [`prefork`]), a connection loop with keep-alive ([`connection`]), and
//! static files ([`static_files`], [`confine`], [`mime`]). Requests are
//! still parsed by chapter 1's code, and mounted applications still go
//! through chapter 2's gateway.
//!
//! # Layout
//!
//! - [`pool`] — the thread pool: workers, bounded queue, panic recovery,
//!   graceful shutdown.
//! - [`server`] — the accept loop with the pool, a thread per connection,
//!   or rayon; [`prefork`] — a pool of processes.
//! - [`connection`] — keep-alive: many requests per connection, in order.
//! - [`handler`] — mounted gateway applications first, then files.
//! - [`static_files`] — GET/HEAD, 301, index.html, 304, streaming.
//! - [`confine`] — decoding once and staying under the document root.
//! - [`mime`] — Content-Type from a `mime.types` file.
//! - [`access_log`] — one Common Log Format line per request.
//!
//! Run it with `cargo run -p step05-threadpool`.

pub mod access_log;
pub mod confine;
pub mod connection;
pub mod handler;
pub mod mime;
pub mod pool;
pub mod prefork;
pub mod server;
pub mod static_files;

pub use server::{Config, Model, run};
