//! The chapter 1 binary: parse flags, bind, serve one connection at a time.
//!
//! Everything interesting lives in the library; this file only wires the
//! command line to it, which keeps the server testable on port 0.
//!
//! Run with:
//!
//! ```text
//! cargo run -p step01-iterative            # http://127.0.0.1:8080
//! cargo run -p step01-iterative -- -p 0 -v # any free port, log requests
//! ```

use clap::Parser;
use step01_iterative::cli::{CommonArgs, announce};
use step01_iterative::shutdown::{Shutdown, trigger_on_signals};

/// An iterative HTTP/1.x server: one connection at a time (Stepwise, chapter 1).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.common.init_logging();
    let listener = args.common.bind()?;
    let shutdown = Shutdown::for_listener(&listener)?;
    trigger_on_signals(shutdown.clone())?;
    announce(listener.local_addr()?, "/echo");
    step01_iterative::run(listener, shutdown)?;
    Ok(())
}
