//! The same Python WSGI applications as chapter 2, served from forked
//! children (feature `python`): the interpreter and the application are
//! loaded once in the parent, before any fork, and each child runs them
//! after CPython's fork protocol (step02-wsgi's fork.rs).
#![cfg(feature = "python")]

use std::thread;

use test_support::{TestServer, get, in_ci};

fn start(spec: &str) -> TestServer {
    TestServer::spawn(env!("CARGO_BIN_EXE_step03-fork"), &["--wsgi", spec])
}

#[test]
fn a_plain_wsgi_app_runs_in_forked_children() {
    let server = start("wsgiapp:app");
    let addr = server.addr();
    let clients: Vec<_> = (0..8)
        .map(|_| thread::spawn(move || get(addr, "/").unwrap().text()))
        .collect();
    for client in clients {
        assert_eq!(
            client.join().unwrap(),
            "Hello from a plain WSGI application\n"
        );
    }
    let environ = get(addr, "/environ").unwrap().text();
    assert!(environ.contains("wsgi.multiprocess=True"), "{environ}");
    assert!(environ.contains("wsgi.multithread=False"), "{environ}");
}

#[test]
fn flask_runs_in_forked_children() {
    // Skip (outside CI) when Flask is not installed for the interpreter
    // the server will use.
    let python = step02_wsgi::python::interpreter::program_name();
    let flask_missing = std::process::Command::new(&python)
        .args(["-c", "import flask"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true);
    if flask_missing && !in_ci() {
        eprintln!("skipping: Flask is not installed for {}", python.display());
        return;
    }
    let server = start("flaskapp:app");
    let response = get(server.addr(), "/hello/Ann").unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response.text().contains("Hello, Ann!"),
        "{}",
        response.text()
    );
}
