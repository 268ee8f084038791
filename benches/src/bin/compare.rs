//! The comparison runner: every chapter's server beside nginx and lighttpd,
//! under the same load, in one run, printed as Markdown tables.
//!
//! ```text
//! cargo run --release -p benches --bin compare                               # everything (a few minutes)
//! cargo run --release -p benches --bin compare -- --duration 1 --idle 1000   # a smoke run
//! cargo run --release -p benches --bin compare -- --only idle --server step06 --out idle.md
//! cargo run --release -p benches --bin compare -- --out r.md --json r.json --charts charts/
//! ```
//!
//! For each workload (a table), each server that can serve it is started
//! on a free loopback port, checked with one request, warmed up, measured
//! for `--duration` seconds by the workspace's `loadgen` (a thread per
//! client), and stopped before the next one starts. Nothing is installed:
//! nginx, lighttpd and php-cgi are used when they are found (on `PATH`, or
//! in `/usr/sbin`, where Debian puts the servers) and their rows are left
//! out otherwise.
//!
//! # Tables
//!
//! | id | request | servers |
//! | --- | --- | --- |
//! | `file_1k` | a 1 KiB file, keep-alive | step05 ×4, step06, nginx, lighttpd |
//! | `tiny` | 11 bytes, a new connection per request | step01, step03, step04, step05 ×4, step06, step06-static, nginx, lighttpd |
//! | `file_954k` | a 954 KB file, keep-alive | as `file_1k` |
//! | `hello_cgi` | a shell script as CGI, keep-alive | step06, lighttpd (mod_cgi) |
//! | `hello_php` | a PHP page through php-cgi, keep-alive | step06, lighttpd (mod_cgi), lighttpd (FastCGI) |
//! | `idle` | the 1 KiB file while `--idle` connections sit idle | step05-pool, step05-threads, step06, nginx, lighttpd |
//!
//! `tiny` is chapter 2's framework application (`/sleep?ms=0`, mounted at
//! `/app` in chapters 5 and 6; chapter 1's own handler in step01); nginx
//! and lighttpd serve the same 11 bytes from a file, the closest thing
//! they have, and so does `step06-static` (step06-full again, on the
//! peers' file: chapter 6's new-connection goal). Chapter 3 never reaps
//! its children, so it is restarted every 5,000 connections, outside the
//! measured time.
//!
//! # Configurations
//!
//! Everything lives in one temporary directory (document root, logs, each
//! server's configuration), removed at the end. Every server keeps its
//! defaults except: no access log; keep-alive connections may idle 120 s
//! (so the `idle` table measures holding connections, not closing them);
//! and, in the `idle` table, room for all the connections (`max_clients`,
//! `--max-clients`, `worker_connections`, `server.max-connections`). nginx
//! runs one worker per core (`worker_processes auto`) with sendfile, as a
//! child of the runner (`daemon off`, a pid file in the temporary
//! directory); lighttpd runs in the foreground (`-D`).
//!
//! # Columns
//!
//! requests/s, p50 and p99 latency and errors come from `loadgen`'s
//! report; a response whose body is not the expected size counts too.
//! Peak RSS is `VmHWM` from `/proc/PID/status` after the run, summed over
//! the server's live processes (nginx's master and workers,
//! step05-prefork's parent and 16 workers, FastCGI's php-cgi processes):
//! a sum of peaks, which counts shared pages once per process.
//! Per-connection children (step03, step04) and CGI scripts are gone by
//! then. The ratios divide a row's requests/s by nginx's and lighttpd's in
//! the same table.
//!
//! # The idle table
//!
//! The runner raises its descriptor limit to the hard limit, then 16
//! threads open the idle connections: each sends one request for the 1 KiB
//! file, reads the answer and then sends nothing (a server that stops
//! answering ends the opening after 3 s without a new connection). Then
//! the clients measure, with a 3 s timeout per request, and the runner
//! counts how many idle connections are still open. If the limit is too
//! low (for the runner, or for lighttpd, which wants two descriptors per
//! connection), fewer connections are opened and a note says so.
//!
//! # Cleanup
//!
//! Every server runs in its own process group and is stopped (SIGTERM,
//! then SIGKILL for the group and for any descendant that left it, like
//! php-cgi's FastCGI parent) when its run ends, on error too. SIGINT,
//! SIGTERM and SIGHUP are caught: every live server is stopped and the
//! temporary directory removed before the runner exits. If the runner is
//! killed outright, Linux kills the servers it started (a parent-death
//! signal); only their own children (nginx's workers, php-cgi) could then
//! outlive them.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use loadgen::Report;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, killpg, sigprocmask};
use nix::unistd::Pid;
use test_support::TestServer;
use test_support::proc::ProcStat;

/// The static files' sizes.
const FILE_1K: usize = 1024;
const FILE_954K: usize = 954_000;

/// The bodies of the small responses.
const TINY_BODY: &[u8] = b"slept 0 ms\n";
const CGI_BODY: &[u8] = b"Hello from CGI\n";
const PHP_BODY: &[u8] = b"Hello from PHP\n";

/// Seconds a kept-alive connection may idle, on every server.
const KEEP_ALIVE_IDLE_SECS: u32 = 120;

/// Connections chapter 3 may leave as zombies before it is restarted.
const ZOMBIE_BUDGET: u64 = 5_000;

/// Chapter 5's workers (its default).
const STEP05_WORKERS: usize = 16;

/// The `idle` table: how long a measured request may take, how many
/// threads open the idle connections, how long each attempt may take,
/// and after how long without a new connection the opening gives up.
const IDLE_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
const OPENERS: usize = 16;
const OPEN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const OPEN_STALL: Duration = Duration::from_secs(3);

/// Descriptors the runner keeps for everything but the idle connections
/// and the measuring clients.
const FD_RESERVE: u64 = 200;

/// Connections a server must have room for beyond the idle ones and the
/// measuring clients (the check request, a reconnect).
const IDLE_SLACK: usize = 16;

/// How long nginx or lighttpd may take to listen, and to stop.
const PEER_START_TIMEOUT: Duration = Duration::from_secs(10);
const PEER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The chapters' packages, whose binaries are measured.
const PACKAGES: [&str; 5] = [
    "step01-iterative",
    "step03-fork",
    "step04-reaping",
    "step05-threadpool",
    "step06-full",
];

/// Every chapter's server beside nginx and lighttpd, as Markdown tables.
#[derive(Debug, Parser)]
#[command(
    about,
    after_help = "Builds the chapters' servers first (cargo build, same profile). \
                  Installs nothing: nginx, lighttpd and php-cgi are used when found."
)]
struct Args {
    /// Seconds each server is measured in each table (after a warm-up of
    /// a fifth of it, at most 1 s).
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    duration: f64,
    /// Concurrent clients in the static tables (file_1k, tiny, file_954k).
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Concurrent clients in the CGI tables (hello_cgi, hello_php).
    #[arg(long, default_value_t = 16)]
    cgi_clients: usize,
    /// Idle keep-alive connections held open in the idle table (fewer if
    /// the descriptor limit is too low; a note says so).
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Clients measuring the 1 KiB file while the idle connections are held.
    #[arg(long, default_value_t = 8)]
    idle_clients: usize,
    /// Seconds one request may take before it counts as a timeout (the
    /// idle table uses 3 s).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    timeout: f64,
    /// Run only these tables (repeatable): static (file_1k, tiny,
    /// file_954k), cgi (hello_cgi, hello_php), idle, or one table's id.
    #[arg(long, value_enum, value_name = "TABLE")]
    only: Vec<Only>,
    /// Run only the servers whose id starts with ID (repeatable), e.g.
    /// step05, step06-full, nginx, lighttpd.
    #[arg(long, value_name = "ID")]
    server: Vec<String>,
    /// Leave nginx out, as if it were not installed.
    #[arg(long)]
    no_nginx: bool,
    /// Leave lighttpd out, as if it were not installed.
    #[arg(long)]
    no_lighttpd: bool,
    /// Leave php-cgi out, as if it were not installed (no hello_php table).
    #[arg(long)]
    no_php: bool,
    /// Write the Markdown to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also draw one SVG chart per table into DIR (see `benches::charts`).
    #[arg(long, value_name = "DIR")]
    charts: Option<PathBuf>,
    /// Keep the temporary directory (configurations, servers' logs) and
    /// print its path.
    #[arg(long)]
    keep_temp: bool,
}

/// What `--only` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    /// file_1k, tiny and file_954k
    Static,
    /// hello_cgi and hello_php
    Cgi,
    /// many idle connections
    Idle,
    #[value(name = "file_1k")]
    File1k,
    Tiny,
    #[value(name = "file_954k")]
    File954k,
    #[value(name = "hello_cgi")]
    HelloCgi,
    #[value(name = "hello_php")]
    HelloPhp,
}

/// One workload: one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    File1k,
    Tiny,
    File954k,
    HelloCgi,
    HelloPhp,
    Idle,
}

const TABLES: [Table; 6] = [
    Table::File1k,
    Table::Tiny,
    Table::File954k,
    Table::HelloCgi,
    Table::HelloPhp,
    Table::Idle,
];

