//! Running one CGI script: a process per request, fed and drained at once.
//!
//! Chapter 3 forked a process per *connection*; CGI forks (and execs) one
//! per *request*, and talks to it through three pipes. This file is that
//! conversation, with the hygiene the server-behaviour reference §1.4–1.8
//! asks for:
//!
//! - the script is exec'd directly (no shell), with a cleared environment
//!   holding only the meta-variables, in its own directory and in a new
//!   process group, so a timeout can kill it *and* whatever it started;
//! - the request body is written to stdin by one task while stdout is read
//!   by another and stderr by a third — writing all of stdin first would
//!   deadlock as soon as a script fills its 64 KiB stdout pipe before it
//!   has read its input;
//! - every stderr line becomes an error-log line;
//! - two timeouts: one for the header block (504 when it fires) and one for
//!   silences after it (the response is then cut off, so the client sees
//!   the truncation); a script that outlives its own output by more than
//!   the second is ended too. Ending is SIGTERM to the whole group, then
//!   SIGKILL to whatever of it is left;
//! - every child is waited for, on every path, so none is left a zombie;
//!   the permit that caps how many scripts run at once is held until then,
//!   and a script that is done is reaped before its answer goes out, so
//!   the client's next request finds its slot free.
//!
//! What the script prints is parsed by [`crate::cgi::output`]; this file
//! turns the result into a hyper response.

use std::ffi::OsStr;
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Response, StatusCode};
use hyper::body::Frame;
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use step01_iterative::response::SERVER_NAME;
use step02_wsgi::environ::Vars;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::access::error_line;
use crate::cgi::output::{self, Disposition, Head, OutputError};
use crate::files::{self, Body};
use crate::log::Log;

/// How much of a script's output is read ahead, after its headers, to
/// answer with a `Content-Length` instead of chunks: most scripts print
/// far less and have exited by then.
const BUFFER_AHEAD: usize = 256 * 1024;

/// How long that read-ahead may last. A script that prints its page in
/// one go has finished well within it; one still printing after it is
/// streamed as it goes. Without this bound a script that prints a line now
/// and then (a progress report) would have its output held back until
/// [`BUFFER_AHEAD`] bytes had piled up, each pause up to the idle timeout.
const READ_AHEAD_WINDOW: Duration = Duration::from_millis(200);

/// How often a script being killed is checked for having exited.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// How long a script gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The longest stderr line logged as one line; longer ones are split.
const MAX_STDERR_LINE: usize = 8 * 1024;

/// The two CGI timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the start until the end of the header block (504 after it).
    pub header: Duration,
    /// Between two reads once the headers are in.
    pub idle: Duration,
}

// ANCHOR: limits
/// Resource limits set on every script before it starts (`setrlimit`, in
/// the child between `fork` and `exec`); 0 leaves one as inherited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Seconds of CPU time (`RLIMIT_CPU`): SIGXCPU at the limit, SIGKILL
    /// one second later.
    pub cpu_seconds: u64,
    /// Bytes of address space (`RLIMIT_AS`): beyond it, allocations fail.
    pub address_space: u64,
    /// Processes and threads of the script's user (`RLIMIT_NPROC`), the
    /// server's own threads included when scripts run as its user.
    pub processes: u64,
}

impl ResourceLimits {
    /// Has `command` set these limits in its child before `exec`.
    pub fn apply(self, command: &mut Command) {
        if self == ResourceLimits::default() {
            // Nothing to set: the child can be started without a `fork`
            // of its own (`posix_spawn`), which is cheaper.
            return;
        }
        #[allow(unsafe_code)]
        // SAFETY: the closure runs in the child after `fork`, where only
        // async-signal-safe work is allowed. It makes `setrlimit` system
        // calls (nix's wrapper neither allocates nor locks) and builds an
        // `io::Error` from an errno, which does not allocate either.
        unsafe {
            command.pre_exec(move || self.set().map_err(io::Error::from));
        }
    }

