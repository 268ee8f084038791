//! The book's comparison charts are drawn from the committed results.
//!
//! `book/src/images/comparison/*.svg` must be exactly what
//! `benches::charts` draws from `book/transcripts/comparison/results.json`:
//! a chart edited by hand, or left behind by an older run, fails here.
//! To redraw them: `cargo run -p benches --bin charts --
//! book/transcripts/comparison/results.json book/src/images/comparison`.

use std::fs;
use std::path::Path;

#[test]
fn committed_charts_match_the_committed_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let json = fs::read_to_string(root.join("book/transcripts/comparison/results.json"))
        .expect("the committed results");
    let results = benches::charts::parse(&json).expect("the committed results parse");
    let dir = root.join("book/src/images/comparison");
    let charts = benches::charts::charts(&results);
    assert!(!charts.is_empty(), "the committed run has tables");
    for (name, svg) in &charts {
        let committed = fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
            panic!(
                "book/src/images/comparison/{name}: {e}; redraw the charts (see this file's header)"
            )
        });
        assert!(
            committed == *svg,
            "book/src/images/comparison/{name} differs from what the results draw; \
             redraw the charts (see this file's header)"
        );
    }
    let mut extra: Vec<String> = fs::read_dir(&dir)
        .expect("the charts folder")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !charts.iter().any(|(drawn, _)| drawn == name))
        .collect();
    extra.sort();
    assert!(extra.is_empty(), "charts no table draws: {extra:?}");
}
