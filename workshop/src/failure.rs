//! A failed check, told so that a learner can act on it.
//!
//! "assertion failed: left == right" says nothing about HTTP. A
//! [`Failure`] says what went wrong in one sentence, then shows the
//! exchange: what the check sent, what it expected, what came back, and a
//! command to see it for yourself. CodeCrafters' testers read this way, and
//! it is what makes a failing exercise a lesson rather than a puzzle.

use std::fmt;
use std::io;
use std::path::Path;

use tempfile::TempDir;

/// Why a check failed, and the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, in one sentence.
    pub problem: String,
    /// Labelled evidence, in the order shown: `sent`, `expected`, `got`,
    /// `try it`, `note`.
    pub details: Vec<(&'static str, String)>,
}

impl Failure {
    /// A failure with only its one-sentence problem.
    pub fn new(problem: impl Into<String>) -> Self {
        Failure {
            problem: problem.into(),
            details: Vec::new(),
        }
    }

    /// Adds a labelled detail (builder style).
    pub fn with(mut self, label: &'static str, text: impl Into<String>) -> Self {
        self.details.push((label, text.into()));
        self
    }

    /// What the check sent.
    pub fn sent(self, text: impl Into<String>) -> Self {
        self.with("sent", text)
    }

    /// What the check expected.
    pub fn expected(self, text: impl Into<String>) -> Self {
        self.with("expected", text)
    }

    /// What came back instead.
    pub fn got(self, text: impl Into<String>) -> Self {
        self.with("got", text)
    }

    /// Commands that reproduce it by hand.
    pub fn try_it(self, text: impl Into<String>) -> Self {
        self.with("try it", text)
    }

    /// Anything else worth knowing.
    pub fn note(self, text: impl Into<String>) -> Self {
        self.with("note", text)
    }

    /// The detail labelled `label`, if any.
    pub fn detail(&self, label: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, text)| text.as_str())
    }

    /// The failure as indented lines: the problem, then each detail with
    /// its label in a column, continuation lines aligned under the text.
    pub fn render(&self, indent: &str) -> String {
        const LABEL_WIDTH: usize = 10;
        let mut out = format!("{indent}{}\n", self.problem);
        for (label, text) in &self.details {
            let mut lines = text.lines();
            let first = lines.next().unwrap_or_default();
            out.push_str(&format!("{indent}{label:<LABEL_WIDTH$}{first}\n"));
            for line in lines {
                let line = format!("{indent}{:LABEL_WIDTH$}{line}", "");
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        out
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(""))
    }
}

impl std::error::Error for Failure {}

/// A socket error in the middle of a check: the server went away, or
/// refused the connection. The check's own messages are better; this is
/// the fallback for `?`.
impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::new(format!("a socket operation failed: {e}"))
    }
}

/// Shows bytes as text: printable ASCII and UTF-8 as they are, CR LF as
/// `\r\n` at the end of a line, anything else escaped; cut after `limit`
/// characters, saying how much was left out.
pub fn show_bytes(bytes: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (shown, c) in text.chars().enumerate() {
        if shown >= limit {
            let rest = text.chars().count() - shown;
            out.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        match c {
            '\n' => out.push_str("\\n\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    // A trailing line break would render as an empty line.
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

/// A check that could not set up its files: not the server's fault.
pub fn setup_failed(path: &Path, error: &io::Error) -> Failure {
    Failure::new(format!(
        "the check could not write {}: {error}",
        path.display()
    ))
}

/// A scratch directory of a check's own (`stepwise-workshop-chNN-…` under
/// the system's temporary directory), removed when it is dropped.
pub fn scratch_dir(chapter: &str) -> Result<TempDir, Failure> {
    tempfile::Builder::new()
        .prefix(&format!("stepwise-workshop-{chapter}-"))
        .tempdir()
        .map_err(|e| setup_failed(&std::env::temp_dir(), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_in_a_column() {
        let failure = Failure::new("no header")
            .sent("GET / HTTP/1.1\nHost: x")
            .got("404");
        assert_eq!(
            failure.render("  "),
            "  no header\n  sent      GET / HTTP/1.1\n            Host: x\n  got       404\n"
        );
        assert_eq!(failure.detail("got"), Some("404"));
    }

    #[test]
    fn shows_line_endings_and_control_bytes() {
        assert_eq!(show_bytes(b"GET /\r\n\r\n", 100), "GET /\\r\\n\n\\r\\n");
        assert_eq!(show_bytes(b"a\x01b", 100), "a\\u{1}b");
        assert_eq!(show_bytes(b"abcdef", 3), "abc… (3 more characters)");
    }
}