    fn set(self) -> nix::Result<()> {
        if self.cpu_seconds > 0 {
            let hard = self.cpu_seconds.saturating_add(1);
            setrlimit(Resource::RLIMIT_CPU, self.cpu_seconds, hard)?;
        }
        if self.address_space > 0 {
            setrlimit(Resource::RLIMIT_AS, self.address_space, self.address_space)?;
        }
        if self.processes > 0 {
            setrlimit(Resource::RLIMIT_NPROC, self.processes, self.processes)?;
        }
        Ok(())
    }
}
// ANCHOR_END: limits

/// One script to run.
#[derive(Debug)]
pub struct Invocation {
    /// The program exec'd: the script itself, or php-cgi.
    pub program: PathBuf,
    /// The working directory: the script's own (RFC 3875 §7.2).
    pub directory: PathBuf,
    /// The whole environment the program gets.
    pub vars: Vars,
    /// The request body, de-chunked, written to stdin.
    pub body: Bytes,
    /// The script, as named in log lines.
    pub label: String,
    /// The client, for log lines.
    pub peer: SocketAddr,
    /// A non-parsed-header script (`nph-*`): its status line is its own.
    pub nph: bool,
    /// A HEAD request: the script's body is read and thrown away.
    pub head_only: bool,
    /// The resource limits it runs under.
    pub limits: ResourceLimits,
}

/// What running a script produced.
pub enum Outcome {
    /// A response to send.
    Response(Response<Body>),
    /// `Location: /local/path` without a Status: the server serves that
    /// path instead, as a GET (reference §1.5).
    LocalRedirect(PathAndQuery),
}

