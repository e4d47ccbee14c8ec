//! End-to-end check of `chare-bench report`: a small directory of CSV files
//! written by chare-bench itself (latency and bandwidth of `raw` and `chare`
//! on the local layer, a tiny strong-scaling stencil sweep), then the report
//! built from it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn chare_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chare-bench"))
        .args(args)
        .env_remove("CHARE_MACHINE")
        .output()
        .expect("run chare-bench")
}

fn ok(args: &[&str]) -> String {
    let out = chare_bench(args);
    assert!(out.status.success(), "chare-bench {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh directory under the system's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("chare-paper-report-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs chare-bench with tiny sizes into `dir`: what a paper run writes,
/// in miniature.
fn write_results(dir: &Path) {
    let lat = ["--min-size", "8", "--max-size", "64", "--iters", "20", "--warmup", "2", "--runs", "3"];
    let bw = ["--min-size", "8", "--max-size", "64", "--iters", "2", "--warmup", "1", "--window", "4", "--runs", "2"];
    for model in ["raw", "chare"] {
        let text = ok(&[&["latency", "--model", model, "--format", "csv"][..], &lat].concat());
        std::fs::write(dir.join(format!("latency-{model}.csv")), text).unwrap();
        let text = ok(&[&["bandwidth", "--model", model, "--format", "csv"][..], &bw].concat());
        std::fs::write(dir.join(format!("bandwidth-{model}.csv")), text).unwrap();
    }
    let stencil = dir.join("stencil");
    ok(&[
        "stencil-sweep",
        "--kind",
        "strong",
        "--series",
        "chare",
        "--n",
        "32",
        "--m",
        "32",
        "--pes",
        "1,2",
        "--iters",
        "2",
        "--warmup",
        "1",
        "--runs",
        "2",
        "--out",
        stencil.to_str().unwrap(),
    ]);
}

#[test]
fn report_lists_every_experiment_and_embeds_its_figures() {
    let dir = scratch("full");
    write_results(&dir);
    let stdout = ok(&["report", dir.to_str().unwrap(), "--resamples", "2000"]);
    assert!(stdout.contains("experiments: latency, bandwidth, stencil-strong\n"), "{stdout}");
    assert!(stdout.contains("missing: gpu, stencil-weak, pic, lb, lb-cost, stream\n"), "{stdout}");
    assert!(!stdout.contains("not recognised"), "{stdout}");

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for section in [
        "## Machine and versions",
        "## Point-to-point latency (PAPER.md section 1)",
        "## Bandwidth (PAPER.md section 2)",
        "## Stencil2D strong scaling (PAPER.md section 4)",
    ] {
        assert!(md.contains(section), "report.md lacks {section:?}");
    }
    // Every experiment with data is listed, and every expected one without.
    for id in ["latency", "bandwidth", "stencil-strong"] {
        assert!(md.contains(&format!("- `{id}`: ")), "report.md does not list {id}");
    }
    let missing = &md[md.find("Expected experiments missing").expect("a missing list")..];
    for id in ["gpu", "stencil-weak", "pic", "lb", "lb-cost", "stream"] {
        assert!(missing.contains(&format!("- `{id}`: ")), "report.md does not list {id} as missing");
    }
    // The models, the machine, the ratios, the paper's numbers at 16 B.
    for text in ["`raw`", "`chare/local`", "chare/local / raw", "cpu |", "| 16 B |", "13.65", "Paper: "] {
        assert!(md.contains(text), "report.md lacks {text:?}");
    }
    assert!(md.contains("`chare/local` latency at 8 B is "), "an automatic reading");

    let figures =
        ["latency", "latency-ratio", "bandwidth", "bandwidth-ratio", "stencil-strong-time", "stencil-strong-breakdown"];
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for f in figures {
        let svg = std::fs::read_to_string(dir.join(format!("figures/{f}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{f}.svg");
        let png = std::fs::read(dir.join(format!("figures/{f}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f}.png");
        assert!(md.contains(&format!("(figures/{f}.svg)")), "report.md does not show {f}");
        assert!(html.contains(&format!("href=\"figures/{f}.png\"")), "report.html does not link {f}.png");
    }
    // The HTML embeds the figures: one inline <svg> per figure, no image
    // loaded from a file.
    assert_eq!(html.matches("<svg").count(), figures.len());
    assert!(!html.contains("<img"));
    assert!(html.contains("Message size (bytes)") && html.contains("One-way latency (µs)"));

    // medians.csv has a row per series and size, and a rebuild skips it.
    let medians = std::fs::read_to_string(dir.join("medians.csv")).unwrap();
    assert!(medians.contains("latency,chare/local,size_bytes,8,one_way_us,"), "{medians}");
    assert!(medians.contains("stencil-strong,chare/local,pes,2,iteration_ms,"), "{medians}");
    let again = ok(&["report", dir.to_str().unwrap(), "--resamples", "2000"]);
    assert_eq!(again, stdout);
    assert_eq!(std::fs::read_to_string(dir.join("report.md")).unwrap(), md, "the report is reproducible");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_usage_errors() {
    for args in [
        &["report", "/nonexistent/chare-bench-results"][..],
        &["report", ".", "--confidence", "1.5"],
        &["report", ".", "--resamples", "0"],
        &["report"],
    ] {
        let out = chare_bench(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("chare-bench: error: ") && stderr.lines().count() == 1, "{stderr:?}");
    }
}

#[test]
fn report_of_an_empty_directory_lists_everything_missing() {
    let dir = scratch("empty");
    let out = dir.join("out");
    let stdout = ok(&["report", dir.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(stdout.contains("experiments: none\n"), "{stdout}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Experiments with data: none."));
    assert!(md.contains("- `latency`: ") && md.contains("- `gpu`: "));
    assert!(out.join("report.html").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}
