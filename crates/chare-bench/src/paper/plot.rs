//! The report's figures, drawn with plotters as SVG and PNG.
//!
//! * [`latency`]: one-way latency against message size, log-log, a line per
//!   model, error bars from the confidence intervals (the paper's latency
//!   figures);
//! * [`bandwidth`]: bandwidth against message size (log x, linear y);
//! * [`ratio`]: every model divided by a baseline model against size (log-log,
//!   a dashed line at 1);
//! * [`stacked_bars`]: per PE count, a bar per model split into stacked
//!   parts (the stencil's communication and computation);
//! * [`scaling`] / [`time_per_step`]: time against PE count, log-log, a line
//!   per variant (the stencil's strong scaling, the PIC figure).
//!
//! Every function writes `<stem>.svg` and `<stem>.png` and returns both
//! paths. Text is drawn with DejaVu Sans, embedded in the binary (the
//! `dejavu` crate) and rasterised by ab_glyph: no system fonts are read.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::stats::Estimate;

/// Pixel size of every figure.
pub const SIZE: (u32, u32) = (960, 600);

/// The font family the figures use (registered on first use).
const FONT: &str = "sans-serif";

/// One point of a line: x and the estimate of y (median and interval).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Message size in bytes, PE count, ...
    pub x: f64,
    /// The median and its interval.
    pub y: Estimate,
}

/// A named line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry (model name).
    pub name: String,
    /// Points, in any order (drawn sorted by x).
    pub points: Vec<Point>,
}

impl Series {
    /// A series from `(x, estimate)` pairs.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, Estimate)>) -> Series {
        Series { name: name.into(), points: points.into_iter().map(|(x, y)| Point { x, y }).collect() }
    }
}

/// One bar of a [`BarGroup`]: a model's stacked parts, bottom first, in the
/// order of the chart's part names.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The model (legend: colour).
    pub name: String,
    /// Heights of the parts, bottom first.
    pub parts: Vec<f64>,
}

/// The bars of one x position (a PE count).
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    /// The position's label, e.g. `2 PEs`.
    pub label: String,
    /// Its bars, one per model.
    pub bars: Vec<Bar>,
}

/// The files a figure was written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `<stem>.svg`.
    pub svg: PathBuf,
    /// `<stem>.png`.
    pub png: PathBuf,
}

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    Linear,
    /// Logarithmic, ticks at powers of two (message sizes, PE counts).
    Log2,
    /// Logarithmic, ticks at powers of ten.
    Log10,
}

/// A line chart's description.
struct LineChart<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x_scale: Scale,
    y_scale: Scale,
    x_fmt: fn(f64) -> String,
    series: &'a [Series],
    /// A dashed horizontal line (ratio 1).
    reference: Option<f64>,
}

/// A stacked bar chart's description.
struct BarChart<'a> {
    title: &'a str,
    y_desc: &'a str,
    part_names: &'a [&'a str],
    groups: &'a [BarGroup],
}

enum Figure<'a> {
    Lines(LineChart<'a>),
    Bars(BarChart<'a>),
}

/// Line colours by series index: Okabe and Ito's colour-blind-safe eight,
/// then four darker ones (series past the twelfth repeat the colours; the
/// marker shapes still tell them apart).
const PALETTE: [RGBColor; 12] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
    RGBColor(136, 34, 85),
    RGBColor(68, 119, 17),
    RGBColor(51, 34, 136),
    RGBColor(153, 102, 51),
];

/// Marker shapes, by series index: circle, triangle, square.
#[derive(Debug, Clone, Copy)]
enum Marker {
    Circle,
    Triangle,
    Square,
}