/// Why a script produced no response; each maps to a status and a log line.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot run {0}: {1}")]
    Spawn(String, io::Error),
    #[error("{0}")]
    Output(#[from] OutputError),
    #[error("Script timed out before returning headers")]
    HeaderTimeout,
    #[error("error reading the script's output: {0}")]
    Read(io::Error),
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::HeaderTimeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

// ANCHOR: run
/// Runs `invocation` and answers with what it printed. `permit` (a slot
/// under `cgi.max_processes`) is held until the process has been reaped.
pub async fn run(
    invocation: Invocation,
    timeouts: Timeouts,
    errors: &Log,
    permit: OwnedSemaphorePermit,
) -> Outcome {
    let label = invocation.label.clone();
    let peer = invocation.peer;
    match start(invocation, timeouts, errors, permit).await {
        Ok(outcome) => outcome,
        Err(failure) => {
            errors.write(error_line(
                "cgi",
                "error",
                Some(peer),
                &format!("{failure}: {label}"),
            ));
            let detail = match failure.status() {
                StatusCode::GATEWAY_TIMEOUT => "the script did not answer in time",
                _ => "the script failed; the error log says why",
            };
            Outcome::Response(files::plain_error(failure.status(), detail))
        }
    }
}

async fn start(
    invocation: Invocation,
    timeouts: Timeouts,
    errors: &Log,
    permit: OwnedSemaphorePermit,
) -> Result<Outcome, Failure> {
    let mut command = Command::new(&invocation.program);
    command
        // argv is the program alone: never words from the query
        // (CVE-2012-1823), never a shell.
        .env_clear()
        .envs(
            invocation
                .vars
                .iter()
                .map(|(name, value)| (OsStr::new(name), OsStr::from_bytes(value))),
        )
        .current_dir(&invocation.directory)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a timeout kills the script and anything
        // it started, with one signal.
        .process_group(0)
        // If every handle on it is dropped early, it is killed, and
        // tokio reaps it in the background.
        .kill_on_drop(true);
    invocation.limits.apply(&mut command);
    let child = command
        .spawn()
        .map_err(|e| Failure::Spawn(invocation.program.display().to_string(), e))?;
    let mut guard = ChildGuard {
        child: Some(child_handles(child, &invocation, errors)),
        permit: Some(permit),
    };
    let Some(mut stdout) = guard.stdout() else {
        return Err(Failure::Read(io::Error::other("no stdout pipe")));
    };

    // The header block, within the header timeout.
    let mut output = Vec::new();
    let head = tokio::time::timeout(
        timeouts.header,
        read_head(&mut stdout, &mut output, invocation.nph),
    )
    .await;
    let (head, consumed) = match head {
        Ok(Ok(found)) => found,
        Ok(Err(failure)) => {
            guard.kill();
            return Err(failure);
        }
        Err(_) => {
            guard.kill();
            return Err(Failure::HeaderTimeout);
        }
    };
    let body_start = output.split_off(consumed);
    answer(
        head,
        body_start,
        stdout,
        guard,
        timeouts,
        &invocation,
        errors,
    )
    .await
}
// ANCHOR_END: run

// ANCHOR: answer
/// Turns a parsed head into the response, reading ahead what the script
/// prints next.
async fn answer(
    head: Parsed,
    mut body: Vec<u8>,
    mut stdout: ChildStdout,
    mut guard: ChildGuard,
    timeouts: Timeouts,
    invocation: &Invocation,
    errors: &Log,
) -> Result<Outcome, Failure> {
    let (status, reason, location, headers) = match head {
        Parsed::Cgi(head) => match head.classify()? {
            Disposition::LocalRedirect(target) => {
                // The script's body is discarded, and the script finished
                // with, before the new path is served (Apache, too, reads
                // to the end first): its slot under `cgi.max_processes` is
                // then free for the script the redirect may lead to.
                guard.drain_now(stdout, timeouts.idle).await;
                return Ok(Outcome::LocalRedirect(target));
            }
            Disposition::ClientRedirect { location } => {
                guard.drain(stdout, timeouts.idle).await;
                let mut response = Response::new(files::full(output::redirect_body(&location)));
                *response.status_mut() = StatusCode::FOUND;
                let out = response.headers_mut();
                out.insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
                for (name, value) in head.headers {
                    if name != header::CONTENT_TYPE {
                        out.append(name, value);
                    }
                }
                out.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(output::REDIRECT_CONTENT_TYPE),
                );
                out.insert(header::LOCATION, location);
                return Ok(Outcome::Response(response));
            }
            Disposition::Response { status, location } => {
                (status.code, status.reason, location, head.headers)
            }
        },
        Parsed::Nph {
            status,
            reason,
            head,
        } => (status, reason, head.location, head.headers),
    };

    let mut response = Response::new(files::empty());
    *response.status_mut() = status;
    files::set_reason(&mut response, &reason);
    let out = response.headers_mut();
    if !invocation.nph {
        out.insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
    }
    if let Some(location) = location {
        out.insert(header::LOCATION, location);
    }
    for (name, value) in headers {
        // `append`, not `insert`: each Set-Cookie stays its own line.
        out.append(name, value);
    }
    if invocation.nph {
        // An NPH script owns the connection's fate (RFC 3875 §5).
        out.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if invocation.head_only {
        guard.drain(stdout, timeouts.idle).await;
        return Ok(Outcome::Response(response));
    }

    // Read ahead, for a short while: a script that has finished by then
    // gets a Content-Length. (`read` is cancel-safe: a read cut short by
    // the deadline loses no byte, the streaming task reads on.)
    let mut finished = false;
    let deadline = tokio::time::Instant::now() + READ_AHEAD_WINDOW.min(timeouts.idle);
    while body.len() < BUFFER_AHEAD {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(deadline, stdout.read(&mut chunk)).await {
            Ok(Ok(0)) => {
                finished = true;
                break;
            }
            Ok(Ok(n)) => body.extend_from_slice(&chunk[..n]),
            // Still printing, or a failure: send what there is, chunked;
            // the streaming task goes on (or reports the failure by
            // cutting the body).
            Ok(Err(_)) | Err(_) => break,
        }
    }
    if finished {
        drop(stdout);
        guard.reap_now(timeouts.idle).await;
        *response.body_mut() = files::full(body);
        return Ok(Outcome::Response(response));
    }
    let cut = Cut {
        errors: errors.clone(),
        label: invocation.label.clone(),
        peer: invocation.peer,
    };
    *response.body_mut() = stream_rest(body, stdout, guard, timeouts.idle, cut);
    Ok(Outcome::Response(response))
}
// ANCHOR_END: answer

/// A head as parsed: a CGI header block, or an NPH status line and block.
enum Parsed {
    Cgi(Head),
    Nph {
        status: StatusCode,
        reason: String,
        head: Head,
    },
}

/// Reads until the header block is complete; the bytes read stay in
/// `output`, and the count returned is where the body starts.
async fn read_head(
    stdout: &mut ChildStdout,
    output: &mut Vec<u8>,
    nph: bool,
) -> Result<(Parsed, usize), Failure> {
    let mut chunk = [0u8; 8 * 1024];
    loop {
        let n = stdout.read(&mut chunk).await.map_err(Failure::Read)?;
        if n > 0 {
            output.extend_from_slice(&chunk[..n]);
        }
        let at_eof = n == 0;
        if nph {
            // "HTTP/1.1 200 OK\r\n" first, then an ordinary block.
            let Some(end) = output.iter().position(|&b| b == b'\n') else {
                if at_eof || output.len() > output::MAX_LINE_BYTES {
                    return Err(Failure::Output(OutputError::EndBeforeHeaders));
                }
                continue;
            };
            let (status, reason) = nph_status_line(&output[..end])?;
            let rest = &output[end + 1..];
            let parsed = if at_eof {
                Some(output::parse_head_at_eof(rest)?)
            } else {
                output::parse_head(rest)?
            };
            if let Some((head, consumed)) = parsed {
                let parsed = Parsed::Nph {
                    status,
                    reason,
                    head,
                };
                return Ok((parsed, end + 1 + consumed));
            }
        } else {
            let parsed = if at_eof {
                Some(output::parse_head_at_eof(output)?)
            } else {
                output::parse_head(output)?
            };
            if let Some((head, consumed)) = parsed {
                return Ok((Parsed::Cgi(head), consumed));
            }
        }
    }
}

/// `HTTP/1.1 404 Not Found` → (404, "Not Found").
fn nph_status_line(line: &[u8]) -> Result<(StatusCode, String), Failure> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let invalid = || {
        Failure::Output(OutputError::InvalidStatus {
            value: String::from_utf8_lossy(line).into_owned(),
        })
    };
    let text = std::str::from_utf8(line).map_err(|_| invalid())?;
    let mut words = text.splitn(3, ' ');
    let version = words.next().unwrap_or("");
    let code = words.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(invalid());
    }
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(invalid)?;
    let reason = words
        .next()
        .map(str::to_owned)
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    Ok((status, reason))
}

