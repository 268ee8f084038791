//! Every chapter's concurrency model, end to end over loopback.
//!
//! Each chapter's own binary is started (as a separate process, with
//! `--host 127.0.0.1 --port 0`, through `test_support::TestServer`) once per
//! workload, outside the measured loop, and stopped after it (the whole
//! process group: a forking server's children go too). The workspace's
//! `loadgen` drives it: one criterion iteration is one request, a sample
//! is one `loadgen::run` with N client threads, and criterion reports
//! requests/s (`Throughput::Elements(1)`, printed as `elem/s`).
//!
//! # Models
//!
//! | id | server |
//! | --- | --- |
//! | `step01-iterative` | chapter 1: one connection at a time |
//! | `step03-fork` | chapter 3: a process per connection, never reaped |
//! | `step04-reaping` | chapter 4: a process per connection, reaped on SIGCHLD |
//! | `step05-pool` | chapter 5: `--model pool`, 16 threads, bounded queue |
//! | `step05-threads` | chapter 5: `--model threads`, a thread per connection |
//! | `step05-rayon` | chapter 5: `--model rayon`, rayon's pool of 16 |
//! | `step05-prefork` | chapter 5: `--model prefork`, 16 processes |
//! | `step06-tokio` | chapter 6: hyper on tokio, a task per connection |
//!
//! Every server runs with its defaults otherwise (chapter 5: 16 workers,
//! a queue of 64, at most 100 requests per kept-alive connection;
//! chapter 6: its cache on, no logs). Chapter 2 is left out: its
//! concurrency model is chapter 1's (one connection at a time); only the
//! gateway in front of the application is new.
//!
//! # Workloads (the groups)
//!
//! - `tiny` — `GET /sleep?ms=0`: chapter 2's framework application (chapter
//!   1's own handler for step01) answers `slept 0 ms\n`, 11 bytes, with no
//!   file system in the way. Chapters 3 and 4 serve it with `--app
//!   framework`; chapters 5 and 6 mount the framework at `/app`
//!   (`--mount /app=framework`, and a `[[mount]]` in chapter 6's config).
//! - `file_1k`, `file_1m` — a static file of 1024 and 1 000 000 bytes.
//!   Chapter 6 keeps both in its in-memory cache after the first request
//!   (its default `max_entry` is 1 MiB); chapter 5 reads them from the page
//!   cache on every request.
//! - `sleep_mix` — the `tiny` request, measured, while one more client
//!   requests `/sleep?ms=50` over and over. A server that serves one
//!   connection at a time makes every fast request wait behind the slow one
//!   (head-of-line blocking): compare a model's `sleep_mix` with its `tiny`.
//!
//! Each at 1, 8 and 64 concurrent clients, with a new connection per
//! request (`close`) and, where the server has it, HTTP/1.1 keep-alive
//! (`keepalive`). Benchmark ids read `MODEL/MODE/CLIENTS`, e.g.
//! `file_1k/step05-pool/keepalive/8`.
//!
//! # Skipped combinations
//!
//! - Chapters 1, 3 and 4 serve no static files: no `file_1k`, `file_1m`.
//! - Chapters 1, 3 and 4 close the connection after every response (they
//!   answer `Connection: close`): no `keepalive`.
//!
//! That leaves 138 benchmarks: 3 models × 2 workloads × 3 client counts,
//! and 5 models × 4 workloads × 2 modes × 3 client counts.
//!
//! # Chapter 3's zombies
//!
//! Chapter 3 never reaps its children, on purpose: every connection leaves
//! a zombie holding a process-table slot until the server exits. A long
//! run would exhaust the machine's PIDs (fork fails for everyone, not just
//! the benchmark), so that server is restarted, outside the measured time,
//! after every 5 000 connections.
//!
//! # The binaries
//!
//! `cargo bench` does not build other packages' binaries for a benchmark,
//! and `CARGO_BIN_EXE_*` exists only for integration tests. So, before the
//! first server starts, this benchmark runs `cargo build -p step01-iterative
//! … -p step06-full` once, with the profile it was itself built with (the
//! directory its executable sits in: `target/release/deps` → `--release`,
//! `target/debug/deps` → the dev profile) and the same target directory,
//! and starts the servers from there. The build is a no-op when they are up
//! to date, and it makes sure a run never measures a stale binary. (Builds
//! for an explicit `--target` triple are not supported.)
//!
//! # Time
//!
//! Quick by default: 10 samples of 500 ms after a 200 ms warm-up per
//! benchmark, about two minutes for the whole file on two cores.
//! `STEPWISE_BENCH_FULL=1` measures 5 s with 30 samples (about 20 minutes).
//! `cargo test --benches` runs each benchmark once. One group:
//! `cargo bench -p benches --bench models -- file_1k`; servers of groups
//! the filter excludes are never started.
//!
//! # Failures
//!
//! Any failed request (refused, reset, timed out, a non-2xx status, a body
//! of the wrong size) panics with loadgen's report, the server's stderr and
//! the command that reproduces that one benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use benches::{end_to_end_samples, measurement_time, warm_up_time};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use test_support::{Client, TestServer};