/// The servers, in the order of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Step01,
    Step03,
    Step04,
    Step05Pool,
    Step05Threads,
    Step05Rayon,
    Step05Prefork,
    Step06,
    /// step06-full serving the peers' static file in `tiny`: chapter 6's
    /// own goal for a new connection per request.
    Step06Static,
    Nginx,
    Lighttpd,
    LighttpdFastcgi,
}

const STEP05: [Server; 4] = [
    Server::Step05Pool,
    Server::Step05Threads,
    Server::Step05Rayon,
    Server::Step05Prefork,
];

impl Server {
    fn id(self) -> &'static str {
        match self {
            Server::Step01 => "step01-iterative",
            Server::Step03 => "step03-fork",
            Server::Step04 => "step04-reaping",
            Server::Step05Pool => "step05-pool",
            Server::Step05Threads => "step05-threads",
            Server::Step05Rayon => "step05-rayon",
            Server::Step05Prefork => "step05-prefork",
            Server::Step06 => "step06-full",
            Server::Step06Static => "step06-static",
            Server::Nginx => "nginx",
            Server::Lighttpd => "lighttpd",
            Server::LighttpdFastcgi => "lighttpd-fastcgi",
        }
    }

    /// The chapter's package (and binary), for the chapters.
    fn package(self) -> Option<&'static str> {
        match self {
            Server::Step01 => Some("step01-iterative"),
            Server::Step03 => Some("step03-fork"),
            Server::Step04 => Some("step04-reaping"),
            Server::Step05Pool
            | Server::Step05Threads
            | Server::Step05Rayon
            | Server::Step05Prefork => Some("step05-threadpool"),
            Server::Step06 | Server::Step06Static => Some("step06-full"),
            Server::Nginx | Server::Lighttpd | Server::LighttpdFastcgi => None,
        }
    }

    /// Chapter 5's `--model`.
    fn step05_model(self) -> Option<&'static str> {
        match self {
            Server::Step05Pool => Some("pool"),
            Server::Step05Threads => Some("threads"),
            Server::Step05Rayon => Some("rayon"),
            Server::Step05Prefork => Some("prefork"),
            _ => None,
        }
    }

    /// Whether it serves chapter 2's framework at `/app` (and needs the
    /// prefix in front of `/sleep`).
    fn mounts_app(self) -> bool {
        self.step05_model().is_some() || self == Server::Step06
    }
}

impl Table {
    fn id(self) -> &'static str {
        match self {
            Table::File1k => "file_1k",
            Table::Tiny => "tiny",
            Table::File954k => "file_954k",
            Table::HelloCgi => "hello_cgi",
            Table::HelloPhp => "hello_php",
            Table::Idle => "idle",
        }
    }

    fn selected(self, only: &[Only]) -> bool {
        only.is_empty()
            || only.iter().any(|o| match o {
                Only::Static => matches!(self, Table::File1k | Table::Tiny | Table::File954k),
                Only::Cgi => matches!(self, Table::HelloCgi | Table::HelloPhp),
                Only::Idle => self == Table::Idle,
                Only::File1k => self == Table::File1k,
                Only::Tiny => self == Table::Tiny,
                Only::File954k => self == Table::File954k,
                Only::HelloCgi => self == Table::HelloCgi,
                Only::HelloPhp => self == Table::HelloPhp,
            })
    }

    fn servers(self) -> Vec<Server> {
        let mut servers = Vec::new();
        match self {
            Table::File1k | Table::File954k => {
                servers.extend(STEP05);
                servers.extend([Server::Step06, Server::Nginx, Server::Lighttpd]);
            }
            Table::Tiny => {
                servers.extend([Server::Step01, Server::Step03, Server::Step04]);
                servers.extend(STEP05);
                servers.extend([
                    Server::Step06,
                    Server::Step06Static,
                    Server::Nginx,
                    Server::Lighttpd,
                ]);
            }
            Table::HelloCgi => servers.extend([Server::Step06, Server::Lighttpd]),
            Table::HelloPhp => {
                servers.extend([Server::Step06, Server::Lighttpd, Server::LighttpdFastcgi]);
            }
            Table::Idle => servers.extend([
                Server::Step05Pool,
                Server::Step05Threads,
                Server::Step06,
                Server::Nginx,
                Server::Lighttpd,
            ]),
        }
        servers
    }

    fn keep_alive(self) -> bool {
        self != Table::Tiny
    }

    fn clients(self, args: &Args) -> usize {
        match self {
            Table::File1k | Table::Tiny | Table::File954k => args.clients,
            Table::HelloCgi | Table::HelloPhp => args.cgi_clients,
            Table::Idle => args.idle_clients,
        }
    }

    /// The measured request's path on `server`.
    fn path(self, server: Server) -> &'static str {
        match self {
            Table::File1k | Table::Idle => "/1k.bin",
            Table::File954k => "/954k.bin",
            Table::HelloCgi => "/cgi-bin/hello.cgi",
            Table::HelloPhp => "/hello.php",
            Table::Tiny => match server {
                Server::Nginx
                | Server::Lighttpd
                | Server::LighttpdFastcgi
                | Server::Step06Static => "/tiny.txt",
                s if s.mounts_app() => "/app/sleep?ms=0",
                _ => "/sleep?ms=0",
            },
        }
    }

    /// The measured response's body.
    fn body(self) -> Body {
        match self {
            Table::File1k | Table::Idle => Body::Len(FILE_1K),
            Table::File954k => Body::Len(FILE_954K),
            Table::Tiny => Body::Exact(TINY_BODY),
            Table::HelloCgi => Body::Exact(CGI_BODY),
            Table::HelloPhp => Body::Exact(PHP_BODY),
        }
    }

    fn title(self, args: &Args, idle: usize) -> String {
        let c = self.clients(args);
        match self {
            Table::File1k => format!("`file_1k`: a 1 KiB static file, keep-alive, {c} clients"),
            Table::Tiny => {
                format!("`tiny`: an 11-byte response, a new connection per request, {c} clients")
            }
            Table::File954k => {
                format!("`file_954k`: a 954 KB static file, keep-alive, {c} clients")
            }
            Table::HelloCgi => {
                format!("`hello_cgi`: a shell script run as CGI, keep-alive, {c} clients")
            }
            Table::HelloPhp => {
                format!("`hello_php`: a PHP page through php-cgi, keep-alive, {c} clients")
            }
            Table::Idle => format!(
                "`idle`: the 1 KiB file, keep-alive, {c} clients, while {} idle connections \
                 are held open",
                group_digits(idle as u64)
            ),
        }
    }

    /// What always goes under the table.
    fn notes(self, ctx: &Ctx) -> Vec<String> {
        match self {
            Table::File1k | Table::File954k => {
                let mut notes = vec![
                    "step01, step03 and step04 serve no static files: they are not in this \
                     table."
                        .to_owned(),
                    "Keep-alive: step05 closes a connection after 100 requests (its default), \
                     nginx and lighttpd after 1,000 (theirs); the client reconnects."
                        .to_owned(),
                ];
                let clients = ctx.args.clients;
                if clients > STEP05_WORKERS {
                    notes.push(format!(
                        "step05-pool, -rayon and -prefork have {STEP05_WORKERS} workers for \
                         {clients} keep-alive clients: a new connection waits in the queue \
                         until a worker's connection ends (after its 100 requests), which \
                         shows in their p99."
                    ));
                }
                if self == Table::File954k {
                    notes.push(
                        "954,000 bytes: step06 serves it from its in-memory cache (entries up \
                         to 1 MiB), step05 reads it on every request, nginx with sendfile."
                            .to_owned(),
                    );
                }
                notes
            }
            Table::Tiny => vec![
                "The response is `slept 0 ms\\n` (11 bytes): chapter 1's own handler in \
                 step01, chapter 2's framework application in the others (`--app framework` \
                 for step03 and step04, mounted at `/app` in step05 and step06). nginx and \
                 lighttpd run no application: they serve the same 11 bytes from a static \
                 file, the closest equivalent, which is less work. step06-static is \
                 step06-full serving that same file, which measures chapter 6's goal of at \
                 least nginx's rate with a new connection per request."
                    .to_owned(),
                format!(
                    "step03-fork never reaps its children (on purpose): it is restarted every \
                     {} connections, outside the measured time; its peak RSS is its last \
                     instance's.",
                    group_digits(ZOMBIE_BUDGET)
                ),
                "step03 and step04 fork a process per connection; only the parent's memory \
                 is counted."
                    .to_owned(),
            ],
            Table::HelloCgi => vec![
                "A two-line `/bin/sh` script run as CGI/1.1: a fork and an exec of the shell \
                 per request, in step06 and in lighttpd's mod_cgi. nginx runs no CGI: its \
                 column is empty."
                    .to_owned(),
            ],
            Table::HelloPhp => vec![
                "`<?php echo \"Hello from PHP\\n\";` run by php-cgi as CGI, a new PHP process \
                 per request, in step06 and in lighttpd's mod_cgi. lighttpd-fastcgi is the \
                 contrast: lighttpd's mod_fastcgi with 4 php-cgi processes started once and \
                 reused (its peak RSS includes them; its ratio is to lighttpd with mod_cgi). \
                 nginx runs no CGI: its column is empty."
                    .to_owned(),
            ],
            Table::Idle => {
                let mut notes = vec![
                    format!(
                        "First, {} connections are opened ({OPENERS} threads; each sends one \
                         request for `/1k.bin`, reads the answer, then sends nothing); then \
                         {} clients measure the 1 KiB file over keep-alive, with a {} s \
                         timeout per request. _held_: idle connections whose request was \
                         answered (opening stops after {} s without a new one); _open at \
                         end_: of those, still open after the measurement.",
                        group_digits(ctx.idle as u64),
                        ctx.args.idle_clients,
                        IDLE_REQUEST_TIMEOUT.as_secs(),
                        OPEN_STALL.as_secs(),
                    ),
                    format!(
                        "Every server lets a kept-alive connection idle {KEEP_ALIVE_IDLE_SECS} \
                         s here (defaults: step05 5 s, step06 5 s, lighttpd 5 s, nginx 75 s) \
                         and has room for all the connections (step05-threads \
                         `--max-clients`, step06 `max_clients`, nginx `worker_connections`, \
                         lighttpd `server.max-connections`)."
                    ),
                    "step05-threads starts a thread per connection: as many threads as \
                     connections (its peak RSS shows their stacks). step05-rayon and \
                     step05-prefork have a fixed set of 16 workers, like step05-pool: left \
                     out."
                        .to_owned(),
                ];
                if let Some(note) = &ctx.idle_note {
                    notes.push(note.clone());
                }
                notes
            }
        }
    }

    /// Why a row is expected to show a problem.
    fn expected_problem(self, server: Server) -> Option<&'static str> {
        match (self, server) {
            (Table::Idle, Server::Step05Pool) => Some(
                "expected: a pool of 16 threads serves 16 connections at a time and each \
                 worker waits on its idle connection for the next request, so the other \
                 idle connections and the measuring clients queue, unanswered, until their \
                 timeout. This row is the problem chapter 6 solves.",
            ),
            _ => None,
        }
    }
}

