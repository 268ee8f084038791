//! Logs: a single writer thread per log file, with rotation that never
//! loses a line.
//!
//! Request handlers never touch a log file. They format a line and send it
//! to the log's writer thread over a bounded channel; if the writer falls
//! 64k lines behind, senders wait (backpressure) rather than drop lines.
//! The writer owns the file, opened with `O_APPEND`, and writes each line
//! with one `write(2)`.
//!
//! Rotation (the server-behaviour reference §4.3), when the next line would
//! take the file past `rotate_size`:
//!
//! 1. shift the numbered archives: `access.log.1.gz` → `.2.gz`, …, dropping
//!    the oldest beyond `keep`;
//! 2. `rename` the live file to `access.log.1` — the descriptor still points
//!    at it, so nothing written so far is lost;
//! 3. open a fresh `access.log` and switch to it;
//! 4. in the background, gzip `access.log.1` to `access.log.1.gz.tmp`,
//!    `fsync`, rename to `access.log.1.gz`, and remove the uncompressed copy.
//!
//! Never copy-then-truncate: lines written between the copy and the
//! truncation would vanish. SIGUSR1 asks the writer to reopen the file by
//! name (after an external `mv`); if that fails (say, permissions after the
//! privilege drop) it keeps writing to the old descriptor and says so.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, bounded};
use flate2::Compression;
use flate2::write::GzEncoder;

/// How many lines may wait for the writer before senders wait.
const QUEUE: usize = 65_536;

/// What a log writer is asked to do.
enum Message {
    Line(String),
    Reopen,
    Flush(Sender<()>),
}

// ANCHOR: log
/// A handle on one log file's writer thread. Cloning shares the writer.
#[derive(Clone)]
pub struct Log {
    sender: Option<Sender<Message>>,
    /// Also copy each line to stderr.
    echo: bool,
}

impl Log {
    /// A log that discards everything (or only echoes to stderr).
    pub fn disabled(echo: bool) -> Log {
        Log { sender: None, echo }
    }

    /// Opens `path` (creating it, mode 0640) and starts its writer.
    ///
    /// # Errors
    ///
    /// If the file cannot be opened or the thread started.
    pub fn open(
        path: &Path,
        rotate_size: u64,
        keep: usize,
        echo: bool,
    ) -> io::Result<(Log, LogWriter)> {
        Self::start(path, open_append(path)?, rotate_size, keep, echo)
    }

    /// Starts the writer for a file opened earlier with [`open_append`] —
    /// before a privilege drop, which must happen before any thread (this
    /// writer's included) exists.
    ///
    /// # Errors
    ///
    /// If the thread cannot be started.
    pub fn start(
        path: &Path,
        file: File,
        rotate_size: u64,
        keep: usize,
        echo: bool,
    ) -> io::Result<(Log, LogWriter)> {
        let size = file.metadata()?.len();
        let (sender, receiver) = bounded(QUEUE);
        let writer = Writer {
            path: path.to_owned(),
            file,
            size,
            rotate_size,
            keep: keep.max(1),
            compressing: None,
        };
        let handle = thread::Builder::new()
            .name(format!(
                "log-{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ))
            .spawn(move || writer.run(&receiver))?;
        Ok((
            Log {
                sender: Some(sender),
                echo,
            },
            LogWriter {
                handle: Some(handle),
            },
        ))
    }

    /// Whether lines go anywhere (a file or stderr): callers skip
    /// formatting a line nobody will read.
    pub fn enabled(&self) -> bool {
        self.sender.is_some() || self.echo
    }

    /// Queues one line (a newline is added if missing).
    pub fn write(&self, mut line: String) {
        if !line.ends_with('\n') {
            line.push('\n');
        }
        if self.echo {
            let _ = io::stderr().write_all(line.as_bytes());
        }
        if let Some(sender) = &self.sender {
            // Fails only once the writer has stopped, at the very end.
            let _ = sender.send(Message::Line(line));
        }
    }

    /// Asks the writer to reopen the file by name (SIGUSR1).
    pub fn reopen(&self) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Message::Reopen);
        }
    }

    /// Waits until every line queued so far is written (and any rotation
    /// it caused is compressed).
    pub fn flush(&self) {
        if let Some(sender) = &self.sender {
            let (done, finished) = bounded(1);
            if sender.send(Message::Flush(done)).is_ok() {
                let _ = finished.recv();
            }
        }
    }
}
// ANCHOR_END: log

/// Owns the writer thread; dropping it, after every [`Log`] handle is
/// gone, waits for the last lines to be written.
pub struct LogWriter {
    handle: Option<JoinHandle<()>>,
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Whether log lines should also go to stderr, for the `auto` setting.
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    rotate_size: u64,
    keep: usize,
    /// The background gzip of the previous rotation, if still running.
    compressing: Option<JoinHandle<()>>,
}

impl Writer {
    fn run(mut self, receiver: &Receiver<Message>) {
        // Ends when every sender is gone: all lines have been received.
        for message in receiver {
            match message {
                Message::Line(line) => self.write(&line),
                Message::Reopen => self.reopen(),
                Message::Flush(done) => {
                    self.wait_for_compression();
                    let _ = done.send(());
                }
            }
        }
        self.wait_for_compression();
    }

