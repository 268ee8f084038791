//! A Flask application mounted in the full server (feature `python`):
//! chapter 2's `flaskapp.py` under `/py`, next to the files, with and
//! without the session middleware.
//!
//! Build with the interpreter whose site-packages hold Flask, e.g.
//! `PYO3_PYTHON=.venv-wsgi/bin/python cargo test -p step06-full --features
//! python --test python`.
#![cfg(feature = "python")]

use std::fs;
use std::path::PathBuf;

use tempfile::TempDir;
use test_support::{Client, RawResponse, TestServer, send};

/// Chapter 2's Python applications.
fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../step02-wsgi/python")
}

/// A document root and a config mounting `flaskapp:app` at `/py` and,
/// with sessions, at `/pys`.
fn setup() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::create_dir(dir.path().join("www")).expect("mkdir www");
    fs::write(dir.path().join("www/index.html"), "home\n").expect("write index.html");
    let pythonpath = python_dir();
    let pythonpath = pythonpath.to_str().expect("a UTF-8 path");
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\ndocument_root = \"www\"\n\
         [log]\nstderr = \"never\"\n\
         [sessions]\ndirectory = \"sessions\"\n\
         [[mount]]\npath = \"/py\"\nwsgi = \"flaskapp:app\"\npythonpath = [\"{pythonpath}\"]\n\
         [[mount]]\npath = \"/pys\"\nwsgi = \"flaskapp:app\"\npythonpath = [\"{pythonpath}\"]\n\
         sessions = true\n"
    );
    fs::write(dir.path().join("stepwise.toml"), config).expect("write the config");
    dir
}

fn start(dir: &TempDir) -> TestServer {
    let config = dir.path().join("stepwise.toml");
    TestServer::spawn(
        env!("CARGO_BIN_EXE_step06-full"),
        &["--config", config.to_str().expect("a UTF-8 path")],
    )
}

fn request(server: &TestServer, head: &str) -> RawResponse {
    let bytes = format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n");
    send(server.addr(), bytes.as_bytes()).expect("a response")
}

#[test]
fn a_flask_app_answers_under_its_prefix_with_keep_alive() {
    let dir = setup();
    let server = start(&dir);
    let mut client = Client::connect(server.addr()).expect("connect");
    client
        .send(b"GET /py/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let home = client.read_response(false).expect("a response");
    assert_eq!(home.status, 200, "{}", home.text());
    assert_eq!(home.text(), "Hello world from Flask!\n");
    // Same connection: Flask's route sees the path below the prefix.
    client
        .send(b"GET /py/hello/Ann%20Lee HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let hello = client.read_response(false).expect("a response");
    assert_eq!(hello.status, 200);
    assert_eq!(hello.header("content-type"), Some("application/json"));
    assert!(
        hello.text().contains("\"Hello, Ann Lee!\""),
        "{}",
        hello.text()
    );
    // Routes are Flask's: outside them, Flask's 404; outside the prefix,
    // the files.
    assert_eq!(request(&server, "GET /py/nowhere HTTP/1.1").status, 404);
    assert_eq!(
        request(&server, "GET /index.html HTTP/1.1").text(),
        "home\n"
    );
}

#[test]
fn a_form_post_reaches_flask() {
    let dir = setup();
    let server = start(&dir);
    let body = "name=Ann";
    let response = send(
        server.addr(),
        format!(
            "POST /py/form HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .expect("a response");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "Thank you, Ann (8 bytes)\n");
}

#[test]
fn flask_behind_the_session_middleware_is_private_and_cookieless() {
    let dir = setup();
    let server = start(&dir);
    let response = request(&server, "GET /pys/ HTTP/1.1");
    assert_eq!(response.text(), "Hello world from Flask!\n");
    assert_eq!(response.header("cache-control"), Some("private"));
    // Flask never touches the server's session: no cookie, no file.
    assert!(response.headers_named("set-cookie").is_empty());
    let sessions = dir.path().join("sessions");
    let files = fs::read_dir(&sessions)
        .expect("the session directory")
        .count();
    assert_eq!(files, 0);
}
