//! Chapter 5's path confinement on ordinary and hostile paths: decoding
//! once and removing dot-segments (`segments`, pure), and the whole check
//! against a real document root (`Root::resolve`, with `canonicalize`).
//!
//! Run with: `cargo bench -p benches --bench confinement`

use benches::{PATHS, measurement_time};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use step05_threadpool::confine::{Root, segments};

fn decode_and_normalise(c: &mut Criterion) {
    let mut group = c.benchmark_group("segments");
    group.measurement_time(measurement_time());
    for (name, path) in PATHS {
        group.bench_function(name, |b| {
            b.iter(|| segments(black_box(path)).map(|s| s.len()))
        });
    }
    group.finish();
}

fn resolve_under_root(c: &mut Criterion) {
    // A real tree: /docs/index.html and a 12-level deep file.
    let dir = std::env::temp_dir().join(format!("stepwise-bench-{}", std::process::id()));
    let deep = dir.join("a/b/c/d/e/f/g/h/i/j/k/l");
    let prepared = std::fs::create_dir_all(dir.join("docs"))
        .and_then(|()| std::fs::create_dir_all(&deep))
        .and_then(|()| std::fs::write(dir.join("docs/index.html"), "x"))
        .and_then(|()| std::fs::write(deep.join("file.txt"), "x"));
    let Ok(root) = prepared.and_then(|()| Root::new(&dir)) else {
        eprintln!(
            "cannot prepare a document root in {}; skipping",
            dir.display()
        );
        return;
    };
    let mut group = c.benchmark_group("resolve");
    group.measurement_time(measurement_time());
    for (name, path) in [PATHS[0], PATHS[1]] {
        let Ok(parts) = segments(path) else { continue };
        group.bench_function(name, |b| b.iter(|| root.resolve(black_box(&parts)).is_ok()));
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, decode_and_normalise, resolve_under_root);
criterion_main!(benches);
