//! Starting and stopping a server under test, in-process or as a process.
//!
//! In-process servers run on a thread and receive a [`StopSignal`] that
//! fires when the [`TestServer`] is dropped. Spawned servers run in their
//! own process group, which is killed on drop (SIGTERM, then SIGKILL), so a
//! forking server's children go with it; on Linux they also get SIGKILL if
//! the test process dies first, so no server outlives its test.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How long a spawned binary may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server may take to stop after being asked, before it is
/// killed (processes) or abandoned with a warning (threads).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Fires when the [`TestServer`] that handed it out is dropped or stopped.
#[derive(Debug)]
pub struct StopSignal {
    receiver: Receiver<()>,
}

impl StopSignal {
    /// Blocks until the test asks the server to stop.
    pub fn wait(self) {
        // Either an explicit message or the sender being dropped.
        let _ = self.receiver.recv();
    }
}

/// A server started for one test; dropping it stops the server.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Thread {
        stop: Option<Sender<()>>,
        handle: Option<JoinHandle<()>>,
    },
    Process {
        child: Child,
        output: Arc<Mutex<Output>>,
        exited: Option<ExitStatus>,
    },
}

/// Everything a spawned server has printed so far.
#[derive(Debug, Default)]
struct Output {
    stdout: String,
    stderr: String,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and runs `serve(listener, stop)` on a thread.
    ///
    /// `serve` adapts the step's own shutdown to [`StopSignal`], typically
    /// by waiting on it in a helper thread and triggering the step's
    /// `Shutdown`. The listener is bound before this returns, so the server
    /// accepts connections at once (the kernel queues them until `accept`).
    pub fn in_process<F>(serve: F) -> TestServer
    where
        F: FnOnce(TcpListener, StopSignal) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let (stop, receiver) = mpsc::channel();
        let handle = thread::Builder::new()
            .name(format!("server-{}", addr.port()))
            .spawn(move || serve(listener, StopSignal { receiver }))
            .expect("spawn the server thread");
        TestServer {
            addr,
            kind: Kind::Thread {
                stop: Some(stop),
                handle: Some(handle),
            },
        }
    }

    /// Spawns `program` with `args` plus `--host 127.0.0.1 --port 0`, and
    /// waits for the line `Listening on http://ADDR` on its stdout.
    ///
    /// Integration tests pass `env!("CARGO_BIN_EXE_<name>")` as `program`.
    pub fn spawn(program: impl AsRef<Path>, args: &[&str]) -> TestServer {
        Self::spawn_with(program, args, |_| {})
    }

    /// Like [`spawn`](Self::spawn), with a hook to adjust the command
    /// (environment, working directory) before it starts.
    pub fn spawn_with(
        program: impl AsRef<Path>,
        args: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> TestServer {
        let program = program.as_ref();
        let mut command = Command::new(program);
        command
            .args(args)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so drop can kill forked children too.
            .process_group(0);
        die_with_parent(&mut command);
        configure(&mut command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));

        let output = Arc::new(Mutex::new(Output::default()));
        let (found, address) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let _stdout_reader = collect_lines(stdout, Arc::clone(&output), Some(found), false);
        let stderr_reader = collect_lines(stderr, Arc::clone(&output), None, true);

        let addr = match address.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(e) => {
                // Disconnected: stdout closed, so the server exited (or
                // closed it) without announcing itself. Timeout: it is
                // still running but never said where it listens.
                let what = match e {
                    mpsc::RecvTimeoutError::Disconnected => {
                        "exited before printing 'Listening on http://…'".to_owned()
                    }
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("did not print 'Listening on http://…' within {START_TIMEOUT:?}")
                    }
                };
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                let status = child.wait();
                // Its last lines are the ones that explain it: let the
                // reader reach the end of the pipe (bounded, in case a
                // grandchild still holds it open).
                let deadline = Instant::now() + Duration::from_secs(2);
                while !stderr_reader.is_finished() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                }
                let seen = output.lock().map(|o| o.stderr.clone()).unwrap_or_default();
                panic!(
                    "{} {what} (exit: {status:?}); its stderr:\n{seen}",
                    program.display()
                );
            }
        };
        TestServer {
            addr,
            kind: Kind::Process {
                child,
                output,
                exited: None,
            },
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` followed by `path`, for messages and curl lines.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id of a spawned server (`None` in-process).
    pub fn pid(&self) -> Option<i32> {
        match &self.kind {
            Kind::Process { child, .. } => Some(child.id() as i32),
            Kind::Thread { .. } => None,
        }
    }

    /// Sends `signal` to a spawned server's main process only.
    ///
    /// # Panics
    ///
    /// If the server runs in-process.
    pub fn signal(&self, signal: Signal) {
        let pid = self.pid().expect("only spawned servers take signals");
        let _ = kill(Pid::from_raw(pid), signal);
    }

    /// Sends `signal` to a spawned server's whole process group (the server
    /// and every child it forked), as a Ctrl-C in a terminal does.
    ///
    /// # Panics
    ///
    /// If the server runs in-process.
    pub fn signal_group(&self, signal: Signal) {
        let pid = self.pid().expect("only spawned servers take signals");
        let _ = killpg(Pid::from_raw(pid), signal);
    }

    /// Waits up to `timeout` for a spawned server to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let Kind::Process { child, exited, .. } = &mut self.kind else {
            return None;
        };
        if exited.is_none() {
            *exited = wait_timeout(child, timeout);
        }
        *exited
    }

    /// What a spawned server printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.output(|o| o.stdout.clone())
    }

    /// What a spawned server printed on stderr so far (its log).
    pub fn stderr(&self) -> String {
        self.output(|o| o.stderr.clone())
    }

    /// Waits up to `timeout` for `needle` to appear on a spawned server's
    /// stderr (its log is written by another process, so it arrives late).
    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for(|o| o.stderr.contains(needle), timeout)
    }

    /// Waits up to `timeout` for `needle` to appear on stdout.
    pub fn wait_for_stdout(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for(|o| o.stdout.contains(needle), timeout)
    }

    fn wait_for(&self, seen: impl Fn(&Output) -> bool, timeout: Duration) -> bool {
        let Kind::Process { output, .. } = &self.kind else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        loop {
            if output.lock().map(|o| seen(&o)).unwrap_or(false) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn output(&self, pick: impl Fn(&Output) -> String) -> String {
        match &self.kind {
            Kind::Process { output, .. } => output.lock().map(|o| pick(&o)).unwrap_or_default(),
            Kind::Thread { .. } => String::new(),
        }
    }

    /// Stops the server now (what drop does) and returns a spawned
    /// server's exit status.
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Option<ExitStatus> {
        match &mut self.kind {
            Kind::Thread { stop, handle } => {
                drop(stop.take());
                if let Some(handle) = handle.take() {
                    join_timeout(handle, STOP_TIMEOUT);
                }
                None
            }
            Kind::Process { child, exited, .. } => {
                if exited.is_none() {
                    let group = Pid::from_raw(child.id() as i32);
                    let _ = killpg(group, Signal::SIGTERM);
                    *exited = wait_timeout(child, STOP_TIMEOUT);
                    // SIGKILL whatever is left of the group: the server if it
                    // ignored SIGTERM, and any child it forked.
                    let _ = killpg(group, Signal::SIGKILL);
                    if exited.is_none() {
                        *exited = child.wait().ok();
                    }
                }
                *exited
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Asks Linux to SIGKILL the child if the thread that spawned it dies, so a
/// test process killed outright still leaves no server behind.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed. It makes one prctl(2) system
    // call, which is async-signal-safe; it allocates nothing and takes no
    // lock.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// Reads `pipe` line by line on a thread, appending to `output`; if
/// `found` is given, sends the address from the first `Listening on` line.
fn collect_lines(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<Output>>,
    mut found: Option<Sender<SocketAddr>>,
    is_stderr: bool,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(sender) = &found
                && let Some(addr) = parse_listening_line(&line)
            {
                let _ = sender.send(addr);
                found = None;
            }
            if let Ok(mut output) = output.lock() {
                let text = if is_stderr {
                    &mut output.stderr
                } else {
                    &mut output.stdout
                };
                text.push_str(&line);
                text.push('\n');
            }
        }
    })
}

/// `Listening on http://127.0.0.1:41234` → the socket address.
fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("Listening on http://")?;
    rest.trim_end_matches('/').parse().ok()
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

fn join_timeout(handle: JoinHandle<()>, timeout: Duration) {
    let (done, finished) = mpsc::channel();
    let name = handle.thread().name().unwrap_or("server").to_owned();
    thread::spawn(move || {
        let result = handle.join();
        let _ = done.send(result.is_ok());
    });
    match finished.recv_timeout(timeout) {
        Ok(true) => {}
        Ok(false) => eprintln!("test-support: {name} panicked"),
        Err(RecvTimeoutError::Timeout) => {
            eprintln!("test-support: {name} did not stop within {timeout:?}; abandoning it")
        }
        Err(RecvTimeoutError::Disconnected) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_announcement() {
        assert_eq!(
            parse_listening_line("Listening on http://127.0.0.1:8080"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(parse_listening_line("Try: curl http://127.0.0.1:1/"), None);
    }

    #[test]
    fn in_process_servers_stop_on_drop() {
        let (tx, rx) = mpsc::channel();
        let server = TestServer::in_process(move |listener, stop| {
            drop(listener);
            stop.wait();
            tx.send(()).unwrap();
        });
        drop(server);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