fn marker(i: usize) -> Marker {
    [Marker::Circle, Marker::Triangle, Marker::Square][i % 3]
}

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `v` as a message size: `512 B`, `4 KiB`, `1 MiB` (binary prefixes for
/// powers of two, otherwise one decimal).
pub fn fmt_bytes(v: f64) -> String {
    let units = [("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (u, shift) in units {
        let s = (1u64 << shift) as f64;
        if v >= s {
            let q = v / s;
            return if (q - q.round()).abs() < 1e-9 { format!("{} {u}", q.round()) } else { format!("{q:.1} {u}") };
        }
    }
    if (v - v.round()).abs() < 1e-9 {
        format!("{} B", v.round())
    } else {
        format!("{v:.1} B")
    }
}

/// A tick label for a plain number: integers without decimals, three
/// significant digits otherwise.
pub fn fmt_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.0e}");
    }
    if (v - v.round()).abs() < 1e-9 * a.max(1.0) {
        return format!("{}", v.round());
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Registers the embedded font once.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate;
        // a failure would show as missing text, caught by the tests.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draws `fig` into `<stem>.svg` and `<stem>.png`.
fn write(fig: &Figure<'_>, stem: &Path) -> Result<Written, String> {
    register_font();
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw(&root, fig)?;
        root.present().map_err(|e| e.to_string())?;
    }
    std::fs::write(&svg, text).map_err(|e| format!("cannot write {}: {e}", svg.display()))?;
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        draw(&root, fig)?;
        root.present().map_err(|e| format!("cannot write {}: {e}", png.display()))?;
    }
    Ok(Written { svg, png })
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure<'_>) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    match fig {
        Figure::Lines(c) => draw_lines(root, c),
        Figure::Bars(c) => draw_bars(root, c),
    }
}

/// The range of the positive values `vs` on a log axis, padded.
fn log_range(vs: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        vs.filter(|v| v.is_finite() && *v > 0.0).fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    let (lo, hi) = if hi / lo < 2.0 { (lo / 1.5, hi * 1.5) } else { (lo / 1.25, hi * 1.25) };
    (lo, hi)
}

/// The range of `vs` on a linear axis starting at zero, padded.
fn linear_range(vs: impl Iterator<Item = f64>) -> (f64, f64) {
    let hi = vs.filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    (0.0, if hi > 0.0 { hi * 1.1 } else { 1.0 })
}

fn draw_lines<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &LineChart<'_>) -> Result<(), String> {
    let xs = || c.series.iter().flat_map(|s| s.points.iter().map(|p| p.x));
    let (x0, x1) = if c.x_scale == Scale::Linear { linear_range(xs()) } else { log_range(xs()) };
    let (y0, y1) = y_range(c);
    let log = |a: f64, b: f64, s: Scale| -> LogCoord<f64> {
        (a..b).log_scale().base(if s == Scale::Log2 { 2.0 } else { 10.0 }).into()
    };
    let lin = |a: f64, b: f64| -> RangedCoordf64 { (a..b).into() };
    match (c.x_scale, c.y_scale) {
        (Scale::Linear, Scale::Linear) => lines_on(root, c, lin(x0, x1), lin(y0, y1)),
        (Scale::Linear, ys) => lines_on(root, c, lin(x0, x1), log(y0, y1, ys)),
        (xs, Scale::Linear) => lines_on(root, c, log(x0, x1, xs), lin(y0, y1)),
        (xs, ys) => lines_on(root, c, log(x0, x1, xs), log(y0, y1, ys)),
    }
}

/// The y range: the medians (and the reference line), widened to the
/// intervals' ends but at most 3x beyond the medians on a log axis and 50%
/// above them on a linear one.
fn y_range(c: &LineChart<'_>) -> (f64, f64) {
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let values = || pts().map(|p| p.y.value).chain(c.reference);
    if c.y_scale == Scale::Linear {
        let (_, vhi) = linear_range(values());
        let (_, chi) = linear_range(values().chain(pts().map(|p| p.y.hi)));
        (0.0, chi.min(vhi * 1.5))
    } else {
        let (vlo, vhi) = log_range(values());
        let (clo, chi) = log_range(values().chain(pts().flat_map(|p| [p.y.lo, p.y.hi])));
        let (lo, hi) = (clo.max(vlo / 3.0), chi.min(vhi * 3.0));
        (decade_start(lo, hi), hi)
    }
}

/// Where a log axis from `lo` to `hi` starts: at `lo`, or down at the power
/// of ten below it when the range holds fewer than two powers of ten. The
/// axis labels the powers of ten in its range and the multiples after them
/// (2, 3, .. 9 times), never the values before the first one: a range of
/// 1.2 to 22 would be labelled 10 and 20 only, starting at 1 it gets 1, 2,
/// .. 9, 10, 20.
fn decade_start(lo: f64, hi: f64) -> f64 {
    if !(lo > 0.0 && hi > lo) {
        return lo;
    }
    let first = lo.log10().ceil();
    if 10f64.powf(first + 1.0) <= hi {
        lo
    } else {
        10f64.powf(lo.log10().floor())
    }
}

