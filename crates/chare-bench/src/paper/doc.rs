//! A small document model for the report, rendered both as Markdown
//! (`report.md`) and as a self-contained HTML page (`report.html`, figures
//! inlined as SVG).

use std::fmt::Write as _;
use std::path::Path;

/// One block of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading of level 1..=3.
    Heading(u8, String),
    /// A paragraph (plain text; `code` spans in backticks).
    Para(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table: header cells and rows.
    Table(Vec<String>, Vec<Vec<String>>),
    /// A figure: caption and the paths of its SVG and PNG, relative to the
    /// report.
    Figure { caption: String, svg: String, png: String },
}

/// The report: blocks in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    /// The blocks.
    pub blocks: Vec<Block>,
}

impl Doc {
    /// Appends a heading.
    pub fn h(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading(level, text.into()));
    }

    /// Appends a paragraph.
    pub fn p(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Para(text.into()));
    }

    /// Appends a list (nothing for no items).
    pub fn list(&mut self, items: Vec<String>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }

    /// Appends a table (nothing for no rows).
    pub fn table(&mut self, head: Vec<String>, rows: Vec<Vec<String>>) {
        if !rows.is_empty() {
            self.blocks.push(Block::Table(head, rows));
        }
    }

    /// Appends a figure.
    pub fn figure(&mut self, caption: impl Into<String>, svg: impl Into<String>, png: impl Into<String>) {
        self.blocks.push(Block::Figure { caption: caption.into(), svg: svg.into(), png: png.into() });
    }

    /// The Markdown text.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let cell = |s: &str| s.replace('|', "\\|");
        for b in &self.blocks {
            match b {
                Block::Heading(l, t) => {
                    let _ = writeln!(out, "{} {t}\n", "#".repeat(usize::from(*l).clamp(1, 6)));
                }
                Block::Para(t) => {
                    let _ = writeln!(out, "{t}\n");
                }
                Block::List(items) => {
                    for i in items {
                        let _ = writeln!(out, "- {i}");
                    }
                    out.push('\n');
                }
                Block::Table(head, rows) => {
                    let _ = writeln!(out, "| {} |", head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
                    let _ = writeln!(out, "|{}|", head.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
                    for r in rows {
                        let _ = writeln!(out, "| {} |", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
                    }
                    out.push('\n');
                }
                Block::Figure { caption, svg, png } => {
                    let _ = writeln!(out, "![{caption}]({svg})\n\n*{caption}* ([PNG]({png}))\n");
                }
            }
        }
        out
    }

    /// The HTML page; the figures' SVG files are read from `base` (the
    /// report's directory) and inlined.
    pub fn html(&self, title: &str, base: &Path) -> Result<String, String> {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n\
             body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}\n\
             table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}\n\
             th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}\n\
             th {{ background: #f0f0f0; }} td:first-child, th:first-child {{ text-align: left; }}\n\
             figure {{ margin: 1.5em 0; }} figure svg {{ max-width: 100%; height: auto; }}\n\
             figcaption {{ font-style: italic; }} code {{ background: #f4f4f4; padding: 0 0.2em; }}\n\
             </style>\n</head>\n<body>",
            escape(title)
        );
        for b in &self.blocks {
            match b {
                Block::Heading(l, t) => {
                    let l = l.clamp(&1, &6);
                    let _ = writeln!(out, "<h{l}>{}</h{l}>", inline(t));
                }
                Block::Para(t) => {
                    let _ = writeln!(out, "<p>{}</p>", inline(t));
                }
                Block::List(items) => {
                    out.push_str("<ul>\n");
                    for i in items {
                        let _ = writeln!(out, "<li>{}</li>", inline(i));
                    }
                    out.push_str("</ul>\n");
                }
                Block::Table(head, rows) => {
                    out.push_str("<table>\n<tr>");
                    for h in head {
                        let _ = write!(out, "<th>{}</th>", inline(h));
                    }
                    out.push_str("</tr>\n");
                    for r in rows {
                        out.push_str("<tr>");
                        for c in r {
                            let _ = write!(out, "<td>{}</td>", inline(c));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</table>\n");
                }
                Block::Figure { caption, svg, png } => {
                    let path = base.join(svg);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read figure {}: {e}", path.display()))?;
                    let start = text.find("<svg").ok_or_else(|| format!("{} holds no <svg>", path.display()))?;
                    let _ = writeln!(
                        out,
                        "<figure>\n{}\n<figcaption>{} (<a href=\"{}\">PNG</a>)</figcaption>\n</figure>",
                        text[start..].trim_end(),
                        inline(caption),
                        escape(png)
                    );
                }
            }
        }
        out.push_str("</body>\n</html>\n");
        Ok(out)
    }
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Escapes text and turns `code` spans into `<code>`.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    // An odd number of backticks leaves the last one open: close it.
    if s.matches('`').count() % 2 == 1 {
        out.push_str("</code>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_html() {
        let mut d = Doc::default();
        d.h(1, "Report");
        d.p("median of `runs` < 2");
        d.list(vec!["a|b".into()]);
        d.list(Vec::new());
        d.table(vec!["size".into(), "raw".into()], vec![vec!["8".into(), "0.1 | x".into()]]);
        d.table(vec!["empty".into()], Vec::new());
        let md = d.markdown();
        assert!(md.starts_with("# Report\n\nmedian of `runs` < 2\n\n- a|b\n\n| size | raw |\n|---|---|\n"));
        assert!(md.contains("| 8 | 0.1 \\| x |"));
        assert_eq!(d.blocks.len(), 4);
        let dir = std::env::temp_dir().join(format!("chare-paper-doc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("figures")).unwrap();
        std::fs::write(dir.join("figures/f.svg"), "<?xml version=\"1.0\"?>\n<svg width=\"1\"><text>t</text></svg>\n")
            .unwrap();
        d.figure("A figure", "figures/f.svg", "figures/f.png");
        let html = d.html("R & D", &dir).unwrap();
        assert!(html.contains("<title>R &amp; D</title>"));
        assert!(html.contains("<p>median of <code>runs</code> &lt; 2</p>"));
        assert!(html.contains("<svg width=\"1\"><text>t</text></svg>"));
        assert!(!html.contains("<?xml"));
        assert!(html.contains("<figcaption>A figure (<a href=\"figures/f.png\">PNG</a>)</figcaption>"));
        assert!(d.markdown().contains("![A figure](figures/f.svg)"));
        d.figure("missing", "figures/none.svg", "x.png");
        assert!(d.html("t", &dir).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
