//! The book's `{{#include}}` and `{{#rustdoc_include}}` directives all
//! resolve: the file exists and the anchor is present and not empty.
//!
//! mdBook renders an include with a missing anchor as an empty listing and
//! carries on, so without this check the text could silently drift from the
//! code it claims to show.

use std::fs;
use std::path::Path;

use checks::{files_with_extension, repo_root};

/// One `{{#include path:anchor}}` found in a chapter.
struct Include {
    chapter: String,
    path: String,
    selector: Option<String>,
}

fn includes_in(chapter: &Path, text: &str) -> Vec<Include> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{#") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else { break };
        let directive = &after[..end];
        rest = &after[end..];
        let mut words = directive.split_whitespace();
        let kind = words.next().unwrap_or_default();
        if kind != "include" && kind != "rustdoc_include" {
            continue;
        }
        let Some(target) = words.next() else { continue };
        let (path, selector) = match target.split_once(':') {
            Some((path, selector)) => (path.to_owned(), Some(selector.to_owned())),
            None => (target.to_owned(), None),
        };
        found.push(Include {
            chapter: chapter.display().to_string(),
            path,
            selector,
        });
    }
    found
}

/// The lines an anchor selects, or an error saying what is wrong.
fn check_anchor(source: &str, anchor: &str) -> Result<(), String> {
    let start = format!("ANCHOR: {anchor}");
    let end = format!("ANCHOR_END: {anchor}");
    let lines: Vec<&str> = source.lines().collect();
    let begin = lines
        .iter()
        .position(|l| l.trim_end().ends_with(&start))
        .ok_or(format!("no `{start}`"))?;
    let finish = lines[begin..]
        .iter()
        .position(|l| l.trim_end().ends_with(&end))
        .ok_or(format!("no `{end}` after `{start}`"))?;
    if finish <= 1 {
        return Err(format!("anchor `{anchor}` is empty"));
    }
    Ok(())
}

#[test]
fn every_include_names_an_existing_file_and_anchor() {
    let root = repo_root();
    let chapters = files_with_extension(&root.join("book/src"), ".md");
    assert!(!chapters.is_empty(), "no chapters found under book/src");
    let mut problems = Vec::new();
    let mut checked = 0;
    for chapter in &chapters {
        let text = fs::read_to_string(chapter).unwrap();
        for include in includes_in(chapter, &text) {
            checked += 1;
            let file = chapter.parent().unwrap().join(&include.path);
            let Ok(source) = fs::read_to_string(&file) else {
                problems.push(format!("{}: no file {}", include.chapter, include.path));
                continue;
            };
            let Some(selector) = include.selector else {
                continue;
            };
            // Line ranges ("10:20", "5:") are allowed but discouraged.
            if selector.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                continue;
            }
            if let Err(why) = check_anchor(&source, &selector) {
                problems.push(format!(
                    "{}: {}:{selector}: {why}",
                    include.chapter, include.path
                ));
            }
        }
    }
    assert!(checked > 0, "the book includes no code at all");
    assert!(
        problems.is_empty(),
        "broken includes:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn finds_includes_and_anchors() {
    let found = includes_in(
        Path::new("x.md"),
        "a {{#include ../f.rs:here}} b {{#rustdoc_include g.rs}}",
    );
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].selector.as_deref(), Some("here"));
    assert!(found[1].selector.is_none());
    let source =
        "// ANCHOR: here\nfn x() {}\n// ANCHOR_END: here\n// ANCHOR: empty\n// ANCHOR_END: empty\n";
    assert!(check_anchor(source, "here").is_ok());
    assert!(check_anchor(source, "empty").is_err());
    assert!(check_anchor(source, "missing").is_err());
}
