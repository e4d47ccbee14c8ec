//! `chare-bench report DIR`: reads every CSV that chare-bench wrote under
//! DIR (recursively), recognises the experiment of each from its columns,
//! and writes `report.md`, `report.html` (figures inline), `medians.csv` and
//! `figures/*.svg|png` (to DIR, or `--out`).
//!
//! Each figure is a median over the runs found (the per-run values of a
//! file's trailing `# runs ...` / `# run N: ...` lines, pooled over files
//! of the same series, e.g. `latency-mpi.1.csv` .. `latency-mpi.5.csv`),
//! with a percentile-bootstrap confidence interval ([`super::stats`]). The
//! paper's published numbers ([`super::published`]) stand beside ours where
//! an experiment matches. Every experiment with data gets a section; the
//! expected ones without data are listed as missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::csv::{field, Table};
use super::doc::Doc;
use super::plot::{self, fmt_bytes, Bar, BarGroup, Series};
use super::published::{self, Published};
use super::stats::{median_ci, ratio_ci, Bootstrap, Estimate};

/// The title line of the CSV this command writes (recognised and skipped
/// when the directory is read again).
pub const MEDIANS_TITLE: &str = "chare-bench report (medians with confidence intervals)";

/// The experiments the report looks for: id, title, where it comes from.
pub const EXPECTED: [(&str, &str, &str); 9] = [
    ("latency", "Point-to-point latency", "PAPER.md section 1; `chare-bench latency`"),
    ("bandwidth", "Bandwidth (window 64)", "PAPER.md section 2; `chare-bench bandwidth`"),
    ("gpu", "GPU latency and bandwidth", "PAPER.md section 3; no chare-bench subcommand yet"),
    ("stencil-strong", "Stencil2D strong scaling", "PAPER.md section 4; `chare-bench stencil-sweep --kind strong`"),
    ("stencil-weak", "Stencil2D weak scaling", "PAPER.md section 4; `chare-bench stencil-sweep --kind weak`"),
    ("pic", "PIC (particle-in-cell)", "PAPER.md section 5; `chare-bench pic`"),
    ("lb", "Load balancing under synthetic imbalance", "supports PAPER.md section 5; `chare-bench lb`"),
    ("lb-cost", "Cost of one balancing step", "supports PAPER.md section 5; `chare-bench lb --cost-only`"),
    ("stream", "STREAM memory bandwidth", "the stencil's roofline; `chare-bench stream`"),
];

/// What a CSV file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `chare-bench latency`.
    Latency,
    /// `chare-bench bandwidth`.
    Bandwidth,
    /// `chare-bench stencil` (one point of a sweep).
    StencilPoint,
    /// `chare-bench stencil-sweep`'s summary.
    StencilSummary,
    /// `chare-bench pic`.
    Pic,
    /// `chare-bench lb`.
    Lb,
    /// `chare-bench lb --cost-only`.
    LbCost,
    /// `chare-bench stream`.
    Stream,
    /// This command's own `medians.csv`.
    Own,
    /// Anything else, with the reason.
    Unknown(String),
}

/// Recognises a table by its columns (the titles vary, the columns are the
/// contract).
pub fn classify(t: &Table) -> Kind {
    if t.title().is_some_and(|l| l.starts_with(MEDIANS_TITLE)) {
        return Kind::Own;
    }
    let has = |c: &[&str]| t.has_columns(c);
    if has(&["size_bytes", "one_way_us"]) {
        Kind::Latency
    } else if has(&["size_bytes", "window", "bandwidth_mb_s"]) {
        Kind::Bandwidth
    } else if has(&["process", "iteration_s", "communication_s", "computation_s"]) {
        Kind::StencilPoint
    } else if has(&["series", "pes", "iteration_ms", "communication_ms", "computation_ms"]) {
        Kind::StencilSummary
    } else if has(&["model", "ms_per_step"]) {
        Kind::Pic
    } else if has(&["strategy", "before_ms", "after_ms"]) {
        Kind::Lb
    } else if has(&["strategy", "step_ms", "step_ms_max"]) {
        Kind::LbCost
    } else if has(&["kernel", "mb_s"]) {
        Kind::Stream
    } else {
        Kind::Unknown(format!("columns `{}` match no chare-bench output", t.columns.join(",")))
    }
}

/// A CSV file of the directory.
#[derive(Debug, Clone)]
pub struct Input {
    /// Path relative to the directory.
    pub rel: String,
    /// The file's name without `.csv` and without a trailing repetition
    /// number (`latency-mpi.3` -> `latency-mpi`), with its folder: files
    /// with the same variant are repetitions of one series.
    pub variant: String,
    /// Its contents.
    pub table: Table,
    /// What it holds.
    pub kind: Kind,
}

/// Every `*.csv` under `dir` (hidden folders skipped), sorted by path; a
/// file that does not parse is an input of kind Unknown.
pub fn read_dir(dir: &Path) -> Result<Vec<Input>, String> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for e in entries {
            let e = e.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            let p = e.path();
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            if p.is_dir() && !hidden && depth < 8 {
                walk(&p, depth + 1, out)?;
            } else if p.extension().is_some_and(|x| x == "csv") && p.is_file() {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(dir, 0, &mut paths)?;
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().into_owned();
            let variant = variant_of(&rel);
            match Table::read(&p) {
                Ok(table) => {
                    let kind = classify(&table);
                    Input { rel, variant, table, kind }
                }
                Err(e) => Input { rel, variant, table: Table::default(), kind: Kind::Unknown(e) },
            }
        })
        .collect())
}

/// `dir/latency-mpi.3.csv` -> `dir/latency-mpi`.
fn variant_of(rel: &str) -> String {
    let stem = rel.strip_suffix(".csv").unwrap_or(rel);
    match stem.rsplit_once('.') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base.to_string(),
        _ => stem.to_string(),
    }
}

/// The file name part of a variant.
fn short(variant: &str) -> &str {
    variant.rsplit('/').next().unwrap_or(variant)
}

/// A value in four significant digits (at most six decimals).
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let d = if v == 0.0 { 0 } else { (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize };
    format!("{v:.d$}")
}

/// An estimate: `median [lo, hi]`, or the value alone for one sample.
pub fn fmt_est(e: &Estimate) -> String {
    if e.lo == e.hi {
        fmt_value(e.value)
    } else {
        let d = if e.value == 0.0 { 0 } else { (3 - e.value.abs().log10().floor() as i32).clamp(0, 6) as usize };
        format!("{:.d$} [{:.d$}, {:.d$}]", e.value, e.lo, e.hi)
    }
}

/// A ratio: `1.93x [1.80, 2.10]`.
pub fn fmt_ratio(e: &Estimate) -> String {
    if e.lo == e.hi {
        format!("{:.2}x", e.value)
    } else {
        format!("{:.2}x [{:.2}, {:.2}]", e.value, e.lo, e.hi)
    }
}

/// A published value, `~` marking one read off a figure.
fn fmt_published(v: published::Value) -> String {
    if v.value.is_nan() {
        "".into()
    } else if v.approximate {
        format!("~{}", fmt_value(v.value))
    } else {
        fmt_value(v.value)
    }
}

/// A series of samples keyed by an x value (size in bytes, PE count).
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    /// Legend name.
    pub name: String,
    /// Communication layer (`local`, `mpi`), when known.
    pub layer: String,
    /// The files it was read from.
    pub files: Vec<String>,
    /// Samples per x.
    pub samples: BTreeMap<u64, Vec<f64>>,
}

impl Sampled {
    /// The median and interval per x.
    pub fn estimates(&self, cfg: &Bootstrap) -> BTreeMap<u64, Estimate> {
        self.samples.iter().filter_map(|(&x, s)| Some((x, median_ci(s, cfg).ok()?))).collect()
    }

    /// The series for a figure.
    pub fn series(&self, cfg: &Bootstrap) -> Series {
        Series::new(self.name.clone(), self.estimates(cfg).into_iter().map(|(x, e)| (x as f64, e)))
    }
}

