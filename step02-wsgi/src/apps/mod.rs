//! Applications that run, unchanged, behind the gateway.
//!
//! None of them knows about sockets, HTTP framing or how the server runs
//! them: each is only an [`Application`]. The same binary serves any of
//! them (`--app`), and chapters 3–5 serve them again from forked processes
//! and thread pools without changing a line here.
//!
//! - [`hello`] — the smallest application there is.
//! - [`environ_dump`] — shows every variable the application receives.
//! - [`framework`] — a tiny web framework: routing with path parameters,
//!   forms, error pages; [`demo`] is a site built with it.
//! - [`middleware`] — an application that wraps another and times it.

pub mod demo;
pub mod environ_dump;
pub mod framework;
pub mod hello;
pub mod middleware;

use std::sync::Arc;

use crate::gateway::Application;

/// The applications the binary can serve, by name.
pub const NAMES: [&str; 3] = ["framework", "hello", "environ"];

/// The application called `name`, wrapped in the timing middleware.
pub fn by_name(name: &str) -> Option<Arc<dyn Application>> {
    Some(match name {
        "framework" => Arc::new(middleware::Timing::new(demo::app())),
        "hello" => Arc::new(middleware::Timing::new(hello::hello)),
        "environ" => Arc::new(middleware::Timing::new(environ_dump::environ_dump)),
        _ => return None,
    })
}