/// What a response's body must be.
#[derive(Debug, Clone, Copy)]
enum Body {
    Len(usize),
    Exact(&'static [u8]),
}

impl Body {
    fn len(self) -> usize {
        match self {
            Body::Len(len) => len,
            Body::Exact(bytes) => bytes.len(),
        }
    }
}

// ---------------------------------------------------------------------------
// Cleanup on signals: a registry of live process groups and the temp dir.

/// Process groups of the servers running now.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// The temporary directory, removed on a signal too.
static TEMP_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

fn register(pgid: i32) {
    GROUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(pgid);
}

fn unregister(pgid: i32) {
    GROUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|&g| g != pgid);
}

/// Blocks SIGINT, SIGTERM and SIGHUP in every thread (call it before any
/// thread starts: they inherit the mask; child processes do not, Rust
/// resets it) and waits for them on a thread of their own, which stops
/// every live server, removes the temporary directory and exits.
fn catch_signals() -> Result<()> {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(signal);
    }
    set.thread_block().context("block SIGINT/SIGTERM/SIGHUP")?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(signal) = set.wait() else { return };
            eprintln!("compare: {signal}: stopping every server and exiting");
            let groups = GROUPS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            stop_trees(&groups, Duration::from_secs(2), || {
                groups.iter().all(|&g| !alive(g))
            });
            if let Some(dir) = TEMP_DIR
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
            {
                let _ = fs::remove_dir_all(dir);
            }
            std::process::exit(128 + signal as i32);
        })
        .context("start the signal thread")?;
    Ok(())
}

/// Unblocks every signal in the child before it runs: it would otherwise
/// inherit the mask [`catch_signals`] set (Rust's `Command` keeps the
/// parent's mask), and a server that cannot see SIGTERM never stops.
#[allow(unsafe_code)]
fn unblock_signals(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed. It fills a signal set on
    // the stack (sigemptyset) and makes one sigprocmask(2) system call,
    // both async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(|| {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
                .map_err(io::Error::from)
        });
    }
}

/// Asks Linux to SIGKILL the child if the thread that spawned it dies, so
/// a runner killed outright leaves no server behind.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed. It makes one prctl(2)
    // system call, which is async-signal-safe; it allocates nothing and
    // takes no lock.
    unsafe {
        command
            .pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from));
    }
}

// ---------------------------------------------------------------------------
// The machine: descriptors, peers, binaries.

/// A peer program found on this machine.
#[derive(Debug, Clone)]
struct Tool {
    path: PathBuf,
    version: String,
}

/// nginx, lighttpd and php-cgi, or why each is missing.
#[derive(Debug)]
struct Peers {
    nginx: Result<Tool, String>,
    lighttpd: Result<Tool, String>,
    php: Result<Tool, String>,
}

impl Peers {
    fn find(args: &Args) -> Peers {
        let find = |name: &str, skip: bool, flag: &str, package: &str| {
            if skip {
                return Err(format!("left out ({flag})"));
            }
            let path = which(name).ok_or_else(|| {
                format!("not found on PATH or in /usr/sbin (Debian package: {package})")
            })?;
            let version = version_of(&path);
            Ok(Tool { path, version })
        };
        Peers {
            nginx: find("nginx", args.no_nginx, "--no-nginx", "nginx-light or nginx"),
            lighttpd: find("lighttpd", args.no_lighttpd, "--no-lighttpd", "lighttpd"),
            php: find("php-cgi", args.no_php, "--no-php", "php-cgi"),
        }
    }

    /// Whether `server` can run in `table`; if not, why.
    fn available(&self, table: Table, server: Server) -> Result<(), String> {
        let need = |tool: &Result<Tool, String>, name: &str| match tool {
            Ok(_) => Ok(()),
            Err(why) => Err(format!("{name}: {why}")),
        };
        match server {
            Server::Nginx => need(&self.nginx, "nginx"),
            Server::Lighttpd | Server::LighttpdFastcgi => {
                need(&self.lighttpd, "lighttpd")?;
                if table == Table::HelloPhp {
                    need(&self.php, "php-cgi")?;
                }
                Ok(())
            }
            _ if table == Table::HelloPhp => need(&self.php, "php-cgi"),
            _ => Ok(()),
        }
    }
}

/// `name` on `PATH`, else in the sbin directories (Debian puts nginx and
/// lighttpd in /usr/sbin, which is not on an ordinary user's `PATH`).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The first line `PROGRAM -v` prints (nginx prints it on stderr).
fn version_of(program: &Path) -> String {
    let mut command = Command::new(program);
    command.arg("-v").stdin(Stdio::null());
    unblock_signals(&mut command);
    let Ok(output) = command.output() else {
        return "version unknown".into();
    };
    let text = [output.stdout, output.stderr].concat();
    let text = String::from_utf8_lossy(&text);
    let line = text.lines().next().unwrap_or("version unknown").trim();
    // "nginx version: nginx/1.22.1", "lighttpd/1.4.69 (ssl) - a light …",
    // "PHP 8.2.36 (cgi-fcgi) (built: …)".
    let line = line.strip_prefix("nginx version: ").unwrap_or(line);
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["PHP", version, ..] => format!("php-cgi {version}"),
        [first, ..] => first.replace('/', " "),
        [] => "version unknown".into(),
    }
}

/// Raises the soft descriptor limit to the hard one; returns it.
fn raise_nofile() -> Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit(RLIMIT_NOFILE)")?;
    // An unlimited hard limit still stops at the kernel's nr_open.
    let nr_open = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    let target = hard.min(nr_open);
    if target > soft {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard)
            .with_context(|| format!("setrlimit(RLIMIT_NOFILE, {target})"))?;
        return Ok(target);
    }
    Ok(soft)
}

