//! Chapter 4's exercises: reaping children, and signals.
//!
//! The chapter's server reaps every child and stops gracefully, so the
//! exercises build on its machinery rather than repair it. `exit-status`
//! reads what reaping is for: the status the kernel kept, reported when a
//! child did not end well. `max-children` is the chapter's exercise 4: a
//! limit on children, which the `children` set and SIGCHLD make possible.
//! `hangup` adds a signal to the self-pipe, and meets every place a signal
//! must be handled in a forking server: the handler, the mask around
//! `fork`, and the child's dispositions. The checks find the server's
//! children through `/proc` (`test_support::proc`) and signal them as an
//! operator would.

use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use test_support::RawResponse;
use test_support::proc::{children_of, eventually};

use super::ch03::{get_bytes, open_client, parent_pid};
use crate::exercise::{Chapter, Exercise, Outcome, Solution};
use crate::failure::{Failure, show_bytes};
use crate::probe::{Probe, no_response, random_below};
use crate::subject::Subject;

/// Chapter 4's exercises, in the order of the book's page.
pub const CHAPTER: Chapter = Chapter {
    id: "ch04",
    title: "Reaping children: signals",
    package: "step04-reaping",
    exercises: &[
        Exercise {
            name: "exit-status",
            title: "a child that did not exit cleanly is a warning in the log",
            solutions: &[Solution::Patch],
            check: exit_status,
        },
        Exercise {
            name: "max-children",
            title: "--max-children N: at most N connections are served at once",
            solutions: &[Solution::Patch],
            check: max_children,
        },
        Exercise {
            name: "hangup",
            title: "a hang-up (SIGHUP to the group) stops gracefully, like Ctrl-C",
            solutions: &[Solution::Patch],
            check: hangup,
        },
    ],
};

/// Waits up to two seconds for a running (not zombie) child of `parent`
/// other than `except`: the one serving the request just sent.
fn serving_child(parent: i32, except: Option<i32>) -> Result<i32, Failure> {
    let mut found = None;
    eventually(Duration::from_secs(2), || {
        found = children_of(parent)
            .into_iter()
            .find(|child| child.state != 'Z' && Some(child.pid) != except)
            .map(|child| child.pid);
        found.is_some()
    });
    found.ok_or_else(|| {
        Failure::new(format!(
            "no child of the server (pid {parent}) is serving the request just sent"
        ))
        .note("is each connection still served by a forked child?")
    })
}

/// Whether `line` names `pid` as a whole number (not inside another one,
/// such as a timestamp).
fn mentions(line: &str, pid: i32) -> bool {
    let pid = pid.to_string();
    line.split(|c: char| !c.is_ascii_digit())
        .any(|word| word == pid)
}

/// The signals [`exit_status`] may kill a child with: each ends a process
/// by default, in a child as in any process, and none dumps core.
const FATAL_SIGNALS: [Signal; 3] = [Signal::SIGKILL, Signal::SIGTERM, Signal::SIGUSR1];

/// A child killed by a signal while serving is reported in the server's
/// log with its pid and the signal; a child that exits normally is not.
fn exit_status(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let parent = parent_pid(&server)?;
    let addr = server.addr();

    // A child that ends well: seen while it serves, quiet when it goes.
    let mut client = open_client(
        addr,
        &get_bytes(addr, "/sleep?ms=500"),
        Duration::from_secs(5),
    )?;
    let clean = serving_child(parent, None)?;
    match client.read_response(false) {
        Ok(response) if response.status == 200 => {}
        Ok(response) => {
            return Err(Failure::new("GET /sleep?ms=500 failed")
                .expected("200")
                .got(show_bytes(&response.head, 300)));
        }
        Err(e) => {
            return Err(Failure::new("GET /sleep?ms=500 was not answered")
                .got(no_response(&e, Duration::from_secs(5))));
        }
    }
    eventually(Duration::from_secs(2), || {
        children_of(parent).iter().all(|child| child.pid != clean)
    });

    // A child killed in the middle of a request.
    let signal = FATAL_SIGNALS[random_below(FATAL_SIGNALS.len() as u64) as usize];
    let request = get_bytes(addr, "/sleep?ms=5000");
    let mut victim_client = open_client(addr, &request, Duration::from_secs(5))?;
    let victim = serving_child(parent, Some(clean))?;
    kill(Pid::from_raw(victim), signal)
        .map_err(|e| Failure::new(format!("cannot send {signal} to child {victim}: {e}")))?;
    // Its client sees the connection end; the answer never comes.
    victim_client.sees_eof_within(Duration::from_secs(3));

    let name = signal.as_str();
    let short = name.trim_start_matches("SIG");
    let number = format!("signal {}", signal as i32);
    let reported = |log: &str| {
        log.lines()
            .any(|line| mentions(line, victim) && (line.contains(short) || line.contains(&number)))
    };
    let try_it = format!(
        "{}\ncurl 'http://127.0.0.1:8080/sleep?ms=30000' &\n\
         kill -{short} $(pgrep -n {})      # the newest process: the child",
        server.run_line, subject.package
    );
    if !eventually(Duration::from_secs(3), || reported(&server.inner.stderr())) {
        let log = server.inner.stderr();
        return Err(Failure::new(format!(
            "child {victim} was killed by {name} while serving, and the server's \
             log does not say so"
        ))
        .sent(format!(
            "{}\n… and, while its child {victim} served it, {name} to that child",
            show_bytes(&request, 300)
        ))
        .expected(format!(
            "a line in the log (stderr, at the default level) naming child {victim} \
             and {name} (or `{number}`)"
        ))
        .got(if log.trim().is_empty() {
            "(nothing on stderr)".to_owned()
        } else {
            log
        })
        .try_it(try_it));
    }
    let log = server.inner.stderr();
    if let Some(line) = log.lines().find(|line| mentions(line, clean)) {
        return Err(Failure::new(format!(
            "child {clean} served GET /sleep?ms=500 and exited normally, and the \
             log mentions it"
        ))
        .expected(
            "nothing about children that exit with status 0: one line per request \
             at the default level would drown the warnings that matter",
        )
        .got(line.to_owned())
        .try_it(try_it));
    }
    Ok(())
}

