//! Server Side Includes over sockets: the server's side of the engine —
//! sub-requests through the whole server, files under the root, `exec`
//! switched per directory, errors in the error log, the depth limit, and
//! how the page is framed. (The directive grammar and every element are
//! unit-tested in `src/ssi/`.)

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;
use test_support::proc::eventually;
use test_support::{TestServer, get, send};

struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let www = dir.path().join("www");
        for sub in ["cgi-bin", "parts", "open", "closed"] {
            fs::create_dir_all(www.join(sub)).expect("mkdir");
        }
        fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
        let write = |name: &str, text: &str| fs::write(www.join(name), text).expect("write");
        write("hello.txt", "hello world\n");
        write("parts/footer.html", "<footer>foot</footer>");
        write(
            "parts/nested.shtml",
            "[nested uri=<!--#echo var=\"DOCUMENT_URI\" --> v=<!--#echo var=\"v\" -->]",
        );
        write(
            "page.shtml",
            "<!--#set var=\"v\" value=\"42\" -->\
             A:<!--#include virtual=\"/hello.txt\" -->\
             B:<!--#include file=\"parts/footer.html\" -->\
             C:<!--#include virtual=\"parts/nested.shtml\" -->\
             D:<!--#include virtual=\"/cgi-bin/proto.cgi\" -->\
             E:<!--#fsize file=\"hello.txt\" -->|<!--#config sizefmt=\"bytes\" --><!--#fsize virtual=\"/hello.txt\" -->\
             F:<!--#include virtual=\"/missing.html\" -->\
             G:<!--#exec cmd=\"echo no\" -->",
        );
        write("self.shtml", "x<!--#include virtual=\"/self.shtml\" -->");
        write(
            "open/run.shtml",
            "<!--#exec cmd=\"echo cmd $DOCUMENT_NAME\" -->|<!--#exec cgi=\"/cgi-bin/query.cgi\" -->",
        );
        write("closed/run.shtml", "<!--#exec cmd=\"echo cmd\" -->");
        fs::create_dir_all(www.join("open/sub dir")).expect("mkdir");
        write(
            "open/sub dir/index.shtml",
            "<!--#exec cmd=\"pwd\" -->|<!--#echo var=\"DOCUMENT_URI\" -->",
        );
        write(
            "loop.shtml",
            "<!--#include virtual=\"/cgi-bin/back.cgi\" -->",
        );
        write("escape.shtml", "<!--#include file=\"leak.txt\" -->");
        fs::write(dir.path().join("outside/secret.txt"), "secret").expect("write");
        std::os::unix::fs::symlink(dir.path().join("outside/secret.txt"), www.join("leak.txt"))
            .expect("symlink");
        let script = |name: &str, body: &str| {
            let path = www.join("cgi-bin").join(name);
            fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        script(
            "proto.cgi",
            "printf 'Content-Type: text/plain\\r\\n\\r\\n%s' \"$SERVER_PROTOCOL\"",
        );
        script("back.cgi", "printf 'Location: /loop.shtml\\r\\n\\r\\n'");
        script(
            "query.cgi",
            "printf 'Content-Type: text/plain\\r\\n\\r\\ncgi %s' \"$QUERY_STRING\"",
        );
        let config = "[server]\nlisten = [\"127.0.0.1:0\"]\ndocument_root = \"www\"\n\
             [ssi]\nexec_directories = [\"/open\"]\n\
             [log]\nerror = \"logs/error.log\"\nstderr = \"never\"\n";
        fs::write(dir.path().join("stepwise.toml"), config).expect("write the config");
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start(&self) -> TestServer {
        let config = self.path("stepwise.toml");
        TestServer::spawn(
            env!("CARGO_BIN_EXE_step06-full"),
            &["--config", config.to_str().expect("UTF-8")],
        )
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.path("logs/error.log")).unwrap_or_default()
    }
}

#[test]
fn exec_cmd_runs_under_the_cgi_resource_limits() {
    let setup = Setup::new();
    let config = fs::read_to_string(setup.path("stepwise.toml")).expect("the test config");
    fs::write(
        setup.path("stepwise.toml"),
        format!("{config}[cgi]\ncpu_seconds = 7\naddress_space = 536870912\n"),
    )
    .expect("the test config is writable");
    fs::write(
        setup.path("www/open/limits.shtml"),
        "<!--#exec cmd=\"echo $(ulimit -t) $(ulimit -v)\" -->",
    )
    .expect("write");
    let server = setup.start();
    let page = get(server.addr(), "/open/limits.shtml").expect("a response");
    assert_eq!((page.status, page.text().trim()), (200, "7 524288"));
}