/// The order in which models are listed: floors first, then MPI, then the
/// runtime.
fn model_rank(name: &str) -> usize {
    const ORDER: [&str; 10] = [
        "raw",
        "c-mpi",
        "c-mpi-am",
        "mpi",
        "mpi4py",
        "chare/local",
        "chare/local (entry)",
        "chare/mpi",
        "chare",
        "charm4py",
    ];
    ORDER.iter().position(|o| name == *o || name.starts_with(&format!("{o} "))).unwrap_or(ORDER.len())
}

fn sort_series(v: &mut [Sampled]) {
    v.sort_by(|a, b| (model_rank(&a.name), &a.name).cmp(&(model_rank(&b.name), &b.name)));
}

/// The legend name of a latency/bandwidth file: the model, with the layer
/// for the runtime (`chare/local`, `chare/mpi`) and `(entry)` for entry-
/// method sends.
fn osu_name(t: &Table) -> String {
    let model = t.meta("model").unwrap_or("?");
    if model == "chare" {
        let via = if t.meta("via") == Some("entry") { " (entry)" } else { "" };
        format!("chare/{}{via}", t.meta("layer").unwrap_or("?"))
    } else {
        model.to_string()
    }
}

/// Pools latency or bandwidth files into series: per file the per-run
/// values of `value` when the footer has them, else the printed medians.
pub fn osu_series(inputs: &[&Input], value: &str) -> Vec<Sampled> {
    let mut by: BTreeMap<(String, String), Sampled> = BTreeMap::new();
    for i in inputs {
        let t = &i.table;
        let name = osu_name(t);
        let s = by.entry((name.clone(), i.variant.clone())).or_insert_with(|| Sampled {
            name,
            layer: t.meta("layer").unwrap_or("").to_string(),
            ..Sampled::default()
        });
        s.files.push(i.rel.clone());
        let runs: BTreeMap<String, Vec<f64>> = t.runs("size_bytes", value).into_iter().collect();
        for r in 0..t.rows.len() {
            let (Ok(size), Ok(v)) = (t.number(r, "size_bytes"), t.number(r, value)) else { continue };
            let size = size as u64;
            let vals = runs.get(&size.to_string()).cloned().unwrap_or_else(|| vec![v]);
            s.samples.entry(size).or_default().extend(vals.into_iter().filter(|v| v.is_finite()));
        }
    }
    disambiguate(by)
}

/// Names series that share a name but come from different file variants
/// after their variant.
fn disambiguate(by: BTreeMap<(String, String), Sampled>) -> Vec<Sampled> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (n, _) in by.keys() {
        *count.entry(n.clone()).or_default() += 1;
    }
    let mut out: Vec<Sampled> = by
        .into_iter()
        .map(|((n, variant), mut s)| {
            if count[&n] > 1 {
                s.name = format!("{n} ({})", short(&variant));
            }
            s
        })
        .collect();
    sort_series(&mut out);
    out
}

/// The baseline of a latency/bandwidth series: the floor of its layer (raw
/// for local, c-mpi, else mpi, for MPI), else the first floor present.
///
/// Charm4Py (layer `charm`: Charm++'s own network layer) is measured
/// against the MPI floor, as the paper measures it against MPI.
fn baseline_for<'a>(s: &Sampled, all: &'a [Sampled]) -> Option<&'a Sampled> {
    let floors = ["raw", "c-mpi", "mpi"];
    let layer = if s.layer == "charm" { "mpi" } else { s.layer.as_str() };
    let same_layer =
        floors.iter().find_map(|f| all.iter().find(|b| b.name == *f && (b.layer == layer || layer.is_empty())));
    let any = floors.iter().find_map(|f| all.iter().find(|b| b.name == *f));
    same_layer.or(any).filter(|b| b.name != s.name)
}

/// The ratio of `s` over `base` per common x.
fn ratios(s: &Sampled, base: &Sampled, cfg: &Bootstrap) -> BTreeMap<u64, Estimate> {
    s.samples.iter().filter_map(|(x, a)| Some((*x, ratio_ci(a, base.samples.get(x)?, cfg).ok()?))).collect()
}

/// Everything the report built.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The experiments with data, by id (see [`EXPECTED`]).
    pub present: Vec<String>,
    /// The expected experiments without data.
    pub missing: Vec<String>,
    /// The figures written (SVG paths, relative to the report).
    pub figures: Vec<String>,
    /// The files not recognised, with the reason.
    pub unknown: Vec<(String, String)>,
    /// Path of report.md.
    pub markdown: PathBuf,
    /// Path of report.html.
    pub html: PathBuf,
}

/// What the section builders share.
struct Ctx<'a> {
    out: &'a Path,
    cfg: Bootstrap,
    doc: Doc,
    medians: Table,
    figures: Vec<String>,
}

impl Ctx<'_> {
    /// Writes a figure with `draw(stem)` and adds it to the document.
    fn figure(&mut self, name: &str, caption: &str, draw: impl FnOnce(&Path) -> Result<plot::Written, String>) {
        match draw(&self.out.join("figures").join(name)) {
            Ok(_) => {
                let svg = format!("figures/{name}.svg");
                self.doc.figure(caption, svg.clone(), format!("figures/{name}.png"));
                self.figures.push(svg);
            }
            Err(e) => self.doc.p(format!("Figure `{name}` could not be drawn: {e}")),
        }
    }

    /// Records a median in medians.csv.
    fn record(&mut self, experiment: &str, series: &str, x_name: &str, x: u64, quantity: &str, e: &Estimate) {
        let row = [
            experiment.to_string(),
            series.replace(',', ";"),
            x_name.to_string(),
            x.to_string(),
            quantity.to_string(),
            format!("{}", e.value),
            format!("{}", e.lo),
            format!("{}", e.hi),
            e.n.to_string(),
        ];
        let _ = self.medians.push_row(row.to_vec());
    }

    /// The files and commands behind a section.
    fn sources(&mut self, inputs: &[&Input]) {
        let mut cmds: Vec<&str> = inputs.iter().filter_map(|i| i.table.meta("command")).collect();
        cmds.dedup();
        let files: Vec<&str> = inputs.iter().map(|i| i.rel.as_str()).collect();
        let shown: Vec<String> = files.iter().take(12).map(|f| format!("`{f}`")).collect();
        let more = if files.len() > 12 { format!(" and {} more", files.len() - 12) } else { String::new() };
        self.doc.p(format!("Data: {} file(s): {}{more}.", files.len(), shown.join(", ")));
        let mut distinct: Vec<&str> = Vec::new();
        for c in cmds {
            if !distinct.contains(&c) {
                distinct.push(c);
            }
        }
        if !distinct.is_empty() {
            let more = distinct.len().saturating_sub(6);
            let mut items: Vec<String> = distinct.iter().take(6).map(|c| format!("`{c}`")).collect();
            if more > 0 {
                items.push(format!("and {more} more commands"));
            }
            self.doc.p("Commands:");
            self.doc.list(items);
        }
    }
}

/// The x values where a reading is given: 8 B (or the smallest size of at
/// least 8 B) and the largest size.
fn reading_sizes(xs: &[u64]) -> Vec<u64> {
    let mut v = Vec::new();
    if let Some(&s) = xs.iter().find(|&&x| x >= 8).or(xs.first()) {
        v.push(s);
    }
    if let Some(&l) = xs.last() {
        if !v.contains(&l) {
            v.push(l);
        }
    }
    v
}

fn size_label(x: u64) -> String {
    fmt_bytes(x as f64)
}