/// How long each page of [`max_children`] takes.
const PAGE_MS: u64 = 1_000;

/// A page answered within this time ran in the first wave: one that had
/// to wait for a child to finish first takes at least two pages' time.
const FIRST_WAVE: Duration = Duration::from_millis(2 * PAGE_MS - 150);

/// With `--max-children N`, N + 2 clients asking for a one-second page at
/// once: at most N are served at the same time; the others wait (in the
/// backlog) or get a quick `503` with `Retry-After`.
fn max_children(subject: &Subject) -> Outcome {
    let max = 2 + random_below(2) as usize;
    let max_arg = max.to_string();
    let server = subject.start(&["--max-children", &max_arg])?;
    let parent = parent_pid(&server)?;
    let addr = server.addr();
    let clients = max + 2;
    let target = format!("/sleep?ms={PAGE_MS}");
    let request = get_bytes(addr, &target);

    let started = Instant::now();
    let mut most_running = 0;
    let results: Vec<(std::io::Result<RawResponse>, Duration)> = thread::scope(|scope| {
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                let request = &request;
                scope.spawn(move || {
                    let outcome = open_client(addr, request, Duration::from_secs(10))
                        .map_err(|f| std::io::Error::other(f.problem))
                        .and_then(|mut client| client.read_response(false));
                    (outcome, started.elapsed())
                })
            })
            .collect();
        // Meanwhile, count the children that run at once.
        while !threads.iter().all(|t| t.is_finished())
            && started.elapsed() < Duration::from_secs(15)
        {
            let running = children_of(parent)
                .iter()
                .filter(|child| child.state != 'Z')
                .count();
            most_running = most_running.max(running);
            thread::sleep(Duration::from_millis(20));
        }
        threads
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| {
                    (
                        Err(std::io::Error::other("the client thread panicked")),
                        Duration::ZERO,
                    )
                })
            })
            .collect()
    });

    let sent = format!(
        "{clients} clients at once, each:\n{}",
        show_bytes(&request, 300)
    );
    let try_it = format!(
        "{}\nfor i in $(seq {clients}); do curl -s -o /dev/null -w '%{{http_code}} %{{time_total}}\\n' \
         'http://127.0.0.1:8080{target}' & done; wait",
        server.run_line
    );
    let mut summary = Vec::new();
    let mut ok = 0;
    let mut first_wave = 0;
    let mut problem = None;
    for (n, (outcome, after)) in results.iter().enumerate() {
        let client = n + 1;
        let seconds = after.as_secs_f32();
        match outcome {
            Ok(response) if response.status == 200 => {
                ok += 1;
                if *after < FIRST_WAVE {
                    first_wave += 1;
                }
                summary.push(format!("client {client}: 200 after {seconds:.1} s"));
            }
            Ok(response) if response.status == 503 && response.header("retry-after").is_some() => {
                summary.push(format!("client {client}: 503 after {seconds:.1} s"));
            }
            Ok(response) => {
                problem.get_or_insert(format!(
                    "client {client} got {} {}",
                    response.status, response.reason
                ));
                summary.push(format!(
                    "client {client}: after {seconds:.1} s\n{}",
                    show_bytes(&response.head, 300)
                ));
            }
            Err(e) => {
                problem.get_or_insert(format!("client {client} was not answered"));
                summary.push(format!(
                    "client {client}: {} after {seconds:.1} s",
                    no_response(e, Duration::from_secs(10))
                ));
            }
        }
    }
    summary.push(format!(
        "(at most {most_running} children were running at one moment)"
    ));
    let fail = |problem: String| {
        Failure::new(problem)
            .sent(sent.clone())
            .expected(format!(
                "at most {max} pages served at the same time, each 200 after about 1 s; \
                 every other client answered once a child is free (200 after about \
                 2 s), or at once with 503 and a Retry-After"
            ))
            .got(summary.join("\n"))
            .try_it(try_it.clone())
    };
    if let Some(problem) = problem {
        return Err(fail(problem));
    }
    if first_wave > max {
        return Err(fail(format!(
            "{first_wave} one-second pages were answered within {:.2} s: they were \
             served side by side, more than --max-children {max} at once",
            FIRST_WAVE.as_secs_f32()
        )));
    }
    if ok < max {
        return Err(fail(format!(
            "only {ok} of {clients} clients got the page, though {max} may be served at once"
        )));
    }
    Ok(())
}

