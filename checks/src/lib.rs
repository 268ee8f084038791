//! Workspace checks: the rules no compiler enforces, run as tests.
//!
//! `cargo test -p checks` walks the repository and fails when a source file
//! under a `src/` folder does not open with a `//!` header (every file is a
//! page of the textbook and says what it is), or when the book includes a
//! file or an anchor that does not exist (mdBook would silently render an
//! empty listing). The tests live in `tests/`; this library only finds the
//! files.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Every file under `dir` whose name ends with `extension`, skipping build
/// output and hidden folders, sorted for stable messages.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.')
                || name == "target"
                || (name == "book" && dir.ends_with("book"))
            {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
