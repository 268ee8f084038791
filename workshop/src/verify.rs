//! Proving every exercise in both directions: it fails as shipped, and it
//! passes with its reference solution.
//!
//! An exercise that passes as shipped teaches nothing, and one whose
//! solution fails teaches the wrong thing; rustlings checks both with
//! `rustlings dev check`, and this is the same for a server seen from the
//! outside. For each chapter:
//!
//! 1. Build the chapter's binary from the workspace as it is, and run every
//!    check: each must fail.
//! 2. If some solutions are patches: check that each applies to the shipped
//!    tree on its own (`git apply --check`), copy the workspace's files
//!    (not `target/`) to `target/workshop-verify/<chapter>/tree`, apply all
//!    the chapter's patches there together, build the binary with its own
//!    target directory, `target/workshop-verify/target`, shared by every
//!    chapter so dependencies compile once, and run those checks: each must
//!    pass.
//! 3. For exercises another chapter solves unchanged: build that chapter's
//!    binary from the workspace and run them: each must pass.
//!
//! The report says, for each exercise, which direction held and, when one
//! did not, why.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::exercise::{Chapter, Exercise};
use crate::paths;
use crate::run::{Marks, run_check};
use crate::subject::{Builder, Subject};

/// Something `verify` found wrong with an exercise.
#[derive(Debug)]
struct Problem {
    /// `ch01 headers`.
    exercise: String,
    /// Which direction failed, and the evidence.
    what: String,
}

