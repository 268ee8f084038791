//! The chapter 5 binary: a pool of workers serving files and applications.
//!
//! Run with:
//!
//! ```text
//! cargo run -p step05-threadpool                            # the demo site, pool of 16 threads
//! cargo run -p step05-threadpool -- --model threads         # a thread per connection
//! cargo run -p step05-threadpool -- --model prefork -w 4    # 4 pre-forked processes
//! cargo run -p step05-threadpool -- -r ~/www --mount /app=framework -l access.log
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, ValueEnum};
use step01_iterative::cli::{CommonArgs, announce};
use step01_iterative::shutdown::{Shutdown, trigger_on_signals};
use step02_wsgi::cli::AppArgs;
use step02_wsgi::{Application, GatewayOptions};
use step05_threadpool::access_log::AccessLog;
use step05_threadpool::confine::Root;
use step05_threadpool::connection::Limits;
use step05_threadpool::handler::{Mount, Site};
use step05_threadpool::mime::{MimeTypes, SHIPPED};
use step05_threadpool::prefork;
use step05_threadpool::static_files::Files;
use step05_threadpool::{Config, Model};

/// How connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModelArg {
    /// a fixed pool of threads with a bounded queue
    Pool,
    /// a new thread per connection, at most --max-clients at once
    Threads,
    /// rayon's work-stealing pool (a CPU pool: the wrong tool here)
    Rayon,
    /// a pool of processes forked at start
    Prefork,
}

/// A pool of workers serving static files and applications, with keep-alive (Stepwise, chapter 5).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The document root (default: the demo site shipped with this step).
    #[arg(short, long)]
    root: Option<PathBuf>,
    /// How connections are served.
    #[arg(long, value_enum, default_value = "pool")]
    model: ModelArg,
    /// Workers: threads (pool, rayon) or processes (prefork).
    #[arg(short, long, default_value_t = 16)]
    workers: usize,
    /// Connections that may wait for a free pool worker before the acceptor
    /// stops accepting (default: 4 per worker).
    #[arg(long)]
    queue: Option<usize>,
    /// Most connections served at once by the threads model.
    #[arg(long, default_value_t = 256)]
    max_clients: usize,
    /// Append an access log (Common Log Format) to FILE.
    #[arg(short, long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// A mime.types file (default: the one shipped with this step).
    #[arg(long, value_name = "FILE")]
    mime_types: Option<PathBuf>,
    /// Mount an application at a prefix: PREFIX=NAME with a Rust
    /// application name (framework, hello, environ) or, with the python
    /// feature, PREFIX=python:MODULE:CALLABLE. Repeatable.
    #[arg(long, value_name = "PREFIX=APP")]
    mount: Vec<String>,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, default_value_t = 5.0)]
    idle_timeout: f64,
    /// Seconds a request may take to arrive once started (408 after).
    #[arg(long, default_value_t = 10.0)]
    request_timeout: f64,
    /// Requests per connection before it is closed.
    #[arg(long, default_value_t = 100)]
    max_requests: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.common.init_logging();
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let root_dir = args
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("site"));
    let root =
        Root::new(&root_dir).with_context(|| format!("document root {}", root_dir.display()))?;
    let mime = match &args.mime_types {
        Some(path) => {
            MimeTypes::load(path).with_context(|| format!("mime types {}", path.display()))?
        }
        None => MimeTypes::parse(SHIPPED),
    };
    let log = match &args.log {
        Some(path) => {
            AccessLog::open(path).with_context(|| format!("access log {}", path.display()))?
        }
        None => AccessLog::Off,
    };
    let mounts = args
        .mount
        .iter()
        .map(|m| mount(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let gateway = GatewayOptions {
        script_name: String::new(),
        multithread: args.model != ModelArg::Prefork,
        multiprocess: args.model == ModelArg::Prefork,
    };
    let site = Arc::new(Site::new(Files { root, mime }, mounts, gateway, log));
    let limits = Limits {
        idle_timeout: Duration::from_secs_f64(args.idle_timeout),
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        max_requests: args.max_requests.max(1),
    };

    let listener = args.common.bind()?;
    announce(listener.local_addr()?, "/");
    if args.model == ModelArg::Prefork {
        // No thread may exist before the workers are forked: no signal
        // thread here; the parent handles signals with a self-pipe.
        prefork::run(listener, site, args.workers, limits)?;
        return Ok(());
    }
    let shutdown = Shutdown::for_listener(&listener)?;
    trigger_on_signals(shutdown.clone())?;
    let config = Config {
        model: match args.model {
            ModelArg::Threads => Model::Threads,
            ModelArg::Rayon => Model::Rayon,
            _ => Model::Pool,
        },
        workers: args.workers,
        queue: args.queue.unwrap_or(args.workers * 4),
        max_clients: args.max_clients,
        limits,
    };
    step05_threadpool::run(listener, shutdown, site, &config)?;
    Ok(())
}

/// `/app=framework` or `/py=python:flaskapp:app` → a mount.
fn mount(spec: &str) -> anyhow::Result<Mount> {
    let (prefix, name) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("--mount takes PREFIX=APP, got {spec:?}"))?;
    if !prefix.starts_with('/') {
        bail!("a mount prefix starts with '/': {prefix:?}");
    }
    let app_args = AppArgs {
        app: name.to_owned(),
        wsgi: name.strip_prefix("python:").map(str::to_owned),
        pythonpath: Vec::new(),
        validate: false,
    };
    if app_args.wsgi.is_none() && !step02_wsgi::apps::NAMES.contains(&name) {
        bail!(
            "unknown application {name:?} (try framework, hello, environ, or python:MODULE:CALLABLE)"
        );
    }
    let app: Arc<dyn Application> = app_args.load()?;
    Ok(Mount {
        prefix: prefix.to_owned(),
        app,
    })
}
