//! Where things are: the workspace root, the hints, the solutions, the book.
//!
//! The workshop always runs from the workspace it was built in (`cargo run
//! -p workshop`), so the root is known when it is compiled.

use std::path::{Path, PathBuf};

/// The workspace root: the folder holding the root `Cargo.toml`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// This crate's folder, `workshop/`.
pub fn workshop() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `workshop/hints/<chapter>/<name>.md`.
pub fn hint(chapter: &str, name: &str) -> PathBuf {
    workshop()
        .join("hints")
        .join(chapter)
        .join(format!("{name}.md"))
}

/// `workshop/solutions/<chapter>/<name>.patch`.
pub fn patch(chapter: &str, name: &str) -> PathBuf {
    workshop()
        .join("solutions")
        .join(chapter)
        .join(format!("{name}.patch"))
}

/// The same patch, relative to the root, as a learner types it.
pub fn patch_relative(chapter: &str, name: &str) -> String {
    format!("workshop/solutions/{chapter}/{name}.patch")
}

/// `book/src/exercises/<chapter>.md`, the chapter's page in the book.
pub fn book_page(chapter: &str) -> PathBuf {
    root()
        .join("book")
        .join("src")
        .join("exercises")
        .join(format!("{chapter}.md"))
}

/// Where `verify` builds patched copies of the workspace, so that their
/// dependencies are compiled once and reused from run to run.
pub fn verify_dir() -> PathBuf {
    root().join("target").join("workshop-verify")
}
