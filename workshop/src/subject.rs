//! The server under test: building a chapter's binary, and starting it.
//!
//! A learner edits a chapter's crate in place, so before checking, the
//! workshop asks cargo to build that crate's binary and reads the path of
//! the executable from cargo's JSON messages (compile errors still reach
//! the terminal, rendered as usual). `verify` builds patched copies of the
//! workspace the same way, with their own target directory.
//!
//! A check then starts the binary through the shared test fixture,
//! [`TestServer`]: on `127.0.0.1`, port 0, in a process group of its own
//! that is killed when the [`Server`] is dropped, forked children included.

use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use test_support::TestServer;

use crate::failure::Failure;

/// A built binary that checks can start.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The package it was built from (`step01-iterative`), for messages and
    /// for the `cargo run` line a learner can type.
    pub package: String,
    /// The executable.
    pub program: PathBuf,
}

impl Subject {
    /// Starts the binary with `args` (plus `--host 127.0.0.1 --port 0`) and
    /// waits until it says where it listens.
    ///
    /// # Errors
    ///
    /// A [`Failure`] when it does not start: it exited (an unknown flag, a
    /// panic) or never printed its address. Its stderr is in the message.
    pub fn start(&self, args: &[&str]) -> Result<Server, Failure> {
        let run_line = run_line(&self.package, args);
        // The fixture panics when a server does not start, which is right
        // for a test; here it becomes a failure that says so.
        let started = catch_unwind(AssertUnwindSafe(|| TestServer::spawn(&self.program, args)));
        match started {
            Ok(inner) => Ok(Server { inner, run_line }),
            Err(_) => Err(Failure::new(format!(
                "the server did not start (arguments: `{}`)",
                args.join(" ")
            ))
            .got(self.why_it_does_not_start(args))
            .try_it(run_line)),
        }
    }

    /// Starts the binary once more, alone, to show why it does not start:
    /// its exit status and everything it printed. (The fixture's message may
    /// miss the last lines of stderr, which are the ones that matter: a
    /// process that exits at once races the thread reading its output.)
    fn why_it_does_not_start(&self, args: &[&str]) -> String {
        let spawned = Command::new(&self.program)
            .args(args)
            .args(["--host", "127.0.0.1", "--port", "0"])
            // Only the error itself: a backtrace would bury it.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so that killing it also kills anything it forked.
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return format!("cannot run {}: {e}", self.program.display()),
        };
        let deadline = Instant::now() + DIAGNOSIS_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => break None,
            }
        };
        if status.is_none() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stdout.take() {
            let _ = pipe.read_to_string(&mut stdout);
        }
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let mut text = match status.map(|s| (s, s.code())) {
            Some((_, Some(code))) => format!("it exited with status {code}"),
            Some((status, None)) => format!("it was killed ({status})"),
            None => "it ran, but never printed `Listening on http://…`".to_owned(),
        };
        for (name, output) in [("stdout", stdout), ("stderr", stderr)] {
            if !output.trim().is_empty() {
                text.push_str(&format!("; its {name}:\n{}", output.trim_end()));
            }
        }
        text
    }
}

/// How long [`Subject::start`]'s diagnosis waits for a binary that did not
/// start to exit by itself.
const DIAGNOSIS_TIMEOUT: Duration = Duration::from_secs(3);

/// The `cargo run` command that starts `package` with `args` on the default
/// port, for "try it" lines.
pub fn run_line(package: &str, args: &[&str]) -> String {
    if args.is_empty() {
        format!("cargo run -p {package}")
    } else {
        format!("cargo run -p {package} -- {}", args.join(" "))
    }
}

/// A running server; dropping it stops it (and its process group).
#[derive(Debug)]
pub struct Server {
    /// The fixture's handle: address, pid, output, signals.
    pub inner: TestServer,
    /// How a learner starts the same server by hand.
    pub run_line: String,
}

impl Server {
    /// The address it listens on (`127.0.0.1:PORT`).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.inner.addr()
    }
}

/// How to build: which cargo, which workspace, which target directory.
#[derive(Debug, Clone)]
pub struct Builder {
    /// The workspace root (its `Cargo.toml`).
    pub root: PathBuf,
    /// `CARGO_TARGET_DIR` for the build; `None` keeps cargo's own choice.
    pub target_dir: Option<PathBuf>,
}

impl Builder {
    /// Builds `package`'s binary of the same name and returns it as a
    /// [`Subject`].
    ///
    /// # Errors
    ///
    /// Cargo cannot be run, the crate does not compile (the errors have
    /// been printed to stderr), or no executable was reported.
    pub fn build(&self, package: &str) -> anyhow::Result<Subject> {
        let mut command = Command::new(cargo());
        command
            .current_dir(&self.root)
            .arg("build")
            .arg("--quiet")
            .arg("--manifest-path")
            .arg(self.root.join("Cargo.toml"))
            .args(["-p", package, "--bin", package])
            // Artifacts as JSON on stdout, diagnostics rendered on stderr
            // exactly as `cargo build` shows them.
            .arg("--message-format=json-render-diagnostics")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = &self.target_dir {
            command.env("CARGO_TARGET_DIR", dir);
        }
        let output = command
            .output()
            .with_context(|| format!("cannot run {:?}", cargo()))?;
        if !output.status.success() {
            bail!("cargo could not build {package}'s binary: see its messages above");
        }
        let program = output
            .stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|line| executable_in(&line, package))
            .with_context(|| format!("cargo reported no executable for {package}"))?;
        Ok(Subject {
            package: package.to_owned(),
            program,
        })
    }
}

/// The cargo that runs us (`cargo run` sets `CARGO`), else the one on PATH.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The executable in one of cargo's JSON messages, if it is the binary
/// target called `bin`.
fn executable_in(line: &str, bin: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" || message["target"]["name"] != bin {
        return None;
    }
    let is_bin = message["target"]["kind"]
        .as_array()?
        .iter()
        .any(|kind| kind == "bin");
    let path = message["executable"].as_str()?;
    is_bin.then(|| Path::new(path).to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_executable_in_cargos_messages() {
        let artifact = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"step01-iterative"},"executable":"/t/debug/step01-iterative"}"#;
        assert_eq!(
            executable_in(artifact, "step01-iterative"),
            Some(PathBuf::from("/t/debug/step01-iterative"))
        );
        assert_eq!(executable_in(artifact, "step02-wsgi"), None);
        let library = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"step01-iterative"},"executable":null}"#;
        assert_eq!(executable_in(library, "step01-iterative"), None);
        assert_eq!(executable_in("not json", "x"), None);
    }

    #[test]
    fn run_lines() {
        assert_eq!(
            run_line("step01-iterative", &[]),
            "cargo run -p step01-iterative"
        );
        assert_eq!(
            run_line("step02-wsgi", &["--app", "echo"]),
            "cargo run -p step02-wsgi -- --app echo"
        );
    }
}
