//! Chapter 3's exercises: a process per connection.
//!
//! The chapter forks a child for every connection and then forgets it, so
//! two exercises are about the dead: `reap` collects finished children as
//! new clients arrive (the chapter's exercise 5), and `no-zombies` asks for
//! none at all once the server is idle, which only chapter 4's signal
//! handling can do. The other two use what a process gives that a thread
//! does not: signals and dispositions of its own (`ctrl-c`: the children
//! finish their requests when Ctrl-C reaches the whole process group), and
//! a life the kernel can end cleanly (`time-limit`: an alarm clock per
//! child). The checks count zombies through `/proc` (`test_support::proc`),
//! as the chapter does with `ps`.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use test_support::Client;
use test_support::proc::{children_of, eventually, zombie_children};

use crate::exercise::{Chapter, Exercise, Outcome, Solution};
use crate::failure::{Failure, show_bytes};
use crate::probe::{CONNECT_TIMEOUT, Probe, no_response, random_below};
use crate::subject::{Server, Subject};

/// Chapter 3's exercises, in the order of the book's page.
pub const CHAPTER: Chapter = Chapter {
    id: "ch03",
    title: "A process per connection",
    package: "step03-fork",
    exercises: &[
        Exercise {
            name: "reap",
            title: "the parent reaps finished children as new clients arrive",
            solutions: &[Solution::Patch],
            check: reap,
        },
        Exercise {
            name: "no-zombies",
            title: "no zombie is left once the server is idle",
            solutions: &[Solution::Chapter("step04-reaping")],
            check: no_zombies,
        },
        Exercise {
            name: "ctrl-c",
            title: "Ctrl-C stops the server, but the requests in flight finish",
            solutions: &[Solution::Patch, Solution::Chapter("step04-reaping")],
            check: ctrl_c,
        },
        Exercise {
            name: "time-limit",
            title: "--time-limit SECS: a child still serving after SECS is ended",
            solutions: &[Solution::Patch],
            check: time_limit,
        },
    ],
};

/// The server's process id: the parent, whose children the checks count.
pub(crate) fn parent_pid(server: &Server) -> Result<i32, Failure> {
    server
        .inner
        .pid()
        .ok_or_else(|| Failure::new("the server runs in-process: it has no pid to look at"))
}

/// Connects and sends `request`; the caller reads the answer, waiting at
/// most `wait` for each read.
pub(crate) fn open_client(
    addr: SocketAddr,
    request: &[u8],
    wait: Duration,
) -> Result<Client, Failure> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    let mut client = Client::from_stream(stream, wait)?;
    client.send(request)?;
    Ok(client)
}

/// `GET target` with `Connection: close`, as the probes send it.
pub(crate) fn get_bytes(addr: SocketAddr, target: &str) -> Vec<u8> {
    Probe::get(target).bytes(addr)
}

/// The children of `pid`, described for a failure message: how many are
/// zombies and how many still run.
fn children_text(pid: i32) -> String {
    let children = children_of(pid);
    let zombies = children.iter().filter(|c| c.state == 'Z').count();
    format!(
        "{zombies} zombie children (state Z in /proc/PID/stat) and {} still running, \
         under the server's pid {pid}",
        children.len() - zombies
    )
}

/// How long the slow page of [`reap`] takes: the burst happens while its
/// child still runs, and a quick client that had to wait for that child
/// would wait longer than [`REAP_QUICK_WAIT`].
const REAP_SLOW_MS: u64 = 3_000;

/// How long each quick client of [`reap`] may wait for its answer.
const REAP_QUICK_WAIT: Duration = Duration::from_secs(2);

/// How many zombies [`reap`] tolerates at the end: the last child, and one
/// that was slow to exit. A parent that never reaps has one per client.
const REAP_MAX_LEFT: usize = 2;