/// The latency or bandwidth section.
fn osu_section(cx: &mut Ctx<'_>, inputs: &[&Input], latency: bool) {
    let (id, value, unit, title) = if latency {
        ("latency", "one_way_us", "µs", "Point-to-point latency (PAPER.md section 1)")
    } else {
        ("bandwidth", "bandwidth_mb_s", "MB/s", "Bandwidth (PAPER.md section 2)")
    };
    cx.doc.h(2, title);
    cx.sources(inputs);
    let series = osu_series(inputs, value);
    let cfg = cx.cfg;
    let est: Vec<BTreeMap<u64, Estimate>> = series.iter().map(|s| s.estimates(&cfg)).collect();
    let figs: Vec<Series> = series.iter().map(|s| s.series(&cfg)).collect();
    let runs: Vec<String> = series
        .iter()
        .map(|s| {
            let per = s.samples.values().map(Vec::len).max().unwrap_or(0);
            format!("`{}`: {} run(s) per size, layer {}", s.name, per, if s.layer.is_empty() { "?" } else { &s.layer })
        })
        .collect();
    cx.doc.list(runs);
    let (fig_title, caption) = if latency {
        ("One-way latency", "One-way latency against message size (log-log); bars: confidence intervals")
    } else {
        ("Bandwidth", "Bandwidth against message size (log x); bars: confidence intervals")
    };
    cx.figure(id, caption, |stem| {
        if latency {
            plot::latency(&figs, fig_title, stem)
        } else {
            plot::bandwidth(&figs, fig_title, stem)
        }
    });
    // All sizes: medians with intervals.
    let mut sizes: Vec<u64> = series.iter().flat_map(|s| s.samples.keys().copied()).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let head: Vec<String> =
        std::iter::once("size".to_string()).chain(series.iter().map(|s| format!("{} ({unit})", s.name))).collect();
    let rows: Vec<Vec<String>> = sizes
        .iter()
        .map(|x| {
            std::iter::once(size_label(*x)).chain(est.iter().map(|e| e.get(x).map_or(String::new(), fmt_est))).collect()
        })
        .collect();
    cx.doc.p(format!("Medians with {:.0}% confidence intervals, {unit}:", cfg.confidence * 100.0));
    cx.doc.table(head, rows);
    let all: Vec<&Estimate> = est.iter().flat_map(|e| e.values()).collect();
    let wide = all.iter().filter(|e| e.relative_half_width() > 0.1).count();
    for (s, e) in series.iter().zip(&est) {
        for (x, v) in e {
            cx.record(id, &s.name, "size_bytes", *x, value, v);
        }
    }
    // Ratios to each series' baseline.
    let mut ratio_series = Vec::new();
    let mut ratio_cols = Vec::new();
    let mut readings = Vec::new();
    for s in &series {
        let Some(base) = baseline_for(s, &series) else { continue };
        let r = ratios(s, base, &cfg);
        if r.is_empty() {
            continue;
        }
        let name = format!("{} / {}", s.name, base.name);
        let xs: Vec<u64> = r.keys().copied().collect();
        let what = if latency { "latency" } else { "bandwidth" };
        let parts: Vec<String> = reading_sizes(&xs)
            .iter()
            .enumerate()
            .map(|(k, x)| {
                if k == 0 {
                    format!("`{}` {what} at {} is {} `{}`", s.name, size_label(*x), fmt_ratio(&r[x]), base.name)
                } else {
                    format!("at {} {}", size_label(*x), fmt_ratio(&r[x]))
                }
            })
            .collect();
        readings.push(format!("{}.", parts.join("; ")));
        for (x, v) in &r {
            cx.record(id, &name, "size_bytes", *x, &format!("{value} ratio"), v);
        }
        ratio_series.push(Series::new(name.clone(), r.iter().map(|(x, e)| (*x as f64, *e))));
        ratio_cols.push((name, r));
    }
    if !ratio_series.is_empty() {
        let bases: Vec<String> = {
            let mut b: Vec<String> =
                ratio_cols.iter().filter_map(|(n, _)| n.rsplit(" / ").next().map(str::to_string)).collect();
            b.sort();
            b.dedup();
            b
        };
        let quantity = if latency { "latency" } else { "bandwidth" };
        let base_desc = bases.join(", ");
        cx.figure(
            &format!("{id}-ratio"),
            &format!("Each model's {quantity} over its layer's floor ({base_desc}) against message size"),
            |stem| plot::ratio(&ratio_series, &base_desc, quantity, &format!("{} ratio", fig_title), stem),
        );
        let head: Vec<String> =
            std::iter::once("size".to_string()).chain(ratio_cols.iter().map(|(n, _)| n.clone())).collect();
        let rows: Vec<Vec<String>> = sizes
            .iter()
            .filter(|x| ratio_cols.iter().any(|(_, r)| r.contains_key(x)))
            .map(|x| {
                std::iter::once(size_label(*x))
                    .chain(ratio_cols.iter().map(|(_, r)| r.get(x).map_or(String::new(), fmt_ratio)))
                    .collect()
            })
            .collect();
        cx.doc.p("Ratios (bootstrap of the ratio of medians):");
        cx.doc.table(head, rows);
    }
    // Beside the paper.
    if latency {
        latency_vs_paper(cx, &series, &est, &sizes);
    } else {
        bandwidth_vs_paper(cx, &series, &est, &mut readings);
    }
    if wide > 0 {
        readings.push(format!(
            "{wide} of {} medians have an interval wider than ±10% of the value (a noisy machine, or too few runs).",
            all.len()
        ));
    }
    if all.iter().all(|e| e.n < 2) {
        readings.push("Every point comes from one run: no intervals (repeat with `--runs 5`).".into());
    }
    cx.doc.h(3, "Reading");
    if readings.is_empty() {
        readings.push("Only one model: no ratios (a floor, `raw` or `c-mpi`/`mpi`, gives them).".into());
    }
    cx.doc.list(readings);
}

/// The paper's latency table at its sizes beside ours.
fn latency_vs_paper(cx: &mut Ctx<'_>, series: &[Sampled], est: &[BTreeMap<u64, Estimate>], sizes: &[u64]) {
    let p = &published::LATENCY;
    let common: Vec<u64> = p.xs().iter().map(|&x| x as u64).filter(|x| sizes.contains(x)).collect();
    cx.doc.h(3, "Beside the paper");
    if common.is_empty() {
        cx.doc.p(format!(
            "The paper's table ({}) has sizes {}; none was measured here.",
            p.caption,
            p.xs().iter().map(|&x| fmt_bytes(x)).collect::<Vec<_>>().join(", ")
        ));
        return;
    }
    let head: Vec<String> = std::iter::once("size".to_string())
        .chain(series.iter().map(|s| format!("ours: {}", s.name)))
        .chain(p.columns.iter().map(|c| format!("paper: {c}")))
        .collect();
    let rows = common
        .iter()
        .map(|x| {
            std::iter::once(size_label(*x))
                .chain(est.iter().map(|e| e.get(x).map_or(String::new(), |v| fmt_value(v.value))))
                .chain(p.columns.iter().map(|c| p.get(*x as f64, c).map_or(String::new(), fmt_published)))
                .collect()
        })
        .collect();
    cx.doc.p(format!("One-way µs at the paper's sizes; paper: {}.", p.caption));
    cx.doc.table(head, rows);
    let ratio_rows = common
        .iter()
        .map(|x| {
            let mut r = vec![size_label(*x)];
            for (label, a, b) in published::LATENCY_RATIOS {
                let (Some(a), Some(b)) = (p.get(*x as f64, a), p.get(*x as f64, b)) else { continue };
                r.push(format!("{label}: {:.1}x", a.value / b.value));
            }
            let mut ours: Vec<String> = series
                .iter()
                .filter_map(|s| {
                    let b = baseline_for(s, series)?;
                    let e = ratio_ci(s.samples.get(x)?, b.samples.get(x)?, &cx.cfg).ok()?;
                    Some(format!("{} / {}: {}", s.name, b.name, fmt_ratio(&e)))
                })
                .collect();
            // The paper's first ratio between the peers themselves.
            let peer = |n: &str| series.iter().find(|s| s.name == n).and_then(|s| s.samples.get(x));
            if let (Some(c), Some(m)) = (peer("charm4py"), peer("mpi4py")) {
                if let Ok(e) = ratio_ci(c, m, &cx.cfg) {
                    ours.push(format!("charm4py / mpi4py: {}", fmt_ratio(&e)));
                }
            }
            r.push(ours.join("; "));
            r
        })
        .collect();
    cx.doc.p("The productive model over MPI, paper and ours:");
    cx.doc.table(vec!["size".into(), "paper".into(), "paper".into(), "ours".into()], ratio_rows);
}

