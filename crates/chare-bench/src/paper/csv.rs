//! The CSV files chare-bench writes, read back into a typed [`Table`] and
//! written out again unchanged.
//!
//! The format (see `crate::report::Report::render`): `#` comment lines (the
//! header), one line of column names, rows of comma-separated cells, then
//! more `#` lines (the footer: per-run values, summaries). A comment of the
//! form `# key: value` is metadata ([`Table::meta`]); the footer's
//! `# runs k=v k2=a,b,c` lines carry the values of every run
//! ([`Table::runs`]), and `# summary: k=v ...` / `# run N: k=v ...` lines
//! key=value fields ([`Table::fields`]). Cells hold no commas or quotes
//! (chare-bench writes none); a quoted cell is rejected rather than misread.

use std::path::Path;

/// What a column holds, inferred from its cells.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Every cell an integer.
    Integer,
    /// Every cell a (finite) number, some not integers.
    Number,
    /// Anything else (names, `n/a`, `yes`).
    Text,
}

/// One CSV file: comments, columns and cells (kept as written, so that a
/// table renders back to the same text; typed access through the accessors).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Comment lines before the column line, without the leading `# `.
    pub header: Vec<String>,
    /// Column names.
    pub columns: Vec<String>,
    /// Cells, as written.
    pub rows: Vec<Vec<String>>,
    /// Comment lines after the rows, without `# `.
    pub footer: Vec<String>,
}

/// A comment line's text: `# text` or `#text`.
fn comment(line: &str) -> Option<&str> {
    line.strip_prefix("# ").or_else(|| line.strip_prefix('#'))
}

/// `key: value` of a comment line; the key is a few words (no `=`, which
/// marks key=value fields, and no `,`, which marks a free note such as a
/// list of library versions).
fn key_value(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once(": ")?;
    (!k.is_empty() && !k.contains(['=', ',']) && k.len() <= 60).then_some((k.trim(), v.trim()))
}

