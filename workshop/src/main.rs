//! The workshop binary: check your exercises, get hints and solutions.
//!
//! `cargo run -p workshop -- ch01` builds your copy of chapter 1's crate
//! and runs every chapter 1 exercise against it; the other subcommands list
//! the exercises, print a hint or a reference solution, and (for CI) verify
//! that every exercise fails as shipped and passes with its solution.
//!
//! Run with:
//!
//! ```text
//! cargo run -p workshop -- list                     # every chapter's exercises
//! cargo run -p workshop -- ch01                     # check chapter 1's exercises
//! cargo run -p workshop -- ch01 headers             # just one
//! cargo run -p workshop -- ch02 --against step03-fork   # against another chapter's server
//! cargo run -p workshop -- hint ch01 headers
//! cargo run -p workshop -- solution ch01 headers
//! cargo run -p workshop -- verify                   # both directions, every exercise (CI)
//! ```

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use workshop::chapters::{self, ALL};
use workshop::exercise::{Chapter, Exercise, Solution};
use workshop::paths;
use workshop::run::check_and_report;
use workshop::subject::Builder;

/// Stepwise's workshop: exercises for each chapter, checked against your server.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  cargo run -p workshop -- ch01\n  \
                  cargo run -p workshop -- hint ch01 headers"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The chapter whose exercises to check: ch01, ch02, … (or 1, 2, …).
    chapter: Option<String>,
    /// Only these exercises (default: all of the chapter's).
    exercises: Vec<String>,
    /// Check against another package's server instead of the chapter's
    /// own, e.g. `--against step03-fork` to see the next chapter solve it.
    #[arg(long, value_name = "PACKAGE")]
    against: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every chapter's exercises and how each is solved.
    List,
    /// Print an exercise's hint.
    Hint {
        /// The chapter: ch01, ch02, …
        chapter: String,
        /// The exercise, as `list` names it.
        exercise: String,
    },
    /// Print an exercise's reference solution.
    Solution {
        /// The chapter: ch01, ch02, …
        chapter: String,
        /// The exercise, as `list` names it.
        exercise: String,
    },
    /// Prove every exercise fails as shipped and passes with its solution.
    Verify {
        /// The chapters to verify (default: all).
        chapters: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Does what the command line asks; `Ok(false)` when an exercise failed.
fn run(args: Args) -> anyhow::Result<bool> {
    match args.command {
        Some(Command::List) => {
            list();
            Ok(true)
        }
        Some(Command::Hint { chapter, exercise }) => {
            let (chapter, exercise) = find(&chapter, &exercise)?;
            print!("{}", exercise.hint(chapter)?);
            Ok(true)
        }
        Some(Command::Solution { chapter, exercise }) => {
            let (chapter, exercise) = find(&chapter, &exercise)?;
            solution(chapter, exercise)?;
            Ok(true)
        }
        Some(Command::Verify { chapters }) => {
            let chosen = if chapters.is_empty() {
                ALL.to_vec()
            } else {
                chapters
                    .iter()
                    .map(|id| chapter(id))
                    .collect::<anyhow::Result<Vec<_>>>()?
            };
            workshop::verify::verify(&chosen)
        }
        None => {
            let Some(id) = args.chapter else {
                list();
                println!("\nCheck a chapter with `cargo run -p workshop -- ch01`.");
                return Ok(true);
            };
            let chapter = chapter(&id)?;
            let exercises = if args.exercises.is_empty() {
                chapter.exercises.iter().collect()
            } else {
                args.exercises
                    .iter()
                    .map(|name| exercise(chapter, name))
                    .collect::<anyhow::Result<Vec<_>>>()?
            };
            let package = args.against.as_deref().unwrap_or(chapter.package);
            println!(
                "Chapter {} exercises ({}: {}), checked against {package}:\n",
                chapter.id.trim_start_matches("ch").trim_start_matches('0'),
                chapter.id,
                chapter.title,
            );
            let subject = Builder {
                root: paths::root(),
                target_dir: None,
            }
            .build(package)?;
            let passed = check_and_report(chapter, &exercises, &subject);
            Ok(passed == exercises.len())
        }
    }
}

fn chapter(id: &str) -> anyhow::Result<&'static Chapter> {
    chapters::find(id).ok_or_else(|| {
        let known: Vec<&str> = ALL.iter().map(|c| c.id).collect();
        anyhow!(
            "no chapter {id:?} has exercises; try one of {}",
            known.join(", ")
        )
    })
}

fn exercise(chapter: &Chapter, name: &str) -> anyhow::Result<&'static Exercise> {
    chapter.exercise(name).ok_or_else(|| {
        let known: Vec<&str> = chapter.exercises.iter().map(|e| e.name).collect();
        anyhow!(
            "{} has no exercise {name:?}; it has {}",
            chapter.id,
            known.join(", ")
        )
    })
}

fn find(chapter_id: &str, name: &str) -> anyhow::Result<(&'static Chapter, &'static Exercise)> {
    let chapter = chapter(chapter_id)?;
    Ok((chapter, exercise(chapter, name)?))
}

/// Every chapter's exercises, with how each is solved.
fn list() {
    for chapter in ALL {
        println!(
            "{}  {} (edit {}/)",
            chapter.id, chapter.title, chapter.package
        );
        for exercise in chapter.exercises {
            let solved_by: Vec<String> = exercise
                .solutions
                .iter()
                .map(|s| match s {
                    Solution::Patch => "patch".to_owned(),
                    Solution::Chapter(package) => package.to_string(),
                })
                .collect();
            println!(
                "  {:<14} {}  [solution: {}]",
                exercise.name,
                exercise.title,
                solved_by.join(", ")
            );
        }
    }
}

/// Prints the reference solution(s) and how to use them.
fn solution(chapter: &Chapter, exercise: &Exercise) -> anyhow::Result<()> {
    for solution in exercise.solutions {
        match solution {
            Solution::Patch => {
                let path = paths::patch(chapter.id, exercise.name);
                let patch = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let relative = paths::patch_relative(chapter.id, exercise.name);
                println!("{patch}");
                println!(
                    "To apply it to your tree:   git apply {relative}\n\
                     To take it out again:       git apply -R {relative}\n\
                     To reset the whole crate:   git checkout -- {pkg}/ && git clean -fd {pkg}/",
                    pkg = chapter.package
                );
            }
            Solution::Chapter(package) => {
                println!(
                    "{package}, the server of a later chapter, passes this exercise as it is:\n  \
                     cargo run -p workshop -- {} {} --against {package}\n\
                     Read its src/server.rs, and the book's chapter on it.",
                    chapter.id, exercise.name
                );
            }
        }
    }
    if exercise.solutions.is_empty() {
        bail!("{} has no reference solution", exercise.name);
    }
    Ok(())
}