    // ANCHOR: write
    fn write(&mut self, line: &str) {
        let length = line.len() as u64;
        if self.size > 0
            && self.size + length > self.rotate_size
            && let Err(e) = self.rotate()
        {
            eprintln!("stepwise: cannot rotate {}: {e}", self.path.display());
        }
        // One write(2) per line on an O_APPEND descriptor.
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => self.size += length,
            Err(e) => eprintln!("stepwise: cannot write {}: {e}", self.path.display()),
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        // The previous archive must be finished before the numbers shift.
        self.wait_for_compression();
        for n in (1..self.keep).rev() {
            let from = archive(&self.path, n);
            if from.exists() {
                fs::rename(&from, archive(&self.path, n + 1))?;
            }
        }
        let _ = fs::remove_file(archive(&self.path, self.keep + 1));
        let rotated = numbered(&self.path, 1);
        fs::rename(&self.path, &rotated)?;
        // Lines written so far went to the renamed file; new ones go here.
        self.file = open_append(&self.path)?;
        self.size = 0;
        let target = archive(&self.path, 1);
        self.compressing = Some(thread::spawn(move || {
            if let Err(e) = compress(&rotated, &target) {
                eprintln!("stepwise: cannot compress {}: {e}", rotated.display());
            }
        }));
        Ok(())
    }
    // ANCHOR_END: write

    fn reopen(&mut self) {
        match open_append(&self.path).and_then(|f| Ok((f.metadata()?.len(), f))) {
            Ok((size, file)) => {
                self.file = file;
                self.size = size;
            }
            Err(e) => eprintln!(
                "stepwise: cannot reopen {}: {e}; still writing to the old file",
                self.path.display()
            ),
        }
    }

    fn wait_for_compression(&mut self) {
        if let Some(handle) = self.compressing.take() {
            let _ = handle.join();
        }
    }
}

/// Opens a log file for appending, creating it (mode 0640) if needed.
///
/// # Errors
///
/// If the file cannot be opened.
pub fn open_append(path: &Path) -> io::Result<File> {
    // O_CLOEXEC comes with std; CGI children must never inherit a log.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// `access.log` → `access.log.N`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// `access.log` → `access.log.N.gz`.
pub fn archive(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}.gz"));
    PathBuf::from(name)
}

/// gzip `from` into `to` via a temporary file, so `to` is always whole.
fn compress(from: &Path, to: &Path) -> io::Result<()> {
    let mut temporary = to.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut input = File::open(from)?;
    let output = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o640)
        .open(&temporary)?;
    let mut encoder = GzEncoder::new(output, Compression::default());
    io::copy(&mut input, &mut encoder)?;
    let output = encoder.finish()?;
    output.sync_all()?;
    fs::rename(&temporary, to)?;
    fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Every line in the live log and in every archive.
    fn all_lines(path: &Path, keep: usize) -> Vec<String> {
        let mut lines: Vec<String> = fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        for n in 1..=keep + 1 {
            let Ok(file) = File::open(archive(path, n)) else {
                continue;
            };
            let mut text = String::new();
            flate2::read::GzDecoder::new(file)
                .read_to_string(&mut text)
                .unwrap();
            lines.extend(text.lines().map(str::to_owned));
        }
        lines
    }

    // ANCHOR: rotation_test
    #[test]
    fn rotation_under_concurrent_writers_loses_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let (log, writer) = Log::open(&path, 4096, 1000, false).unwrap();
        let threads: Vec<_> = (0..50)
            .map(|t| {
                let log = log.clone();
                thread::spawn(move || {
                    for i in 0..40 {
                        log.write(format!("thread {t:02} line {i:02} {}", "x".repeat(40)));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(log);
        drop(writer);
        let mut lines = all_lines(&path, 1000);
        assert_eq!(lines.len(), 2000);
        lines.sort();
        lines.dedup();
        assert_eq!(lines.len(), 2000, "a line was duplicated");
        assert!(archive(&path, 20).exists(), "expected many rotations");
        // No uncompressed or temporary leftovers.
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".gz") && n != "access.log")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    // ANCHOR_END: rotation_test

    #[test]
    fn old_archives_beyond_keep_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("error.log");
        let (log, writer) = Log::open(&path, 1024, 3, false).unwrap();
        for i in 0..200 {
            log.write(format!("line {i} {}", "y".repeat(50)));
        }
        log.flush();
        assert!(archive(&path, 3).exists());
        assert!(!archive(&path, 4).exists());
        drop(log);
        drop(writer);
        // The newest lines survive: the last one is in the live file.
        assert!(fs::read_to_string(&path).unwrap().contains("line 199 "));
    }

    #[test]
    fn reopen_follows_an_external_move() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let (log, writer) = Log::open(&path, 1 << 20, 5, false).unwrap();
        log.write("before".into());
        log.flush();
        fs::rename(&path, dir.path().join("moved.log")).unwrap();
        log.write("still in the moved file".into());
        log.reopen();
        log.write("in the new file".into());
        drop(log);
        drop(writer);
        assert_eq!(
            fs::read_to_string(dir.path().join("moved.log")).unwrap(),
            "before\nstill in the moved file\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "in the new file\n");
    }
}
