//! A Python WSGI application mounted on the thread pool (feature `python`):
//! chapter 2's application again, now behind keep-alive and a prefix.
#![cfg(feature = "python")]

use test_support::{Client, TestServer};

#[test]
fn a_python_app_is_served_under_its_prefix_with_keep_alive() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let server = TestServer::spawn(
        env!("CARGO_BIN_EXE_step05-threadpool"),
        &["-r", root, "--mount", "/py=python:wsgiapp:app"],
    );
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /py/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let home = client.read_response(false).unwrap();
    assert_eq!(home.text(), "Hello from a plain WSGI application\n");
    // Same connection: the gateway response kept it open.
    client
        .send(b"GET /py/environ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let environ = client.read_response(false).unwrap().text();
    assert!(environ.contains("SCRIPT_NAME='/py'"), "{environ}");
    assert!(environ.contains("PATH_INFO='/environ'"), "{environ}");
}