/// Builds the chapters' binaries with this runner's own profile, into its
/// target directory, and returns the directory they are in.
fn build_chapters(packages: &[&str]) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("the runner's own path")?;
    // target/<profile>/compare (or …/deps/compare-<hash> under cargo test)
    let mut profile_dir = exe
        .parent()
        .context("the runner's directory")?
        .to_path_buf();
    if profile_dir.file_name().is_some_and(|n| n == "deps") {
        profile_dir.pop();
    }
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("a UTF-8 profile directory name")?
        .to_owned();
    let target_dir = profile_dir
        .parent()
        .context("target/<profile> has a parent")?;
    if packages.is_empty() {
        return Ok(profile_dir);
    }
    if profile == "debug" {
        eprintln!(
            "compare: warning: this is a debug build, so the chapters' debug builds are \
             measured; use cargo run --release"
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    for package in packages {
        command.args(["-p", package]);
    }
    unblock_signals(&mut command);
    eprintln!("compare: building the servers ({profile}): {command:?}");
    let status = command.status().context("run cargo build")?;
    if !status.success() {
        bail!("cargo build of the servers failed ({status}): {command:?}");
    }
    Ok(profile_dir)
}

// ---------------------------------------------------------------------------
// The files every server serves.

/// The temporary directory: document root, logs, configurations.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Result<Fixture> {
        let dir = tempfile::Builder::new()
            .prefix("stepwise-compare-")
            .tempdir()
            .context("create a temporary directory")?;
        *TEMP_DIR.lock().unwrap_or_else(PoisonError::into_inner) = Some(dir.path().to_owned());
        let fixture = Fixture { dir };
        let www = fixture.www();
        let cgi_bin = www.join("cgi-bin");
        fs::create_dir_all(&cgi_bin)?;
        fs::create_dir_all(fixture.logs())?;
        // Not all alike, so nothing along the way can shortcut them.
        let bytes = |len: usize| (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>();
        fs::write(www.join("1k.bin"), bytes(FILE_1K))?;
        fs::write(www.join("954k.bin"), bytes(FILE_954K))?;
        fs::write(www.join("tiny.txt"), TINY_BODY)?;
        fs::write(
            cgi_bin.join("hello.cgi"),
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nHello from CGI\\n'\n",
        )?;
        fs::write(www.join("hello.php"), "<?php echo \"Hello from PHP\\n\";\n")?;
        // nginx's workers run as nobody when the runner is root: everything
        // they serve must be readable by all (a temporary directory is 0700).
        for dir in [fixture.path(), www.as_path(), cgi_bin.as_path()] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
        }
        for file in ["1k.bin", "954k.bin", "tiny.txt", "hello.php"] {
            fs::set_permissions(www.join(file), fs::Permissions::from_mode(0o644))?;
        }
        fs::set_permissions(cgi_bin.join("hello.cgi"), fs::Permissions::from_mode(0o755))?;
        Ok(fixture)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn www(&self) -> PathBuf {
        self.path().join("www")
    }

    fn logs(&self) -> PathBuf {
        self.path().join("logs")
    }
}

// ---------------------------------------------------------------------------
// Configurations.

/// A TOML or lighttpd string literal.
fn quoted(path: &Path) -> String {
    let text = path.display().to_string();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Chapter 6's configuration: its defaults, no logs, the framework at
/// `/app`, php-cgi if found, long keep-alive, room for `capacity`.
fn step06_config(www: &Path, php: Option<&Path>, capacity: usize) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "[server]");
    let _ = writeln!(text, "listen = [\"127.0.0.1:0\"]");
    let _ = writeln!(text, "document_root = {}", quoted(www));
    let _ = writeln!(text, "max_clients = {}", capacity.max(10_000));
    let _ = writeln!(text, "\n[timeouts]");
    let _ = writeln!(text, "header_read = {KEEP_ALIVE_IDLE_SECS}");
    let _ = writeln!(text, "idle = {KEEP_ALIVE_IDLE_SECS}");
    let _ = writeln!(text, "\n[log]\nstderr = \"never\"");
    let _ = writeln!(text, "\n[php]");
    match php {
        Some(binary) => {
            let _ = writeln!(text, "binary = {}", quoted(binary));
        }
        None => {
            let _ = writeln!(text, "enabled = false");
        }
    }
    let _ = writeln!(text, "\n[[mount]]\npath = \"/app\"\napp = \"framework\"");
    text
}

/// nginx: one worker per core, sendfile, no access log, long keep-alive.
fn nginx_config(work: &Path, www: &Path, port: u16, capacity: usize, nofile: u64) -> String {
    let logs = work.join("logs");
    format!(
        "worker_processes auto;\n\
         worker_rlimit_nofile {nofile};\n\
         pid {pid};\n\
         error_log {error};\n\
         events {{ worker_connections {connections}; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   sendfile on;\n\
         \x20   tcp_nopush on;\n\
         \x20   keepalive_timeout {KEEP_ALIVE_IDLE_SECS}s;\n\
         \x20   client_header_timeout {KEEP_ALIVE_IDLE_SECS}s;\n\
         \x20   default_type application/octet-stream;\n\
         \x20   server {{ listen 127.0.0.1:{port}; root {www}; }}\n\
         }}\n",
        pid = work.join("nginx.pid").display(),
        error = logs.join("nginx-error.log").display(),
        connections = capacity.max(1024),
        www = www.display(),
    )
}

/// What lighttpd runs besides static files.
#[derive(Debug, Clone, Copy)]
enum LighttpdMode<'a> {
    Static,
    /// mod_cgi: `.cgi` executed directly, `.php` through php-cgi.
    Cgi(Option<&'a Path>),
    /// mod_fastcgi: 4 php-cgi processes, started once.
    Fastcgi(&'a Path),
}

/// lighttpd: its single event-driven process, no access log, long
/// keep-alive, room for `capacity` connections.
fn lighttpd_config(
    work: &Path,
    www: &Path,
    port: u16,
    capacity: usize,
    max_fds: u64,
    mode: LighttpdMode<'_>,
) -> String {
    let mut text = String::new();
    match mode {
        LighttpdMode::Static => {}
        LighttpdMode::Cgi(php) => {
            let _ = writeln!(text, "server.modules += (\"mod_cgi\")");
            let php = php.map(|p| format!(", \".php\" => {}", quoted(p)));
            let _ = writeln!(
                text,
                "cgi.assign = (\".cgi\" => \"\"{})",
                php.unwrap_or_default()
            );
        }
        LighttpdMode::Fastcgi(php) => {
            let _ = writeln!(text, "server.modules += (\"mod_fastcgi\")");
            let _ = writeln!(
                text,
                "fastcgi.server = (\".php\" => ((\n  \"bin-path\" => {},\n  \"socket\" => {},\n  \
                 \"max-procs\" => 1,\n  \"bin-environment\" => (\"PHP_FCGI_CHILDREN\" => \"4\", \
                 \"PHP_FCGI_MAX_REQUESTS\" => \"0\")\n)))",
                quoted(php),
                quoted(&work.join("php.socket")),
            );
        }
    }
    let _ = writeln!(text, "server.document-root = {}", quoted(www));
    let _ = writeln!(text, "server.bind = \"127.0.0.1\"");
    let _ = writeln!(text, "server.port = {port}");
    let _ = writeln!(
        text,
        "server.errorlog = {}",
        quoted(&work.join("logs/lighttpd-error.log"))
    );
    let _ = writeln!(text, "server.max-fds = {max_fds}");
    let _ = writeln!(text, "server.max-connections = {}", capacity.max(1024));
    let _ = writeln!(text, "server.max-keep-alive-idle = {KEEP_ALIVE_IDLE_SECS}");
    let _ = writeln!(text, "server.max-read-idle = {KEEP_ALIVE_IDLE_SECS}");
    text
}

/// A free loopback port: bind port 0, read it, close the socket.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

// ---------------------------------------------------------------------------
// Running servers.

/// A chapter's server (through test-support, which binds port 0).
struct Chapter {
    server: Option<TestServer>,
    binary: PathBuf,
    args: Vec<String>,
    /// Connections since it started (chapter 3's zombies).
    connections: u64,
    restarts: u32,
}

impl Chapter {
    fn spawn(binary: PathBuf, args: Vec<String>) -> Result<Chapter> {
        let mut chapter = Chapter {
            server: None,
            binary,
            args,
            connections: 0,
            restarts: 0,
        };
        chapter.start()?;
        Ok(chapter)
    }

    fn start(&mut self) -> Result<()> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        // TestServer panics (with the server's stderr) if it does not start.
        let server = catch_unwind(AssertUnwindSafe(|| {
            TestServer::spawn_with(&self.binary, &args, unblock_signals)
        }))
        .map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "it did not start".into());
            anyhow::anyhow!("{message}")
        })?;
        if let Some(pid) = server.pid() {
            register(pid);
        }
        self.server = Some(server);
        self.connections = 0;
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            let pid = server.pid();
            drop(server);
            if let Some(pid) = pid {
                unregister(pid);
            }
        }
    }

    fn restart(&mut self) -> Result<()> {
        self.stop();
        self.restarts += 1;
        self.start()
    }
}

impl Drop for Chapter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// nginx or lighttpd: a child process in its own process group.
struct Peer {
    child: Child,
    addr: SocketAddr,
    /// Its error log and its stderr, for messages.
    logs: Vec<PathBuf>,
}

impl Peer {
    fn spawn(program: &Path, args: &[OsString], port: u16, logs: Vec<PathBuf>) -> Result<Peer> {
        let stderr_path = logs.first().context("a log for stderr")?;
        let stderr = File::create(stderr_path)
            .with_context(|| format!("create {}", stderr_path.display()))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stderr.try_clone()?))
            .stderr(Stdio::from(stderr))
            .process_group(0);
        die_with_parent(&mut command);
        unblock_signals(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        register(child.id() as i32);
        let mut peer = Peer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            logs,
        };
        // On error, dropping `peer` stops what started.
        peer.wait_listening()?;
        Ok(peer)
    }

    fn wait_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + PEER_START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "exited ({status}) before listening on {}; its log:\n{}",
                    self.addr,
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "not listening on {} after {PEER_START_TIMEOUT:?}; its log:\n{}",
                    self.addr,
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        self.logs
            .iter()
            .filter_map(|path| fs::read(path).ok())
            .map(|bytes| tail(&String::from_utf8_lossy(&bytes)).to_owned())
            .collect::<Vec<_>>()
            .join("")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let group = self.child.id() as i32;
        let child = &mut self.child;
        stop_trees(&[group], PEER_STOP_TIMEOUT, || {
            matches!(child.try_wait(), Ok(Some(_)) | Err(_))
        });
        let _ = self.child.wait();
        unregister(group);
    }
}