/// Concurrent clients.
const CLIENTS: [usize; 3] = [1, 8, 64];

/// What the slow client of `sleep_mix` asks each server to sleep.
const SLOW_MS: u64 = 50;

/// The static files' sizes.
const FILE_1K: usize = 1024;
const FILE_1M: usize = 1_000_000;

/// The tiny response's body: `/sleep?ms=0` answers it everywhere.
const TINY_BODY: &str = "slept 0 ms\n";

/// Connections chapter 3 may leave as zombies before it is restarted.
const ZOMBIE_BUDGET: u64 = 5_000;

/// How long one request may take before loadgen counts a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The packages whose binaries are benchmarked.
const PACKAGES: [&str; 5] = [
    "step01-iterative",
    "step03-fork",
    "step04-reaping",
    "step05-threadpool",
    "step06-full",
];

/// How a model's server is started.
#[derive(Debug, Clone, Copy)]
enum Launch {
    /// The binary with these arguments.
    Args(&'static [&'static str]),
    /// Chapter 5 with this `--model`, the benchmark's document root and the
    /// framework mounted at `/app`.
    Step05(&'static str),
    /// Chapter 6 with the benchmark's configuration file.
    Step06,
}

/// One concurrency model: a chapter's binary and what it can serve.
#[derive(Debug, Clone, Copy)]
struct Model {
    /// The first part of the benchmark id.
    id: &'static str,
    /// The binary's name (its package's).
    binary: &'static str,
    launch: Launch,
    /// Where the framework application answers (`""` or `/app`).
    app: &'static str,
    /// Whether it serves static files.
    files: bool,
    /// Whether it keeps connections alive.
    keep_alive: bool,
    /// Whether it leaves a zombie per connection (chapter 3).
    zombies: bool,
}

const MODELS: [Model; 8] = [
    Model {
        id: "step01-iterative",
        binary: "step01-iterative",
        launch: Launch::Args(&[]),
        app: "",
        files: false,
        keep_alive: false,
        zombies: false,
    },
    Model {
        id: "step03-fork",
        binary: "step03-fork",
        launch: Launch::Args(&["--app", "framework"]),
        app: "",
        files: false,
        keep_alive: false,
        zombies: true,
    },
    Model {
        id: "step04-reaping",
        binary: "step04-reaping",
        launch: Launch::Args(&["--app", "framework"]),
        app: "",
        files: false,
        keep_alive: false,
        zombies: false,
    },
    step05("step05-pool", "pool"),
    step05("step05-threads", "threads"),
    step05("step05-rayon", "rayon"),
    step05("step05-prefork", "prefork"),
    Model {
        id: "step06-tokio",
        binary: "step06-full",
        launch: Launch::Step06,
        app: "/app",
        files: true,
        keep_alive: true,
        zombies: false,
    },
];

const fn step05(id: &'static str, model: &'static str) -> Model {
    Model {
        id,
        binary: "step05-threadpool",
        launch: Launch::Step05(model),
        app: "/app",
        files: true,
        keep_alive: true,
        zombies: false,
    }
}

/// What the clients request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Tiny,
    File1k,
    File1m,
    SleepMix,
}

impl Workload {
    /// The criterion group.
    fn group(self) -> &'static str {
        match self {
            Workload::Tiny => "tiny",
            Workload::File1k => "file_1k",
            Workload::File1m => "file_1m",
            Workload::SleepMix => "sleep_mix",
        }
    }

    /// Whether `model` can serve it.
    fn applies_to(self, model: &Model) -> bool {
        match self {
            Workload::Tiny | Workload::SleepMix => true,
            Workload::File1k | Workload::File1m => model.files,
        }
    }

    /// The measured request's path on `model`.
    fn path(self, model: &Model) -> String {
        match self {
            Workload::Tiny | Workload::SleepMix => format!("{}/sleep?ms=0", model.app),
            Workload::File1k => "/1k.bin".to_owned(),
            Workload::File1m => "/1m.bin".to_owned(),
        }
    }

    /// The measured response's body length.
    fn body_len(self) -> u64 {
        match self {
            Workload::Tiny | Workload::SleepMix => TINY_BODY.len() as u64,
            Workload::File1k => FILE_1K as u64,
            Workload::File1m => FILE_1M as u64,
        }
    }
}

