//! The chapter 6 binary: the full server, configured by one TOML file.
//!
//! Start-up happens in a fixed order, because of what must happen before
//! what (the server-behaviour reference §7): read and check the
//! configuration; raise the descriptor limit; resolve the user and group
//! names; bind the listening sockets and open the logs (as root, if we
//! are: ports below 1024, root-owned directories); hand the logs to the
//! target user; drop privileges — before any thread exists; only then
//! start the log writers and the tokio runtime.
//!
//! Run with:
//!
//! ```text
//! cargo run -p step06-full                            # the demo site, stepwise.toml
//! cargo run -p step06-full -- --config my.toml        # another configuration
//! cargo run -p step06-full -- --check                 # check the configuration and exit
//! kill -HUP  $(pgrep -n step06-full)                  # reload the configuration
//! kill -USR1 $(pgrep -n step06-full)                  # reopen the logs
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use step01_iterative::cli::{CommonArgs, announce};
use step02_wsgi::cli::AppArgs;
use step02_wsgi::gateway::Application;
use step05_threadpool::confine::Root;
use step05_threadpool::mime::{MimeTypes, SHIPPED};
use step06_full::access::error_line;
use step06_full::cache::Cache;
use step06_full::cgi::process::{ResourceLimits, Timeouts};
use step06_full::config::{Config, StderrMode};
use step06_full::files::{Files, Kinds};
use step06_full::handler::Dynamic;
use step06_full::log::{Log, LogWriter, open_append, stderr_is_terminal};
use step06_full::mount::{Mount, Mounts};
use step06_full::privileges;
use step06_full::server::{self, ConnectionLimits, SharedSite, Site};
use step06_full::servlet::sessions::Sessions;
use step06_full::servlet::{ServletApp, login::Login, visits::Visits};
use step06_full::session::{CookieSettings, FileStore, SessionStore, SweeperHandle, spawn_sweeper};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;

/// The configuration shipped with this step: the demo site.
const DEFAULT_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/stepwise.toml");

/// The full server: static files, caching, logs with rotation, privilege drop (Stepwise, chapter 6).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file.
    #[arg(short, long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Listen on this address instead of the configured ones (with --port).
    #[arg(long)]
    host: Option<String>,
    /// Listen on this port instead of the configured addresses; 0 picks one.
    #[arg(short, long)]
    port: Option<u16>,
    /// Log each request to stderr (info level).
    #[arg(short, long)]
    verbose: bool,
    /// Log everything (debug level).
    #[arg(short, long)]
    debug: bool,
    /// Check the configuration, print the result and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    CommonArgs {
        host: String::new(),
        port: 0,
        verbose: args.verbose,
        debug: args.debug,
    }
    .init_logging();
    let config = load(&args)?;
    if args.check {
        println!("{}: configuration OK", args.config.display());
        return Ok(());
    }
    match privileges::raise_nofile_limit() {
        Ok((old, new)) if old != new => {
            tracing::info!("descriptor limit raised from {old} to {new}")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the descriptor limit: {e}"),
    }
    // Names are resolved while NSS files are still readable.
    let identity = match &config.server.user {
        Some(user) if nix::unistd::geteuid().is_root() => {
            Some(privileges::resolve(user, config.server.group.as_deref())?)
        }
        Some(user) => {
            tracing::warn!("not started as root: `server.user = {user:?}` is ignored");
            None
        }
        None => {
            privileges::warn_if_root_without_user(None);
            None
        }
    };
    let listeners = bind(&config)?;
    // Directories the server creates for its logs become the target user's;
    // an existing one (say /var/log) is never given away.
    let mut created = Vec::new();
    let access_file = open_log(&config, config.log.access.as_deref(), &mut created)?;
    let error_file = open_log(&config, config.log.error.as_deref(), &mut created)?;
    // The session directory too: created now, so it can be given to the
    // user we become.
    let store = session_store(&config, &mut created)?;
    if let Some(identity) = &identity {
        let mut writable = created.clone();
        for path in [&config.log.access, &config.log.error]
            .into_iter()
            .flatten()
        {
            let path = config.resolve(path);
            if let Some(dir) = path.parent()
                && !created.iter().any(|c| c == dir)
            {
                tracing::warn!(
                    "{} existed before: make it writable by {} yourself, or log rotation will fail",
                    dir.display(),
                    identity.user
                );
            }
            writable.push(path);
        }
        privileges::prepare_paths(identity, &writable)?;
        // The point of no return: from here on we are not root.
        privileges::drop_to(identity)?;
        tracing::info!(
            "running as {} (uid {}, gid {})",
            identity.user,
            identity.uid,
            identity.gid
        );
    }
    // Threads may start now.
    let echo = match config.log.stderr {
        StderrMode::Always => true,
        StderrMode::Never => false,
        StderrMode::Auto => stderr_is_terminal(),
    };
    let (access, access_writer) =
        start_log(&config, config.log.access.as_deref(), access_file, echo)?;
    let (errors, error_writer) = start_log(&config, config.log.error.as_deref(), error_file, echo)?;
    errors.write(error_line(
        "core",
        "notice",
        None,
        &format!("{} starting", step01_iterative::response::SERVER_NAME),
    ));
    let served = serve(config, args, listeners, store, &access, &errors);
    if let Err(e) = &served {
        errors.write(error_line("core", "error", None, &format!("{e:#}")));
    }
    // The order matters: a log's writer thread ends when the last handle
    // on it is gone, and dropping a `LogWriter` waits for that thread. So
    // every handle first (`serve` has dropped the runtime, the site and
    // theirs, on success and on error alike), then the writers, which
    // flush the last lines. A `?` above this point would wait for ever.
    drop(access);
    drop(errors);
    drop(access_writer);
    drop(error_writer);
    served
}