/// Verifies `chapters`; prints a report and returns whether every exercise
/// held in both directions.
///
/// # Errors
///
/// Something other than an exercise went wrong: git or cargo cannot run,
/// the shipped chapter does not compile, a file cannot be copied.
pub fn verify(chapters: &[&'static Chapter]) -> anyhow::Result<bool> {
    let started = Instant::now();
    let root = paths::root();
    let workspace = Builder {
        root: root.clone(),
        target_dir: None,
    };
    let mut problems = Vec::new();
    let mut exercises = 0;
    for chapter in chapters {
        println!(
            "\n== {} {} ({})",
            chapter.id, chapter.title, chapter.package
        );
        exercises += chapter.exercises.len();
        warn_if_changed(&root, chapter.package);
        let shipped = timed(&format!("build {} as shipped", chapter.package), || {
            workspace.build(chapter.package)
        })?;
        must_fail_as_shipped(chapter, &shipped, &mut problems);
        must_pass_with_patches(chapter, &root, &mut problems)?;
        must_pass_with_other_chapters(chapter, &workspace, &mut problems)?;
    }

    let marks = Marks::for_stdout();
    println!(
        "\n== {} exercises in {} chapter(s), {:.0} s",
        exercises,
        chapters.len(),
        started.elapsed().as_secs_f32()
    );
    if problems.is_empty() {
        println!(
            "{} every exercise fails as shipped and passes with its solution",
            marks.mark(true)
        );
        return Ok(true);
    }
    for problem in &problems {
        println!(
            "{} {}: {}",
            marks.mark(false),
            problem.exercise,
            problem.what
        );
    }
    Ok(false)
}

/// Step 1: every check fails against the shipped binary.
fn must_fail_as_shipped(chapter: &Chapter, shipped: &Subject, problems: &mut Vec<Problem>) {
    let marks = Marks::for_stdout();
    println!("   as shipped, every exercise must fail:");
    for exercise in chapter.exercises {
        let started = Instant::now();
        let outcome = run_check(exercise, shipped);
        let seconds = started.elapsed().as_secs_f32();
        match outcome {
            Err(failure) => println!(
                "   {} {:<14} fails ({seconds:.1} s): {}",
                marks.mark(true),
                exercise.name,
                failure.problem.lines().next().unwrap_or_default()
            ),
            Ok(()) => {
                println!(
                    "   {} {:<14} PASSES as shipped",
                    marks.mark(false),
                    exercise.name
                );
                problems.push(Problem {
                    exercise: format!("{} {}", chapter.id, exercise.name),
                    what: "passes as shipped: an exercise must fail until it is \
                           solved (is the check too weak, or was the crate \
                           changed?)"
                        .to_owned(),
                });
            }
        }
    }
}

/// Step 2: the patch solutions, applied together, make their checks pass.
fn must_pass_with_patches(
    chapter: &Chapter,
    root: &Path,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<()> {
    let patched: Vec<&'static Exercise> =
        chapter.exercises.iter().filter(|e| e.has_patch()).collect();
    if patched.is_empty() {
        return Ok(());
    }
    println!("   with the reference patches, applied together:");
    let mut report = |exercise: &Exercise, what: String| {
        problems.push(Problem {
            exercise: format!("{} {}", chapter.id, exercise.name),
            what,
        });
    };

    // Each patch applies to the shipped tree on its own, as a learner
    // would apply it.
    for exercise in &patched {
        let patch = paths::patch(chapter.id, exercise.name);
        if let Err(why) = git_apply(root, &patch, true) {
            report(
                exercise,
                format!("its patch does not apply to the shipped tree: {why}"),
            );
        }
    }

    let tree = paths::verify_dir().join(chapter.id).join("tree");
    timed("copy the workspace", || copy_workspace(root, &tree))?;
    for exercise in &patched {
        let patch = paths::patch(chapter.id, exercise.name);
        if let Err(why) = git_apply(&tree, &patch, false) {
            report(
                exercise,
                format!("its patch conflicts with the chapter's other patches: {why}"),
            );
        }
    }
    let builder = Builder {
        root: tree,
        target_dir: Some(paths::verify_dir().join("target")),
    };
    let subject = match timed(
        &format!("build {} with the patches", chapter.package),
        || builder.build(chapter.package),
    ) {
        Ok(subject) => subject,
        Err(e) => {
            for exercise in &patched {
                report(
                    exercise,
                    format!("the chapter does not build with the patches: {e:#}"),
                );
            }
            return Ok(());
        }
    };
    run_expecting_passes(chapter, &patched, &subject, "its patch", &mut report);
    Ok(())
}

/// Step 3: exercises another chapter solves pass against its binary.
fn must_pass_with_other_chapters(
    chapter: &Chapter,
    workspace: &Builder,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<()> {
    let packages: BTreeSet<&str> = chapter
        .exercises
        .iter()
        .flat_map(|e| e.solving_packages())
        .collect();
    for package in packages {
        let solved: Vec<&'static Exercise> = chapter
            .exercises
            .iter()
            .filter(|e| e.solving_packages().any(|p| p == package))
            .collect();
        println!("   against {package}, unchanged:");
        let subject = timed(&format!("build {package}"), || workspace.build(package))?;
        let mut report = |exercise: &Exercise, what: String| {
            problems.push(Problem {
                exercise: format!("{} {}", chapter.id, exercise.name),
                what,
            });
        };
        run_expecting_passes(chapter, &solved, &subject, package, &mut report);
    }
    Ok(())
}

/// Runs `exercises` against `subject`; each must pass.
fn run_expecting_passes(
    chapter: &Chapter,
    exercises: &[&'static Exercise],
    subject: &Subject,
    solution: &str,
    report: &mut dyn FnMut(&Exercise, String),
) {
    let marks = Marks::for_stdout();
    for exercise in exercises {
        let started = Instant::now();
        let outcome = run_check(exercise, subject);
        let seconds = started.elapsed().as_secs_f32();
        match outcome {
            Ok(()) => println!(
                "   {} {:<14} passes ({seconds:.1} s)",
                marks.mark(true),
                exercise.name
            ),
            Err(failure) => {
                println!(
                    "   {} {:<14} FAILS with {solution}:\n{}",
                    marks.mark(false),
                    exercise.name,
                    failure.render("        ")
                );
                report(
                    exercise,
                    format!(
                        "fails with {solution} ({}): {}",
                        chapter.package,
                        failure.problem.lines().next().unwrap_or_default()
                    ),
                );
            }
        }
    }
}

/// Runs `step`, printing what it is and how long it took.
fn timed<T>(what: &str, step: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    print!("   {what} … ");
    let _ = std::io::stdout().flush();
    let started = Instant::now();
    let result = step();
    match &result {
        Ok(_) => println!("{:.1} s", started.elapsed().as_secs_f32()),
        Err(_) => println!("failed"),
    }
    result
}

/// Says so when the chapter's crate differs from the last commit: "as
/// shipped" then means "as it is now".
fn warn_if_changed(root: &Path, package: &str) {
    let changed = Command::new("git")
        .current_dir(root)
        .args(["status", "--porcelain", "--", package])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if changed {
        println!(
            "   note: {package}/ has uncommitted changes; \"as shipped\" below means \
             the working tree as it is"
        );
    }
}

/// `git apply` of `patch` in `dir` (just checking, if `check_only`).
///
/// Git is kept from looking for a repository above `dir`: inside one, it
/// would read the patch's paths as relative to that repository's root and
/// silently skip the files outside `dir`.
fn git_apply(dir: &Path, patch: &Path, check_only: bool) -> Result<(), String> {
    let mut command = Command::new("git");
    command.current_dir(dir).arg("apply");
    if check_only {
        command.arg("--check");
    } else {
        let ceiling = dir.parent().unwrap_or(dir);
        command.env("GIT_CEILING_DIRECTORIES", ceiling);
    }
    let output = command
        .arg(patch)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// Copies the workspace's files (tracked, plus untracked ones git does not
/// ignore: never `target/`) from `root` into a fresh `dest`.
fn copy_workspace(root: &Path, dest: &Path) -> anyhow::Result<()> {
    let listed = Command::new("git")
        .current_dir(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .context("cannot run `git ls-files` (verify needs git)")?;
    if !listed.status.success() {
        bail!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&listed.stderr).trim()
        );
    }
    if dest.exists() {
        fs::remove_dir_all(dest).with_context(|| format!("cannot clear {}", dest.display()))?;
    }
    for name in listed.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let relative = PathBuf::from(String::from_utf8_lossy(name).into_owned());
        let from = root.join(&relative);
        // Listed but deleted from the working tree: not part of it.
        if !from.is_file() {
            continue;
        }
        let to = dest.join(&relative);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
    }
    Ok(())
}
