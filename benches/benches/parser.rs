//! Chapter 1's request parser: how long a head takes to parse, whole and
//! when it arrives in pieces (each piece re-parsed from the start, as
//! `Connection::read_head` does once a line is complete).
//!
//! Run with: `cargo bench -p benches --bench parser`

use benches::{BROWSER, SMALL, many_headers, measurement_time};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use step01_iterative::request::parse_head;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_head");
    group.measurement_time(measurement_time());
    let big = many_headers();
    for (name, head) in [
        ("curl", SMALL),
        ("browser", BROWSER),
        ("90 headers", big.as_slice()),
    ] {
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                parse_head(black_box(head))
                    .ok()
                    .flatten()
                    .map(|(_, used)| used)
            })
        });
    }
    group.finish();
}

fn parse_in_lines(c: &mut Criterion) {
    // The cost a slow client can impose: one parse per completed line.
    let mut group = c.benchmark_group("parse_head_line_by_line");
    group.measurement_time(measurement_time());
    let line_ends: Vec<usize> = BROWSER
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    group.throughput(Throughput::Elements(1));
    group.bench_function("browser", |b| {
        b.iter(|| {
            let mut last = None;
            for end in &line_ends {
                last = parse_head(black_box(&BROWSER[..*end]))
                    .ok()
                    .flatten()
                    .map(|(_, used)| used);
            }
            last
        })
    });
    group.finish();
}

criterion_group!(benches, parse, parse_in_lines);
criterion_main!(benches);