/// The files every server shares: a document root and chapter 6's config.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory for the document root");
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).expect("create the document root");
        // Not all alike, so nothing along the way can shortcut them.
        let bytes = |len: usize| (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>();
        std::fs::write(www.join("1k.bin"), bytes(FILE_1K)).expect("write 1k.bin");
        std::fs::write(www.join("1m.bin"), bytes(FILE_1M)).expect("write 1m.bin");
        // No logs: the other chapters write none either (chapter 5 logs
        // only with -l). The address is replaced by --host/--port.
        let config = "[server]\nlisten = [\"127.0.0.1:0\"]\ndocument_root = \"www\"\n\n\
                      [log]\nstderr = \"never\"\n\n\
                      [[mount]]\npath = \"/app\"\napp = \"framework\"\n";
        std::fs::write(dir.path().join("stepwise.toml"), config).expect("write stepwise.toml");
        Fixture { dir }
    }

    fn www(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    fn step06_config(&self) -> PathBuf {
        self.dir.path().join("stepwise.toml")
    }
}

/// The directory the servers' binaries are in, built once (see the module
/// documentation).
fn binary(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_servers).join(name)
}

fn build_servers() -> PathBuf {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    // target/<profile>/deps/models-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the benchmark runs from target/<profile>/deps/")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let profile = profile_dir
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a UTF-8 profile directory name");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    for package in PACKAGES {
        command.args(["-p", package]);
    }
    eprintln!("models: building the servers ({profile}): {command:?}");
    let status = command.status().expect("run cargo build for the servers");
    assert!(
        status.success(),
        "cargo build of the servers failed ({status}): {command:?}"
    );
    profile_dir
}

/// A running server, and what the benchmark does with it.
struct Live {
    model: Model,
    args: Vec<String>,
    server: TestServer,
    /// Connections since it started (chapter 3's zombies).
    connections: u64,
    /// `sleep_mix`'s slow client, while a `sleep_mix` benchmark runs.
    slow: Option<SlowClient>,
}

impl Live {
    fn start(model: Model, fixture: &Fixture) -> Live {
        let args: Vec<String> = match model.launch {
            Launch::Args(args) => args.iter().map(|&a| a.to_owned()).collect(),
            Launch::Step05(name) => vec![
                "--model".into(),
                name.into(),
                "--root".into(),
                fixture.www().display().to_string(),
                "--mount".into(),
                "/app=framework".into(),
            ],
            Launch::Step06 => vec![
                "--config".into(),
                fixture.step06_config().display().to_string(),
            ],
        };
        let server = spawn(&model, &args);
        Live {
            model,
            args,
            server,
            connections: 0,
            slow: None,
        }
    }

    /// Starts the slow client of `sleep_mix` unless it runs.
    fn start_slow(&mut self, keep_alive: bool) {
        if self.slow.is_none() {
            let path = format!("{}/sleep?ms={SLOW_MS}", self.model.app);
            self.slow = Some(SlowClient::start(&self.server, path, keep_alive));
        }
    }

    /// Stops the slow client, if any, and checks it saw no error.
    fn stop_slow(&mut self) {
        if let Some(slow) = self.slow.take() {
            let served = slow.stop(&self.server);
            self.connections += served;
        }
    }

    /// Restarts chapter 3 once it has left too many zombies behind.
    fn restart_if_needed(&mut self) {
        if !self.model.zombies || self.connections < ZOMBIE_BUDGET {
            return;
        }
        let slow = self.slow.as_ref().map(|s| s.keep_alive);
        self.stop_slow();
        self.server = spawn(&self.model, &self.args);
        self.connections = 0;
        if let Some(keep_alive) = slow {
            self.start_slow(keep_alive);
        }
    }

    /// Runs at least `iters` requests with `clients` clients and returns the
    /// time `iters` of them took.
    fn measure(
        &mut self,
        workload: Workload,
        keep_alive: bool,
        clients: usize,
        iters: u64,
    ) -> Duration {
        self.restart_if_needed();
        let addr = self.server.addr();
        let per_client = iters.div_ceil(clients as u64).max(1);
        let total = per_client * clients as u64;
        let config = loadgen::Config {
            addr,
            host: addr.to_string(),
            path: workload.path(&self.model),
            clients,
            requests: per_client,
            duration: None,
            keep_alive,
            hold: Duration::ZERO,
            timeout: REQUEST_TIMEOUT,
        };
        let report = loadgen::run(&config, None);
        self.connections += total;
        let bytes = total * workload.body_len();
        if report.error_count() > 0 || report.ok != total || report.bytes != bytes {
            panic!(
                "{} failed {} requests (GET {}, {clients} clients, {}): {} of {total} \
                 succeeded, {} of {bytes} body bytes arrived\n{report}\
                 reproduce: cargo bench -p benches --bench models -- '{}/{}/{}/{clients}'\n\
                 server stderr:\n{}",
                self.model.id,
                workload.group(),
                config.path,
                mode(keep_alive),
                report.ok,
                report.bytes,
                workload.group(),
                self.model.id,
                mode(keep_alive),
                tail(&self.server.stderr()),
            );
        }
        // Criterion asked for `iters`; `total` ran (a whole number per
        // client): scale the time to what was asked.
        report.elapsed.mul_f64(iters as f64 / total as f64)
    }
}