/// Whether a value can be drawn on the axis.
fn drawable(v: f64, s: Scale) -> bool {
    v.is_finite() && (s == Scale::Linear || v > 0.0)
}

fn lines_on<DB, X, Y>(root: &DrawingArea<DB, Shift>, c: &LineChart<'_>, x: X, y: Y) -> Result<(), String>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (y_lo, y_hi) = {
        let r = y.range();
        (r.start, r.end)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(c.title, (FONT, 24))
        .margin(18)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    let x_fmt = |v: &f64| (c.x_fmt)(*v);
    let y_fmt = |v: &f64| fmt_number(*v);
    chart
        .configure_mesh()
        .x_desc(c.x_desc)
        .y_desc(c.y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .draw()
        .map_err(err)?;
    if let Some(r) = c.reference {
        let (a, b) = {
            let xr = chart.x_range();
            (xr.start, xr.end)
        };
        chart
            .draw_series(DashedLineSeries::new([(a, r), (b, r)], 8, 6, BLACK.mix(0.6).stroke_width(1)))
            .map_err(err)?;
    }
    for (i, s) in c.series.iter().enumerate() {
        let col = colour(i);
        let mut pts: Vec<Point> =
            s.points.iter().copied().filter(|p| drawable(p.x, c.x_scale) && drawable(p.y.value, c.y_scale)).collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        chart
            .draw_series(LineSeries::new(pts.iter().map(|p| (p.x, p.y.value)), col.stroke_width(2)))
            .map_err(err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], col.stroke_width(2))
                    + match marker(i) {
                        Marker::Circle => Circle::new((12, 0), 4, col.filled()).into_dyn(),
                        Marker::Triangle => TriangleMarker::new((12, 0), 5, col.filled()).into_dyn(),
                        Marker::Square => Rectangle::new([(8, -4), (16, 4)], col.filled()).into_dyn(),
                    }
            });
        let at = pts.iter().map(|p| (p.x, p.y.value));
        match marker(i) {
            Marker::Circle => chart.draw_series(at.map(|a| Circle::new(a, 4, col.filled()))),
            Marker::Triangle => chart.draw_series(at.map(|a| TriangleMarker::new(a, 5, col.filled()))),
            Marker::Square => {
                chart.draw_series(at.map(|a| EmptyElement::at(a) + Rectangle::new([(-4, -4), (4, 4)], col.filled())))
            }
        }
        .map_err(err)?;
        // Error bars where the interval has width, cut at the axis range
        // (which follows the medians, so one wild interval does not flatten
        // the lines).
        let clamp = |v: f64| v.clamp(y_lo, y_hi);
        chart
            .draw_series(
                pts.iter().filter(|p| p.y.hi > p.y.lo).map(|p| {
                    ErrorBar::new_vertical(p.x, clamp(p.y.lo), p.y.value, clamp(p.y.hi), col.stroke_width(1), 8)
                }),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// A lighter shade of `c` (the upper parts of a stacked bar).
fn shade(c: RGBColor, part: usize) -> RGBColor {
    let f = 1.0 - 0.45 * part as f64;
    let f = f.max(0.2);
    let mix = |v: u8| (v as f64 * f + 255.0 * (1.0 - f)).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

fn draw_bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &BarChart<'_>) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let n = c.groups.len().max(1);
    // The models, in order of first appearance: one colour each.
    let mut models: Vec<&str> = Vec::new();
    for g in c.groups {
        for b in &g.bars {
            if !models.contains(&b.name.as_str()) {
                models.push(&b.name);
            }
        }
    }
    let top = c.groups.iter().flat_map(|g| g.bars.iter().map(|b| b.parts.iter().sum::<f64>()));
    let (y0, y1) = linear_range(top);
    let labels: Vec<&str> = c.groups.iter().map(|g| g.label.as_str()).collect();
    let x_fmt = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
            labels[i as usize].to_string()
        } else {
            String::new()
        }
    };
    let y_fmt = |v: &f64| fmt_number(*v);
    let mut chart = ChartBuilder::on(root)
        .caption(c.title, (FONT, 24))
        .margin(18)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 2)
        .x_desc("PEs")
        .y_desc(c.y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .draw()
        .map_err(err)?;
    let width = 0.8 / models.len().max(1) as f64;
    for (mi, model) in models.iter().enumerate() {
        for (pi, part) in c.part_names.iter().enumerate() {
            let fill = shade(colour(mi), pi);
            let rects: Vec<Rectangle<(f64, f64)>> = c
                .groups
                .iter()
                .enumerate()
                .filter_map(|(gi, g)| {
                    let bar = g.bars.iter().find(|b| b.name == *model)?;
                    let base: f64 = bar.parts.iter().take(pi).sum();
                    let h = *bar.parts.get(pi)?;
                    let left = gi as f64 - 0.4 + mi as f64 * width;
                    Some(Rectangle::new([(left, base), (left + width * 0.92, base + h)], fill.filled()))
                })
                .collect();
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(format!("{model}: {part}"))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], fill.filled()));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// One-way latency (µs) against message size, log-log, a line per model with
/// error bars.
pub fn latency(series: &[Series], title: &str, stem: &Path) -> Result<Written, String> {
    let c = LineChart {
        title,
        x_desc: "Message size (bytes)",
        y_desc: "One-way latency (µs)",
        x_scale: Scale::Log2,
        y_scale: Scale::Log10,
        x_fmt: fmt_bytes,
        series,
        reference: None,
    };
    write(&Figure::Lines(c), stem)
}

