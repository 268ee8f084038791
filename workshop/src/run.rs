//! Running checks: each on its own thread, bounded in time, panics caught.
//!
//! A check talks to a server that may be half-written: it may hang, crash
//! or answer nonsense. Every read in a check has a timeout already; on top
//! of that, [`run_check`] gives the whole check [`CHECK_TIMEOUT`], and turns
//! a panic in the check itself into a failure that says it is the
//! workshop's bug, not the learner's. Servers a check started are stopped
//! when it returns, because it owns them.

use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::panic::{self, AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::exercise::{Chapter, Exercise, Outcome};
use crate::failure::Failure;
use crate::subject::Subject;

/// The longest a check may take, whatever the server does. The slowest
/// checks wait a few seconds on purpose (a slow client, a slow page);
/// a minute means something is stuck.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

thread_local! {
    /// Set on check threads: their panics become failures, so the default
    /// hook's "thread panicked at" message would only be noise.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `exercise`'s check against `subject`.
///
/// # Errors
///
/// The check's failure; a failure saying the check timed out or panicked.
pub fn run_check(exercise: &'static Exercise, subject: &Subject) -> Outcome {
    quiet_panics_on_check_threads();
    let (done, result) = mpsc::channel();
    let subject = subject.clone();
    let spawned = thread::Builder::new()
        .name(format!("check {}", exercise.name))
        .spawn(move || {
            QUIET.with(|quiet| quiet.set(true));
            let outcome = catch_unwind(AssertUnwindSafe(|| (exercise.check)(&subject)))
                .unwrap_or_else(|panic| {
                    Err(Failure::new(format!(
                        "the check itself panicked: {}",
                        panic_text(&*panic)
                    ))
                    .note("this is a bug in the workshop, not in your server"))
                });
            let _ = done.send(outcome);
        });
    if let Err(e) = spawned {
        return Err(Failure::new(format!("cannot start the check: {e}")));
    }
    result.recv_timeout(CHECK_TIMEOUT).unwrap_or_else(|_| {
        Err(Failure::new(format!(
            "the check did not finish within {} s",
            CHECK_TIMEOUT.as_secs()
        )))
    })
}

/// The message a panic carried.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn quiet_panics_on_check_threads() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                default(info);
            }
        }));
    });
}

/// ✓ and ✗, in colour on a terminal (unless `NO_COLOR` is set).
#[derive(Debug, Clone, Copy)]
pub struct Marks {
    color: bool,
}

impl Marks {
    /// Colour if stdout is a terminal and `NO_COLOR` is not set.
    pub fn for_stdout() -> Self {
        Marks {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// The mark for a pass (`true`) or a failure.
    pub fn mark(self, pass: bool) -> &'static str {
        match (pass, self.color) {
            (true, true) => "\x1b[32m✓\x1b[0m",
            (true, false) => "✓",
            (false, true) => "\x1b[31m✗\x1b[0m",
            (false, false) => "✗",
        }
    }
}

/// Runs `exercises` of `chapter` against `subject` and prints, for each,
/// ✓ or ✗, and for a failure its evidence and the hint. Returns how many
/// passed.
pub fn check_and_report(
    chapter: &Chapter,
    exercises: &[&'static Exercise],
    subject: &Subject,
) -> usize {
    let marks = Marks::for_stdout();
    let mut passed = 0;
    let mut first_failure = None;
    for exercise in exercises {
        let started = Instant::now();
        let outcome = run_check(exercise, subject);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{} {} — {} ({:.1} s)",
            marks.mark(outcome.is_ok()),
            exercise.name,
            exercise.title,
            started.elapsed().as_secs_f32()
        );
        match outcome {
            Ok(()) => passed += 1,
            Err(failure) => {
                let hint = exercise
                    .hint(chapter)
                    .unwrap_or_else(|e| format!("(no hint file: {e})"));
                let _ = writeln!(out, "{}", failure.with("hint", hint).render("    "));
                first_failure.get_or_insert(exercise.name);
            }
        }
        let _ = out.flush();
    }
    println!(
        "{passed} of {} exercises pass against {}.",
        exercises.len(),
        subject.package
    );
    if let Some(name) = first_failure {
        println!(
            "Stuck? `cargo run -p workshop -- solution {} {name}` shows the reference solution.",
            chapter.id
        );
    }
    passed
}