// ANCHOR: stream_rest
/// The body of a script still printing: a task reads its stdout and hands
/// each piece to hyper through a small channel (so a slow client slows
/// the script down, rather than filling our memory). A silence longer
/// than `idle`, or a read error, kills the script and ends the body with
/// an error, which makes hyper abort the connection: with chunked framing
/// the final empty chunk is never sent, so the client knows the response
/// is incomplete. A client that goes away drops the receiver, and the
/// script is killed too.
fn stream_rest(
    first: Vec<u8>,
    mut stdout: ChildStdout,
    mut guard: ChildGuard,
    idle: Duration,
    cut: Cut,
) -> Body {
    let (sender, receiver) = mpsc::channel::<io::Result<Frame<Bytes>>>(4);
    tokio::spawn(async move {
        if !first.is_empty() && sender.send(Ok(Frame::data(first.into()))).await.is_err() {
            guard.kill();
            return;
        }
        loop {
            let mut chunk = vec![0u8; 64 * 1024];
            match tokio::time::timeout(idle, stdout.read(&mut chunk)).await {
                Ok(Ok(0)) => {
                    drop(stdout);
                    // Before the body ends: see `reap_now`.
                    guard.reap_now(idle).await;
                    return;
                }
                Ok(Ok(n)) => {
                    chunk.truncate(n);
                    if sender.send(Ok(Frame::data(chunk.into()))).await.is_err() {
                        guard.kill();
                        return;
                    }
                }
                Ok(Err(e)) => {
                    guard.kill();
                    cut.report(&format!("error reading the script's output: {e}"));
                    let _ = sender.send(Err(e)).await;
                    return;
                }
                Err(_) => {
                    guard.kill();
                    cut.report(&format!("the script was silent for {idle:?}; killed"));
                    let _ = sender
                        .send(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the script went silent",
                        )))
                        .await;
                    return;
                }
            }
        }
    });
    files::channel_body(receiver)
}
// ANCHOR_END: stream_rest