/// After many connections, and two more a moment apart, at most a couple
/// of zombies are left; and reaping never makes a client wait for a child
/// that is still serving.
fn reap(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let pid = parent_pid(&server)?;
    let addr = server.addr();
    // A slow page first: its child is still running through the burst, so
    // a parent that waits for children (without WNOHANG) is caught.
    let slow_target = format!("/sleep?ms={REAP_SLOW_MS}");
    let mut slow = open_client(
        addr,
        &get_bytes(addr, &slow_target),
        Duration::from_secs(10),
    )?;
    thread::sleep(Duration::from_millis(200));

    let burst = 30 + random_below(20) as usize;
    for n in 1..=burst {
        let exchange = Probe::get("/hello/you")
            .timeout(REAP_QUICK_WAIT)
            .send(&server)
            .map_err(|failure| {
                let mut out = Failure::new(format!(
                    "quick client {n} of {burst} got {}, while GET {slow_target} was \
                     still being served",
                    failure.problem.replace("no response", "no answer")
                ));
                if let Some(sent) = failure.detail("sent") {
                    out = out.sent(sent.to_owned());
                }
                out = out
                    .expected(
                        "each quick client is answered at once: reaping never waits \
                         for a child that is still serving",
                    )
                    .try_it(format!(
                        "{}\ncurl 'http://127.0.0.1:8080{slow_target}' &\n\
                         time curl -s http://127.0.0.1:8080/hello/you",
                        server.run_line
                    ))
                    .note("`waitpid` without WNOHANG waits until some child exits");
                out
            })?;
        exchange.expect_status(200, "the demo site's /hello/you")?;
    }
    match slow.read_response(false) {
        Ok(response) if response.status == 200 => {}
        Ok(response) => {
            return Err(Failure::new(format!("GET {slow_target} failed"))
                .expected("200")
                .got(show_bytes(&response.head, 400)));
        }
        Err(e) => {
            return Err(
                Failure::new(format!("GET {slow_target} was never answered"))
                    .got(no_response(&e, Duration::from_secs(10))),
            );
        }
    }
    // Two more clients, a moment apart: when each connects, every earlier
    // child has long finished, and a reaping parent collects them all.
    for _ in 0..2 {
        thread::sleep(Duration::from_millis(300));
        Probe::get("/")
            .send(&server)?
            .expect_status(200, "the home page")?;
    }
    let total = burst + 3;
    if eventually(Duration::from_secs(2), || {
        zombie_children(pid) <= REAP_MAX_LEFT
    }) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "after {total} connections, {} of their children are zombies: the \
         parent never collects them",
        zombie_children(pid)
    ))
    .sent(format!(
        "GET {slow_target}, and while it slept {burst} requests for /hello/you, one \
         after the other; then, 0.3 s apart, two requests for /"
    ))
    .expected(format!(
        "at most {REAP_MAX_LEFT} zombies: when the last clients connect, every \
         earlier child has finished, and the parent reaps them all"
    ))
    .got(children_text(pid))
    .try_it(format!(
        "{}\nfor i in $(seq 50); do curl -s http://127.0.0.1:8080/hello/you >/dev/null; done\n\
         ps -o pid,stat,cmd --ppid $(pgrep -o {})",
        server.run_line, subject.package
    )))
}

/// How many clients [`no_zombies`] runs at once, and how many requests
/// each sends.
const BURST_CLIENTS: usize = 8;
const BURST_REQUESTS: usize = 8;

/// How long [`no_zombies`] gives the server, idle after the burst, to
/// collect its last children.
const SETTLE: Duration = Duration::from_secs(2);

/// After a burst from several clients at once, and with no client since,
/// the server has no zombie left.
fn no_zombies(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let pid = parent_pid(&server)?;
    let total = BURST_CLIENTS * BURST_REQUESTS;
    let failures: Vec<Failure> = thread::scope(|scope| {
        let clients: Vec<_> = (0..BURST_CLIENTS)
            .map(|_| {
                let server = &server;
                scope.spawn(move || -> Outcome {
                    for _ in 0..BURST_REQUESTS {
                        Probe::get("/hello/you")
                            .send(server)?
                            .expect_status(200, "the demo site's /hello/you")?;
                    }
                    Ok(())
                })
            })
            .collect();
        clients
            .into_iter()
            .filter_map(|client| match client.join() {
                Ok(outcome) => outcome.err(),
                Err(_) => Some(Failure::new("a client thread of the check panicked")),
            })
            .collect()
    });
    if let Some(failure) = failures.into_iter().next() {
        return Err(failure);
    }
    if eventually(SETTLE, || zombie_children(pid) == 0) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "{} s after the last of {total} responses, with no client since, {} \
         children are still zombies",
        SETTLE.as_secs(),
        zombie_children(pid)
    ))
    .sent(format!(
        "{total} requests for /hello/you, from {BURST_CLIENTS} clients at once; then nothing"
    ))
    .expected("no zombies: every child is collected soon after it exits, whether or not another client comes")
    .got(children_text(pid))
    .try_it(format!(
        "{}\nfor i in $(seq 50); do curl -s http://127.0.0.1:8080/hello/you >/dev/null & done; wait\n\
         ps -o pid,stat,cmd --ppid $(pgrep -o {})",
        server.run_line, subject.package
    ))
    .note(
        "an idle parent sits in accept: only a signal can tell it that a child \
         exited. This is the question chapter 4 answers",
    ))
}

/// How long the request in flight of [`ctrl_c`] takes.
const CTRL_C_PAGE_MS: u64 = 1_500;

