//! Chapter 4, observed: no zombies after a burst, and a graceful stop that
//! lets requests in flight finish — whether SIGTERM reaches only the parent
//! or Ctrl-C reaches the whole process group.

use std::thread;
use std::time::Duration;

use loadgen::Config;
use nix::sys::signal::Signal;
use test_support::proc::{children_of, eventually, zombie_children};
use test_support::{Client, TestServer, get};

fn start(args: &[&str]) -> TestServer {
    TestServer::spawn(env!("CARGO_BIN_EXE_step04-reaping"), args)
}

// ANCHOR: no_zombies_test
#[test]
fn no_zombies_after_a_burst() {
    let server = start(&[]);
    let pid = server.pid().unwrap();
    let mut config = Config::for_url(&server.url("/hello/you")).unwrap();
    config.clients = 20;
    config.requests = 10;
    let report = loadgen::run(&config, None);
    assert_eq!((report.ok, report.error_count()), (200, 0));
    // Every child exits once its client is done; each is reaped at once.
    let none = eventually(Duration::from_secs(1), || children_of(pid).is_empty());
    assert!(
        none,
        "{} children left, {} of them zombies",
        children_of(pid).len(),
        zombie_children(pid)
    );
}
// ANCHOR_END: no_zombies_test

#[test]
fn slow_requests_still_run_concurrently() {
    let server = start(&[]);
    let addr = server.addr();
    let slow = thread::spawn(move || get(addr, "/sleep?ms=800").unwrap().status);
    thread::sleep(Duration::from_millis(100));
    // Served while the slow child sleeps.
    assert_eq!(get(addr, "/hello/you").unwrap().status, 200);
    assert!(!slow.is_finished(), "the quick request should finish first");
    assert_eq!(slow.join().unwrap(), 200);
}

// ANCHOR: sigterm_test
#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let mut server = start(&[]);
    let addr = server.addr();
    let in_flight = thread::spawn(move || get(addr, "/sleep?ms=1000").unwrap());
    thread::sleep(Duration::from_millis(200));
    server.signal(Signal::SIGTERM);
    let response = in_flight.join().unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "slept 1000 ms\n")
    );
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server exits");
    assert!(status.success(), "{status:?}");
}
// ANCHOR_END: sigterm_test

#[test]
fn ctrl_c_to_the_whole_group_still_lets_children_finish() {
    let mut server = start(&[]);
    let addr = server.addr();
    let in_flight = thread::spawn(move || get(addr, "/sleep?ms=800").unwrap().status);
    thread::sleep(Duration::from_millis(200));
    // What a terminal's Ctrl-C does: SIGINT to every process in the group.
    server.signal_group(Signal::SIGINT);
    assert_eq!(in_flight.join().unwrap(), 200);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn after_sigterm_no_new_connection_is_served() {
    let mut server = start(&[]);
    let addr = server.addr();
    let in_flight = thread::spawn(move || get(addr, "/sleep?ms=600").unwrap().status);
    thread::sleep(Duration::from_millis(200));
    server.signal(Signal::SIGTERM);
    thread::sleep(Duration::from_millis(100));
    // The listener is closed, and no child holds a copy of it: the kernel
    // refuses the connection outright.
    let refused = Client::connect(addr).is_err();
    assert!(refused, "a new connection was accepted after SIGTERM");
    assert_eq!(in_flight.join().unwrap(), 200);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
}
