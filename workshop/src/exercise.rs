//! What a chapter's exercises are: a name, a hint, a solution, and a check.
//!
//! A check is a plain function from the server under test to an
//! [`Outcome`]. It starts the chapter's binary (through [`Subject`]), sends
//! requests, and returns a [`Failure`] that says what it sent, what it
//! expected and what came back. Hints and solutions are files named after
//! the exercise (`hints/ch01/headers.md`, `solutions/ch01/headers.patch`), so
//! the book can include the very same text the command line prints.

use crate::failure::Failure;
use crate::paths;
use crate::subject::Subject;

/// What a check returns: `Ok` when the server does what the exercise asks.
pub type Outcome = Result<(), Failure>;

/// One chapter's exercises.
#[derive(Debug)]
pub struct Chapter {
    /// The short id used on the command line and in file paths: `ch01`.
    pub id: &'static str,
    /// The chapter's title, as in the book.
    pub title: &'static str,
    /// The crate the learner edits, whose binary the checks start. Its
    /// binary has the same name as the package.
    pub package: &'static str,
    /// The exercises, in the order the book presents them.
    pub exercises: &'static [Exercise],
}

impl Chapter {
    /// The exercise called `name`.
    pub fn exercise(&self, name: &str) -> Option<&'static Exercise> {
        // The slice is 'static, so its elements are too.
        let exercises: &'static [Exercise] = self.exercises;
        exercises.iter().find(|e| e.name == name)
    }
}

/// One exercise.
#[derive(Debug)]
pub struct Exercise {
    /// A short, unique (within the chapter) name in kebab case: `headers`.
    /// It names the hint and solution files.
    pub name: &'static str,
    /// What to build, in one line.
    pub title: &'static str,
    /// The reference solutions; `verify` proves the check passes with each.
    /// The first is the one `workshop solution` shows.
    pub solutions: &'static [Solution],
    /// The check: `Ok` once the server does what the exercise asks.
    pub check: fn(&Subject) -> Outcome,
}

impl Exercise {
    /// The hint, read from `workshop/hints/<chapter>/<name>.md`.
    ///
    /// # Errors
    ///
    /// The file is missing or unreadable (a unit test makes sure it is not).
    pub fn hint(&self, chapter: &Chapter) -> std::io::Result<String> {
        std::fs::read_to_string(paths::hint(chapter.id, self.name))
    }

    /// Whether one of the solutions is a patch.
    pub fn has_patch(&self) -> bool {
        self.solutions.contains(&Solution::Patch)
    }

    /// The other chapters' packages that solve this exercise unchanged.
    pub fn solving_packages(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.solutions.iter().filter_map(|s| match s {
            Solution::Chapter(package) => Some(*package),
            Solution::Patch => None,
        })
    }
}

/// A reference solution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solution {
    /// `workshop/solutions/<chapter>/<name>.patch`: a unified diff against
    /// the shipped workspace, applied from its root with `git apply`. The
    /// patches of one chapter must apply together, in any order.
    Patch,
    /// Another chapter's binary passes the check unchanged: the exercise asks
    /// the question that chapter answers. The package name, e.g.
    /// `step03-fork`.
    Chapter(&'static str),
}