/// Where a body cut short is reported: every failure of a script is
/// logged (reference §1.7), this one after the response has started.
struct Cut {
    errors: Log,
    label: String,
    peer: SocketAddr,
}

impl Cut {
    fn report(&self, why: &str) {
        let message = format!("{why}; response cut short: {}", self.label);
        self.errors
            .write(error_line("cgi", "error", Some(self.peer), &message));
    }
}

/// The running script's handles, the stdin writer and the stderr logger
/// started.
fn child_handles(mut child: Child, invocation: &Invocation, errors: &Log) -> Running {
    if let Some(mut stdin) = child.stdin.take() {
        let body = invocation.body.clone();
        tokio::spawn(async move {
            // A script that does not read its input closes the pipe, and
            // the write fails with EPIPE: not an error of ours.
            let _ = stdin.write_all(&body).await;
            // Dropping stdin closes it: the script sees end of input.
        });
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(log_stderr(
            stderr,
            errors.clone(),
            invocation.label.clone(),
            invocation.peer,
        ));
    }
    Running {
        pgid: child.id().and_then(|id| i32::try_from(id).ok()),
        stdout: child.stdout.take(),
        child: Some(child),
    }
}

/// Every line the script writes to stderr becomes an error-log line.
async fn log_stderr(
    mut stderr: impl AsyncRead + Unpin,
    errors: Log,
    label: String,
    peer: SocketAddr,
) {
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        if n == 0 {
            if !pending.is_empty() {
                log_line(&errors, &label, peer, &pending);
            }
            return;
        }
        pending.extend_from_slice(&chunk[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            log_line(&errors, &label, peer, &line[..end]);
        }
        if pending.len() > MAX_STDERR_LINE {
            log_line(&errors, &label, peer, &pending);
            pending.clear();
        }
    }
}

fn log_line(errors: &Log, label: &str, peer: SocketAddr, line: &[u8]) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let message = format!("{label}: {}", String::from_utf8_lossy(line));
    errors.write(error_line("cgi", "error", Some(peer), &message));
}

/// A script's process: the group to signal and the pipe to read.
struct Running {
    pgid: Option<i32>,
    stdout: Option<ChildStdout>,
    child: Option<Child>,
}

// ANCHOR: guard
/// Owns a running script until it has been reaped. Whatever path a request
/// takes — an answer, an error, a timeout, a client gone — ends in
/// [`ChildGuard::reap`] or [`ChildGuard::kill`], both of which hand the
/// child to a task that waits for it; the permit is released only then.
struct ChildGuard {
    child: Option<Running>,
    permit: Option<OwnedSemaphorePermit>,
}

