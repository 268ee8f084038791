//! The access log: one line per request, in the Common Log Format.
//!
//! `127.0.0.1 - - [22/Nov/2026:03:20:00 +0000] "GET / HTTP/1.1" 200 1234`
//!
//! Each line is formatted completely, then written with a single
//! `write(2)` to a file opened with `O_APPEND`: the kernel appends each
//! write whole, so lines from many worker threads (or pre-forked
//! processes sharing the descriptor) never interleave, and no line is
//! lost in a buffer if the server is killed. Chapter 6 adds rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;

use chrono::Utc;

/// Where access lines go.
#[derive(Debug)]
pub enum AccessLog {
    /// Nowhere (the default; `-v` still logs requests to stderr).
    Off,
    /// A file opened for appending.
    File(File),
}

impl AccessLog {
    /// Opens (creating if needed) `path` for appending.
    ///
    /// # Errors
    ///
    /// If the file cannot be opened.
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        Ok(AccessLog::File(
            OpenOptions::new().create(true).append(true).open(path)?,
        ))
    }

    // ANCHOR: record
    /// Writes one line; a failed write is reported on stderr, never fatal.
    pub fn record(&self, client: IpAddr, request_line: &str, status: u16, bytes: u64) {
        let line = format_line(client, request_line, status, bytes);
        tracing::info!("{}", line.trim_end());
        if let AccessLog::File(file) = self {
            // `&File` is `Write`: threads share one descriptor, no lock.
            let mut file: &File = file;
            if let Err(e) = file.write_all(line.as_bytes()) {
                tracing::warn!("cannot write the access log: {e}");
            }
        }
    }
    // ANCHOR_END: record
}

/// One Common Log Format line, newline included. `"` and `\` in the
/// request line are escaped, and control characters shown as `\xhh`, so a
/// client cannot forge a line of its own.
pub fn format_line(client: IpAddr, request_line: &str, status: u16, bytes: u64) -> String {
    let time = Utc::now().format("%d/%b/%Y:%H:%M:%S %z");
    let bytes = if bytes == 0 {
        "-".to_owned()
    } else {
        bytes.to_string()
    };
    let escaped = escape(request_line);
    format!("{client} - - [{time}] \"{escaped}\" {status} {bytes}\n")
}

// ANCHOR: escape
/// Escapes text a client controls for a log line, Apache's way: `"` → `\"`,
/// `\` → `\\`, tab and newline → `\t` and `\n`, any other control
/// character → `\xhh`. A client can then never end a line early or forge
/// a field.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            c if c.is_control() => escaped.push_str(&format!("\\x{:02x}", c as u32)),
            c => escaped.push(c),
        }
    }
    escaped
}
// ANCHOR_END: escape

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_log_format() {
        let line = format_line("127.0.0.1".parse().unwrap(), "GET / HTTP/1.1", 200, 1234);
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(line.ends_with("] \"GET / HTTP/1.1\" 200 1234\n"), "{line}");
        assert!(line.contains(" +0000]"), "{line}");
    }

    #[test]
    fn escapes_what_a_client_controls() {
        let line = format_line("::1".parse().unwrap(), "GET /\"x\\\u{1b} HTTP/1.1", 404, 0);
        assert!(
            line.contains(r#""GET /\"x\\\x1b HTTP/1.1" 404 -"#),
            "{line}"
        );
    }
}
