//! SVG charts of the comparison runner's results.
//!
//! `compare --json FILE` writes every table it measured as JSON; this module
//! reads that file back and draws one chart per table: requests per second
//! as horizontal bars on the left, and the latency from the median (p50) to
//! the 99th percentile (p99) on a logarithmic scale on the right. The
//! book's "Comparing the models" chapter shows the charts under its tables,
//! and a test checks that the committed charts are exactly what this module
//! draws from the committed JSON, so a chart can never drift from the
//! numbers it claims to show.
//!
//! The SVG is written by hand: a few rectangles, lines and labels do not need
//! a plotting library, and the output is plain text that diffs well. Text is
//! left to the browser's `sans-serif` font, so widths are estimated, and
//! the layout leaves room for the longest label the runner writes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use step01_iterative::response::escape_html;

/// What `compare --json` writes: the run's header and its tables.
#[derive(Debug, Deserialize)]
pub struct Results {
    /// The machine the run measured.
    pub machine: Machine,
    /// When the run started, in UTC.
    pub date: String,
    /// The tables, in the order the runner measured them.
    pub tables: Vec<Table>,
}

/// The machine line of a run.
#[derive(Debug, Deserialize)]
pub struct Machine {
    /// Online cores.
    pub cores: u32,
    /// CPU model name.
    pub cpu: String,
    /// Kernel name and release.
    pub kernel: String,
}

/// One workload: every server's row.
#[derive(Debug, Deserialize)]
pub struct Table {
    /// The table's id (`file_1k`, `idle`, …), used for the file name.
    pub id: String,
    /// Its title, with Markdown backticks around the id.
    pub title: String,
    /// Why the whole table was skipped, if it was.
    pub skipped: Option<String>,
    /// One row per server, in the runner's order.
    pub rows: Vec<Row>,
}

/// One server's result in one table.
#[derive(Debug, Deserialize)]
pub struct Row {
    /// The server's id (`step06-full`, `nginx`, …).
    pub server: String,
    /// Why the server could not be measured, if it could not.
    pub failed: Option<String>,
    /// Answered requests per second.
    pub requests_per_sec: Option<f64>,
    /// Answered requests.
    #[serde(default)]
    pub ok: u64,
    /// Median latency in microseconds.
    pub p50_us: Option<u64>,
    /// 99th-percentile latency in microseconds.
    pub p99_us: Option<u64>,
    /// Failed requests by kind.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
}

impl Row {
    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Parses what `compare --json` wrote.
pub fn parse(json: &str) -> Result<Results, serde_json::Error> {
    serde_json::from_str(json)
}

/// The file a table's chart is written to, inside `dir`.
pub fn chart_path(dir: &Path, table: &Table) -> PathBuf {
    dir.join(format!("{}.svg", table.id))
}

/// Every chart of `results`: the file name and the SVG text, one per table
/// that was measured (skipped and empty tables have none).
pub fn charts(results: &Results) -> Vec<(String, String)> {
    let footer = format!(
        "{}, {} cores, {}; {}",
        results.machine.cpu, results.machine.cores, results.machine.kernel, results.date
    );
    results
        .tables
        .iter()
        .filter(|table| table.skipped.is_none() && !table.rows.is_empty())
        .map(|table| (format!("{}.svg", table.id), chart(table, &footer)))
        .collect()
}

/// Writes every chart of the JSON text `json` into `dir`, which is created
/// if needed, and returns the files written.
pub fn write_charts(json: &str, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let results = parse(json).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, svg) in charts(&results) {
        let path = dir.join(name);
        std::fs::write(&path, svg)?;
        written.push(path);
    }
    Ok(written)
}

// Layout, in SVG user units (pixels at 100 %).
const WIDTH: f64 = 880.0;
const LABEL_RIGHT: f64 = 140.0;
const BAR_LEFT: f64 = 150.0;
const BAR_MAX: f64 = 280.0;
const LATENCY_LEFT: f64 = 560.0;
const LATENCY_RIGHT: f64 = 850.0;
const TOP: f64 = 64.0;
const ROW: f64 = 26.0;
const BAR_HEIGHT: f64 = 16.0;