/// The `key=value` fields of a text, split at white space.
pub fn parse_fields(text: &str) -> Vec<(String, String)> {
    text.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A comma-separated list of numbers.
pub fn parse_numbers(text: &str) -> Result<Vec<f64>, String> {
    text.split(',').map(|v| v.trim().parse::<f64>().map_err(|_| format!("{v:?} is not a number"))).collect()
}

impl Table {
    /// A table with `columns` and no comments or rows.
    pub fn new(columns: &[&str]) -> Table {
        Table { columns: columns.iter().map(|c| c.to_string()).collect(), ..Table::default() }
    }

    /// Parses chare-bench's CSV text.
    pub fn parse(text: &str) -> Result<Table, String> {
        let mut t = Table::default();
        let mut seen_columns = false;
        for (no, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if let Some(c) = comment(line) {
                if seen_columns { &mut t.footer } else { &mut t.header }.push(c.to_string());
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            if line.contains('"') {
                return Err(format!("line {}: quoted cells are not supported", no + 1));
            }
            let cells: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
            if !seen_columns {
                seen_columns = true;
                t.columns = cells;
                continue;
            }
            if !t.footer.is_empty() {
                return Err(format!("line {}: a row after the trailing comments", no + 1));
            }
            if cells.len() != t.columns.len() {
                return Err(format!(
                    "line {}: {} cells, {} columns ({})",
                    no + 1,
                    cells.len(),
                    t.columns.len(),
                    t.columns.join(",")
                ));
            }
            t.rows.push(cells);
        }
        if !seen_columns {
            return Err("no column line".into());
        }
        Ok(t)
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<Table, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Table::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The CSV text: the inverse of [`Table::parse`] for what chare-bench
    /// writes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |s: &str| {
            out.push_str(s);
            out.push('\n');
        };
        for c in &self.header {
            line(&format!("# {c}"));
        }
        line(&self.columns.join(","));
        for r in &self.rows {
            line(&r.join(","));
        }
        for c in &self.footer {
            line(&format!("# {c}"));
        }
        out
    }

    /// Writes the CSV text to `path`.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.render()).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Appends a row (its length must match the columns).
    pub fn push_row(&mut self, cells: Vec<String>) -> Result<(), String> {
        if cells.len() != self.columns.len() {
            return Err(format!("row of {} cells for {} columns", cells.len(), self.columns.len()));
        }
        if let Some(c) = cells.iter().find(|c| c.contains([',', '"', '\n'])) {
            return Err(format!("cell {c:?} holds a comma, quote or newline"));
        }
        self.rows.push(cells);
        Ok(())
    }

    /// The first header line when it is a title rather than `key: value`.
    pub fn title(&self) -> Option<&str> {
        self.header.first().map(String::as_str).filter(|l| key_value(l).is_none())
    }

    /// Every `key: value` comment, header first, in order.
    pub fn metadata(&self) -> Vec<(&str, &str)> {
        self.header.iter().chain(&self.footer).filter_map(|l| key_value(l)).collect()
    }

    /// The value of the first `key: value` comment with this key.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata().into_iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The comment lines that are neither the title nor `key: value` (free
    /// notes, e.g. library versions), header and footer.
    pub fn notes(&self) -> Vec<&str> {
        let skip_title = usize::from(self.title().is_some());
        self.header
            .iter()
            .skip(skip_title)
            .chain(&self.footer)
            .map(String::as_str)
            .filter(|l| key_value(l).is_none() && !l.starts_with("runs "))
            .collect()
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Whether every named column is present.
    pub fn has_columns(&self, names: &[&str]) -> bool {
        names.iter().all(|n| self.column(n).is_some())
    }

    /// The cell of row `row` in column `name`.
    pub fn cell(&self, row: usize, name: &str) -> Option<&str> {
        Some(self.rows.get(row)?.get(self.column(name)?)?.as_str())
    }

    /// The cell of row `row` in column `name` as a number.
    pub fn number(&self, row: usize, name: &str) -> Result<f64, String> {
        let c = self.cell(row, name).ok_or_else(|| format!("no column {name} or row {row}"))?;
        c.parse().map_err(|_| format!("column {name}, row {row}: {c:?} is not a number"))
    }

    /// A whole column as numbers.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn numbers(&self, name: &str) -> Result<Vec<f64>, String> {
        (0..self.rows.len()).map(|r| self.number(r, name)).collect()
    }

    /// What a column holds (Text for an unknown column or no rows).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn kind(&self, name: &str) -> ColumnKind {
        let Some(i) = self.column(name) else { return ColumnKind::Text };
        if self.rows.is_empty() {
            return ColumnKind::Text;
        }
        let cells = || self.rows.iter().map(|r| r[i].as_str());
        if cells().all(|c| c.parse::<i64>().is_ok()) {
            ColumnKind::Integer
        } else if cells().all(|c| c.parse::<f64>().is_ok_and(f64::is_finite)) {
            ColumnKind::Number
        } else {
            ColumnKind::Text
        }
    }

    /// The per-run values of the footer's `runs KEY=K FIELD=v1,v2,...`
    /// lines: `(K, [v1, v2, ...])` for every line naming `key` and `field`.
    pub fn runs(&self, key: &str, field: &str) -> Vec<(String, Vec<f64>)> {
        self.footer
            .iter()
            .filter_map(|l| l.strip_prefix("runs "))
            .filter_map(|l| {
                let f = parse_fields(l);
                let k = f.iter().find(|(n, _)| n == key)?.1.clone();
                let v = parse_numbers(&f.iter().find(|(n, _)| n == field)?.1).ok()?;
                Some((k, v))
            })
            .collect()
    }

    /// The key=value fields of the comment `prefix: k=v k=v` (e.g. the
    /// stencil's `summary`), or `None`.
    pub fn fields(&self, prefix: &str) -> Option<Vec<(String, String)>> {
        self.metadata().into_iter().find(|(k, _)| *k == prefix).map(|(_, v)| parse_fields(v))
    }

    /// The key=value fields of every comment whose key starts with `prefix`
    /// (e.g. `run ` for the stencil's `run 1: ...`, `run 2: ...`), in order.
    pub fn fields_of_each(&self, prefix: &str) -> Vec<(String, Vec<(String, String)>)> {
        self.metadata()
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.to_string(), parse_fields(v)))
            .collect()
    }
}