/// How long the server may take to exit once its last request is done.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// SIGINT to the whole process group, as Ctrl-C in a terminal sends it:
/// the request in flight is still answered, and the server stops.
fn ctrl_c(subject: &Subject) -> Outcome {
    let mut server = subject.start(&[])?;
    let addr = server.addr();
    let target = format!("/sleep?ms={CTRL_C_PAGE_MS}");
    let request = get_bytes(addr, &target);
    let mut client = open_client(addr, &request, Duration::from_secs(10))?;
    // Let the child start sleeping before the signal.
    thread::sleep(Duration::from_millis(300));
    server.inner.signal_group(Signal::SIGINT);

    let sent = format!(
        "{}\n… and 0.3 s later, SIGINT to the server's process group (what \
         Ctrl-C does in a terminal)",
        show_bytes(&request, 300)
    );
    let try_it = format!(
        "{}      # in the foreground: Ctrl-C reaches the whole group\n\
         curl -i 'http://127.0.0.1:8080/sleep?ms=5000'      # in a second terminal; \
         then Ctrl-C the server",
        server.run_line
    );
    let cut_off = |got: String| {
        Failure::new("Ctrl-C cut off the request in flight")
            .sent(sent.clone())
            .expected(format!(
                "200 and `slept {CTRL_C_PAGE_MS} ms`: the child finishes its request; \
                 only the parent stops"
            ))
            .got(got)
            .try_it(try_it.clone())
            .note(
                "the terminal signals every process of its foreground group, and a \
                 forked child has the same dispositions as its parent",
            )
    };
    match client.read_response(false) {
        Ok(response) if response.status == 200 => {}
        Ok(response) => return Err(cut_off(show_bytes(&response.head, 400))),
        Err(e) => return Err(cut_off(no_response(&e, Duration::from_secs(10)))),
    }
    if server.inner.wait_exit(EXIT_WAIT).is_none() {
        return Err(Failure::new("Ctrl-C did not stop the server")
            .sent(sent)
            .expected(format!(
                "the server (the parent) exits, at the latest {} s after its last \
                 request is done",
                EXIT_WAIT.as_secs()
            ))
            .got(format!(
                "it was still running {} s later",
                EXIT_WAIT.as_secs()
            ))
            .try_it(try_it)
            .note("ignore SIGINT in the children only: the parent must still stop"));
    }
    Ok(())
}

/// What [`time_limit`] found when it waited for a connection to end.
enum Ending {
    /// The server closed (or reset) the connection without an answer.
    Closed(Duration),
    /// It answered.
    Answered(Vec<u8>, Duration),
    /// Nothing happened before the wait ran out.
    StillOpen,
}

/// Reads from `client` until the server answers or closes, or the
/// client's read timeout runs out; `started` is when it connected.
fn wait_for_ending(client: &mut Client, started: Instant) -> Ending {
    match client.read_response(false) {
        Ok(response) => Ending::Answered(response.head, started.elapsed()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ending::StillOpen
        }
        Err(_) => Ending::Closed(started.elapsed()),
    }
}

/// With `--time-limit SECS`, a page that takes longer than SECS is cut off
/// after SECS (so is a client that never finishes its request), a page
/// that takes less is answered, and the server goes on serving.
fn time_limit(subject: &Subject) -> Outcome {
    let limit = 1 + random_below(2);
    let limit_arg = limit.to_string();
    let server = subject.start(&["--time-limit", &limit_arg])?;
    let addr = server.addr();
    let grace = Duration::from_secs(2);
    let wait = Duration::from_secs(limit) + grace;
    let try_it = format!(
        "{}\ntime curl -i 'http://127.0.0.1:8080/sleep?ms={}'",
        server.run_line,
        limit * 1000 + 3000
    );

    // Within the limit: answered.
    let quick_ms = limit * 1000 - 700;
    Probe::get(&format!("/sleep?ms={quick_ms}"))
        .send(&server)?
        .expect_status(
            200,
            &format!("the page takes {quick_ms} ms, within the {limit} s limit"),
        )?;

    // Over the limit: a slow page, and a client that never finishes its
    // request (chapter 1's READ_TIMEOUT would give it 10 s per read).
    let slow_target = format!("/sleep?ms={}", limit * 1000 + 3000);
    let slow_page = get_bytes(addr, &slow_target);
    let half_request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
    for (what, request) in [
        (format!("GET {slow_target}"), slow_page),
        ("half a request, and then nothing".to_owned(), half_request),
    ] {
        let started = Instant::now();
        let mut client = open_client(addr, &request, wait)?;
        let fail = |problem: String, got: String| {
            Failure::new(problem)
                .sent(show_bytes(&request, 300))
                .expected(format!(
                    "the connection is closed without an answer {limit} s after it \
                     was accepted: the child serving it is ended"
                ))
                .got(got)
                .try_it(try_it.clone())
        };
        match wait_for_ending(&mut client, started) {
            Ending::Closed(after)
                if after + Duration::from_millis(300) >= Duration::from_secs(limit) => {}
            Ending::Closed(after) => {
                return Err(fail(
                    format!("{what}: cut off too early"),
                    format!("closed after {:.1} s", after.as_secs_f32()),
                ));
            }
            Ending::Answered(head, after) => {
                return Err(fail(
                    format!("{what}: answered, though it took longer than the limit"),
                    format!(
                        "after {:.1} s:\n{}",
                        after.as_secs_f32(),
                        show_bytes(&head, 300)
                    ),
                ));
            }
            Ending::StillOpen => {
                return Err(fail(
                    format!(
                        "{what}: the connection was still open after {} s",
                        wait.as_secs()
                    ),
                    "no answer, and no end of the connection".to_owned(),
                ));
            }
        }
    }

    // The parent, and every other child, go on.
    Probe::get("/")
        .send(&server)
        .map_err(|f| {
            f.with(
                "note",
                "after a child was ended, the server itself must go on serving",
            )
        })?
        .expect_status(200, "the home page, after the cut-off children")?;
    Ok(())
}