const CHAPTER: &str = "#4e79a7";
const FULL: &str = "#e15759";
const PEER: &str = "#9c9c9c";
const INK: &str = "#222";
const FAINT: &str = "#ddd";

/// One table's chart: throughput bars and latency ranges, row by row.
pub fn chart(table: &Table, footer: &str) -> String {
    let title = table.title.replace('`', "");
    let rows = &table.rows;
    let height = TOP + ROW * rows.len() as f64 + 44.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\" \
         role=\"img\" aria-labelledby=\"title-{id} desc-{id}\">",
        id = escape_html(&table.id),
    );
    let _ = writeln!(
        svg,
        "<title id=\"title-{}\">{}</title>",
        escape_html(&table.id),
        escape_html(&title)
    );
    let _ = writeln!(
        svg,
        "<desc id=\"desc-{}\">{}</desc>",
        escape_html(&table.id),
        escape_html(&describe(rows))
    );
    let _ = writeln!(
        svg,
        "<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#fff\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\" fill=\"{INK}\">{}</text>",
        escape_html(&title)
    );
    let _ = writeln!(
        svg,
        "<text x=\"{BAR_LEFT}\" y=\"40\" fill=\"{INK}\">requests/s (longer is better)</text>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{LATENCY_LEFT}\" y=\"40\" fill=\"{INK}\">latency: p50 \u{25cf} to p99 \
         \u{25cb}, log scale</text>"
    );
    let bottom = TOP + ROW * rows.len() as f64;
    throughput_axis(&mut svg, rows, bottom);
    let scale = LogScale::for_rows(rows);
    latency_axis(&mut svg, &scale, bottom);
    let max = max_rps(rows);
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        draw_row(&mut svg, row, y, max, &scale);
    }
    let _ = writeln!(
        svg,
        "<text x=\"10\" y=\"{}\" font-size=\"11\" fill=\"#666\">{}</text>",
        height - 10.0,
        escape_html(footer)
    );
    svg.push_str("</svg>\n");
    svg
}

