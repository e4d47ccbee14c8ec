//! The paper's evaluation, as a report: `chare-bench report DIR` reads the
//! CSV files the benchmarks wrote under DIR and builds `report.md`,
//! `report.html`, `medians.csv` and `figures/` from them (no benchmark runs).
//!
//! * [`stats`]: medians, percentile-bootstrap confidence intervals, ratios;
//! * [`csv`]: chare-bench's CSV files as typed tables, read and written;
//! * [`plot`]: the figures (plotters, SVG and PNG);
//! * [`published`]: the paper's numbers (PAPER.md section 6);
//! * [`doc`]: the report's document model (Markdown and HTML);
//! * [`report`]: recognising the experiments and writing the report;
//! * [`run`]: `chare-bench paper`, which runs the experiments (resumably,
//!   one CSV per child process) and then builds the report.

pub mod csv;
pub mod doc;
pub mod plot;
pub mod published;
pub mod report;
pub mod run;
pub mod stats;

use std::path::PathBuf;

use clap::Args;

/// Options of `chare-bench report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Directory of CSV files written by chare-bench (read recursively).
    pub dir: PathBuf,
    /// Where report.md, report.html, medians.csv and figures/ go (default:
    /// DIR).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Bootstrap resamples per confidence interval.
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    /// Coverage of the confidence intervals, in (0, 1).
    #[arg(long, default_value_t = 0.99)]
    pub confidence: f64,
}

/// Checks the options (usage errors).
pub fn check(a: &ReportArgs) -> Result<(), String> {
    report::bootstrap(a.resamples, a.confidence)?;
    if !a.dir.is_dir() {
        return Err(format!("{} is not a directory", a.dir.display()));
    }
    Ok(())
}

/// Builds the report; returns the lines to print (what was written, which
/// experiments were found and which are missing).
pub fn run(a: &ReportArgs) -> Result<String, String> {
    let cfg = report::bootstrap(a.resamples, a.confidence)?;
    let out = a.out.clone().unwrap_or_else(|| a.dir.clone());
    let b = report::build(&a.dir, &out, cfg)?;
    let none = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    let mut text = format!(
        "report: {}\nreport: {}\nfigures: {} in {}\nexperiments: {}\nmissing: {}\n",
        b.markdown.display(),
        b.html.display(),
        b.figures.len(),
        out.join("figures").display(),
        none(&b.present),
        none(&b.missing)
    );
    for (f, why) in &b.unknown {
        text.push_str(&format!("not recognised: {f}: {why}\n"));
    }
    Ok(text)
}
