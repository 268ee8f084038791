//! The workshop: exercises for each chapter, checked against your own server.
//!
//! An exercise asks for a small change to a chapter's crate: a new page, a
//! middleware, a server that no longer makes a quick client wait behind a
//! slow one. You make the change in the crate itself (`step01-iterative/`,
//! …), where you have been reading the code; the workshop builds that
//! crate's binary, starts it on `127.0.0.1` on a free port, and talks HTTP
//! to it the way a client would. The checks live here, in files you do not
//! edit, so an exercise cannot be "passed" by weakening its test: this is
//! rustlings' method, applied to a server you can only see from outside.
//!
//! Every exercise fails against the code as shipped and passes with its
//! reference solution, which is either a patch in `solutions/` or, where the
//! exercise asks the question the next chapter answers, another chapter's
//! server unchanged. `workshop verify` proves both directions for every
//! exercise, and CI runs it.
//!
//! # Layout
//!
//! - [`exercise`] — what a chapter and an exercise are: name, hint,
//!   solution, and the check, a plain function.
//! - [`chapters`] — the exercises themselves, one module per chapter.
//! - [`probe`] — what checks use to talk to a server: requests that
//!   remember what they sent, for failure messages that show it.
//! - [`failure`] — a failed check: what was sent, expected and received.
//! - [`subject`] — the server under test: building a chapter's binary with
//!   cargo, and starting it through the shared test fixture.
//! - [`run`] — running checks (bounded in time, panics caught) and
//!   printing the results.
//! - [`verify`] — both directions for every exercise, for CI.
//! - [`paths`] — where the workspace, hints and solutions are.
//!
//! Run it with `cargo run -p workshop -- ch01` (see `--help`).

pub mod chapters;
pub mod exercise;
pub mod failure;
pub mod paths;
pub mod probe;
pub mod run;
pub mod subject;
pub mod verify;

pub use exercise::{Chapter, Exercise, Outcome, Solution};
pub use failure::Failure;
pub use probe::{Exchange, Probe};
pub use subject::{Server, Subject};