#[test]
fn includes_run_through_the_whole_server() {
    let setup = Setup::new();
    let server = setup.start();
    let page = get(server.addr(), "/page.shtml").unwrap();
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(text.contains("A:hello world\n"), "{text}");
    assert!(text.contains("B:<footer>foot</footer>"), "{text}");
    // A nested SSI document shares the page's variables and sees the
    // top-level DOCUMENT_URI.
    assert!(text.contains("C:[nested uri=/page.shtml v=42]"), "{text}");
    // A script run as an include is told so.
    assert!(text.contains("D:INCLUDED"), "{text}");
    assert!(text.contains("E: 12 |12"), "{text}");
    assert!(
        text.contains("F:[an error occurred while processing this directive]"),
        "{text}"
    );
    // exec is off outside the configured directories.
    assert!(
        text.contains("G:[an error occurred while processing this directive]"),
        "{text}"
    );
    assert!(eventually(Duration::from_secs(5), || {
        let log = setup.error_log();
        log.contains("/missing.html") && log.contains("exec is not allowed")
    }));
}

#[test]
fn pages_are_chunked_and_carry_no_validators() {
    let setup = Setup::new();
    let server = setup.start();
    let page = get(server.addr(), "/page.shtml").unwrap();
    assert_eq!(page.header("transfer-encoding"), Some("chunked"));
    assert_eq!(page.header("content-length"), None);
    assert_eq!(page.header("etag"), None);
    assert_eq!(page.header("last-modified"), None);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let head = send(
        server.addr(),
        b"HEAD /page.shtml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let post = send(
        server.addr(),
        b"POST /page.shtml HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(post.status, 405);
}

#[test]
fn exec_is_allowed_only_where_configured() {
    let setup = Setup::new();
    let server = setup.start();
    let open = get(server.addr(), "/open/run.shtml?k=v").unwrap();
    assert_eq!(open.text(), "cmd run.shtml\n|cgi k=v");
    let closed = get(server.addr(), "/closed/run.shtml").unwrap();
    assert_eq!(
        closed.text(),
        "[an error occurred while processing this directive]"
    );
}

#[test]
fn a_self_including_page_stops_at_the_depth_limit() {
    let setup = Setup::new();
    let server = setup.start();
    let page = get(server.addr(), "/self.shtml").unwrap();
    assert_eq!(page.status, 200);
    let text = page.text();
    assert_eq!(text.matches('x').count(), 10, "{text}");
    assert!(text.ends_with("[an error occurred while processing this directive]"));
}

#[test]
fn include_file_stays_under_the_root() {
    let setup = Setup::new();
    let server = setup.start();
    let page = get(server.addr(), "/escape.shtml").unwrap();
    assert!(!page.text().contains("secret"), "{}", page.text());
    assert_eq!(
        page.text(),
        "[an error occurred while processing this directive]"
    );
}

#[test]
fn exec_is_decided_on_the_file_not_the_url() {
    let setup = Setup::new();
    let server = setup.start();
    // `..` through an allowed directory lands on a file outside it.
    let sneaky = send(
        server.addr(),
        b"GET /open/../closed/run.shtml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(sneaky.status, 200);
    assert_eq!(
        sneaky.text(),
        "[an error occurred while processing this directive]"
    );
    // exec cmd runs in the page's own directory, an index page's too, and
    // DOCUMENT_URI names the index page.
    let index = get(server.addr(), "/open/sub%20dir/").unwrap();
    let expected = fs::canonicalize(setup.path("www/open/sub dir")).unwrap();
    assert_eq!(
        index.text(),
        format!("{}\n|/open/sub dir/index.shtml", expected.display())
    );
}

#[test]
fn a_script_redirecting_an_include_back_to_a_page_cannot_loop() {
    let setup = Setup::new();
    let server = setup.start();
    let page = get(server.addr(), "/loop.shtml").unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.text(),
        "[an error occurred while processing this directive]"
    );
    // And the server still answers.
    assert_eq!(get(server.addr(), "/hello.txt").unwrap().status, 200);
}