/// Our peak bandwidths beside the paper's statements.
fn bandwidth_vs_paper(
    cx: &mut Ctx<'_>,
    series: &[Sampled],
    est: &[BTreeMap<u64, Estimate>],
    readings: &mut Vec<String>,
) {
    cx.doc.h(3, "Beside the paper");
    let rows: Vec<Vec<String>> = series
        .iter()
        .zip(est)
        .filter_map(|(s, e)| {
            let (x, peak) = e.iter().max_by(|a, b| a.1.value.total_cmp(&b.1.value))?;
            let (lx, last) = e.iter().next_back()?;
            readings.push(format!(
                "`{}` peaks at {} MB/s ({}); at {} it reaches {} MB/s ({:.0}% of its peak).",
                s.name,
                fmt_value(peak.value),
                size_label(*x),
                size_label(*lx),
                fmt_value(last.value),
                100.0 * last.value / peak.value
            ));
            Some(vec![s.name.clone(), fmt_est(peak), size_label(*x), fmt_est(last), size_label(*lx)])
        })
        .collect();
    cx.doc.table(vec!["ours".into(), "peak MB/s".into(), "at".into(), "largest size MB/s".into(), "size".into()], rows);
    let p = &published::BANDWIDTH;
    let rows = p
        .rows
        .iter()
        .map(|(x, vs)| std::iter::once(fmt_bytes(*x)).chain(vs.iter().map(|v| fmt_published(*v))).collect())
        .collect();
    cx.doc.p(format!("Paper: {}.", p.caption));
    cx.doc.table(std::iter::once("size".to_string()).chain(p.columns.iter().map(|c| c.to_string())).collect(), rows);
    cx.doc.list(published::BANDWIDTH_NOTES.iter().map(|n| format!("Paper: {n}.")).collect());
}

/// A published table as it is, x first.
fn published_table(cx: &mut Ctx<'_>, p: &Published) {
    let x = |v: f64| if p.x_name == "size_bytes" { fmt_bytes(v) } else { plot::fmt_number(v) };
    cx.doc.p(format!("Paper: {}.", p.caption));
    cx.doc.table(
        std::iter::once(p.x_name.to_string()).chain(p.columns.iter().map(|c| c.to_string())).collect(),
        p.rows
            .iter()
            .map(|(v, vs)| std::iter::once(x(*v)).chain(vs.iter().map(|v| fmt_published(*v))).collect())
            .collect(),
    );
}

/// One stencil point (series, PE count) with its per-run samples.
#[derive(Debug, Clone, Default)]
struct StencilPoint {
    grid: String,
    iteration: Vec<f64>,
    communication: Vec<f64>,
    computation: Vec<f64>,
}

/// The legend name of a stencil point file.
fn stencil_name(model: &str, layer: &str, odf: usize) -> String {
    let base = if model == "chare" { format!("chare/{layer}") } else { model.to_string() };
    if odf > 1 {
        format!("{base} odf {odf}")
    } else {
        base
    }
}

/// The sweep kind of a stencil file from its name (`strong-...`,
/// `weak-...`), if it says.
fn kind_from_name(rel: &str) -> Option<&'static str> {
    let name = short(rel);
    if name.starts_with("strong-") {
        Some("strong")
    } else if name.starts_with("weak-") {
        Some("weak")
    } else {
        None
    }
}

type StencilData = BTreeMap<String, BTreeMap<String, BTreeMap<u64, StencilPoint>>>;

/// Stencil points by sweep kind, series and PE count: the per-point files
/// (per-run values from their `# run N:` lines), then the sweep summaries
/// for points without a file.
fn stencil_data(points: &[&Input], summaries: &[&Input]) -> StencilData {
    let mut data: StencilData = BTreeMap::new();
    let mut unnamed: Vec<(String, u64, StencilPoint)> = Vec::new();
    for i in points {
        let t = &i.table;
        let Some(sum) = t.fields("summary") else { continue };
        let num = |k: &str| field(&sum, k).and_then(|v| v.parse::<f64>().ok());
        let model = field(&sum, "model").or(t.meta("model")).unwrap_or("?");
        let layer = field(&sum, "layer").or(t.meta("layer")).unwrap_or("?");
        let odf = num("odf").unwrap_or(1.0) as usize;
        let pes = num("pes").or_else(|| t.meta("pes")?.parse().ok()).unwrap_or(0.0) as u64;
        let name = stencil_name(model, layer, odf);
        let mut p = StencilPoint {
            grid: format!("{}x{}", field(&sum, "n").unwrap_or("?"), field(&sum, "m").unwrap_or("?")),
            ..StencilPoint::default()
        };
        let runs = t.fields_of_each("run ");
        for (_, f) in &runs {
            let g = |k: &str| field(f, k).and_then(|v| v.parse::<f64>().ok());
            if let (Some(a), Some(b), Some(c)) = (g("iteration_ms"), g("communication_ms"), g("computation_ms")) {
                p.iteration.push(a);
                p.communication.push(b);
                p.computation.push(c);
            }
        }
        if p.iteration.is_empty() {
            if let (Some(a), Some(b), Some(c)) = (num("iteration_ms"), num("communication_ms"), num("computation_ms")) {
                p.iteration.push(a);
                p.communication.push(b);
                p.computation.push(c);
            }
        }
        if p.iteration.is_empty() {
            continue;
        }
        match kind_from_name(&i.rel) {
            Some(k) => merge(data.entry(k.into()).or_default().entry(name).or_default().entry(pes).or_default(), p),
            None => unnamed.push((name, pes, p)),
        }
    }
    // Points whose file name does not say: strong when a series keeps one
    // grid over its PE counts, weak when the grid grows.
    let mut by_series: BTreeMap<String, Vec<(u64, StencilPoint)>> = BTreeMap::new();
    for (n, pes, p) in unnamed {
        by_series.entry(n).or_default().push((pes, p));
    }
    for (n, pts) in by_series {
        let kind = if pts.iter().all(|(_, p)| p.grid == pts[0].1.grid) { "strong" } else { "weak" };
        for (pes, p) in pts {
            merge(data.entry(kind.into()).or_default().entry(n.clone()).or_default().entry(pes).or_default(), p);
        }
    }
    for i in summaries {
        let t = &i.table;
        let kind = match t.title().and_then(|l| l.split("--kind ").nth(1)).map(str::trim) {
            Some("weak") => "weak",
            Some("strong") => "strong",
            _ => kind_from_name(&i.rel).unwrap_or("strong"),
        };
        let odf = t
            .header
            .iter()
            .find_map(|l| l.split("odf: ").nth(1)?.split_whitespace().next()?.parse::<usize>().ok())
            .unwrap_or(1);
        for r in 0..t.rows.len() {
            let series = t.cell(r, "series").unwrap_or("?");
            let name = match series {
                "chare" => stencil_name("chare", "local", odf),
                "chare-mpi" => stencil_name("chare", "mpi", odf),
                other => other.to_string(),
            };
            let Ok(pes) = t.number(r, "pes") else { continue };
            let (Ok(a), Ok(b), Ok(c)) =
                (t.number(r, "iteration_ms"), t.number(r, "communication_ms"), t.number(r, "computation_ms"))
            else {
                continue;
            };
            let slot = data.entry(kind.into()).or_default().entry(name).or_default().entry(pes as u64).or_default();
            if slot.iteration.is_empty() {
                *slot = StencilPoint {
                    grid: t.cell(r, "grid").unwrap_or("?").to_string(),
                    iteration: vec![a],
                    communication: vec![b],
                    computation: vec![c],
                };
            }
        }
    }
    data
}

