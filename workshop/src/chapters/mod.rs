//! The exercises, one module per chapter.
//!
//! Adding a chapter's exercises: write `chNN.rs` with a `CHAPTER` constant
//! (copy `ch01.rs` for the shape), add it to [`ALL`], put a hint for each
//! exercise in `workshop/hints/chNN/NAME.md` and each patch solution in
//! `workshop/solutions/chNN/NAME.patch`, and write the book page
//! `book/src/exercises/chNN.md`. The unit tests below check that all of
//! those exist and agree; `cargo run -p workshop -- verify chNN` then
//! proves each exercise fails as shipped and passes with its solution.

pub mod ch01;
pub mod ch02;
pub mod ch03;
pub mod ch04;
pub mod ch05;
pub mod ch06;

use crate::exercise::Chapter;

/// Every chapter with exercises, in book order.
pub const ALL: &[&Chapter] = &[
    &ch01::CHAPTER,
    &ch02::CHAPTER,
    &ch03::CHAPTER,
    &ch04::CHAPTER,
    &ch05::CHAPTER,
    &ch06::CHAPTER,
];

/// The chapter called `id`: `ch01`, or just `1` / `01` / `ch1`.
pub fn find(id: &str) -> Option<&'static Chapter> {
    let digits = id.trim_start_matches("ch");
    let number: u32 = digits.parse().ok()?;
    let id = format!("ch{number:02}");
    ALL.iter().copied().find(|chapter| chapter.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::fs;

    use super::*;
    use crate::exercise::Solution;
    use crate::paths;

    #[test]
    fn finds_chapters_by_any_spelling() {
        for id in ["ch01", "ch1", "1", "01"] {
            assert_eq!(find(id).map(|c| c.id), Some("ch01"), "{id}");
        }
        assert!(find("ch99").is_none());
        assert!(find("one").is_none());
    }

    #[test]
    fn every_chapter_has_three_to_five_uniquely_named_exercises() {
        for chapter in ALL {
            let count = chapter.exercises.len();
            assert!((3..=5).contains(&count), "{}: {count}", chapter.id);
            let names: BTreeSet<&str> = chapter.exercises.iter().map(|e| e.name).collect();
            assert_eq!(names.len(), count, "{}: duplicate names", chapter.id);
            for exercise in chapter.exercises {
                let name = exercise.name;
                assert!(
                    !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{}: {name:?} is not kebab-case",
                    chapter.id
                );
                assert!(!exercise.solutions.is_empty(), "{name}: no solution");
                for solution in exercise.solutions {
                    if let Solution::Chapter(package) = solution {
                        assert_ne!(*package, chapter.package, "{name}: solved by itself");
                    }
                }
            }
        }
    }

    #[test]
    fn every_exercise_has_a_hint_and_every_patch_exists() {
        for chapter in ALL {
            for exercise in chapter.exercises {
                let hint = exercise.hint(chapter).unwrap_or_default();
                assert!(
                    !hint.trim().is_empty(),
                    "missing {}",
                    paths::hint(chapter.id, exercise.name).display()
                );
                let patch = paths::patch(chapter.id, exercise.name);
                assert_eq!(
                    patch.exists(),
                    exercise.has_patch(),
                    "{}: a patch file exists if and only if the solution is a patch",
                    patch.display()
                );
            }
        }
    }

    #[test]
    fn no_stray_hint_or_solution_files() {
        for folder in ["hints", "solutions"] {
            let Ok(chapters) = fs::read_dir(paths::workshop().join(folder)) else {
                continue;
            };
            for dir in chapters.flatten() {
                let id = dir.file_name().to_string_lossy().into_owned();
                let chapter = ALL.iter().find(|c| c.id == id);
                assert!(chapter.is_some(), "{folder}/{id}: no such chapter");
                for file in fs::read_dir(dir.path()).unwrap().flatten() {
                    let file_name = file.file_name().to_string_lossy().into_owned();
                    let name = file_name.trim_end_matches(".md").trim_end_matches(".patch");
                    assert!(
                        chapter.and_then(|c| c.exercise(name)).is_some(),
                        "{folder}/{id}/{file_name}: no exercise called {name}"
                    );
                }
            }
        }
    }

    #[test]
    fn patches_touch_only_their_chapters_crate() {
        for chapter in ALL {
            for exercise in chapter.exercises.iter().filter(|e| e.has_patch()) {
                let patch = fs::read_to_string(paths::patch(chapter.id, exercise.name)).unwrap();
                let files: Vec<&str> = patch
                    .lines()
                    .filter_map(|l| l.strip_prefix("+++ b/").or(l.strip_prefix("--- a/")))
                    .collect();
                assert!(!files.is_empty(), "{}: not a unified diff", exercise.name);
                for file in files {
                    assert!(
                        file.starts_with(&format!("{}/", chapter.package)),
                        "{}/{}: touches {file}",
                        chapter.id,
                        exercise.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_book_page_presents_every_exercise_with_its_hint_and_patch() {
        for chapter in ALL {
            let page_path = paths::book_page(chapter.id);
            let page = fs::read_to_string(&page_path)
                .unwrap_or_else(|_| panic!("missing {}", page_path.display()));
            for exercise in chapter.exercises {
                let name = exercise.name;
                assert!(
                    page.contains(&format!("`{name}`")),
                    "{}: no mention of `{name}`",
                    page_path.display()
                );
                let hint = format!(
                    "{{{{#include ../../../workshop/hints/{}/{name}.md}}}}",
                    chapter.id
                );
                assert!(page.contains(&hint), "{}: no {hint}", page_path.display());
                if exercise.has_patch() {
                    let patch = format!(
                        "{{{{#include ../../../workshop/solutions/{}/{name}.patch}}}}",
                        chapter.id
                    );
                    assert!(page.contains(&patch), "{}: no {patch}", page_path.display());
                }
            }
        }
    }
}