/// Everything from the site's construction to the end of a graceful stop.
/// Whatever it returns, every log handle it made is gone when it returns.
fn serve(
    config: Config,
    args: Args,
    listeners: Vec<TcpListener>,
    store: Option<Arc<dyn SessionStore>>,
    access: &Log,
    errors: &Log,
) -> anyhow::Result<()> {
    let dynamic = dynamic(&config);
    if config.php.enabled && dynamic.php.is_none() {
        let message = format!(
            "php-cgi ({}) not found: PHP pages will answer 503 until it is installed and the configuration reloaded (SIGHUP)",
            config.php.binary.display()
        );
        tracing::warn!("{message}");
        errors.write(error_line("php", "warn", None, &message));
    }
    let (mounts, sweeper) = mounts(&config, store, errors)?;
    let site = SharedSite::new(Site {
        files: Arc::new(files(&config)?),
        access: access.clone(),
        errors: errors.clone(),
        dynamic: Arc::new(dynamic),
        mounts,
        sweeper,
    });
    let limits = ConnectionLimits {
        max_clients: config.server.max_clients,
        header_read: Config::seconds(config.timeouts.header_read.min(config.timeouts.idle)),
        max_header: config.limits.max_header,
        shutdown: Config::seconds(config.timeouts.shutdown),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listeners = listeners
            .into_iter()
            .map(tokio::net::TcpListener::from_std)
            .collect::<std::io::Result<Vec<_>>>()?;
        // Handlers first, then the announcement: a SIGHUP sent the moment
        // "Listening on" appears must find them installed (the default
        // action of SIGHUP is to terminate).
        let handlers = SignalStreams::install()?;
        for listener in &listeners {
            announce(listener.local_addr()?, "/");
        }
        let listening = config.server.listen.clone();
        let stop = signals(handlers, site.clone(), args, listening);
        server::run(listeners, site.clone(), limits, stop).await;
        anyhow::Ok(())
    })?;
    if let Some(cache) = &site.current().files.cache {
        let (hits, misses) = cache.counters();
        errors.write(error_line(
            "cache",
            "notice",
            None,
            &format!("cache: {hits} hits, {misses} misses"),
        ));
    }
    errors.write(error_line("core", "notice", None, "stopped"));
    // The runtime (and the connections' handles) first, then the site.
    drop(runtime);
    drop(site);
    Ok(())
}