fn merge(into: &mut StencilPoint, p: StencilPoint) {
    if into.grid.is_empty() {
        into.grid = p.grid;
    }
    into.iteration.extend(p.iteration);
    into.communication.extend(p.communication);
    into.computation.extend(p.computation);
}

fn stencil_sections(cx: &mut Ctx<'_>, points: &[&Input], summaries: &[&Input]) {
    let data = stencil_data(points, summaries);
    for (kind, series) in &data {
        let id = format!("stencil-{kind}");
        cx.doc.h(2, format!("Stencil2D {kind} scaling (PAPER.md section 4)"));
        let ins: Vec<&Input> = points
            .iter()
            .chain(summaries)
            .filter(|i| kind_from_name(&i.rel).is_none_or(|k| k == kind))
            .copied()
            .collect();
        cx.sources(&ins);
        let cfg = cx.cfg;
        let mut names: Vec<&String> = series.keys().collect();
        names.sort_by_key(|n| (model_rank(n), n.to_string()));
        let est = |v: &[f64]| median_ci(v, &cfg).ok();
        let mut lines = Vec::new();
        let mut rows = Vec::new();
        let mut groups: BTreeMap<u64, Vec<Bar>> = BTreeMap::new();
        for n in &names {
            let pts = &series[*n];
            let mut line = Vec::new();
            for (pes, p) in pts {
                let (Some(it), Some(co), Some(cp)) = (est(&p.iteration), est(&p.communication), est(&p.computation))
                else {
                    continue;
                };
                cx.record(&id, n, "pes", *pes, "iteration_ms", &it);
                cx.record(&id, n, "pes", *pes, "communication_ms", &co);
                cx.record(&id, n, "pes", *pes, "computation_ms", &cp);
                line.push((*pes as f64, it));
                let base = pts.get(&1).and_then(|b| est(&b.iteration));
                let rel = base.map_or(String::new(), |b| {
                    let r = b.value / it.value;
                    if kind == "strong" {
                        format!("{r:.2}")
                    } else {
                        format!("{:.0}%", 100.0 * r)
                    }
                });
                rows.push(vec![
                    n.to_string(),
                    pes.to_string(),
                    p.grid.clone(),
                    p.iteration.len().to_string(),
                    fmt_est(&it),
                    fmt_est(&co),
                    fmt_est(&cp),
                    format!("{:.0}%", 100.0 * co.value / it.value),
                    rel,
                ]);
                groups.entry(*pes).or_default().push(Bar { name: n.to_string(), parts: vec![cp.value, co.value] });
            }
            lines.push(Series::new(n.as_str(), line));
        }
        let rel = if kind == "strong" { "speedup vs 1 PE" } else { "efficiency vs 1 PE" };
        cx.doc.p("Slowest process's mean per iteration, ms; medians over runs with confidence intervals:");
        cx.doc.table(
            ["series", "PEs", "grid", "runs", "iteration ms", "communication ms", "computation ms", "comm. share", rel]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows,
        );
        let bar_groups: Vec<BarGroup> =
            groups.into_iter().map(|(p, bars)| BarGroup { label: p.to_string(), bars }).collect();
        cx.figure(
            &format!("{id}-time"),
            &format!("Stencil2D {kind} scaling: time per iteration against PEs (log-log)"),
            |s| plot::scaling(&lines, "Time per iteration (ms)", &format!("Stencil2D {kind} scaling"), s),
        );
        cx.figure(
            &format!("{id}-breakdown"),
            &format!("Stencil2D {kind} scaling: computation (dark) and communication (light) per iteration, per model and PE count"),
            |s| {
                plot::stacked_bars(
                    &bar_groups,
                    &["computation", "communication"],
                    "Time per iteration (ms)",
                    &format!("Stencil2D {kind}: computation and communication"),
                    s,
                )
            },
        );
        // Reading.
        let mut readings = Vec::new();
        for n in &names {
            let pts = &series[*n];
            let (Some((&pmax, last)), Some((&pmin, first))) = (pts.iter().next_back(), pts.iter().next()) else {
                continue;
            };
            let (Some(l), Some(f), Some(co)) = (est(&last.iteration), est(&first.iteration), est(&last.communication))
            else {
                continue;
            };
            if pmax == pmin {
                readings.push(format!("`{n}`: {} ms per iteration at {pmax} PE(s).", fmt_value(l.value)));
            } else {
                readings.push(format!(
                    "`{n}`: {} ms per iteration at {pmin} PE(s), {} ms at {pmax} PEs ({:.2}x); communication is {:.0}% of the iteration at {pmax} PEs.",
                    fmt_value(f.value),
                    fmt_value(l.value),
                    f.value / l.value,
                    100.0 * co.value / l.value
                ));
            }
        }
        // The runtime against MPI, where both ran.
        if let Some(mpi) = series.get("mpi") {
            for n in names.iter().filter(|n| n.starts_with("chare")) {
                let parts: Vec<String> = series[*n]
                    .iter()
                    .filter_map(|(pes, p)| {
                        let r = ratio_ci(&p.iteration, &mpi.get(pes)?.iteration, &cfg).ok()?;
                        Some(format!("{} at {pes} PEs", fmt_ratio(&r)))
                    })
                    .collect();
                if !parts.is_empty() {
                    readings.push(format!("`{n}` / `mpi` time per iteration: {}.", parts.join(", ")));
                }
            }
        }
        // The peers against each other, as the paper's Charm4Py / mpi4py.
        if let Some(base) = series.get("mpi4py") {
            for n in names.iter().filter(|n| n.starts_with("charm4py")) {
                let parts: Vec<String> = series[*n]
                    .iter()
                    .filter_map(|(pes, p)| {
                        let r = ratio_ci(&p.iteration, &base.get(pes)?.iteration, &cfg).ok()?;
                        Some(format!("{} at {pes} PEs", fmt_ratio(&r)))
                    })
                    .collect();
                if !parts.is_empty() {
                    readings.push(format!(
                        "`{n}` / `mpi4py` time per iteration (the paper's ratio): {}.",
                        parts.join(", ")
                    ));
                }
            }
        }
        let p = &published::STENCIL_STRONG;
        let paper: Vec<String> =
            p.rows.iter().map(|(x, vs)| format!("{:.2}x at {x} PEs", vs[0].value / vs[1].value)).collect();
        readings.push(format!(
            "Paper (strong, 24576², Charm4Py / mpi4py): {}; computation alone is {} ms at 6144 PEs.",
            paper.join(", "),
            published::STENCIL_COMPUTATION_AT_6144_MS
        ));
        cx.doc.h(3, "Beside the paper");
        let rows = p
            .rows
            .iter()
            .map(|(x, vs)| {
                vec![
                    format!("{x}"),
                    fmt_published(vs[0]),
                    fmt_published(vs[1]),
                    format!("{:.2}", vs[0].value / vs[1].value),
                ]
            })
            .collect();
        cx.doc.p(format!("Paper: {} (our grids and PE counts are smaller: compare the shapes and ratios).", p.caption));
        cx.doc.table(vec!["PEs".into(), "Charm4Py".into(), "mpi4py".into(), "ratio".into()], rows);
        cx.doc.h(3, "Reading");
        cx.doc.list(readings);
    }
}

/// The legend name of a PIC row: the model, with the overdecomposition and
/// the balancer when the header gives them.
fn pic_name(t: &Table, r: usize) -> String {
    let mut name = t.cell(r, "model").unwrap_or("?").to_string();
    let odf = t.cell(r, "odf").or(t.meta("odf")).and_then(|v| v.parse::<usize>().ok()).unwrap_or(1);
    if odf > 1 {
        name.push_str(&format!(" (ODF {odf})"));
    }
    if let Some(b) = t.cell(r, "balancer").or(t.meta("balancer")).map(|b| b.split_whitespace().next().unwrap_or(b)) {
        if b != "none" && b != "n/a" && !b.is_empty() {
            name.push_str(&format!(" LB {b}"));
        }
    }
    name
}

