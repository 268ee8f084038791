//! Tidy: every Rust file under a `src/` folder opens with a `//!` header.

use checks::{files_with_extension, repo_root};

#[test]
fn every_source_file_opens_with_a_module_header() {
    let root = repo_root();
    let missing: Vec<String> = files_with_extension(&root, ".rs")
        .into_iter()
        .filter(|path| path.components().any(|c| c.as_os_str() == "src"))
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "these files must start with a //! header saying what they are:\n  {}",
        missing.join("\n  ")
    );
}