/// Stops the process groups led by `groups` and every descendant of their
/// leaders, also one that left the group (php-cgi's FastCGI parent starts
/// a session of its own): SIGTERM, up to `grace` for `exited` to say the
/// leaders are gone, then SIGKILL for whatever is left.
fn stop_trees(groups: &[i32], grace: Duration, mut exited: impl FnMut() -> bool) {
    let others: Vec<i32> = groups.iter().flat_map(|&g| descendants(g)).collect();
    for &group in groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGTERM);
    }
    for &pid in &others {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !(exited() && others.iter().all(|&p| !alive(p))) {
        thread::sleep(Duration::from_millis(10));
    }
    for &group in groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    for &pid in &others {
        if alive(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Every live descendant of `pid` (one pass over /proc: a forking
/// server may have thousands of zombie children).
fn descendants(pid: i32) -> Vec<i32> {
    let table: Vec<ProcStat> = process_table()
        .into_iter()
        .filter(|p| !matches!(p.state, 'Z' | 'X'))
        .collect();
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for child in table.iter().filter(|p| p.ppid == parent) {
            found.push(child.pid);
            queue.push(child.pid);
        }
    }
    found
}

/// Every process in /proc.
fn process_table() -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            test_support::proc::parse_stat(&text)
        })
        .collect()
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|text| test_support::proc::parse_stat(&text))
        .is_some_and(|stat| !matches!(stat.state, 'Z' | 'X'))
}

/// A server being measured; dropping it stops it.
enum Running {
    Chapter(Chapter),
    Peer(Peer),
}

impl Running {
    fn addr(&self) -> Option<SocketAddr> {
        match self {
            Running::Chapter(c) => c.server.as_ref().map(TestServer::addr),
            Running::Peer(p) => Some(p.addr),
        }
    }

    fn pid(&self) -> Option<i32> {
        match self {
            Running::Chapter(c) => c.server.as_ref().and_then(TestServer::pid),
            Running::Peer(p) => Some(p.child.id() as i32),
        }
    }

    fn log_tail(&self) -> String {
        match self {
            Running::Chapter(c) => c
                .server
                .as_ref()
                .map(|s| tail(&s.stderr()).to_owned())
                .unwrap_or_default(),
            Running::Peer(p) => p.log_tail(),
        }
    }
}

/// The last 3,000 bytes of a log, for a message.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(3_000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

// ---------------------------------------------------------------------------
// The run.

/// Everything a run needs.
struct Ctx {
    args: Args,
    bins: PathBuf,
    fixture: Fixture,
    peers: Peers,
    /// The descriptor limit (soft, raised to the hard one).
    nofile: u64,
    /// Idle connections, after the descriptor limit.
    idle: usize,
    idle_note: Option<String>,
    duration: Duration,
    warm_up: Duration,
    timeout: Duration,
    /// Progress: this run's number and the total.
    step: usize,
    total: usize,
}

impl Ctx {
    /// Connections a server must have room for in `table` (0: defaults).
    fn capacity(&self, table: Table) -> usize {
        if table == Table::Idle {
            self.idle + self.args.idle_clients + IDLE_SLACK
        } else {
            0
        }
    }

    fn wanted(&self, server: Server) -> bool {
        self.args.server.is_empty()
            || self
                .args
                .server
                .iter()
                .any(|prefix| server.id().starts_with(prefix.as_str()))
    }

    fn reproduce(&self, table: Table, server: Server) -> String {
        let mut command = format!(
            "cargo run --release -p benches --bin compare -- --only {} --server {} \
             --duration {}",
            table.id(),
            server.id(),
            self.args.duration
        );
        if table == Table::Idle {
            let _ = write!(command, " --idle {}", self.idle);
        }
        command
    }

    /// Starts `server` configured for `table`.
    fn start(&self, table: Table, server: Server) -> Result<Running> {
        let www = self.fixture.www();
        let capacity = self.capacity(table);
        let php = self.peers.php.as_ref().ok().map(|t| t.path.as_path());
        if let Some(package) = server.package() {
            let binary = self.bins.join(package);
            let mut args: Vec<String> = Vec::new();
            match server {
                Server::Step01 => {}
                Server::Step03 | Server::Step04 => {
                    args.extend(["--app".into(), "framework".into()])
                }
                Server::Step06 | Server::Step06Static => {
                    let config = self
                        .fixture
                        .path()
                        .join(format!("step06-{}.toml", table.id()));
                    fs::write(&config, step06_config(&www, php, capacity))?;
                    args.extend(["--config".into(), config.display().to_string()]);
                }
                _ => {
                    let model = server.step05_model().context("a chapter 5 model")?;
                    let idle = KEEP_ALIVE_IDLE_SECS.to_string();
                    args.extend([
                        "--model".into(),
                        model.into(),
                        "--workers".into(),
                        STEP05_WORKERS.to_string(),
                        "--root".into(),
                        www.display().to_string(),
                        "--mount".into(),
                        "/app=framework".into(),
                        "--idle-timeout".into(),
                        idle.clone(),
                        "--request-timeout".into(),
                        idle,
                    ]);
                    if server == Server::Step05Threads && capacity > 0 {
                        args.extend(["--max-clients".into(), capacity.to_string()]);
                    }
                }
            }
            return Ok(Running::Chapter(Chapter::spawn(binary, args)?));
        }

        let work = self.fixture.path();
        let logs = self.fixture.logs();
        let port = free_port()?;
        // A peer cannot raise its limit past the hard one (not even as root
        // without CAP_SYS_RESOURCE, as in a container).
        let fds = self.nofile;
        match server {
            Server::Nginx => {
                let nginx = self
                    .peers
                    .nginx
                    .as_ref()
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let conf = work.join(format!("nginx-{}.conf", table.id()));
                fs::write(&conf, nginx_config(work, &www, port, capacity, fds))?;
                let error_log = logs.join("nginx-error.log");
                let args: Vec<OsString> = vec![
                    "-c".into(),
                    conf.into(),
                    "-p".into(),
                    work.into(),
                    "-e".into(),
                    error_log.clone().into(),
                    "-g".into(),
                    "daemon off;".into(),
                ];
                let stderr = logs.join("nginx-stderr.log");
                Ok(Running::Peer(Peer::spawn(
                    &nginx.path,
                    &args,
                    port,
                    vec![stderr, error_log],
                )?))
            }
            _ => {
                let lighttpd = self
                    .peers
                    .lighttpd
                    .as_ref()
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let mode = match (table, server) {
                    (Table::HelloCgi | Table::HelloPhp, Server::Lighttpd) => LighttpdMode::Cgi(php),
                    (_, Server::LighttpdFastcgi) => {
                        LighttpdMode::Fastcgi(php.context("php-cgi for FastCGI")?)
                    }
                    _ => LighttpdMode::Static,
                };
                let conf = work.join(format!("{}-{}.conf", server.id(), table.id()));
                fs::write(
                    &conf,
                    lighttpd_config(work, &www, port, capacity, fds, mode),
                )?;
                let args: Vec<OsString> = vec!["-D".into(), "-f".into(), conf.into()];
                let stderr = logs.join("lighttpd-stderr.log");
                Ok(Running::Peer(Peer::spawn(
                    &lighttpd.path,
                    &args,
                    port,
                    vec![stderr, logs.join("lighttpd-error.log")],
                )?))
            }
        }
    }
}

/// One row's result.
#[derive(Debug)]
enum Outcome {
    Measured(Measurement),
    /// It did not start, or did not answer the check request.
    Failed(String),
}

#[derive(Debug)]
struct Measurement {
    report: Report,
    /// Body bytes expected for the successful requests.
    bytes_expected: u64,
    rss: Option<Rss>,
    idle: Option<IdleResult>,
}

impl Measurement {
    fn rps(&self) -> f64 {
        self.report.requests_per_sec()
    }

    /// Failed requests, plus one if the bodies came out the wrong size.
    fn problems(&self) -> u64 {
        self.report.error_count() + u64::from(self.report.bytes != self.bytes_expected)
    }
}

/// Peak memory over a process tree.
#[derive(Debug, Clone, Copy)]
struct Rss {
    kib: u64,
    processes: usize,
}

#[derive(Debug, Clone, Copy)]
struct IdleResult {
    wanted: usize,
    held: usize,
    open_at_end: usize,
    opening: Duration,
}

struct Row {
    server: Server,
    outcome: Outcome,
}

struct TableResult {
    table: Table,
    title: String,
    rows: Vec<Row>,
    notes: Vec<String>,
    /// Why the whole table was skipped.
    skipped: Option<String>,
}