/// Bandwidth (MB/s, 10^6 bytes per second) against message size, log x.
pub fn bandwidth(series: &[Series], title: &str, stem: &Path) -> Result<Written, String> {
    let c = LineChart {
        title,
        x_desc: "Message size (bytes)",
        y_desc: "Bandwidth (MB/s)",
        x_scale: Scale::Log2,
        y_scale: Scale::Linear,
        x_fmt: fmt_bytes,
        series,
        reference: None,
    };
    write(&Figure::Lines(c), stem)
}

/// Each model's figure divided by the baseline's against message size
/// (log-log; `series` hold the ratios already), with a line at 1.
pub fn ratio(series: &[Series], baseline: &str, quantity: &str, title: &str, stem: &Path) -> Result<Written, String> {
    let y_desc = format!("{quantity} / {baseline} (ratio)");
    let c = LineChart {
        title,
        x_desc: "Message size (bytes)",
        y_desc: &y_desc,
        x_scale: Scale::Log2,
        y_scale: Scale::Log10,
        x_fmt: fmt_bytes,
        series,
        reference: Some(1.0),
    };
    write(&Figure::Lines(c), stem)
}

/// Time against PE count, log-log, a line per variant (`y_desc` names the
/// time and its unit).
pub fn scaling(series: &[Series], y_desc: &str, title: &str, stem: &Path) -> Result<Written, String> {
    let c = LineChart {
        title,
        x_desc: "PEs",
        y_desc,
        x_scale: Scale::Log2,
        y_scale: Scale::Log10,
        x_fmt: fmt_number,
        series,
        reference: None,
    };
    write(&Figure::Lines(c), stem)
}

/// PIC: milliseconds per step against PE count, a line per variant.
pub fn time_per_step(series: &[Series], title: &str, stem: &Path) -> Result<Written, String> {
    scaling(series, "Time per step (ms)", title, stem)
}

