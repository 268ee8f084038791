//! Shared setup for chapter 5's tests: a document root in a temporary
//! directory, and the binary started on it.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use tempfile::TempDir;
use test_support::TestServer;

/// A document root with a few files, a directory with and one without an
/// index, a 1 MB file, a file outside the root and symlinks in and out.
pub(crate) fn docroot() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let outside = dir.path().join("outside");
    let root = dir.path().join("www");
    fs::create_dir_all(root.join("docs")).expect("mkdir");
    fs::create_dir_all(root.join("empty")).expect("mkdir");
    fs::create_dir_all(&outside).expect("mkdir");
    fs::write(root.join("index.html"), "<h1>home</h1>\n").expect("write");
    fs::write(root.join("docs/index.html"), "<h1>docs</h1>\n").expect("write");
    fs::write(root.join("hello.txt"), "hello\n").expect("write");
    fs::write(root.join("data.json"), "{}\n").expect("write");
    fs::write(root.join("a b.txt"), "spaced\n").expect("write");
    fs::write(root.join("noext"), "bytes\n").expect("write");
    fs::write(outside.join("secret.txt"), "secret\n").expect("write");
    fs::write(root.join("big.bin"), big_file()).expect("write");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("escape.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink(&outside, root.join("escape-dir")).expect("symlink");
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("inside.txt")).expect("symlink");
    dir
}

/// 1 MB of bytes that are not all the same, so misplaced bytes show.
pub(crate) fn big_file() -> Vec<u8> {
    (0..1_000_000u32).map(|i| (i % 251) as u8).collect()
}

/// Starts the binary serving `dir/www` with `args`.
pub(crate) fn start(dir: &Path, args: &[&str]) -> TestServer {
    let root = dir.join("www");
    let mut all = vec!["-r", root.to_str().expect("a UTF-8 path")];
    all.extend_from_slice(args);
    TestServer::spawn(env!("CARGO_BIN_EXE_step05-threadpool"), &all)
}