/// Reads the configuration and applies `--host`/`--port`.
fn load(args: &Args) -> anyhow::Result<Config> {
    let mut config = Config::load(&args.config)?;
    if args.port.is_some() || args.host.is_some() {
        let first = config.server.listen.first().copied();
        let host = match &args.host {
            Some(host) => host
                .parse()
                .with_context(|| format!("--host {host} is not an IP address"))?,
            None => first.map_or_else(|| [127, 0, 0, 1].into(), |a| a.ip()),
        };
        let port = args.port.or(first.map(|a| a.port())).unwrap_or(8080);
        config.server.listen = vec![SocketAddr::new(host, port)];
    }
    Ok(config)
}

/// How many finished handshakes the kernel may queue for `accept`. std's
/// `TcpListener::bind` asks for 128; a burst of thousands of connections
/// would overflow it (the kernel drops SYNs and clients retry after a
/// second), so we ask for more (the kernel caps it at `somaxconn`).
const LISTEN_BACKLOG: i32 = 4096;

fn bind(config: &Config) -> anyhow::Result<Vec<TcpListener>> {
    use socket2::{Domain, Socket, Type};
    config
        .server
        .listen
        .iter()
        .map(|addr| {
            let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
            // Restart without waiting for old connections' TIME_WAIT.
            socket.set_reuse_address(true)?;
            socket
                .bind(&(*addr).into())
                .with_context(|| format!("cannot listen on {addr}"))?;
            socket.listen(LISTEN_BACKLOG)?;
            socket.set_nonblocking(true)?;
            Ok(socket.into())
        })
        .collect()
}

fn open_log(
    config: &Config,
    path: Option<&Path>,
    created: &mut Vec<PathBuf>,
) -> anyhow::Result<Option<std::fs::File>> {
    let Some(path) = path else { return Ok(None) };
    let path = config.resolve(path);
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        created.push(dir.to_owned());
    }
    Ok(Some(open_append(&path).with_context(|| {
        format!("cannot open {}", path.display())
    })?))
}

fn start_log(
    config: &Config,
    path: Option<&Path>,
    file: Option<std::fs::File>,
    echo: bool,
) -> anyhow::Result<(Log, Option<LogWriter>)> {
    match (path, file) {
        (Some(path), Some(file)) => {
            let (log, writer) = Log::start(
                &config.resolve(path),
                file,
                config.log.rotate_size,
                config.log.keep,
                echo,
            )?;
            Ok((log, Some(writer)))
        }
        _ => Ok((Log::disabled(echo), None)),
    }
}

/// The file handler for `config`.
fn files(config: &Config) -> anyhow::Result<Files> {
    let root_dir = config.document_root();
    let root =
        Root::new(&root_dir).with_context(|| format!("document root {}", root_dir.display()))?;
    let mime = match &config.server.mime_types {
        Some(path) => MimeTypes::load(&config.resolve(path))
            .with_context(|| format!("mime types {}", path.display()))?,
        None => MimeTypes::parse(SHIPPED),
    };
    let mime = mime.with_text_charset(config.server.text_charset_utf8.then_some("utf-8"));
    Ok(Files {
        root,
        mime,
        index_files: config.server.index_files.clone(),
        listing: config.server.directory_listing,
        cache: config.cache.enabled.then(|| {
            Cache::with_revalidation(
                config.cache.max_size,
                config.cache.max_entry,
                Config::seconds(config.cache.revalidate),
            )
        }),
        x_cache_header: config.cache.x_cache_header,
        kinds: kinds(config),
    })
}

