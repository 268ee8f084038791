//! Every concurrency model over sockets: it serves, it serves clients
//! concurrently, mounted applications work, and it stops gracefully. The
//! pre-fork pool also replaces a worker that dies.

mod support;

use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{docroot, start};
use test_support::proc::{children_of, eventually};
use test_support::{TestServer, get};

const MODELS: [&str; 4] = ["pool", "threads", "rayon", "prefork"];

fn start_model(dir: &std::path::Path, model: &str) -> TestServer {
    start(
        dir,
        &["--model", model, "-w", "4", "--mount", "/app=framework"],
    )
}

#[test]
fn every_model_serves_files_and_mounted_applications() {
    let dir = docroot();
    for model in MODELS {
        let server = start_model(dir.path(), model);
        assert_eq!(
            get(server.addr(), "/hello.txt").unwrap().body,
            b"hello\n",
            "{model}"
        );
        let app = get(server.addr(), "/app/hello/you").unwrap();
        assert!(
            app.text().contains("Hello, you!"),
            "{model}: {}",
            app.text()
        );
        let environ = get(server.addr(), "/app/environ").unwrap().text();
        assert!(environ.contains("SCRIPT_NAME=/app\n"), "{model}: {environ}");
        assert!(
            environ.contains("PATH_INFO=/environ\n"),
            "{model}: {environ}"
        );
    }
}

#[test]
fn mounts_match_the_decoded_normalised_path() {
    let dir = docroot();
    let server = start_model(dir.path(), "pool");
    let encoded = get(server.addr(), "/ap%70/environ").unwrap().text();
    assert!(encoded.contains("SCRIPT_NAME=/app\n"), "{encoded}");
    assert!(encoded.contains("PATH_INFO=/environ\n"), "{encoded}");
    // An encoded `?` is part of the path: re-encoded for the app, it must
    // not turn into the start of a query string.
    let question = get(server.addr(), "/app/hello/a%3Fb").unwrap().text();
    assert!(question.contains("Hello, a?b!"), "{question}");
    // Climbing out of the mount leaves it: this is a file, not the app.
    assert_eq!(
        get(server.addr(), "/app/../hello.txt").unwrap().body,
        b"hello\n"
    );
    assert_eq!(
        get(server.addr(), "/app/%2e%2e/hello.txt").unwrap().body,
        b"hello\n"
    );
}

// ANCHOR: concurrency_test
#[test]
fn every_model_serves_a_quick_request_while_slow_ones_run() {
    let dir = docroot();
    for model in MODELS {
        let server = start_model(dir.path(), model);
        let addr = server.addr();
        // Two slow requests occupy two of the four workers...
        let slow: Vec<_> = (0..2)
            .map(|_| thread::spawn(move || get(addr, "/app/sleep?ms=1000").unwrap().status))
            .collect();
        thread::sleep(Duration::from_millis(200));
        // ...and a quick one is answered before they finish.
        assert_eq!(get(addr, "/hello.txt").unwrap().status, 200, "{model}");
        assert!(
            slow.iter().all(|s| !s.is_finished()),
            "{model}: the quick request waited"
        );
        for s in slow {
            assert_eq!(s.join().unwrap(), 200, "{model}");
        }
    }
}
// ANCHOR_END: concurrency_test

#[test]
fn every_model_finishes_the_request_in_flight_on_sigterm() {
    let dir = docroot();
    for model in MODELS {
        let mut server = start_model(dir.path(), model);
        let addr = server.addr();
        let in_flight = thread::spawn(move || get(addr, "/app/sleep?ms=800").unwrap().status);
        thread::sleep(Duration::from_millis(200));
        server.signal(Signal::SIGTERM);
        assert_eq!(in_flight.join().unwrap(), 200, "{model}");
        let status = server
            .wait_exit(Duration::from_secs(15))
            .expect("the server exits");
        assert!(status.success(), "{model}: {status:?}");
    }
}

// ANCHOR: prefork_test
#[test]
fn the_prefork_parent_replaces_a_worker_that_dies() {
    let dir = docroot();
    let server = start_model(dir.path(), "prefork");
    let pid = server.pid().unwrap();
    assert!(eventually(Duration::from_secs(5), || children_of(pid)
        .len()
        == 4));
    let victim = children_of(pid)[0].pid;
    kill(Pid::from_raw(victim), Signal::SIGKILL).unwrap();
    let replaced = eventually(Duration::from_secs(5), || {
        let children = children_of(pid);
        children.len() == 4 && children.iter().all(|c| c.pid != victim && c.state != 'Z')
    });
    assert!(replaced, "children now: {:?}", children_of(pid));
    assert_eq!(get(server.addr(), "/hello.txt").unwrap().status, 200);
}
// ANCHOR_END: prefork_test