impl ChildGuard {
    fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.as_mut()?.stdout.take()
    }

    /// The script has closed its output: wait for it to exit. One that
    /// has not exited `idle` later is lingering (closing its output is not
    /// finishing) and would keep its permit for ever: its group is then
    /// ended as [`ChildGuard::kill`] does.
    fn reap(&mut self, idle: Duration) {
        self.finish(Some(idle));
    }

    /// Like [`ChildGuard::reap`], but the script is first waited for here,
    /// briefly: it has closed its output, so it nearly always exits at
    /// once, and its permit is then free before the client has its answer.
    /// Otherwise a client sending one request after another, at
    /// `cgi.max_processes = 1`, could be refused by its own previous
    /// script, not yet reaped.
    async fn reap_now(&mut self, idle: Duration) {
        let child = self
            .child
            .as_mut()
            .and_then(|running| running.child.as_mut());
        if let Some(child) = child
            && tokio::time::timeout(READ_AHEAD_WINDOW.min(idle), child.wait())
                .await
                .is_ok()
        {
            self.child = None;
            self.permit = None;
            return;
        }
        self.reap(idle);
    }

    /// Ends the script's whole process group: SIGTERM, then SIGKILL.
    fn kill(&mut self) {
        self.finish(None);
    }

    /// Like [`ChildGuard::drain`], but entirely awaited, and the script
    /// waited for too: when this returns, the script has exited and been
    /// reaped, and its permit is released — unless it was not done within
    /// `idle` in all (still printing, silent, or not exiting), and was
    /// killed instead.
    async fn drain_now(&mut self, mut stdout: ChildStdout, idle: Duration) {
        let deadline = tokio::time::Instant::now() + idle;
        let mut sink = [0u8; 16 * 1024];
        loop {
            match tokio::time::timeout_at(deadline, stdout.read(&mut sink)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => return self.kill(),
            }
        }
        drop(stdout);
        let child = self
            .child
            .as_mut()
            .and_then(|running| running.child.as_mut());
        let exited = match child {
            // An error from `wait` means there is nothing left to wait for.
            Some(child) => tokio::time::timeout_at(deadline, child.wait())
                .await
                .is_ok(),
            None => true,
        };
        if exited {
            self.child = None;
            self.permit = None;
        } else {
            self.kill();
        }
    }

    /// Reads and discards the rest of the output (a client redirect's
    /// body, a HEAD's), then reaps; a silence longer than `idle` kills
    /// instead. A script that is done within [`READ_AHEAD_WINDOW`] is
    /// reaped before this returns (see [`ChildGuard::reap_now`]); one
    /// still printing is drained in the background, so the answer, which
    /// does not depend on it, is not held back.
    async fn drain(&mut self, mut stdout: ChildStdout, idle: Duration) {
        let mut sink = [0u8; 16 * 1024];
        let brief = tokio::time::Instant::now() + READ_AHEAD_WINDOW.min(idle);
        loop {
            match tokio::time::timeout_at(brief, stdout.read(&mut sink)).await {
                Ok(Ok(0)) => {
                    drop(stdout);
                    return self.reap_now(idle).await;
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return self.kill(),
                Err(_) => break,
            }
        }
        let mut rest = ChildGuard {
            child: self.child.take(),
            permit: self.permit.take(),
        };
        tokio::spawn(async move {
            let mut sink = [0u8; 16 * 1024];
            loop {
                match tokio::time::timeout(idle, stdout.read(&mut sink)).await {
                    Ok(Ok(0)) => return rest.reap(idle),
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) | Err(_) => return rest.kill(),
                }
            }
        });
    }

    /// Hands the script to a task that waits `linger` for it to exit
    /// (none: it is killed at once), ends its group if it has not, reaps
    /// it, and only then releases the permit.
    fn finish(&mut self, linger: Option<Duration>) {
        let Some(running) = self.child.take() else {
            return;
        };
        let permit = self.permit.take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // The runtime is gone (the server is exiting): no task can
            // wait any more, so make sure the group at least dies.
            if let Some(pgid) = running.pgid {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            return;
        };
        runtime.spawn(async move {
            let Running { pgid, child, .. } = running;
            if let Some(mut child) = child {
                let exited = match linger {
                    Some(linger) => tokio::time::timeout(linger, child.wait()).await.is_ok(),
                    None => false,
                };
                if !exited && let Some(pgid) = pgid {
                    terminate(Pid::from_raw(pgid)).await;
                }
                let _ = child.wait().await;
            }
            drop(permit);
        });
    }
}

/// Ends the process group of the script `pid` (its id is the group's):
/// SIGTERM to all of it, then, once the script has exited or after
/// [`KILL_GRACE`], SIGKILL to whatever of the group is left — a background
/// process the script started may well ignore SIGTERM.
///
/// The script is not reaped until this returns: while it is a zombie its
/// pid cannot be handed to a new process, so the group id cannot either,
/// and the SIGKILL cannot reach a stranger.
async fn terminate(pid: Pid) {
    let _ = killpg(pid, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + KILL_GRACE;
    while tokio::time::Instant::now() < deadline && !exited(pid) {
        tokio::time::sleep(EXIT_POLL).await;
    }
    let _ = killpg(pid, Signal::SIGKILL);
}

/// Whether our child `pid` has exited, without reaping it (`WNOWAIT`).
/// An error (no such child) counts as exited: there is nothing to wait for.
fn exited(pid: Pid) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
}

impl Drop for ChildGuard {
    /// A guard dropped without a decision (a request future cancelled
    /// mid-way, say) kills: nothing may outlive its request unwatched.
    fn drop(&mut self) {
        self.kill();
    }
}
// ANCHOR_END: guard