/// Which files are scripts: CGI directories are matched on canonical
/// paths, so they are canonicalised here (a missing one is skipped).
fn kinds(config: &Config) -> Kinds {
    let mut kinds = Kinds::default();
    if config.cgi.enabled {
        kinds.cgi_extensions = config.cgi.extensions.clone();
        kinds.cgi_url_prefixes = config.cgi.directories.clone();
        kinds.cgi_directories = canonical_under_root(config, &config.cgi.directories);
    }
    if config.php.enabled {
        kinds.php_extensions = config.php.extensions.clone();
    }
    if config.ssi.enabled {
        kinds.ssi_extensions = config.ssi.extensions.clone();
    }
    kinds
}

// ANCHOR: mounts
/// The file session store, if any mount keeps sessions. A directory it
/// creates is added to `created`, to be handed to the configured user.
fn session_store(
    config: &Config,
    created: &mut Vec<PathBuf>,
) -> anyhow::Result<Option<Arc<dyn SessionStore>>> {
    if !config.mounts.iter().any(|m| m.sessions) {
        return Ok(None);
    }
    let directory = config.resolve(&config.sessions.directory);
    if !directory.exists() {
        created.push(directory.clone());
    }
    let store = FileStore::new(&directory)
        .with_context(|| format!("sessions.directory {}", directory.display()))?;
    Ok(Some(Arc::new(store)))
}

/// The `[[mount]]` applications, wrapped in the session middleware where
/// asked, and the sweeper of the session store.
fn mounts(
    config: &Config,
    store: Option<Arc<dyn SessionStore>>,
    errors: &Log,
) -> anyhow::Result<(Mounts, Option<SweeperHandle>)> {
    let idle = Config::seconds(config.sessions.idle_timeout);
    let mut mounted = Vec::new();
    for mount in &config.mounts {
        let app: Arc<dyn Application> = match (&mount.servlet, &mount.app, &mount.wsgi) {
            (Some(servlet), _, _) => match servlet.as_str() {
                "visits" => Arc::new(ServletApp::new(Visits)),
                _ => Arc::new(ServletApp::new(Login)),
            },
            (_, app, wsgi) => {
                let args = AppArgs {
                    app: app.clone().unwrap_or_default(),
                    wsgi: wsgi.clone(),
                    pythonpath: mount.pythonpath.iter().map(|p| config.resolve(p)).collect(),
                    validate: false,
                };
                match args.load() {
                    Ok(app) => app,
                    // The shipped configuration mounts a Flask app; a
                    // server built without Python skips it, and says so.
                    Err(e) if wsgi.is_some() && !cfg!(feature = "python") => {
                        let message = format!("{} not mounted: {e}", mount.path);
                        tracing::warn!("{message}");
                        errors.write(error_line("mount", "warn", None, &message));
                        continue;
                    }
                    Err(e) => return Err(e.context(format!("mount {}", mount.path))),
                }
            }
        };
        let app = match (&store, mount.sessions) {
            (Some(store), true) => {
                let cookie = CookieSettings {
                    name: config.sessions.cookie_name.clone(),
                    path: mount.path.clone(),
                    secure: config.sessions.secure,
                };
                Arc::new(Sessions::new(
                    app,
                    Arc::clone(store),
                    idle,
                    cookie,
                    errors.clone(),
                ))
            }
            _ => app,
        };
        let label = [&mount.servlet, &mount.app, &mount.wsgi]
            .into_iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default();
        mounted.push(Mount {
            prefix: mount.path.clone(),
            label,
            app,
        });
    }
    let sweeper = match store {
        Some(store) => Some(spawn_sweeper(
            store,
            idle,
            Config::seconds(config.sessions.sweep_interval),
            errors.clone(),
        )?),
        None => None,
    };
    Ok((Mounts::new(mounted), sweeper))
}
// ANCHOR_END: mounts

/// URL directories as canonical paths under the document root; one that
/// does not exist is left out (it can hold nothing).
fn canonical_under_root(config: &Config, directories: &[String]) -> Vec<PathBuf> {
    let root = config.document_root();
    directories
        .iter()
        .filter_map(|dir| std::fs::canonicalize(root.join(dir.trim_start_matches('/'))).ok())
        .collect()
}