/// Stacked bars: per group (PE count) a bar per model, split into the parts
/// named by `part_names` (bottom first; the lower part darkest).
pub fn stacked_bars(
    groups: &[BarGroup],
    part_names: &[&str],
    y_desc: &str,
    title: &str,
    stem: &Path,
) -> Result<Written, String> {
    write(&Figure::Bars(BarChart { title, y_desc, part_names, groups }), stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chare-paper-plot-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A log axis within one decade starts at the power of ten below it
    /// (so it gets labels); one holding two powers of ten stays as it is.
    #[test]
    fn short_log_ranges_start_at_a_decade() {
        assert_eq!(decade_start(1.2, 22.0), 1.0);
        assert_eq!(decade_start(0.15, 0.9), 0.1);
        assert_eq!(decade_start(0.09, 50.0), 0.09);
        assert_eq!(decade_start(3.0, 100.0), 3.0);
        assert_eq!(decade_start(0.0, 1.0), 0.0);
    }

    fn est(v: f64, spread: f64) -> Estimate {
        Estimate { value: v, lo: v * (1.0 - spread), hi: v * (1.0 + spread), n: 5 }
    }

    fn size_series(name: &str, scale: f64) -> Series {
        Series::new(name, (0..=22).map(|k| ((1u64 << k) as f64, est(scale * (1.0 + (1u64 << k) as f64 / 4e3), 0.1))))
    }

    /// The SVG is XML with the texts; the PNG has the PNG signature and is
    /// not blank.
    fn check(w: &Written, texts: &[&str]) {
        let svg = std::fs::read_to_string(&w.svg).unwrap();
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for t in texts {
            assert!(svg.contains(t), "{} lacks {t:?}", w.svg.display());
        }
        let png = std::fs::read(&w.png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", w.png.display());
        assert!(png.len() > 5_000, "{} is {} bytes", w.png.display(), png.len());
    }

    #[test]
    fn latency_plot_writes_svg_and_png() {
        let d = dir("lat");
        let s = [size_series("raw", 0.2), size_series("chare/local", 0.6)];
        let w = latency(&s, "Latency, local layer", &d.join("latency")).unwrap();
        assert_eq!(w.svg, d.join("latency.svg"));
        check(&w, &["Message size (bytes)", "One-way latency (µs)", "raw", "chare/local", "Latency, local layer"]);
        let svg = std::fs::read_to_string(&w.svg).unwrap();
        assert!(svg.contains("1 MiB") || svg.contains("4 MiB"), "size ticks");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn bandwidth_and_ratio_plots() {
        let d = dir("bw");
        let s = [size_series("mpi", 100.0), size_series("chare/mpi", 80.0)];
        let w = bandwidth(&s, "Bandwidth", &d.join("bw")).unwrap();
        check(&w, &["Bandwidth (MB/s)", "Message size (bytes)", "mpi", "chare/mpi"]);
        let r = [Series::new("chare/mpi", (0..8).map(|k| ((1u64 << k) as f64, est(1.5 + k as f64 * 0.1, 0.05))))];
        let w = ratio(&r, "c-mpi", "latency", "Latency ratio", &d.join("ratio")).unwrap();
        check(&w, &["latency / c-mpi (ratio)", "chare/mpi", "Latency ratio"]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn scaling_plot_with_one_line_per_variant() {
        let d = dir("pic");
        let pes = [24.0, 48.0, 96.0, 192.0, 384.0, 768.0];
        let s = [
            Series::new("mpi4py", pes.iter().map(|&p| (p, est(6800.0 / p, 0.02)))),
            Series::new("chare (O, LB)", pes.iter().map(|&p| (p, Estimate::exact(2600.0 / p + 0.05 * p)))),
        ];
        let w = time_per_step(&s, "PIC", &d.join("pic")).unwrap();
        check(&w, &["Time per step (ms)", "PEs", "mpi4py", "chare (O, LB)"]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn stacked_bar_plot() {
        let d = dir("bars");
        let groups: Vec<BarGroup> = [1, 2, 4]
            .iter()
            .map(|&p| BarGroup {
                label: format!("{p}"),
                bars: vec![
                    Bar { name: "chare".into(), parts: vec![10.0 / p as f64, 0.5 * p as f64] },
                    Bar { name: "mpi".into(), parts: vec![10.0 / p as f64, 0.3 * p as f64] },
                ],
            })
            .collect();
        let w = stacked_bars(
            &groups,
            &["computation", "communication"],
            "Time per iteration (ms)",
            "Stencil",
            &d.join("s"),
        )
        .unwrap();
        check(&w, &["Time per iteration (ms)", "PEs", "chare: computation", "mpi: communication"]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn empty_and_degenerate_inputs_still_draw() {
        let d = dir("empty");
        check(&latency(&[], "nothing", &d.join("e")).unwrap(), &["nothing"]);
        let one = [Series::new("only", [(8.0, Estimate::exact(1.0))])];
        check(&bandwidth(&one, "one point", &d.join("o")).unwrap(), &["only"]);
        check(&stacked_bars(&[], &["a"], "ms", "no bars", &d.join("b")).unwrap(), &["no bars"]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn tick_labels() {
        assert_eq!(fmt_bytes(1.0), "1 B");
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(4096.0), "4 KiB");
        assert_eq!(fmt_bytes(1536.0), "1.5 KiB");
        assert_eq!(fmt_bytes(4194304.0), "4 MiB");
        assert_eq!(fmt_number(768.0), "768");
        assert_eq!(fmt_number(0.25), "0.25");
        assert_eq!(fmt_number(12.5), "12.5");
        assert_eq!(fmt_number(1.0 / 3.0), "0.333");
        assert_eq!(fmt_number(0.0), "0");
        assert_eq!(fmt_number(2e7), "2e7");
    }
}