/// The value of `name` among key=value fields.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `chare-bench latency --model raw --min-size 8 --max-size 32
    /// --runs 3 --format csv` prints (shortened header).
    const LATENCY: &str = "\
# chare-bench latency (OSU-style)
# command: chare-bench latency --model raw --min-size 8 --max-size 32 --runs 3 --format csv
# model: raw
# layer: local
# pes: 2
# via: n/a
# runs: 3 (median reported)
# cores: 2
# cpu: AMD EPYC
# host: vm
# units: microseconds (us), MB/s = 10^6 bytes per second
size_bytes,iterations,one_way_us,bandwidth_mb_s
8,1000,0.101,79.21
16,1000,0.102,156.86
32,1000,0.110,290.91
# runs size_bytes=8 one_way_us=0.101,0.099,0.120
# runs size_bytes=16 one_way_us=0.102,0.101,0.130
# runs size_bytes=32 one_way_us=0.110,0.108,0.115
";

    const STENCIL: &str = "\
# chare-bench stencil (Stencil2D, 5-point Jacobi; PAPER.md section 4)
# model: chare
# pes: 2
process,num_processes,iteration,iteration_s,communication_s,computation_s
0,2,0,0.000100000,0.000010000,0.000090000
1,2,0,0.000110000,0.000020000,0.000090000
# run 1: slowest_process=1 iteration_ms=0.1100 communication_ms=0.0200 computation_ms=0.0900
# run 2: slowest_process=0 iteration_ms=0.1200 communication_ms=0.0300 computation_ms=0.0900
# summary: model=chare layer=local pes=2 iteration_ms=0.1100 communication_ms=0.0200
# checksum: 0x00000000deadbeef
";

    #[test]
    fn latency_csv_round_trips() {
        let t = Table::parse(LATENCY).unwrap();
        assert_eq!(t.render(), LATENCY);
        assert_eq!(t.columns, ["size_bytes", "iterations", "one_way_us", "bandwidth_mb_s"]);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.title(), Some("chare-bench latency (OSU-style)"));
        assert_eq!(t.meta("model"), Some("raw"));
        assert_eq!(t.meta("runs"), Some("3 (median reported)"));
        assert_eq!(t.meta("cpu"), Some("AMD EPYC"));
        assert_eq!(t.meta("nothing"), None);
        assert_eq!(t.numbers("size_bytes").unwrap(), [8.0, 16.0, 32.0]);
        assert_eq!(t.number(1, "one_way_us").unwrap(), 0.102);
        assert_eq!(t.kind("size_bytes"), ColumnKind::Integer);
        assert_eq!(t.kind("one_way_us"), ColumnKind::Number);
        let runs = t.runs("size_bytes", "one_way_us");
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0], ("8".to_string(), vec![0.101, 0.099, 0.120]));
        assert!(t.runs("size_bytes", "bandwidth_mb_s").is_empty());
        assert!(t.notes().is_empty(), "{:?}", t.notes());
    }

    #[test]
    fn stencil_csv_fields() {
        let t = Table::parse(STENCIL).unwrap();
        assert_eq!(t.render(), STENCIL);
        let s = t.fields("summary").unwrap();
        assert_eq!(field(&s, "iteration_ms"), Some("0.1100"));
        assert_eq!(field(&s, "layer"), Some("local"));
        let runs = t.fields_of_each("run ");
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].0, "run 2");
        assert_eq!(field(&runs[1].1, "communication_ms"), Some("0.0300"));
        assert_eq!(t.meta("checksum"), Some("0x00000000deadbeef"));
    }

    #[test]
    fn written_tables_read_back() {
        let mut t = Table::new(&["series", "pes", "ms"]);
        t.header = vec!["a title".into(), "cpu: x".into()];
        t.push_row(vec!["chare".into(), "2".into(), "1.5".into()]).unwrap();
        t.push_row(vec!["mpi".into(), "4".into(), "n/a".into()]).unwrap();
        t.footer.push("runs pes=2 ms=1.4,1.5,1.6".into());
        assert!(t.push_row(vec!["x".into()]).is_err());
        assert!(t.push_row(vec!["a,b".into(), "1".into(), "2".into()]).is_err());
        let dir = std::env::temp_dir().join(format!("chare-paper-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.csv");
        t.write(&path).unwrap();
        let back = Table::read(&path).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.kind("series"), ColumnKind::Text);
        assert_eq!(back.kind("ms"), ColumnKind::Text);
        assert_eq!(back.kind("pes"), ColumnKind::Integer);
        assert_eq!(back.runs("pes", "ms")[0].1, [1.4, 1.5, 1.6]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(Table::parse("# only comments\n").unwrap_err().contains("no column line"));
        assert!(Table::parse("a,b\n1,2,3\n").unwrap_err().contains("3 cells"));
        assert!(Table::parse("a,b\n\"1,2\",3\n").unwrap_err().contains("quoted"));
        assert!(Table::parse("a\n1\n# end\n2\n").unwrap_err().contains("after the trailing"));
        assert!(Table::read(Path::new("/nonexistent/x.csv")).is_err());
        // Blank lines and CRLF endings are tolerated.
        let t = Table::parse("a,b\r\n\r\n1,2\r\n").unwrap();
        assert_eq!(t.rows, [["1", "2"]]);
    }

    #[test]
    fn free_notes_are_kept_apart_from_metadata() {
        let t = Table::parse("# title\n# mpi4py 4.1.2, Open MPI v4.1.4, package: Debian\n# key: v\nx\n1\n").unwrap();
        assert_eq!(t.notes(), ["mpi4py 4.1.2, Open MPI v4.1.4, package: Debian"]);
        assert_eq!(t.metadata(), [("key", "v")]);
        let t = Table::parse("# a: b\nx\n").unwrap();
        assert_eq!(t.title(), None);
    }
}