/// The dynamic-content settings, php-cgi looked up once.
fn dynamic(config: &Config) -> Dynamic {
    let php = config
        .php
        .enabled
        .then(|| find_program(config, &config.php.binary))
        .flatten();
    Dynamic {
        php,
        php_wanted: config.php.binary.display().to_string(),
        timeouts: Timeouts {
            header: Config::seconds(config.cgi.header_timeout),
            idle: Config::seconds(config.cgi.idle_timeout),
        },
        limits: ResourceLimits {
            cpu_seconds: config.cgi.cpu_seconds,
            address_space: config.cgi.address_space,
            processes: config.cgi.processes,
        },
        max_body: config.limits.max_body,
        pass_authorization: config.cgi.pass_authorization,
        slots: Arc::new(Semaphore::new(config.cgi.max_processes)),
        max_processes: config.cgi.max_processes,
        ssi_exec: config.ssi.exec,
        ssi_exec_directories: canonical_under_root(config, &config.ssi.exec_directories),
    }
}

/// The dynamic settings after a reload. Scripts still running hold
/// permits of the current semaphore; with an unchanged `max_processes` it
/// is kept, so they still count against the limit.
fn reloaded_dynamic(config: &Config, current: &Dynamic) -> Dynamic {
    let mut fresh = dynamic(config);
    if config.cgi.max_processes == current.max_processes {
        fresh.slots = Arc::clone(&current.slots);
    }
    fresh
}

/// `program` as a path (relative to the config file), or a bare name
/// looked up on `PATH`, as a shell would; `None` if it is not there.
fn find_program(config: &Config, program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        let path = config.resolve(program);
        return runnable(&path).then_some(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| runnable(path))
}

// ANCHOR: signals
/// Handles SIGHUP (reload) and SIGUSR1 (reopen logs) until SIGTERM or
/// SIGINT, when it returns and the server shuts down.
/// The signals the server handles, registered with tokio.
struct SignalStreams {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl SignalStreams {
    /// Installs the handlers (inside the runtime).
    fn install() -> std::io::Result<SignalStreams> {
        Ok(SignalStreams {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }
}

async fn signals(
    handlers: SignalStreams,
    site: SharedSite,
    args: Args,
    listening: Vec<SocketAddr>,
) {
    let SignalStreams {
        mut term,
        mut int,
        mut hup,
        mut usr1,
    } = handlers;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&site, &args, &listening),
            _ = usr1.recv() => {
                let current = site.current();
                current.access.reopen();
                current.errors.reopen();
                current.errors.write(error_line("core", "notice", None, "SIGUSR1: logs reopened"));
            }
        }
    }
    site.current().errors.write(error_line(
        "core",
        "notice",
        None,
        "stopping: finishing requests in flight",
    ));
}

/// Reads the configuration again; a bad one is refused and the old one kept.
fn reload(site: &SharedSite, args: &Args, listening: &[SocketAddr]) {
    let current = site.current();
    let fresh = load(args).and_then(|config| {
        let store = session_store(&config, &mut Vec::new())?;
        let mounted = mounts(&config, store, &current.errors)?;
        Ok((files(&config)?, mounted, config))
    });
    match fresh {
        Ok((files, (mounts, sweeper), config)) => {
            if config.server.listen != listening {
                current.errors.write(error_line(
                    "core",
                    "warn",
                    None,
                    "listen addresses change only on restart",
                ));
            }
            site.replace(Site {
                files: Arc::new(files),
                access: current.access.clone(),
                errors: current.errors.clone(),
                dynamic: Arc::new(reloaded_dynamic(&config, &current.dynamic)),
                mounts,
                sweeper,
            });
            current.access.reopen();
            current.errors.reopen();
            current.errors.write(error_line(
                "core",
                "notice",
                None,
                "SIGHUP: configuration reloaded",
            ));
        }
        Err(e) => {
            let message = format!("SIGHUP: configuration refused, keeping the old one: {e:#}");
            tracing::error!("{message}");
            current
                .errors
                .write(error_line("core", "error", None, &message));
        }
    }
}
// ANCHOR_END: signals