fn spawn(model: &Model, args: &[String]) -> TestServer {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::spawn(binary(model.binary), &args)
}

fn mode(keep_alive: bool) -> &'static str {
    if keep_alive { "keepalive" } else { "close" }
}

/// The last 4 000 bytes of a log, for a panic message.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(4_000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// One client requesting the slow page over and over, on its own thread.
struct SlowClient {
    keep_alive: bool,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64, String>>,
}

impl SlowClient {
    /// Starts the client and returns once its first request is sent.
    fn start(server: &TestServer, path: String, keep_alive: bool) -> SlowClient {
        let addr = server.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let (sent, first_sent) = mpsc::channel();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: stepwise-slow\r\n{}\r\n",
            if keep_alive {
                ""
            } else {
                "Connection: close\r\n"
            }
        );
        let handle = thread::spawn({
            let stop = Arc::clone(&stop);
            move || -> Result<u64, String> {
                let mut served = 0;
                let mut connection: Option<Client> = None;
                while !stop.load(Ordering::Relaxed) {
                    let client = match connection.as_mut() {
                        Some(client) => client,
                        None => connection
                            .insert(Client::connect(addr).map_err(|e| format!("connect: {e}"))?),
                    };
                    client
                        .send(request.as_bytes())
                        .map_err(|e| format!("send: {e}"))?;
                    let _ = sent.send(());
                    let response = client
                        .read_response(false)
                        .map_err(|e| format!("GET {path}: {e}"))?;
                    if response.status != 200 {
                        return Err(format!("GET {path}: status {}", response.status));
                    }
                    served += 1;
                    let closes = response
                        .header("connection")
                        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
                    if !keep_alive || closes {
                        connection = None;
                    }
                }
                Ok(served)
            }
        });
        // An error before the first request shows when the client stops.
        let _ = first_sent.recv_timeout(REQUEST_TIMEOUT);
        SlowClient {
            keep_alive,
            stop,
            handle,
        }
    }

    /// Stops the client (after its request in flight) and returns how many
    /// slow requests it made; panics if one failed.
    fn stop(self, server: &TestServer) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.join() {
            Ok(Ok(served)) if served > 0 => served,
            Ok(Ok(_)) => panic!("the slow client of sleep_mix made no request"),
            Ok(Err(e)) => panic!(
                "the slow client of sleep_mix failed: {e}\nserver stderr:\n{}",
                tail(&server.stderr())
            ),
            Err(_) => panic!("the slow client of sleep_mix panicked"),
        }
    }
}

/// One workload's group: every model that can serve it, every mode, every
/// client count.
fn bench_workload(c: &mut Criterion, fixture: &Fixture, workload: Workload) {
    let mut group = c.benchmark_group(workload.group());
    group
        .sample_size(end_to_end_samples())
        .warm_up_time(warm_up_time())
        .measurement_time(measurement_time())
        // Every sample is a whole load-generator run: the same size each
        // time, rather than criterion's growing linear series.
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1));
    for model in MODELS.iter().filter(|m| workload.applies_to(m)) {
        // Started by the first benchmark criterion actually runs (a filter
        // may exclude them all), stopped when the model is done.
        let mut live: Option<Live> = None;
        let modes: &[bool] = if model.keep_alive {
            &[false, true]
        } else {
            &[false]
        };
        for &keep_alive in modes {
            for clients in CLIENTS {
                let id = BenchmarkId::new(format!("{}/{}", model.id, mode(keep_alive)), clients);
                group.bench_function(id, |b| {
                    let live = live.get_or_insert_with(|| Live::start(*model, fixture));
                    if workload == Workload::SleepMix {
                        live.start_slow(keep_alive);
                    }
                    b.iter_custom(|iters| live.measure(workload, keep_alive, clients, iters));
                });
                if let Some(live) = live.as_mut() {
                    live.stop_slow();
                }
            }
        }
        drop(live);
    }
    group.finish();
}

fn main() {
    let fixture = Fixture::new();
    let mut criterion = Criterion::default().configure_from_args();
    for workload in [
        Workload::Tiny,
        Workload::File1k,
        Workload::File1m,
        Workload::SleepMix,
    ] {
        bench_workload(&mut criterion, &fixture, workload);
    }
    criterion.final_summary();
}