fn pic_section(cx: &mut Ctx<'_>, inputs: &[&Input]) {
    cx.doc.h(2, "PIC (PAPER.md section 5)");
    cx.sources(inputs);
    let mut by: BTreeMap<String, Sampled> = BTreeMap::new();
    for i in inputs {
        let t = &i.table;
        for r in 0..t.rows.len() {
            let Ok(ms) = t.number(r, "ms_per_step") else { continue };
            let pes = t.number(r, "pes").ok().or_else(|| t.meta("pes")?.parse().ok()).unwrap_or(1.0) as u64;
            let name = pic_name(t, r);
            let s = by.entry(name.clone()).or_insert_with(|| Sampled { name, ..Sampled::default() });
            if !s.files.contains(&i.rel) {
                s.files.push(i.rel.clone());
            }
            s.samples.entry(pes).or_default().push(ms);
        }
    }
    let mut series: Vec<Sampled> = by.into_values().collect();
    sort_series(&mut series);
    let cfg = cx.cfg;
    let lines: Vec<Series> = series.iter().map(|s| s.series(&cfg)).collect();
    let mut rows = Vec::new();
    for s in &series {
        for (pes, e) in s.estimates(&cfg) {
            cx.record("pic", &s.name, "pes", pes, "ms_per_step", &e);
            rows.push(vec![s.name.clone(), pes.to_string(), s.samples[&pes].len().to_string(), fmt_est(&e)]);
        }
    }
    cx.doc.p("Milliseconds per step, medians over runs with confidence intervals:");
    cx.doc.table(vec!["variant".into(), "PEs".into(), "runs".into(), "ms per step".into()], rows);
    cx.figure("pic", "PIC: time per step against PEs (log-log), a line per variant", |s| {
        plot::time_per_step(&lines, "PIC: time per step", s)
    });
    cx.doc.h(3, "Beside the paper");
    published_table(cx, &published::PIC);
    let mut readings = Vec::new();
    // The balanced variants against the plain decomposition, as the paper's
    // mpi4py / (O, LB) column.
    let base = series.iter().find(|s| s.name == "mpi").or_else(|| series.iter().find(|s| s.name == "serial"));
    if let Some(b) = base {
        for s in series.iter().filter(|s| s.name != b.name) {
            let parts: Vec<String> = s
                .samples
                .iter()
                .filter_map(|(pes, v)| {
                    let r = ratio_ci(b.samples.get(pes).or(b.samples.get(&1))?, v, &cfg).ok()?;
                    Some(format!("{} at {pes} PEs", fmt_ratio(&r)))
                })
                .collect();
            if !parts.is_empty() {
                readings.push(format!("`{}` / `{}` time per step: {}.", b.name, s.name, parts.join(", ")));
            }
        }
    }
    // The paper's last column, mpi4py / Charm4Py (O, LB), from our peers.
    if let Some(b) = series.iter().find(|s| s.name == "mpi4py") {
        for s in series.iter().filter(|s| s.name.starts_with("charm4py")) {
            let parts: Vec<String> = s
                .samples
                .iter()
                .filter_map(|(pes, v)| {
                    let r = ratio_ci(b.samples.get(pes)?, v, &cfg).ok()?;
                    Some(format!("{} at {pes} PEs", fmt_ratio(&r)))
                })
                .collect();
            if !parts.is_empty() {
                readings.push(format!(
                    "`mpi4py` / `{}` time per step (the paper's mpi4py / Charm4Py column): {}.",
                    s.name,
                    parts.join(", ")
                ));
            }
        }
    }
    for s in &series {
        let e = s.estimates(&cfg);
        if let (Some((p0, e0)), Some((p1, e1))) = (e.iter().next(), e.iter().next_back()) {
            if p0 != p1 {
                readings.push(format!(
                    "`{}`: {} ms per step at {p0} PEs, {} ms at {p1} PEs ({:.2}x).",
                    s.name,
                    fmt_value(e0.value),
                    fmt_value(e1.value),
                    e0.value / e1.value
                ));
            } else {
                readings.push(format!("`{}`: {} ms per step at {p0} PE(s).", s.name, fmt_value(e0.value)));
            }
        }
    }
    readings
        .push("Paper: mpi4py / Charm4Py (O, LB) is 2.63x at 24 PEs, 2.68x at 48, falling to 0.41x at 768 PEs.".into());
    cx.doc.h(3, "Reading");
    cx.doc.list(readings);
}

/// The per-run values of an lb footer line `STRATEGY: per run k=v1,v2 ...`.
fn lb_runs(t: &Table, strategy: &str, key: &str) -> Option<Vec<f64>> {
    let v = t.meta(strategy)?;
    let f = super::csv::parse_fields(v);
    super::csv::parse_numbers(field(&f, key)?).ok().map(|v| v.into_iter().filter(|x| x.is_finite()).collect())
}

