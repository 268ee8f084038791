//! The chapter 2 binary: one server, any application behind the gateway.
//!
//! Run with:
//!
//! ```text
//! cargo run -p step02-wsgi                     # the framework demo site
//! cargo run -p step02-wsgi -- --app environ    # the environ dumper
//! cargo run -p step02-wsgi -- --app hello -v   # hello, logging requests
//! cargo run -p step02-wsgi --features python -- --wsgi flaskapp:app   # a real Flask app
//! ```

use clap::Parser;
use step01_iterative::cli::{CommonArgs, announce};
use step01_iterative::shutdown::{Shutdown, trigger_on_signals};
use step02_wsgi::cli::AppArgs;

/// A server and its applications, meeting at a WSGI-shaped gateway (Stepwise, chapter 2).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    app: AppArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.common.init_logging();
    let app = args.app.load()?;
    let listener = args.common.bind()?;
    let shutdown = Shutdown::for_listener(&listener)?;
    trigger_on_signals(shutdown.clone())?;
    announce(listener.local_addr()?, "/");
    step02_wsgi::run(listener, shutdown, app)?;
    Ok(())
}
