//! The chapter 3 binary: fork a process per connection.
//!
//! Run with:
//!
//! ```text
//! cargo run -p step03-fork                          # http://127.0.0.1:8080
//! cargo run -p step03-fork -- --leak-client-sockets # the classic bug, on purpose
//! ps -o pid,ppid,stat,cmd --ppid $(pgrep -o step03-fork)   # watch the zombies (Z)
//! ```

use clap::Parser;
use step01_iterative::cli::{CommonArgs, announce};
use step02_wsgi::cli::AppArgs;
use step03_fork::Options;

/// A server that forks a process per connection (Stepwise, chapter 3).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    app: AppArgs,
    /// The classic bug, on purpose: the parent does not close its copy of
    /// each client socket. Watch curl hang and the descriptors pile up.
    #[arg(long)]
    leak_client_sockets: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.common.init_logging();
    // Loaded before any fork: every child inherits it ready to serve.
    let app = args.app.load()?;
    let listener = args.common.bind()?;
    announce(listener.local_addr()?, args.app.try_path());
    let options = Options {
        leak_client_sockets: args.leak_client_sockets,
    };
    step03_fork::run(listener, app, &options)?;
    Ok(())
}
