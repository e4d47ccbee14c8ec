//! What every subcommand prints: a [`Report`] of `#` comment lines, columns,
//! rows and trailing `#` lines, rendered as an aligned table or as CSV, and
//! the header lines they share (the command line, the machine, whether it is
//! oversubscribed).
//!
//! Reading it back (the sweep reads its children's CSV): a header line is
//! `# key: value`, see [`header_value`].

use std::fmt::Write as _;

use crate::machine_info::MachineInfo;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned human-readable columns.
    Table,
    /// Comma-separated values, after `#` comment lines.
    Csv,
}

/// A finished result: comment header, columns, rows and trailing comments.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Comment lines printed first, without the leading `# `.
    pub header: Vec<String>,
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Cells, already formatted.
    pub rows: Vec<Vec<String>>,
    /// Comment lines printed after the rows (per-run values), without `# `.
    pub footer: Vec<String>,
}

impl Report {
    /// Renders the report in `format`; the text ends with a newline.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::new();
        for line in &self.header {
            let _ = writeln!(out, "# {line}");
        }
        match format {
            Format::Csv => {
                let _ = writeln!(out, "{}", self.columns.join(","));
                for row in &self.rows {
                    let _ = writeln!(out, "{}", row.join(","));
                }
            }
            Format::Table => {
                let widths: Vec<usize> = self
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        self.rows.iter().map(|r| r[i].len()).chain(std::iter::once(c.len())).max().unwrap_or(0)
                    })
                    .collect();
                let line = |cells: &mut dyn Iterator<Item = &str>| {
                    cells.zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect::<Vec<_>>().join("  ")
                };
                let _ = writeln!(out, "{}", line(&mut self.columns.iter().copied()));
                for row in &self.rows {
                    let _ = writeln!(out, "{}", line(&mut row.iter().map(String::as_str)));
                }
            }
        }
        for line in &self.footer {
            let _ = writeln!(out, "# {line}");
        }
        out
    }
}

/// `yes` or `no`, as every report writes a flag.
pub fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

/// The header lines that describe the machine: `cores`, `cpu`, `host` and,
/// when the run's PE count is given, `oversubscribed` (more busy PEs than
/// cores).
pub fn machine_lines(m: &MachineInfo, pes: Option<usize>) -> Vec<String> {
    let mut lines =
        vec![format!("cores: {}", m.cores), format!("cpu: {}", m.cpu_model), format!("host: {}", m.hostname)];
    if let Some(pes) = pes {
        lines.push(format!("oversubscribed: {}", yes_no(m.oversubscribed(pes))));
    }
    lines
}

/// The value of the first `# key: value` line of a rendered report.
pub fn header_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.strip_prefix(": "))
}

/// `values` with `decimals` decimals, comma-separated (the per-run lines).
pub fn fmt_runs(values: &[f64], decimals: usize) -> String {
    values.iter().map(|v| format!("{v:.decimals$}")).collect::<Vec<_>>().join(",")
}

/// Renders a command line for the header, quoting arguments that need it.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let a = if i == 0 {
                // Program name: drop the directory, keep the header short.
                a.rsplit('/').next().unwrap_or(&a).to_string()
            } else {
                a
            };
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+".contains(c)) {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            header: vec!["title".into(), "key: value".into()],
            columns: vec!["size", "time_us"],
            rows: vec![vec!["1".into(), "0.250".into()], vec!["1024".into(), "12.500".into()]],
            footer: vec!["runs size=1 time_us=0.2,0.3".into()],
        }
    }

    #[test]
    fn csv_lines() {
        assert_eq!(
            sample().render(Format::Csv),
            "# title\n# key: value\nsize,time_us\n1,0.250\n1024,12.500\n# runs size=1 time_us=0.2,0.3\n"
        );
    }

    #[test]
    fn table_right_aligns_columns() {
        let text = sample().render(Format::Table);
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(body, ["size  time_us", "   1    0.250", "1024   12.500"]);
        assert!(text.ends_with("# runs size=1 time_us=0.2,0.3\n"));
    }

    #[test]
    fn header_lines_read_back() {
        let text = sample().render(Format::Csv);
        assert_eq!(header_value(&text, "key"), Some("value"));
        assert_eq!(header_value(&text, "title"), None);
        assert_eq!(header_value(&text, "size"), None);
    }

    #[test]
    fn machine_and_oversubscription() {
        let m = MachineInfo { cores: 2, cpu_model: "cpu".into(), hostname: "h".into() };
        assert_eq!(machine_lines(&m, None), ["cores: 2", "cpu: cpu", "host: h"]);
        assert_eq!(machine_lines(&m, Some(2))[3], "oversubscribed: no");
        assert_eq!(machine_lines(&m, Some(3))[3], "oversubscribed: yes");
    }

    #[test]
    fn runs_and_command_line() {
        assert_eq!(fmt_runs(&[0.5, 1.0, 1.25], 2), "0.50,1.00,1.25");
        let args = ["/x/y/chare-bench", "latency", "--model", "raw", "a b", "it's"].map(String::from);
        assert_eq!(command_line(args), r"chare-bench latency --model raw 'a b' 'it'\''s'");
    }
}
