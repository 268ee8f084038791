//! The chapter 4 binary: fork per connection, reap every child, stop gracefully.
//!
//! Run with:
//!
//! ```text
//! cargo run -p step04-reaping                  # http://127.0.0.1:8080, no zombies
//! cargo run -p step04-reaping -- --reap once   # one wait per SIGCHLD: zombies under a burst
//! kill -TERM $(pgrep -o step04-reaping)        # finishes requests in flight, then exits
//! ```

use std::time::Duration;

use clap::{Parser, ValueEnum};
use step01_iterative::cli::{CommonArgs, announce};
use step02_wsgi::cli::AppArgs;
use step04_reaping::{Options, ReapMode};

/// How to reap finished children.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Reap {
    /// waitpid(-1, WNOHANG) until none is left (correct)
    Loop,
    /// one waitpid per SIGCHLD (the bug: signals coalesce)
    Once,
}

/// A forking server that reaps its children and stops gracefully (Stepwise, chapter 4).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    app: AppArgs,
    /// How to reap finished children.
    #[arg(long, value_enum, default_value = "loop")]
    reap: Reap,
    /// Seconds a stop waits for requests in flight before terminating them.
    #[arg(long, default_value_t = 30)]
    shutdown_timeout: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.common.init_logging();
    // Loaded before any fork: every child inherits it ready to serve.
    let app = args.app.load()?;
    let listener = args.common.bind()?;
    announce(listener.local_addr()?, args.app.try_path());
    let options = Options {
        reap: match args.reap {
            Reap::Loop => ReapMode::Loop,
            Reap::Once => ReapMode::Once,
        },
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
    };
    step04_reaping::run(listener, app, &options)?;
    Ok(())
}