/// Runs one server in one table; the server is stopped before returning.
fn run_one(ctx: &Ctx, table: Table, server: Server) -> Outcome {
    let mut running = match ctx.start(table, server) {
        Ok(running) => running,
        Err(e) => return Outcome::Failed(format!("did not start: {e:#}")),
    };
    let Some(addr) = running.addr() else {
        return Outcome::Failed("no address".into());
    };
    let path = table.path(server);
    if let Err(e) = check(addr, path, table.body(), ctx.timeout) {
        return Outcome::Failed(format!(
            "GET {path} failed: {e}\n{}",
            indent(&running.log_tail())
        ));
    }
    let clients = table.clients(&ctx.args);
    let idle = (table == Table::Idle).then(|| open_idle(addr, ctx.idle));
    if let Some(idle) = &idle {
        eprintln!(
            "      held {} of {} idle connections ({:.1} s to open)",
            idle.streams.len(),
            idle.wanted,
            idle.opening.as_secs_f64()
        );
    }
    let timeout = if table == Table::Idle {
        IDLE_REQUEST_TIMEOUT
    } else {
        ctx.timeout
    };
    let config = loadgen::Config {
        addr,
        host: addr.to_string(),
        path: path.to_owned(),
        clients,
        requests: 0,
        duration: None,
        keep_alive: table.keep_alive(),
        hold: Duration::ZERO,
        timeout,
    };
    let report = match drive(&mut running, config, ctx.warm_up, ctx.duration, table) {
        Ok(report) => report,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    let idle = idle.map(|idle| {
        let open_at_end = idle.streams.iter().filter(|s| still_open(s)).count();
        IdleResult {
            wanted: idle.wanted,
            held: idle.streams.len(),
            open_at_end,
            opening: idle.opening,
        }
    });
    // CGI scripts finish, then the server's peak memory is read.
    thread::sleep(Duration::from_millis(200));
    let rss = running.pid().and_then(tree_rss);
    let bytes_expected = report.ok * table.body().len() as u64;
    if let Running::Chapter(chapter) = &running
        && chapter.restarts > 0
    {
        eprintln!("      (restarts: {})", chapter.restarts);
    }
    // The idle connections close first (a pool's workers are waiting on
    // them), then the server stops.
    drop(running);
    Outcome::Measured(Measurement {
        report,
        bytes_expected,
        rss,
        idle,
    })
}

/// One request on a new connection: the status must be 200 and the body
/// the expected one.
fn check(addr: SocketAddr, path: &str, body: Body, timeout: Duration) -> io::Result<()> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    let mut client = test_support::Client::from_stream(stream, timeout)?;
    client.send(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let response = client.read_response(false)?;
    let fail = |what: String| Err(io::Error::other(what));
    if response.status != 200 {
        return fail(format!(
            "status {} (body: {:?})",
            response.status,
            response.text().chars().take(120).collect::<String>()
        ));
    }
    match body {
        Body::Len(len) if response.body.len() != len => fail(format!(
            "a body of {} bytes, not {len}",
            response.body.len()
        )),
        Body::Exact(bytes) if response.body != bytes => fail(format!(
            "body {:?}, not {:?}",
            response.text(),
            String::from_utf8_lossy(bytes)
        )),
        _ => Ok(()),
    }
}

/// Warms up, then measures. Chapter 3 runs in rounds of at most
/// [`ZOMBIE_BUDGET`] connections, restarted between rounds.
fn drive(
    running: &mut Running,
    mut config: loadgen::Config,
    warm_up: Duration,
    duration: Duration,
    table: Table,
) -> Result<Report> {
    let zombies = matches!(running, Running::Chapter(c) if c.binary.ends_with("step03-fork"));
    if !zombies {
        if table != Table::Idle && !warm_up.is_zero() {
            config.duration = Some(warm_up);
            loadgen::run(&config, None);
        }
        config.duration = Some(duration);
        return Ok(loadgen::run(&config, None));
    }
    let Running::Chapter(chapter) = running else {
        bail!("chapter 3 is a chapter");
    };
    let clients = config.clients.max(1) as u64;
    // A short warm-up by count, then rounds on fresh servers.
    config.requests = 20;
    loadgen::run(&config, None);
    config.requests = (ZOMBIE_BUDGET / clients).max(1);
    let mut total = Report::default();
    while total.elapsed < duration {
        chapter.restart()?;
        let addr = chapter
            .server
            .as_ref()
            .map(TestServer::addr)
            .context("chapter 3 restarted")?;
        config.addr = addr;
        config.host = addr.to_string();
        let part = loadgen::run(&config, None);
        chapter.connections += part.ok + part.error_count();
        total.ok += part.ok;
        total.bytes += part.bytes;
        total.elapsed += part.elapsed;
        total.latencies.extend(part.latencies);
        for (kind, n) in part.errors {
            *total.errors.entry(kind).or_default() += n;
        }
    }
    total.latencies.sort_unstable();
    Ok(total)
}

/// The idle connections, held open.
struct Idle {
    streams: Vec<TcpStream>,
    wanted: usize,
    opening: Duration,
}

/// Opens up to `wanted` connections, each answered once; stops early after
/// [`OPEN_STALL`] without a new one (a server that cannot take more).
fn open_idle(addr: SocketAddr, wanted: usize) -> Idle {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10) + Duration::from_millis(wanted as u64);
    let request =
        format!("GET /1k.bin HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: stepwise-idle\r\n\r\n");
    let next = AtomicUsize::new(0);
    // Milliseconds since `started` of the last connection held.
    let last_held = AtomicU64::new(0);
    let streams = Mutex::new(Vec::with_capacity(wanted));
    thread::scope(|scope| {
        for _ in 0..OPENERS {
            scope.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let now = Instant::now();
                    let since = now.duration_since(started).as_millis() as u64;
                    let stalled = since.saturating_sub(last_held.load(Ordering::Relaxed))
                        > OPEN_STALL.as_millis() as u64;
                    if now >= deadline || stalled || next.fetch_add(1, Ordering::Relaxed) >= wanted
                    {
                        break;
                    }
                    if let Ok(stream) = open_one(addr, request.as_bytes()) {
                        mine.push(stream);
                        let at = started.elapsed().as_millis() as u64;
                        last_held.fetch_max(at, Ordering::Relaxed);
                    }
                }
                streams
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(mine);
            });
        }
    });
    Idle {
        streams: streams.into_inner().unwrap_or_else(PoisonError::into_inner),
        wanted,
        opening: started.elapsed(),
    }
}

/// Connects, sends `request`, reads one 200 response; keeps the stream.
fn open_one(addr: SocketAddr, request: &[u8]) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, OPEN_ATTEMPT_TIMEOUT)?;
    stream.set_read_timeout(Some(OPEN_ATTEMPT_TIMEOUT))?;
    stream.set_write_timeout(Some(OPEN_ATTEMPT_TIMEOUT))?;
    stream.write_all(request)?;
    read_one_response(&mut stream)?;
    Ok(stream)
}

/// Reads one response with a `Content-Length` body; only 200 will do.
fn read_one_response(stream: &mut TcpStream) -> io::Result<()> {
    let mut buffer = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let mut need: Option<usize> = None;
    loop {
        if let Some(need) = need
            && buffer.len() >= need
        {
            return Ok(());
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if need.is_none()
            && let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&buffer[..end]);
            if head.split_whitespace().nth(1) != Some("200") {
                return Err(io::Error::other(format!("not a 200: {head}")));
            }
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .ok_or_else(|| io::Error::other("no Content-Length"))?;
            need = Some(end + 4 + length);
        }
        if need.is_none() && buffer.len() > 64 * 1024 {
            return Err(io::Error::other("no end of the response head"));
        }
    }
}

/// Whether the server still holds the connection open: nothing to read
/// yet, rather than end-of-file or a reset.
fn still_open(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte) {
        Err(e) => e.kind() == ErrorKind::WouldBlock,
        Ok(n) => n > 0,
    }
}

/// VmHWM of `pid` and its live descendants, summed.
fn tree_rss(pid: i32) -> Option<Rss> {
    let mut total = Rss {
        kib: 0,
        processes: 0,
    };
    for pid in std::iter::once(pid).chain(descendants(pid)) {
        if let Some(kib) = vm_hwm(pid) {
            total.kib += kib;
            total.processes += 1;
        }
    }
    (total.processes > 0).then_some(total)
}

/// `VmHWM` in KiB (none for a zombie or a process that is gone).
fn vm_hwm(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

// ---------------------------------------------------------------------------
// Output.

/// The machine, the date and the command, for the header.
struct Header {
    cores: usize,
    kernel: String,
    cpu: String,
    date: String,
    command: String,
    peers: Vec<String>,
    load: String,
}

impl Header {
    fn collect(ctx: &Ctx) -> Header {
        let read = |path: &str| {
            fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        let kernel = format!(
            "{} {}",
            read("/proc/sys/kernel/ostype"),
            read("/proc/sys/kernel/osrelease")
        );
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, name)| name.trim().to_owned())
            .unwrap_or_else(|| "CPU unknown".into());
        let command = std::env::args()
            .map(|a| shell_quote(&a))
            .collect::<Vec<_>>()
            .join(" ");
        let peer = |name: &str, tool: &Result<Tool, String>| match tool {
            Ok(tool) => format!("{} ({})", tool.version, tool.path.display()),
            Err(why) => format!("{name}: {why}"),
        };
        let peers = vec![
            peer("nginx", &ctx.peers.nginx),
            peer("lighttpd", &ctx.peers.lighttpd),
            peer("php-cgi", &ctx.peers.php),
        ];
        let load = format!(
            "the workspace's loadgen (a thread per client) over loopback, on the same \
             machine; {} s per server and table after a {} s warm-up; a request fails \
             after {} s",
            ctx.args.duration,
            ctx.warm_up.as_secs_f64(),
            ctx.timeout.as_secs_f64()
        );
        Header {
            cores: thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
            cpu,
            date: utc_now(),
            command,
            peers,
            load,
        }
    }
}

