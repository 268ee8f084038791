//! Path confinement: from a URL path to a file that is surely under the root.
//!
//! This is the security boundary of a static file server, and it is small
//! on purpose. The rules (the project's server-behaviour reference §6.9):
//!
//! 1. Percent-decode the path **exactly once**. A bad escape or a NUL byte
//!    is a 400. An encoded slash (`%2F`) is a 404, as Apache does by
//!    default: decoded, it would split a segment the client sent as one.
//! 2. Remove dot-segments (`.` and `..`, RFC 3986 §5.2.4) on the decoded
//!    path. Climbing above `/` is a 400 — never clamped, so `/../etc/passwd`
//!    cannot quietly become `/etc/passwd` under the root.
//! 3. Join what is left under the root, then resolve symbolic links with
//!    `canonicalize` and require the result to still be under the
//!    canonical root: a symlink pointing out of the root is a 404.
//! 4. Open that path and check the *open file* (`fstat`), not the name, so
//!    what is served is what was checked.
//!
//! Decoding twice, or normalising before decoding, is exactly how Apache
//! 2.4.49 served files outside its root (CVE-2021-41773): `%2e%2e` was
//! checked as text and became `..` only afterwards. Here `..` can only
//! appear after the single decoding, where step 2 sees it.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use http::StatusCode;
use step01_iterative::{HttpError, target};

// ANCHOR: segments
/// Steps 1 and 2: the decoded, normalised segments of a URL path.
///
/// `raw_path` is the path part of the request-target, still encoded.
///
/// # Errors
///
/// 400 for a bad escape, a NUL, a path not starting with `/`, or one that
/// climbs above the root; 404 for an encoded slash.
pub fn segments(raw_path: &str) -> Result<Vec<OsString>, HttpError> {
    if !raw_path.starts_with('/') {
        return Err(HttpError::bad_request("the path must start with '/'"));
    }
    if raw_path.to_ascii_lowercase().contains("%2f") {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "encoded slashes are not served",
        ));
    }
    let decoded = target::percent_decode(raw_path)?;
    let mut kept: Vec<OsString> = Vec::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                if kept.pop().is_none() {
                    return Err(HttpError::bad_request("the path climbs above the root"));
                }
            }
            name => kept.push(OsStr::from_bytes(name).to_owned()),
        }
    }
    Ok(kept)
}
// ANCHOR_END: segments

/// The decoded, normalised path as text (`/a/./b/../c%20d` → `/a/c d`),
/// with the trailing slash kept: what mounts are matched on. `None` if
/// [`segments`] refuses it (a bad escape, an encoded slash, a climb above
/// the root; the file handler then answers with the right error) or it is
/// not UTF-8.
pub fn canonical_path(raw: &str) -> Option<String> {
    let segments = segments(raw).ok()?;
    let mut path = String::new();
    for segment in &segments {
        path.push('/');
        path.push_str(segment.to_str()?);
    }
    if path.is_empty() || (raw.ends_with('/') && !segments.is_empty()) {
        path.push('/');
    }
    Some(path)
}

/// The document root, canonicalised once at start.
#[derive(Debug, Clone)]
pub struct Root {
    canonical: PathBuf,
}

impl Root {
    /// Canonicalises `path` (it must exist and be a directory).
    ///
    /// # Errors
    ///
    /// If the path does not exist or is not a directory.
    pub fn new(path: &Path) -> io::Result<Root> {
        let canonical = fs::canonicalize(path)?;
        if !canonical.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        Ok(Root { canonical })
    }

    /// The canonical root directory.
    pub fn path(&self) -> &Path {
        &self.canonical
    }

    // ANCHOR: resolve
    /// Step 3: the canonical path of `segments` under the root.
    ///
    /// # Errors
    ///
    /// 404 when the path does not exist or leads out of the root (through
    /// a symbolic link); 403 when a directory on the way is not readable.
    pub fn resolve(&self, segments: &[OsString]) -> Result<PathBuf, HttpError> {
        let mut joined = self.canonical.clone();
        joined.extend(segments);
        let canonical = fs::canonicalize(&joined).map_err(|e| io_status(&e))?;
        // `starts_with` compares whole components: /srv/www2 is not under /srv/www.
        if !canonical.starts_with(&self.canonical) {
            return Err(HttpError::new(StatusCode::NOT_FOUND, "no such file"));
        }
        Ok(canonical)
    }
    // ANCHOR_END: resolve
}

// ANCHOR: open
/// Step 4: opens a resolved path for reading, refusing a final symbolic
/// link (`O_NOFOLLOW`), and returns the file with its metadata from the
/// open descriptor.
///
/// `O_NONBLOCK` matters too: opening a FIFO for reading *blocks* until
/// someone opens it for writing, so a named pipe under the root would hang
/// the worker that opened it. Non-blocking, the open returns at once, and
/// the caller sees from the metadata that it is not a regular file. (For
/// regular files the flag changes nothing.)
///
/// # Errors
///
/// 404 if it vanished, 403 if it is not readable.
pub fn open(path: &Path) -> Result<(File, fs::Metadata), HttpError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
        .open(path)
        .map_err(|e| io_status(&e))?;
    let metadata = file.metadata().map_err(|e| io_status(&e))?;
    Ok((file, metadata))
}
// ANCHOR_END: open

/// Maps a filesystem error to the status a client should see.
pub fn io_status(error: &io::Error) -> HttpError {
    match error.kind() {
        io::ErrorKind::PermissionDenied => HttpError::new(StatusCode::FORBIDDEN, "not readable"),
        _ => HttpError::new(StatusCode::NOT_FOUND, "no such file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: &str) -> Result<Vec<String>, u16> {
        segments(raw)
            .map(|s| s.iter().map(|p| p.to_string_lossy().into_owned()).collect())
            .map_err(|e| e.status.as_u16())
    }

    #[test]
    fn normal_paths() {
        assert_eq!(names("/"), Ok(vec![]));
        assert_eq!(names("/a/b.txt"), Ok(vec!["a".into(), "b.txt".into()]));
        assert_eq!(names("/a//./b/"), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(names("/a/../b"), Ok(vec!["b".into()]));
        assert_eq!(names("/a%20b"), Ok(vec!["a b".into()]));
    }

    // ANCHOR: hostile
    #[test]
    fn hostile_paths_never_climb_out() {
        for raw in [
            "/..",
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/%2E%2E/etc/passwd",
            "/.%2e/etc/passwd",
        ] {
            assert_eq!(names(raw), Err(400), "{raw}");
        }
        // Decoded exactly once: %252e is "%2e" as text, an ordinary name.
        assert_eq!(
            names("/%252e%252e/x"),
            Ok(vec!["%2e%2e".into(), "x".into()])
        );
        assert_eq!(names("/a%2fb"), Err(404));
        assert_eq!(names("/a%2F..%2F..%2Fetc"), Err(404));
        assert_eq!(names("/a%00.txt"), Err(400));
        assert_eq!(names("/a%zz"), Err(400));
        assert_eq!(names("relative"), Err(400));
    }
    // ANCHOR_END: hostile

    #[test]
    fn non_utf8_names_are_kept_as_bytes() {
        let parts = segments("/caf%E9").unwrap();
        assert_eq!(parts[0].as_bytes(), b"caf\xe9");
    }
}
