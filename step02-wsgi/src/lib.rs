//! Chapter 2: a gateway between server and application, WSGI-shaped.
//!
//! Chapter 1's server knew its pages by heart. This chapter splits it in
//! two along a standard interface: the server (sockets, HTTP, framing) on
//! one side, applications on the other, meeting at [`gateway`] — the
//! shape Python standardised as WSGI (PEP 3333), which grew out of CGI/1.1
//! (RFC 3875). The same server binary then serves several applications
//! unchanged, and any application runs on any server that speaks the
//! interface; chapters 3–5 prove it by serving these same applications from
//! forked processes and thread pools.
//!
//! What changed since chapter 1: the accept loop and request parsing are
//! chapter 1's, reused. New are the interface, the environ builder,
//! chunked request bodies (applications need bodies however they arrive),
//! and response framing chosen by the server: `Content-Length`, chunked, or
//! close-delimited.
//!
//! # Layout
//!
//! - [`gateway`] — the interface: [`Application`], [`Environ`],
//!   [`StartResponse`], the body iterator.
//! - [`environ`] — the pure environ builder (CGI meta-variables), reused by
//!   chapter 6's CGI.
//! - [`request`] — reading a request with its body; [`chunked`] — the
//!   chunked-body decoder.
//! - [`response`] — choosing the framing, writing the head and the body.
//! - [`connection`] — one client's life through the gateway, with panics
//!   caught.
//! - [`server`] — chapter 1's accept loop serving an application.
//! - [`cli`] — `--app` / `--wsgi`, shared by chapters 2–4.
//! - [`fork`] — what a forking server (chapters 3–4) must do around
//!   `fork()` when the application is embedded Python.
//! - [`apps`] — hello, the environ dumper, a tiny framework and its demo
//!   site, and a timing middleware.
//! - `python` (feature `python`) — real Python WSGI applications (Flask,
//!   Django, Pyramid) on embedded CPython, behind the same interface.
//!
//! Run it with `cargo run -p step02-wsgi` (or `-- --app hello|environ`).

pub mod apps;
pub mod chunked;
pub mod cli;
pub mod connection;
pub mod environ;
pub mod fork;
pub mod gateway;
#[cfg(feature = "python")]
pub mod python;
pub mod request;
pub mod response;
pub mod server;

pub use connection::{GatewayOptions, serve_connection};
pub use gateway::{AppError, Application, Body, Environ, StartResponse, body_once};
pub use server::run;
