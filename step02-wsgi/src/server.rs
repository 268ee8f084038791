//! The server: chapter 1's accept loop, serving an application.
//!
//! Nothing about concurrency changes in this chapter: the loop is chapter
//! 1's own [`serve`], one connection at a time. Only what happens to each
//! connection changed — it goes through the gateway to whichever
//! application was chosen. Chapter 3 will change this file, and only this
//! file, to fork a process per connection.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use step01_iterative::{Shutdown, serve};

use crate::connection::{GatewayOptions, serve_connection};
use crate::gateway::Application;

// ANCHOR: run
/// Serves `app` on `listener`, one connection at a time, until `shutdown`.
///
/// # Errors
///
/// None in practice: accept errors are logged and retried.
pub fn run(listener: TcpListener, shutdown: Shutdown, app: Arc<dyn Application>) -> io::Result<()> {
    let options = GatewayOptions {
        script_name: String::new(),
        // One connection at a time, in one process: the truth, as PEP 3333
        // asks. Chapters 3 and 5 change these.
        multithread: false,
        multiprocess: false,
    };
    serve(listener, shutdown, |stream, peer| {
        serve_connection(stream, peer, &*app, &options)
    })
}
// ANCHOR_END: run
