//! The command line every chapter shares: where to listen and how much to log.
//!
//! Each step's `main.rs` flattens [`CommonArgs`] into its own flags, binds
//! with [`CommonArgs::bind`], prints the address with [`announce`] and hands
//! the listener to its library. The library itself never binds a socket, so
//! tests can give it one on port 0.

use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, TcpListener};

use clap::Args;
use tracing_subscriber::EnvFilter;

/// The port a step listens on when none is given.
pub const DEFAULT_PORT: u16 = 8080;

/// Flags shared by every step.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Address (IP or host name) to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 lets the OS pick a free one.
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Log each request (info level).
    #[arg(short, long)]
    pub verbose: bool,
    /// Log everything, including connection details (debug level).
    #[arg(short, long)]
    pub debug: bool,
}

impl CommonArgs {
    /// Binds the listening socket.
    ///
    /// # Errors
    ///
    /// The bind error, e.g. the port is in use, with the address named.
    pub fn bind(&self) -> io::Result<TcpListener> {
        TcpListener::bind((self.host.as_str(), self.port)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {}:{}: {e}", self.host, self.port),
            )
        })
    }

    /// Starts logging to stderr at the level the flags ask for. `RUST_LOG`,
    /// when set, wins (e.g. `RUST_LOG=step01_iterative=debug`).
    pub fn init_logging(&self) {
        let level = if self.debug {
            "debug"
        } else if self.verbose {
            "info"
        } else {
            "warn"
        };
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
        // A second initialisation (only possible in tests) is harmless.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(io::stderr)
            // Colour codes only for a terminal, never in a log file or pipe.
            .with_ansi(io::stderr().is_terminal())
            .try_init();
    }
}

/// Prints where the server listens and a command to try it.
///
/// The first line has a fixed shape, `Listening on http://ADDR`, which the
/// test fixture reads to find a server started with `--port 0`.
pub fn announce(addr: SocketAddr, try_path: &str) {
    let mut out = io::stdout().lock();
    // stdout may be closed (a daemonised run); the server works regardless.
    let _ = writeln!(out, "Listening on http://{addr}");
    let _ = writeln!(out, "Try: curl -v http://{addr}{try_path}");
    let _ = out.flush();
}