fn markdown(header: &Header, tables: &[TableResult], ctx: &Ctx) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Stepwise: every chapter's server beside nginx and lighttpd\n"
    );
    let _ = writeln!(
        out,
        "- Machine: {} cores (nproc), {}, {}",
        header.cores, header.kernel, header.cpu
    );
    let _ = writeln!(out, "- Date: {}", header.date);
    let _ = writeln!(out, "- Command: `{}`", header.command);
    let _ = writeln!(out, "- Peers: {}", header.peers.join("; "));
    let _ = writeln!(out, "- Load: {}", header.load);
    let _ = writeln!(
        out,
        "- Peak RSS: VmHWM from /proc/PID/status after the run, summed over the \
         server's live processes (the count in parentheses when more than one)"
    );
    for (i, result) in tables.iter().enumerate() {
        let _ = writeln!(out, "\n## {}. {}\n", i + 1, result.title);
        if let Some(why) = &result.skipped {
            let _ = writeln!(out, "Skipped: {why}.");
            continue;
        }
        let idle = result.table == Table::Idle;
        let peer_rps = |peer: Server| {
            result.rows.iter().find_map(|row| match &row.outcome {
                Outcome::Measured(m) if row.server == peer && m.report.ok > 0 => Some(m.rps()),
                _ => None,
            })
        };
        let nginx = peer_rps(Server::Nginx);
        let lighttpd = peer_rps(Server::Lighttpd);
        if idle {
            let _ = writeln!(
                out,
                "| server | held | open at end | requests/s | p50 | p99 | errors | peak RSS | \
                 vs nginx | vs lighttpd |"
            );
            let _ = writeln!(
                out,
                "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
            );
        } else {
            let _ = writeln!(
                out,
                "| server | requests/s | p50 | p99 | errors | peak RSS | vs nginx | vs lighttpd |"
            );
            let _ = writeln!(
                out,
                "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
            );
        }
        let mut notes = result.notes.clone();
        for row in &result.rows {
            let id = row.server.id();
            match &row.outcome {
                Outcome::Failed(why) => {
                    let first = why.lines().next().unwrap_or_default();
                    let cells = if idle { 9 } else { 7 };
                    let _ = writeln!(out, "| {id} | failed{} |", " | —".repeat(cells - 1));
                    notes.push(format!(
                        "**{id} failed**: {} (the whole message and the server's log are on \
                         stderr). Reproduce: `{}`",
                        first.trim_end_matches([':', ';', ' ']),
                        ctx.reproduce(result.table, row.server)
                    ));
                }
                Outcome::Measured(m) => {
                    let ratio = |peer: Option<f64>| match peer {
                        Some(peer) if peer > 0.0 => format!("{:.2}", m.rps() / peer),
                        _ => "—".into(),
                    };
                    let mut line = format!("| {id} |");
                    if let Some(idle) = &m.idle {
                        let _ = write!(
                            line,
                            " {} | {} |",
                            group_digits(idle.held as u64),
                            group_digits(idle.open_at_end as u64)
                        );
                    }
                    let _ = write!(
                        line,
                        " {} | {} | {} | {} | {} | {} | {} |",
                        format_rps(m.rps()),
                        format_latency(m.report.percentile(50.0), m.report.ok),
                        format_latency(m.report.percentile(99.0), m.report.ok),
                        format_errors(m),
                        m.rss.map_or_else(|| "—".into(), format_rss),
                        ratio(nginx),
                        ratio(lighttpd),
                    );
                    let _ = writeln!(out, "{line}");
                    let idle_short = m
                        .idle
                        .is_some_and(|i| i.held < i.wanted || i.open_at_end < i.held);
                    if m.problems() > 0 || idle_short {
                        match result.table.expected_problem(row.server) {
                            Some(why) => notes.push(format!("**{id}**: {why}")),
                            None => notes.push(format!(
                                "**{id}**: unexpected{}{}. Reproduce: `{}`",
                                if m.problems() > 0 {
                                    format!(" errors ({})", format_errors(m))
                                } else {
                                    String::new()
                                },
                                match m.idle {
                                    Some(i) if idle_short => format!(
                                        "; {} of {} idle connections held, {} open at the end",
                                        i.held, i.wanted, i.open_at_end
                                    ),
                                    _ => String::new(),
                                },
                                ctx.reproduce(result.table, row.server)
                            )),
                        }
                    }
                }
            }
        }
        let ran: Vec<Server> = result.rows.iter().map(|r| r.server).collect();
        for server in result.table.servers() {
            if ran.contains(&server) || !ctx.wanted(server) {
                continue;
            }
            if let Err(why) = ctx.peers.available(result.table, server) {
                notes.push(format!("{}: not run — {why}.", server.id()));
            }
        }
        if !notes.is_empty() {
            let _ = writeln!(out);
            for note in notes {
                let _ = writeln!(out, "- {note}");
            }
        }
    }
    out
}

fn json(header: &Header, tables: &[TableResult]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\n  \"machine\": {{\"cores\": {}, \"kernel\": {}, \"cpu\": {}}},\n  \"date\": {},\n  \
         \"command\": {},\n  \"peers\": [{}],\n  \"load\": {},\n  \"tables\": [",
        header.cores,
        json_str(&header.kernel),
        json_str(&header.cpu),
        json_str(&header.date),
        json_str(&header.command),
        header
            .peers
            .iter()
            .map(|p| json_str(p))
            .collect::<Vec<_>>()
            .join(", "),
        json_str(&header.load),
    );
    for (i, result) in tables.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n    {{\"id\": {}, \"title\": {}, \"skipped\": {}, \"rows\": [",
            if i == 0 { "" } else { "," },
            json_str(result.table.id()),
            json_str(&result.title),
            result.skipped.as_deref().map_or("null".into(), json_str),
        );
        for (j, row) in result.rows.iter().enumerate() {
            let _ = write!(
                out,
                "{}\n      {{\"server\": {}, ",
                if j == 0 { "" } else { "," },
                json_str(row.server.id())
            );
            match &row.outcome {
                Outcome::Failed(why) => {
                    let _ = write!(out, "\"failed\": {}}}", json_str(why));
                }
                Outcome::Measured(m) => {
                    let errors = m
                        .report
                        .errors
                        .iter()
                        .map(|(kind, n)| format!("{}: {n}", json_str(&kind.to_string())))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let _ = write!(
                        out,
                        "\"requests_per_sec\": {:.1}, \"ok\": {}, \"p50_us\": {}, \
                         \"p99_us\": {}, \"errors\": {{{errors}}}, \"body_bytes\": {}, \
                         \"body_bytes_expected\": {}, \"peak_rss_kib\": {}, \"processes\": {}",
                        m.rps(),
                        m.report.ok,
                        m.report.percentile(50.0).as_micros(),
                        m.report.percentile(99.0).as_micros(),
                        m.report.bytes,
                        m.bytes_expected,
                        m.rss.map_or("null".into(), |r| r.kib.to_string()),
                        m.rss.map_or("null".into(), |r| r.processes.to_string()),
                    );
                    if let Some(idle) = m.idle {
                        let _ = write!(
                            out,
                            ", \"idle_wanted\": {}, \"idle_held\": {}, \"idle_open_at_end\": {}, \
                             \"idle_opening_secs\": {:.2}",
                            idle.wanted,
                            idle.held,
                            idle.open_at_end,
                            idle.opening.as_secs_f64()
                        );
                    }
                    out.push('}');
                }
            }
        }
        out.push_str("\n    ]}");
    }
    out.push_str("\n  ]\n}\n");
    out
}

fn json_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn format_rps(rps: f64) -> String {
    if rps >= 100.0 {
        group_digits(rps.round() as u64)
    } else {
        format!("{rps:.1}")
    }
}

