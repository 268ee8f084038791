//! Draws the comparison runner's saved results as SVG charts.
//!
//! `cargo run -p benches --bin charts -- RESULTS.json DIR` reads what
//! `compare --json RESULTS.json` wrote and writes one chart per table into
//! `DIR` (`file_1k.svg`, `idle.svg`, …). `compare --charts DIR` does the
//! same at the end of a run; this binary redraws a saved run without
//! measuring it again. The drawing is in `benches::charts`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

/// Draw the comparison runner's results as SVG charts.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The JSON file `compare --json` wrote.
    results: PathBuf,
    /// The folder to write the charts into (created if needed).
    dir: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let json = std::fs::read_to_string(&args.results)
        .with_context(|| format!("read {}", args.results.display()))?;
    let written = benches::charts::write_charts(&json, &args.dir).with_context(|| {
        format!(
            "draw {} into {}",
            args.results.display(),
            args.dir.display()
        )
    })?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}