fn lb_section(cx: &mut Ctx<'_>, inputs: &[&Input]) {
    cx.doc.h(2, "Load balancing under synthetic imbalance (`chare-bench lb`)");
    cx.sources(inputs);
    let cfg = cx.cfg;
    let mut readings = Vec::new();
    for i in inputs {
        let t = &i.table;
        cx.doc.p(format!(
            "`{}`: {} PEs, {}; skew: {}.",
            i.rel,
            t.meta("pes").unwrap_or("?"),
            t.meta("chares").unwrap_or("? chares"),
            t.meta("skew").unwrap_or("?")
        ));
        let none_after = lb_runs(t, "none", "after_ms");
        let mut rows = Vec::new();
        let mut best: Option<(String, Estimate)> = None;
        for r in 0..t.rows.len() {
            let s = t.cell(r, "strategy").unwrap_or("?").to_string();
            let before = lb_runs(t, &s, "before_ms").or_else(|| t.number(r, "before_ms").ok().map(|v| vec![v]));
            let after = lb_runs(t, &s, "after_ms").or_else(|| t.number(r, "after_ms").ok().map(|v| vec![v]));
            let (Some(before), Some(after)) = (before, after) else { continue };
            let (Ok(b), Ok(a)) = (median_ci(&before, &cfg), median_ci(&after, &cfg)) else { continue };
            let ab = ratio_ci(&after, &before, &cfg).ok();
            let an = none_after.as_ref().and_then(|n| ratio_ci(&after, n, &cfg).ok());
            cx.record("lb", &s, "file", 0, "before_ms", &b);
            cx.record("lb", &s, "file", 0, "after_ms", &a);
            if let Some(an) = an {
                if s != "none" && best.as_ref().is_none_or(|(_, e)| an.value < e.value) {
                    best = Some((s.clone(), an));
                }
            }
            rows.push(vec![
                s,
                fmt_est(&b),
                fmt_est(&a),
                ab.as_ref().map_or("n/a".into(), fmt_ratio),
                an.as_ref().map_or("n/a".into(), fmt_ratio),
                t.cell(r, "moved").unwrap_or("").to_string(),
                t.cell(r, "runs").unwrap_or("").to_string(),
            ]);
        }
        cx.doc.table(
            ["strategy", "before ms", "after ms", "after/before", "after/none", "moved", "runs"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows,
        );
        if let Some((s, e)) = best {
            readings.push(format!(
                "`{}`: the best strategy, `{s}`, runs an iteration in {} of the time without balancing.",
                i.rel,
                fmt_ratio(&e)
            ));
        }
    }
    cx.doc.h(3, "Reading");
    if readings.is_empty() {
        readings.push("No strategy could be compared with `none`.".into());
    }
    cx.doc.list(readings);
}

fn lb_cost_section(cx: &mut Ctx<'_>, inputs: &[&Input]) {
    cx.doc.h(2, "Cost of one balancing step (`chare-bench lb --cost-only`)");
    cx.sources(inputs);
    let cfg = cx.cfg;
    for i in inputs {
        let t = &i.table;
        let mut rows = Vec::new();
        for r in 0..t.rows.len() {
            let s = t.cell(r, "strategy").unwrap_or("?").to_string();
            let steps = t
                .meta(&s)
                .and_then(|v| v.strip_prefix("step_ms per step "))
                .and_then(|v| super::csv::parse_numbers(v).ok())
                .or_else(|| t.number(r, "step_ms").ok().map(|v| vec![v]))
                .unwrap_or_default();
            let Ok(e) = median_ci(&steps, &cfg) else { continue };
            cx.record("lb-cost", &s, "chares", t.number(r, "chares").unwrap_or(0.0) as u64, "step_ms", &e);
            rows.push(vec![
                s,
                t.cell(r, "chares").unwrap_or("").to_string(),
                t.cell(r, "state_bytes").unwrap_or("").to_string(),
                steps.len().to_string(),
                fmt_est(&e),
                t.cell(r, "sync_ms").unwrap_or("").to_string(),
                t.cell(r, "moved").unwrap_or("").to_string(),
            ]);
        }
        cx.doc.p(format!("`{}`: {} PEs.", i.rel, t.meta("pes").unwrap_or("?")));
        cx.doc.table(
            ["strategy", "chares", "state bytes", "steps", "step ms", "sync ms", "moved"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows,
        );
    }
}

fn stream_section(cx: &mut Ctx<'_>, inputs: &[&Input]) {
    cx.doc.h(2, "STREAM memory bandwidth (`chare-bench stream`)");
    cx.sources(inputs);
    for i in inputs {
        let t = &i.table;
        let rows: Vec<Vec<String>> = (0..t.rows.len())
            .map(|r| {
                ["kernel", "mb_s", "traffic_mb_s", "best_s"]
                    .iter()
                    .map(|c| t.cell(r, c).unwrap_or("").to_string())
                    .collect()
            })
            .collect();
        cx.doc.p(format!("`{}` ({}; best of the repetitions):", i.rel, t.meta("threads").unwrap_or("? threads")));
        cx.doc.table(vec!["kernel".into(), "MB/s".into(), "traffic MB/s".into(), "best s".into()], rows);
    }
}

/// The machine(s) and versions named by the files' comments.
fn machine_section(cx: &mut Ctx<'_>, inputs: &[Input]) {
    cx.doc.h(2, "Machine and versions");
    let mut rows = Vec::new();
    for key in ["cpu", "cores", "host", "oversubscribed"] {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for i in inputs {
            if let Some(v) = i.table.meta(key) {
                *seen.entry(v).or_default() += 1;
            }
        }
        if !seen.is_empty() {
            let v: Vec<String> = seen.iter().map(|(v, n)| format!("{v} ({n} files)")).collect();
            rows.push(vec![key.to_string(), v.join("; ")]);
        }
    }
    rows.push(vec!["chare-bench (report)".into(), env!("CARGO_PKG_VERSION").into()]);
    let mut notes: Vec<&str> = inputs.iter().flat_map(|i| i.table.notes()).filter(|n| looks_like_versions(n)).collect();
    notes.sort_unstable();
    notes.dedup();
    for n in notes {
        rows.push(vec!["versions".into(), n.to_string()]);
    }
    cx.doc.table(vec!["".into(), "value".into()], rows);
}

/// A free comment line that names software versions: a word like `4.1.2`
/// or `v4.1` (a plain decimal such as `1.700` is not one).
fn looks_like_versions(note: &str) -> bool {
    note.split_whitespace().any(|w| {
        let tagged = w.starts_with('v');
        let w = w.trim_start_matches('v').trim_end_matches([',', ';', ')']);
        let parts: Vec<&str> = w.split('.').collect();
        (parts.len() >= 3 || (tagged && parts.len() == 2))
            && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Bootstrap settings from the command line.
pub fn bootstrap(resamples: usize, confidence: f64) -> Result<Bootstrap, String> {
    if resamples == 0 {
        return Err("--resamples must be at least 1".into());
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(format!("--confidence ({confidence}) must be between 0 and 1"));
    }
    Ok(Bootstrap { resamples, confidence, ..Bootstrap::default() })
}

/// Builds the report from the CSVs under `dir` into `out`.
pub fn build(dir: &Path, out: &Path, cfg: Bootstrap) -> Result<Built, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let inputs = read_dir(dir)?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut medians = Table::new(&["experiment", "series", "x_name", "x", "quantity", "median", "ci_lo", "ci_hi", "n"]);
    medians.header = vec![
        MEDIANS_TITLE.to_string(),
        format!("source: {}", dir.display()),
        format!(
            "method: median over runs; {:.0}% percentile bootstrap, {} resamples, seed {:#x}",
            cfg.confidence * 100.0,
            cfg.resamples,
            cfg.seed
        ),
    ];
    let mut cx = Ctx { out, cfg, doc: Doc::default(), medians, figures: Vec::new() };
    let of = |k: Kind| -> Vec<&Input> { inputs.iter().filter(|i| i.kind == k).collect() };
    let (lat, bw, sp, ss, pic, lb, lbc, st) = (
        of(Kind::Latency),
        of(Kind::Bandwidth),
        of(Kind::StencilPoint),
        of(Kind::StencilSummary),
        of(Kind::Pic),
        of(Kind::Lb),
        of(Kind::LbCost),
        of(Kind::Stream),
    );
    let unknown: Vec<(String, String)> = inputs
        .iter()
        .filter_map(|i| match &i.kind {
            Kind::Unknown(why) => Some((i.rel.clone(), why.clone())),
            _ => None,
        })
        .collect();
    let mut present: Vec<String> = Vec::new();
    for (id, v) in
        [("latency", &lat), ("bandwidth", &bw), ("pic", &pic), ("lb", &lb), ("lb-cost", &lbc), ("stream", &st)]
    {
        if !v.is_empty() {
            present.push(id.to_string());
        }
    }
    let stencil_kinds: Vec<String> = stencil_data(&sp, &ss)
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(k, _)| format!("stencil-{k}"))
        .collect();
    present.extend(stencil_kinds);
    let order = |id: &str| EXPECTED.iter().position(|(e, _, _)| *e == id).unwrap_or(EXPECTED.len());
    present.sort_by_key(|id| order(id));
    let missing: Vec<String> = EXPECTED
        .iter()
        .filter(|(id, _, _)| !present.iter().any(|p| p == id))
        .map(|(id, _, _)| id.to_string())
        .collect();

    // Front matter.
    cx.doc.h(1, "Chare evaluation report");
    let used = inputs.iter().filter(|i| !matches!(i.kind, Kind::Unknown(_) | Kind::Own)).count();
    cx.doc.p(format!(
        "Built by `chare-bench report` from {used} CSV file(s) under `{}`. Every figure is the median over the runs \
         found (per-run values from the files' trailing comment lines, pooled across repeated files of one series); \
         brackets give its {:.0}% confidence interval by the percentile bootstrap ({} resamples, fixed seed, so the \
         report is reproducible); a value without brackets came from a single run. Ratios are ratios of medians with \
         their own bootstrap interval. The paper's numbers are those of PAPER.md section 6 (`~`: read off a figure).",
        dir.display(),
        cfg.confidence * 100.0,
        cfg.resamples
    ));
    machine_section(&mut cx, &inputs);
    cx.doc.h(2, "Experiments");
    let title =
        |id: &str| EXPECTED.iter().find(|(e, _, _)| *e == id).map_or(id.to_string(), |(_, t, s)| format!("{t} ({s})"));
    let listed: Vec<String> = present.iter().map(|id| format!("`{id}`: {}", title(id))).collect();
    if listed.is_empty() {
        cx.doc.p("Experiments with data: none.");
    } else {
        cx.doc.p("Experiments with data:");
        cx.doc.list(listed);
    }
    if missing.is_empty() {
        cx.doc.p("Expected experiments missing: none.");
    } else {
        cx.doc.p("Expected experiments missing (no data in this directory):");
        cx.doc.list(missing.iter().map(|id| format!("`{id}`: {}", title(id))).collect());
    }

    if missing.iter().any(|m| m == "gpu") {
        cx.doc.p("The paper's GPU numbers, for when that experiment exists:");
        published_table(&mut cx, &published::GPU_LATENCY);
        published_table(&mut cx, &published::STENCIL_GPU_STRONG);
    }

    if !lat.is_empty() {
        osu_section(&mut cx, &lat, true);
    }
    if !bw.is_empty() {
        osu_section(&mut cx, &bw, false);
    }
    if !(sp.is_empty() && ss.is_empty()) {
        stencil_sections(&mut cx, &sp, &ss);
    }
    if !pic.is_empty() {
        pic_section(&mut cx, &pic);
    }
    if !lb.is_empty() {
        lb_section(&mut cx, &lb);
    }
    if !lbc.is_empty() {
        lb_cost_section(&mut cx, &lbc);
    }
    if !st.is_empty() {
        stream_section(&mut cx, &st);
    }
    if !unknown.is_empty() {
        cx.doc.h(2, "Files not recognised");
        cx.doc.list(unknown.iter().map(|(f, why)| format!("`{f}`: {why}")).collect());
    }
    cx.doc.h(2, "The paper's reading");
    cx.doc.p(format!("PAPER.md section 6: {}.", published::READING));

    let markdown = out.join("report.md");
    let html = out.join("report.html");
    std::fs::write(&markdown, cx.doc.markdown()).map_err(|e| format!("cannot write {}: {e}", markdown.display()))?;
    let page = cx.doc.html("Chare evaluation report", out)?;
    std::fs::write(&html, page).map_err(|e| format!("cannot write {}: {e}", html.display()))?;
    cx.medians.write(&out.join("medians.csv"))?;
    Ok(Built { present, missing, figures: cx.figures, unknown, markdown, html })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chare-paper-report-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn osu(model: &str, layer: &str, bench: &str, rows: &[(u64, f64)], runs: &[(u64, &[f64])]) -> String {
        let (cols, val) = if bench == "latency" {
            ("size_bytes,iterations,one_way_us,bandwidth_mb_s", "one_way_us")
        } else {
            ("size_bytes,iterations,window,bandwidth_mb_s", "bandwidth_mb_s")
        };
        let mut s = format!(
            "# chare-bench {bench} (OSU-style)\n# command: chare-bench {bench} --model {model}\n# model: {model}\n\
             # layer: {layer}\n# via: n/a\n# cores: 2\n# cpu: Test CPU\n# host: h\n{cols}\n"
        );
        for (x, v) in rows {
            s.push_str(&format!("{x},10,{v},1.0\n"));
        }
        for (x, r) in runs {
            let r: Vec<String> = r.iter().map(|v| v.to_string()).collect();
            s.push_str(&format!("# runs size_bytes={x} {val}={}\n", r.join(",")));
        }
        s
    }

    #[test]
    fn variants_and_classification() {
        assert_eq!(variant_of("mpi/latency-mpi.3.csv"), "mpi/latency-mpi");
        assert_eq!(variant_of("latency-raw.csv"), "latency-raw");
        assert_eq!(variant_of("x.v2.csv"), "x.v2");
        let t = Table::parse(&osu("raw", "local", "latency", &[(8, 1.0)], &[])).unwrap();
        assert_eq!(classify(&t), Kind::Latency);
        let t = Table::parse(&osu("raw", "local", "bandwidth", &[(8, 1.0)], &[])).unwrap();
        assert_eq!(classify(&t), Kind::Bandwidth);
        assert!(matches!(classify(&Table::parse("benchmark,size_bytes,c_mpi\n").unwrap()), Kind::Unknown(_)));
        assert!(looks_like_versions("mpi4py 4.1.2, numpy 2.4.6, Open MPI v4.1.4"));
        assert!(!looks_like_versions("free text. here"));
        assert!(!looks_like_versions("expected initial max/avg (costs, block placement): 1.700"));
        assert!(looks_like_versions("rustc v1.87"));
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_value(0.13), "0.1300");
        assert_eq!(fmt_value(1856.7), "1857");
        assert_eq!(fmt_value(12.345), "12.35");
        assert_eq!(fmt_value(f64::NAN), "n/a");
        assert_eq!(fmt_est(&Estimate { value: 1.5, lo: 1.25, hi: 2.0, n: 3 }), "1.500 [1.250, 2.000]");
        assert_eq!(fmt_ratio(&Estimate::exact(1.934)), "1.93x");
    }

    #[test]
    fn repeated_files_pool_into_one_series() {
        let d = tmp("pool");
        std::fs::create_dir_all(d.join("mpi")).unwrap();
        for k in 1..=3 {
            let v = k as f64;
            std::fs::write(
                d.join(format!("mpi/latency-c-mpi.{k}.csv")),
                osu("c-mpi", "mpi", "latency", &[(8, v), (16, v)], &[]),
            )
            .unwrap();
            std::fs::write(
                d.join(format!("mpi/latency-chare-mpi.{k}.csv")),
                osu("chare", "mpi", "latency", &[(8, 2.0 * v), (16, 3.0 * v)], &[]),
            )
            .unwrap();
        }
        std::fs::write(
            d.join("latency-raw.csv"),
            osu("raw", "local", "latency", &[(8, 0.5)], &[(8, &[0.4, 0.5, 0.6])]),
        )
        .unwrap();
        std::fs::write(d.join("summary.csv"), "benchmark,size_bytes,c_mpi\nlatency,8,0.1\n").unwrap();
        let inputs = read_dir(&d).unwrap();
        let lat: Vec<&Input> = inputs.iter().filter(|i| i.kind == Kind::Latency).collect();
        let s = osu_series(&lat, "one_way_us");
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["raw", "c-mpi", "chare/mpi"]);
        assert_eq!(s[0].samples[&8], [0.4, 0.5, 0.6]);
        assert_eq!(s[1].samples[&8], [1.0, 2.0, 3.0]);
        assert_eq!(s[1].files.len(), 3);
        // chare/mpi's baseline is c-mpi (same layer), not raw.
        assert_eq!(baseline_for(&s[2], &s).unwrap().name, "c-mpi");
        // A floor has no baseline.
        assert!(baseline_for(&s[0], &s).is_none() && baseline_for(&s[1], &s).is_none());
        let r = ratios(&s[2], &s[1], &Bootstrap::default());
        assert_eq!(r[&16].value, 3.0);

        let out = d.join("out");
        let b = build(&d, &out, Bootstrap { resamples: 500, ..Bootstrap::default() }).unwrap();
        assert_eq!(b.present, ["latency"]);
        assert!(b.missing.contains(&"bandwidth".to_string()) && b.missing.contains(&"gpu".to_string()));
        assert_eq!(b.unknown.len(), 1);
        let md = std::fs::read_to_string(&b.markdown).unwrap();
        assert!(md.contains("`chare/mpi` latency at 8 B is 2.00x ["), "{md}");
        assert!(md.contains("`c-mpi`; at 16 B 3.00x"), "{md}");
        assert!(md.contains("Test CPU (7 files)"), "{md}");
        assert!(md.contains("Files not recognised") && md.contains("summary.csv"));
        assert!(md.contains("| 16 B |"), "paper comparison at 16 B");
        // The report's own CSV is skipped when the directory is read again.
        let again = build(&d, &out, Bootstrap { resamples: 500, ..Bootstrap::default() }).unwrap();
        assert_eq!(again.unknown.len(), 1, "{:?}", again.unknown);
        let m = Table::read(&out.join("medians.csv")).unwrap();
        assert_eq!(classify(&m), Kind::Own);
        assert!(m.rows.iter().any(|r| r[1] == "chare/mpi / c-mpi"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_empty_directory_reports_everything_missing() {
        let d = tmp("empty");
        let b = build(&d, &d, Bootstrap::default()).unwrap();
        assert!(b.present.is_empty());
        assert_eq!(b.missing.len(), EXPECTED.len());
        let md = std::fs::read_to_string(&b.markdown).unwrap();
        assert!(md.contains("Experiments with data: none."));
        assert!(build(&d.join("nope"), &d, Bootstrap::default()).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