/// 1234567 → "1,234,567".
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn format_latency(latency: Duration, ok: u64) -> String {
    if ok == 0 {
        return "—".into();
    }
    let us = latency.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 10_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

fn format_errors(m: &Measurement) -> String {
    let count = m.report.error_count();
    let mut text = if count == 0 {
        "0".to_owned()
    } else {
        let kinds = m
            .report
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{} ({kinds})", group_digits(count))
    };
    if m.report.bytes != m.bytes_expected {
        let _ = write!(
            text,
            "; body bytes {} of {}",
            m.report.bytes, m.bytes_expected
        );
    }
    text
}

fn format_rss(rss: Rss) -> String {
    let mib = rss.kib as f64 / 1024.0;
    let size = if mib < 10.0 {
        format!("{mib:.1} MiB")
    } else {
        format!("{mib:.0} MiB")
    };
    if rss.processes > 1 {
        format!("{size} ({})", rss.processes)
    } else {
        size
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Quotes an argument for a shell when it needs it.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

// ---------------------------------------------------------------------------

fn main() -> Result<()> {
    // First, before any thread exists (they inherit the signal mask).
    catch_signals()?;
    let args = Args::parse();
    if !(args.duration > 0.0 && args.timeout > 0.0) {
        bail!("--duration and --timeout must be positive");
    }
    if args.clients == 0 || args.cgi_clients == 0 || args.idle_clients == 0 {
        bail!("client counts must be at least 1");
    }

    let nofile = raise_nofile()?;
    let tables: Vec<Table> = TABLES
        .into_iter()
        .filter(|t| t.selected(&args.only))
        .collect();
    let peers = Peers::find(&args);
    let fixture = Fixture::new()?;
    let duration = Duration::from_secs_f64(args.duration);
    let warm_up = (duration / 5).min(Duration::from_secs(1));
    let timeout = Duration::from_secs_f64(args.timeout);

    let mut ctx = Ctx {
        bins: PathBuf::new(),
        fixture,
        peers,
        nofile,
        idle: args.idle,
        idle_note: None,
        duration,
        warm_up,
        timeout,
        step: 0,
        total: 0,
        args,
    };

    // What runs: every selected table's available, wanted servers.
    let mut plan: Vec<(Table, Vec<Server>, Option<String>)> = Vec::new();
    for &table in &tables {
        let skipped = match (table, &ctx.peers.php) {
            (Table::HelloPhp, Err(why)) => Some(format!("php-cgi {why}")),
            _ => None,
        };
        let servers = if skipped.is_some() {
            Vec::new()
        } else {
            table
                .servers()
                .into_iter()
                .filter(|&s| ctx.wanted(s) && ctx.peers.available(table, s).is_ok())
                .collect()
        };
        plan.push((table, servers, skipped));
    }
    // The idle connections must fit the descriptor limit: the runner's
    // (one per connection) and lighttpd's, which wants two per connection
    // (it refuses more connections than half its descriptors).
    if let Some((_, servers, _)) = plan.iter().find(|(t, _, _)| *t == Table::Idle) {
        let clients = ctx.args.idle_clients as u64;
        let mut most = ctx
            .nofile
            .saturating_sub(clients + OPENERS as u64 + FD_RESERVE);
        let mut why = "the runner holds one descriptor per connection";
        if servers.contains(&Server::Lighttpd) {
            let lighttpd = (ctx.nofile / 2).saturating_sub(clients + IDLE_SLACK as u64);
            if lighttpd < most {
                most = lighttpd;
                why = "lighttpd wants two descriptors per connection";
            }
        }
        if (ctx.idle as u64) > most {
            ctx.idle = most as usize;
            let note = format!(
                "{} idle connections instead of {}: the descriptor limit (RLIMIT_NOFILE, \
                 hard) is {}, and {why}. Raise it (`ulimit -Hn`, limits.conf) for more.",
                group_digits(ctx.idle as u64),
                group_digits(ctx.args.idle as u64),
                group_digits(ctx.nofile),
            );
            eprintln!("compare: {note}");
            ctx.idle_note = Some(note);
        }
    }
    ctx.total = plan.iter().map(|(_, servers, _)| servers.len()).sum();
    if ctx.total == 0 {
        bail!("nothing to run: check --only and --server");
    }
    let mut packages: Vec<&str> = plan
        .iter()
        .flat_map(|(_, servers, _)| servers.iter().filter_map(|s| s.package()))
        .collect();
    packages.sort_by_key(|p| PACKAGES.iter().position(|q| q == p));
    packages.dedup();
    ctx.bins = build_chapters(&packages)?;

    let per_run = duration + warm_up + Duration::from_millis(700);
    let estimate = per_run * ctx.total as u32
        + if tables.contains(&Table::Idle) {
            Duration::from_secs(15)
        } else {
            Duration::ZERO
        };
    eprintln!(
        "compare: {} runs of {} s each, about {:.0} s in all; temporary directory {}",
        ctx.total,
        ctx.args.duration,
        estimate.as_secs_f64(),
        ctx.fixture.path().display()
    );
    let header = Header::collect(&ctx);
    let started = Instant::now();

    let mut results = Vec::new();
    for (table, servers, skipped) in plan {
        let mut rows = Vec::new();
        for server in servers {
            ctx.step += 1;
            eprintln!(
                "[{}/{}] {} {} …",
                ctx.step,
                ctx.total,
                server.id(),
                table.id()
            );
            let run_started = Instant::now();
            let outcome = run_one(&ctx, table, server);
            match &outcome {
                Outcome::Measured(m) => eprintln!(
                    "      {} requests/s, p50 {}, p99 {}, errors {}, peak RSS {} ({:.1} s)",
                    format_rps(m.rps()),
                    format_latency(m.report.percentile(50.0), m.report.ok),
                    format_latency(m.report.percentile(99.0), m.report.ok),
                    format_errors(m),
                    m.rss.map_or_else(|| "—".into(), format_rss),
                    run_started.elapsed().as_secs_f64(),
                ),
                Outcome::Failed(why) => eprintln!("      FAILED: {why}"),
            }
            rows.push(Row { server, outcome });
        }
        if let Some(why) = &skipped {
            eprintln!("compare: table {} skipped: {why}", table.id());
        }
        results.push(TableResult {
            table,
            title: table.title(&ctx.args, ctx.idle),
            rows,
            notes: table.notes(&ctx),
            skipped,
        });
    }
    eprintln!("compare: done in {:.0} s", started.elapsed().as_secs_f64());

    let text = markdown(&header, &results, &ctx);
    match &ctx.args.out {
        Some(path) => {
            fs::write(path, &text).with_context(|| format!("write {}", path.display()))?;
            eprintln!("compare: wrote {}", path.display());
        }
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    let json = json(&header, &results);
    if let Some(path) = &ctx.args.json {
        fs::write(path, &json).with_context(|| format!("write {}", path.display()))?;
        eprintln!("compare: wrote {}", path.display());
    }
    if let Some(dir) = &ctx.args.charts {
        for path in benches::charts::write_charts(&json, dir)
            .with_context(|| format!("draw the charts into {}", dir.display()))?
        {
            eprintln!("compare: wrote {}", path.display());
        }
    }
    *TEMP_DIR.lock().unwrap_or_else(PoisonError::into_inner) = None;
    if ctx.args.keep_temp {
        let kept = ctx.fixture.dir.keep();
        eprintln!("compare: kept {}", kept.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400 + 3_661), "2000-02-29 01:01 UTC");
        assert_eq!(format_utc(1_767_225_599), "2025-12-31 23:59 UTC");
    }

    #[test]
    fn numbers() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(1_234), "1,234");
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(format_rps(52_311.4), "52,311");
        assert_eq!(format_rps(20.04), "20.0");
        assert_eq!(format_latency(Duration::from_micros(850), 1), "850 µs");
        assert_eq!(format_latency(Duration::from_micros(2_345), 1), "2.35 ms");
        assert_eq!(format_latency(Duration::from_millis(3_000), 1), "3.00 s");
        assert_eq!(format_latency(Duration::ZERO, 0), "—");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--idle"), "--idle");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(json_str("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
    }

    #[test]
    fn tables_select_and_route() {
        assert!(Table::HelloPhp.selected(&[Only::Cgi]));
        assert!(!Table::Idle.selected(&[Only::Static]));
        assert!(Table::Tiny.selected(&[]));
        assert_eq!(Table::Tiny.path(Server::Step05Pool), "/app/sleep?ms=0");
        assert_eq!(Table::Tiny.path(Server::Step03), "/sleep?ms=0");
        assert_eq!(Table::Tiny.path(Server::Nginx), "/tiny.txt");
        // step06 twice in `tiny`: its mounted application, and the peers' file.
        assert_eq!(Table::Tiny.path(Server::Step06), "/app/sleep?ms=0");
        assert_eq!(Table::Tiny.path(Server::Step06Static), "/tiny.txt");
        assert!(!Table::File1k.servers().contains(&Server::Step01));
        for table in [Table::File1k, Table::File954k, Table::HelloCgi, Table::Idle] {
            assert!(!table.servers().contains(&Server::Step06Static));
        }
    }

    #[test]
    fn configurations_name_the_port_and_root() {
        let work = Path::new("/tmp/w");
        let www = work.join("www");
        let nginx = nginx_config(work, &www, 4242, 0, 20_000);
        assert!(nginx.contains("listen 127.0.0.1:4242;"));
        assert!(nginx.contains("root /tmp/w/www;"));
        assert!(nginx.contains("worker_connections 1024;"));
        let lighttpd = lighttpd_config(
            work,
            &www,
            4243,
            10_124,
            20_000,
            LighttpdMode::Cgi(Some(Path::new("/usr/bin/php-cgi"))),
        );
        assert!(lighttpd.contains("server.port = 4243"));
        assert!(lighttpd.contains("server.max-connections = 10124"));
        assert!(lighttpd.contains("\".php\" => \"/usr/bin/php-cgi\""));
        let step06 = step06_config(&www, None, 0);
        assert!(step06.contains("enabled = false"));
        assert!(step06.contains("max_clients = 10000"));
    }
}
