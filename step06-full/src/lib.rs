//! Chapter 6: the full server, on tokio and hyper.
//!
//! Chapters 1–5 built every layer of a web server by hand, one idea at a
//! time. This chapter assembles a server people could run: hyper (on
//! tokio's event loop) takes over the protocol work chapters 1 and 5 did
//! by hand, and the chapter's code is the layers around it — a checked
//! configuration, static files with validators, ranges and listings, an
//! in-memory cache, logs that rotate without losing a line, and a
//! privilege drop. Part 2 adds dynamic content: CGI/1.1 scripts, PHP
//! through php-cgi, and Server Side Includes. The pure pieces of earlier
//! chapters are reused as they are: path confinement and the mime table
//! from chapter 5, the environ builder from chapter 2. Part 3 mounts
//! applications at URL prefixes — servlets with sessions, chapter 2's
//! gateway applications, Python WSGI apps.
//!
//! # Layout
//!
//! - [`config`] — the TOML configuration, checked key by key.
//! - [`server`] — accept loops, hyper connections, limits, graceful stop;
//!   [`timer`] — one alarm per connection for hyper's timeouts;
//!   [`socket`] — a connection's last response corked with its FIN.
//! - [`handler`] — routing a request to files, a script or an SSI page;
//!   local redirects.
//! - [`files`] — static files: confinement, index files, listings,
//!   conditionals, ranges, cache, streaming.
//! - [`conditional`] — ETag, Last-Modified, If-* and Range, as pure functions.
//! - [`listing`] — directory listings, escaped and sorted.
//! - [`cache`] — file contents in memory under a byte budget.
//! - [`log`] — one writer thread per log, rotation into gzip archives;
//!   [`access`] — the lines: Combined Log Format and Apache's error format.
//! - [`privileges`] — the descriptor limit and the privilege drop.
//! - [`cgi`] — CGI/1.1 and PHP: meta-variables, running a script, parsing
//!   its output.
//! - [`mount`] — chapter 2's gateway applications mounted at URL prefixes;
//!   [`servlet`] — servlets and the session middleware; [`session`] — the
//!   session store.
//! - [`ssi`] — the Server Side Includes engine (parser, expressions,
//!   evaluator), pure; [`ssi_page`] — the server's side of it.
//!
//! Run it with `cargo run -p step06-full`.

pub mod access;
pub mod cache;
pub mod cgi;
pub mod conditional;
pub mod config;
pub mod files;
pub mod handler;
pub mod listing;
pub mod log;
pub mod mount;
pub mod privileges;
pub mod server;
pub mod servlet;
pub mod session;
pub mod socket;
pub mod ssi;
pub mod ssi_page;
pub mod timer;