/// How long the request in flight of [`hangup`] takes.
const HANGUP_PAGE_MS: u64 = 2_000;

/// How long the server may take to exit once its last request is done.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// SIGHUP to the whole process group, as the kernel sends it when the
/// terminal goes away: the request in flight is answered, and the server
/// exits with status 0, as after Ctrl-C. Before that, a SIGHUP sent to the
/// child alone must not stop the server: a child that kept the parent's
/// handler would write into the parent's pipe.
fn hangup(subject: &Subject) -> Outcome {
    let mut server = subject.start(&[])?;
    let parent = parent_pid(&server)?;
    let addr = server.addr();
    let target = format!("/sleep?ms={HANGUP_PAGE_MS}");
    let request = get_bytes(addr, &target);
    let mut client = open_client(addr, &request, Duration::from_secs(10))?;
    let child = serving_child(parent, None)?;
    let try_it = format!(
        "{}\ncurl -i 'http://127.0.0.1:8080/sleep?ms=5000' &\n\
         kill -HUP -$(pgrep -o {})      # a minus sign: the whole group",
        server.run_line, subject.package
    );

    // First the child alone: the server must not notice.
    kill(Pid::from_raw(child), Signal::SIGHUP)
        .map_err(|e| Failure::new(format!("cannot send SIGHUP to child {child}: {e}")))?;
    thread::sleep(Duration::from_millis(200));
    Probe::get("/")
        .send(&server)
        .map_err(|failure| {
            let mut out = Failure::new(format!(
                "after a SIGHUP sent to child {child} alone, the server no longer \
                 serves: {}",
                failure.problem
            ));
            if let Some(sent) = failure.detail("sent") {
                out = out.sent(format!(
                    "GET {target}; SIGHUP to the child serving it (pid {child}); \
                     then\n{sent}"
                ));
            }
            out.expected("200: a signal to one child is not a signal to the server")
                .try_it(try_it.clone())
                .note(
                    "a forked child inherits the parent's handlers, and the \
                     parent's handler writes into the parent's pipe",
                )
        })?
        .expect_status(200, "the home page, after a SIGHUP to one child")?;

    // Then the whole group, as when the terminal closes.
    server.inner.signal_group(Signal::SIGHUP);
    let sent = format!(
        "{}\n… SIGHUP to the child serving it (pid {child}), a request for /, and \
         then SIGHUP to the server's whole process group (what the kernel sends \
         when the terminal closes)",
        show_bytes(&request, 300)
    );
    let cut_off = |got: String| {
        Failure::new("the hang-up cut off the request in flight")
            .sent(sent.clone())
            .expected(format!(
                "200 and `slept {HANGUP_PAGE_MS} ms`: the child finishes its request, \
                 as after Ctrl-C"
            ))
            .got(got)
            .try_it(try_it.clone())
    };
    match client.read_response(false) {
        Ok(response) if response.status == 200 => {}
        Ok(response) => return Err(cut_off(show_bytes(&response.head, 400))),
        Err(e) => return Err(cut_off(no_response(&e, Duration::from_secs(10)))),
    }
    match server.inner.wait_exit(EXIT_WAIT) {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(Failure::new(format!(
            "after the hang-up the server ended with {status}, not status 0"
        ))
        .sent(sent)
        .expected("a graceful stop: the request finishes, then the server exits with status 0")
        .try_it(try_it)),
        None => Err(Failure::new("the hang-up did not stop the server")
            .sent(sent)
            .expected(format!(
                "the server exits with status 0 within {} s of its last request",
                EXIT_WAIT.as_secs()
            ))
            .got(format!(
                "it was still running {} s later",
                EXIT_WAIT.as_secs()
            ))
            .try_it(try_it)),
    }
}