/// The chart in words, for screen readers and for the alt text.
fn describe(rows: &[Row]) -> String {
    rows.iter()
        .map(|row| match (&row.failed, row.requests_per_sec) {
            (Some(why), _) => format!("{}: failed ({why})", row.server),
            (None, Some(rps)) if row.ok > 0 => format!(
                "{}: {} requests/s, p50 {}, p99 {}",
                row.server,
                thousands(rps),
                duration(row.p50_us.unwrap_or(0)),
                duration(row.p99_us.unwrap_or(0)),
            ),
            _ => format!("{}: no answers, {} errors", row.server, row.error_count()),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn max_rps(rows: &[Row]) -> f64 {
    rows.iter()
        .filter_map(|row| row.requests_per_sec)
        .fold(0.0, f64::max)
}

fn colour(server: &str) -> &'static str {
    if server.starts_with("step06") {
        FULL
    } else if server.starts_with("step") {
        CHAPTER
    } else {
        PEER
    }
}

fn draw_row(svg: &mut String, row: &Row, y: f64, max: f64, scale: &LogScale) {
    let middle = y + ROW / 2.0 + 4.0;
    let _ = writeln!(
        svg,
        "<text x=\"{LABEL_RIGHT}\" y=\"{middle}\" text-anchor=\"end\" fill=\"{INK}\">{}</text>",
        escape_html(&row.server)
    );
    if let Some(why) = &row.failed {
        let _ = writeln!(
            svg,
            "<text x=\"{BAR_LEFT}\" y=\"{middle}\" fill=\"{FULL}\">failed: {}</text>",
            escape_html(&shorten(why, 90))
        );
        return;
    }
    let rps = row.requests_per_sec.unwrap_or(0.0);
    let width = if max > 0.0 { BAR_MAX * rps / max } else { 0.0 };
    let _ = writeln!(
        svg,
        "<rect x=\"{BAR_LEFT}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{BAR_HEIGHT}\" \
         fill=\"{}\"/>",
        y + (ROW - BAR_HEIGHT) / 2.0,
        colour(&row.server)
    );
    let errors = row.error_count();
    let mut value = thousands(rps);
    if errors > 0 {
        let kinds: Vec<&str> = row.errors.keys().map(String::as_str).collect();
        let _ = write!(value, " \u{b7} {errors} errors ({})", kinds.join(", "));
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{middle}\" fill=\"{INK}\">{}</text>",
        BAR_LEFT + width + 6.0,
        escape_html(&value)
    );
    match (row.p50_us, row.p99_us) {
        (Some(p50), Some(p99)) if row.ok > 0 => {
            let (x50, x99) = (scale.x(p50), scale.x(p99));
            let centre = y + ROW / 2.0;
            let _ = writeln!(
                svg,
                "<line x1=\"{x50:.1}\" y1=\"{centre}\" x2=\"{x99:.1}\" y2=\"{centre}\" \
                 stroke=\"{}\" stroke-width=\"3\"/>",
                colour(&row.server)
            );
            let _ = writeln!(
                svg,
                "<circle cx=\"{x50:.1}\" cy=\"{centre}\" r=\"4.5\" fill=\"{}\"/>",
                colour(&row.server)
            );
            let _ = writeln!(
                svg,
                "<circle cx=\"{x99:.1}\" cy=\"{centre}\" r=\"4.5\" fill=\"#fff\" stroke=\"{}\" \
                 stroke-width=\"2\"/>",
                colour(&row.server)
            );
            let label = format!("{} \u{2013} {}", duration(p50), duration(p99));
            // The range's label goes right of p99, or left of p50 when
            // there is no room at the right edge.
            let (x, anchor) = if x99 + 8.0 + 7.0 * label.chars().count() as f64 <= WIDTH {
                (x99 + 8.0, "start")
            } else {
                (x50 - 8.0, "end")
            };
            let _ = writeln!(
                svg,
                "<text x=\"{x:.1}\" y=\"{middle}\" text-anchor=\"{anchor}\" font-size=\"11\" \
                 fill=\"#444\">{}</text>",
                escape_html(&label)
            );
        }
        _ => {
            let _ = writeln!(
                svg,
                "<text x=\"{LATENCY_LEFT}\" y=\"{middle}\" fill=\"{FULL}\">no answers</text>"
            );
        }
    }
}

/// Vertical grid lines and labels for the throughput bars, at a round
/// step that gives three to six lines.
fn throughput_axis(svg: &mut String, rows: &[Row], bottom: f64) {
    let max = max_rps(rows);
    if max <= 0.0 {
        return;
    }
    let step = nice_step(max / 4.0);
    let mut value = 0.0;
    while value <= max * 1.0001 {
        let x = BAR_LEFT + BAR_MAX * value / max;
        grid_line(svg, x, bottom, &short_count(value));
        value += step;
    }
}

fn latency_axis(svg: &mut String, scale: &LogScale, bottom: f64) {
    for exponent in scale.low..=scale.high {
        let micros = 10_u64.pow(exponent);
        grid_line(svg, scale.x(micros), bottom, &decade(exponent));
    }
}

/// One vertical grid line at `x`, from the first row to `bottom`, with its
/// label under it.
fn grid_line(svg: &mut String, x: f64, bottom: f64, label: &str) {
    let _ = writeln!(
        svg,
        "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"{FAINT}\"/>",
        TOP - 4.0
    );
    let _ = writeln!(
        svg,
        "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" \
         fill=\"#666\">{label}</text>",
        bottom + 14.0,
    );
}

/// A base-10 logarithmic scale over whole decades of microseconds.
struct LogScale {
    low: u32,
    high: u32,
}

impl LogScale {
    /// The decades that hold every row's p50 and p99 (at least one decade).
    fn for_rows(rows: &[Row]) -> LogScale {
        let values: Vec<u64> = rows
            .iter()
            .filter(|row| row.ok > 0)
            .flat_map(|row| [row.p50_us, row.p99_us])
            .flatten()
            .map(|us| us.max(1))
            .collect();
        let low = values.iter().copied().min().map_or(1, |v| v.ilog10());
        let high = values.iter().copied().max().map_or(4, |v| {
            let floor = v.ilog10();
            if 10_u64.pow(floor) == v {
                floor
            } else {
                floor + 1
            }
        });
        LogScale {
            low,
            high: high.max(low + 1),
        }
    }

    fn x(&self, micros: u64) -> f64 {
        let value = (micros.max(1) as f64).log10();
        let span = f64::from(self.high - self.low);
        LATENCY_LEFT + (LATENCY_RIGHT - LATENCY_LEFT) * (value - f64::from(self.low)) / span
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10_f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power)
}

/// 54616.7 → "54,617".
fn thousands(value: f64) -> String {
    let whole = value.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An axis label: 20000 → "20k", 2500 → "2.5k", 500 → "500".
fn short_count(value: f64) -> String {
    if value >= 1000.0 {
        let k = value / 1000.0;
        if (k - k.round()).abs() < 1e-9 {
            format!("{}k", k.round())
        } else {
            format!("{k:.1}k")
        }
    } else {
        format!("{}", value.round())
    }
}

/// Microseconds as the runner prints them: 339 µs, 1.12 ms, 41.9 ms, 1.2 s.
fn duration(micros: u64) -> String {
    let value = micros as f64;
    if micros < 1000 {
        format!("{micros} \u{b5}s")
    } else if micros < 10_000 {
        format!("{:.2} ms", value / 1e3)
    } else if micros < 1_000_000 {
        format!("{:.1} ms", value / 1e3)
    } else {
        format!("{:.2} s", value / 1e6)
    }
}

/// An axis label for 10^exponent microseconds: 1 µs, 100 µs, 10 ms, 1 s.
fn decade(exponent: u32) -> String {
    let unit = ["\u{b5}s", "ms", "s"];
    let index = (exponent / 3).min(2);
    let value = 10_u64.pow(exponent - 3 * index);
    format!("{value} {}", unit[index as usize])
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('\u{2026}');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "machine": {"cores": 2, "kernel": "Linux 6", "cpu": "Test <CPU>"},
      "date": "2026-11-22 06:57 UTC",
      "command": "compare",
      "peers": [],
      "load": "loadgen",
      "tables": [
        {"id": "file_1k", "title": "`file_1k`: a 1 KiB file", "skipped": null, "rows": [
          {"server": "step05-pool", "requests_per_sec": 40000.0, "ok": 200000, "p50_us": 339,
           "p99_us": 41913, "errors": {}, "body_bytes": 1, "body_bytes_expected": 1,
           "peak_rss_kib": 4460, "processes": 1},
          {"server": "step06-full", "requests_per_sec": 20000.0, "ok": 100000, "p50_us": 907,
           "p99_us": 1843, "errors": {"reset": 3}, "body_bytes": 1, "body_bytes_expected": 1,
           "peak_rss_kib": null, "processes": null},
          {"server": "nginx", "failed": "did not start: <bind> & more"},
          {"server": "step05-threads", "requests_per_sec": 0.0, "ok": 0, "p50_us": 0,
           "p99_us": 0, "errors": {"timeout": 16}, "body_bytes": 0, "body_bytes_expected": 0,
           "peak_rss_kib": 1, "processes": 1}
        ]},
        {"id": "hello_php", "title": "`hello_php`", "skipped": "php-cgi is not installed", "rows": []}
      ]
    }"#;

    fn sample() -> Results {
        parse(SAMPLE).expect("the sample parses")
    }

    fn bar_widths(svg: &str) -> Vec<f64> {
        svg.lines()
            .filter(|line| line.starts_with("<rect x=\"150\""))
            .map(|line| {
                let start = line.find("width=\"").expect("a width") + 7;
                let end = start + line[start..].find('"').expect("closing quote");
                line[start..end].parse().expect("a number")
            })
            .collect()
    }

    #[test]
    fn one_chart_per_measured_table() {
        let charts = charts(&sample());
        let names: Vec<&str> = charts.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["file_1k.svg"], "a skipped table gets no chart");
    }

    #[test]
    fn bars_are_proportional_to_throughput() {
        let svg = chart(&sample().tables[0], "footer");
        assert_eq!(bar_widths(&svg), [BAR_MAX, BAR_MAX / 2.0, 0.0]);
        assert!(svg.contains(">40,000</text>"));
        assert!(
            svg.contains(">20,000 \u{b7} 3 errors (reset)</text>"),
            "{svg}"
        );
    }

    #[test]
    fn failed_and_silent_rows_say_so() {
        let svg = chart(&sample().tables[0], "footer");
        assert!(svg.contains("failed: did not start: &lt;bind&gt; &amp; more"));
        assert!(svg.contains(">no answers</text>"));
        assert!(svg.contains("step05-threads: no answers, 16 errors"));
    }

    #[test]
    fn text_is_escaped() {
        let results = sample();
        let (_, svg) = &charts(&results)[0];
        assert!(svg.contains("Test &lt;CPU&gt;"));
        assert!(!svg.contains("<CPU>"));
        assert!(
            !svg.contains('`'),
            "Markdown backticks are dropped from the title"
        );
    }

    #[test]
    fn every_element_is_closed() {
        let svg = chart(&sample().tables[0], "footer");
        for tag in ["svg", "text", "title", "desc"] {
            let opened = svg.matches(&format!("<{tag}")).count();
            let closed = svg.matches(&format!("</{tag}>")).count();
            assert_eq!(opened, closed, "<{tag}> opened {opened}, closed {closed}");
        }
        for line in svg.lines() {
            if line.starts_with("<rect") || line.starts_with("<line") || line.starts_with("<circ") {
                assert!(line.ends_with("/>"), "{line}");
            }
        }
    }

    #[test]
    fn latency_scale_covers_whole_decades() {
        let rows = sample().tables.remove(0).rows;
        let scale = LogScale::for_rows(&rows);
        // 339 µs … 41,913 µs: 100 µs to 100 ms.
        assert_eq!((scale.low, scale.high), (2, 5));
        assert_eq!(scale.x(100), LATENCY_LEFT);
        assert_eq!(scale.x(100_000), LATENCY_RIGHT);
        assert!(scale.x(339) < scale.x(907) && scale.x(907) < scale.x(41_913));
    }

    #[test]
    fn numbers_read_like_the_tables() {
        assert_eq!(thousands(54_616.7), "54,617");
        assert_eq!(thousands(126.2), "126");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(short_count(20_000.0), "20k");
        assert_eq!(short_count(2_500.0), "2.5k");
        assert_eq!(short_count(500.0), "500");
        assert_eq!(duration(339), "339 \u{b5}s");
        assert_eq!(duration(1_123), "1.12 ms");
        assert_eq!(duration(41_913), "41.9 ms");
        assert_eq!(duration(1_200_000), "1.20 s");
        assert_eq!(decade(0), "1 \u{b5}s");
        assert_eq!(decade(2), "100 \u{b5}s");
        assert_eq!(decade(4), "10 ms");
        assert_eq!(decade(6), "1 s");
        assert_eq!(decade(7), "10 s");
        assert_eq!(nice_step(13_654.0), 20_000.0);
        assert_eq!(nice_step(1_000.0), 1_000.0);
        assert_eq!(nice_step(31.0), 50.0);
    }
}
