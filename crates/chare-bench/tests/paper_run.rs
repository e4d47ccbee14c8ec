//! End-to-end check of `chare-bench paper`: a quick run of the latency and
//! bandwidth experiments (every model this build and machine can run, one
//! round), then the same command again, which must find every step done,
//! run nothing and leave every file as it was; then one file removed, which
//! must be the only step run again. The report must list every experiment
//! the report knows (present or missing) and the steps' section.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

/// The experiments of `chare-bench report` (its `EXPECTED`).
const EXPERIMENTS: [&str; 9] =
    ["latency", "bandwidth", "gpu", "stencil-strong", "stencil-weak", "pic", "lb", "lb-cost", "stream"];

fn chare_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chare-bench"))
        .args(args)
        .env_remove("CHARE_MACHINE")
        .output()
        .expect("run chare-bench")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("chare-paper-run-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Every file under `dir`: size, modification time and contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (SystemTime, Vec<u8>)> {
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, (SystemTime, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                let m = e.metadata().unwrap().modified().unwrap();
                out.insert(p.clone(), (m, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

fn paper(dir: &Path) -> (String, String, Duration) {
    let t = Instant::now();
    let out = chare_bench(&[
        "paper",
        "--quick",
        "--out",
        dir.to_str().unwrap(),
        "--only",
        "latency,bandwidth",
        "--rounds",
        "1",
    ]);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "chare-bench paper failed:\n{stdout}\n{stderr}");
    (stdout, stderr, t.elapsed())
}

/// The number before `label` in `steps: ... N label, ...`.
fn count(summary: &str, label: &str) -> usize {
    let line = summary.lines().find(|l| l.starts_with("steps: ")).expect("a steps line");
    let part = line.split(", ").find(|p| p.contains(label)).unwrap_or_else(|| panic!("{label} in {line}"));
    part.trim_start_matches("steps: ").split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_second_run_does_no_work_and_the_report_lists_every_experiment() {
    let dir = scratch("resume");
    std::fs::create_dir_all(dir.join("latency")).unwrap();
    // What an interrupted run leaves: removed, never read as a result.
    std::fs::write(dir.join("latency/.latency-raw.1.csv.tmp"), "# partial\nsize_bytes,one").unwrap();

    let (first, _, t1) = paper(&dir);
    let planned = count(&first, "planned");
    assert!(
        planned >= 5,
        "raw, chare-local (channel, entry) latency and raw, chare-local bandwidth at least:\n{first}"
    );
    assert_eq!(count(&first, "run ("), planned, "{first}");
    assert_eq!(count(&first, "already done"), 0, "{first}");
    assert!(!dir.join("latency/.latency-raw.1.csv.tmp").exists());
    for f in ["latency/latency-raw.1.csv", "latency/latency-chare-local.1.csv", "bandwidth/bandwidth-raw.1.csv"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(text.contains("# paper command: chare-bench paper --quick"), "{f}:\n{text}");
        assert!(text.contains("# paper step: "), "{f}");
        assert!(text.contains("# mpi library: "), "{f}");
        assert!(text.contains("# cpu: ") && text.contains("# cores: "), "{f}");
    }

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for e in EXPERIMENTS {
        assert!(md.contains(&format!("`{e}`: ")), "report.md does not list {e}");
    }
    assert!(md.contains("Expected experiments missing"));
    assert!(md.contains("## Steps of chare-bench paper"));
    assert!(md.contains("## Point-to-point latency") && md.contains("## Bandwidth"));
    assert!(dir.join("report.html").is_file() && dir.join("figures/latency.svg").is_file());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Steps of chare-bench paper</h2>"));

    // Again: nothing to do, nothing touched.
    let before = snapshot(&dir);
    let (second, stderr, t2) = paper(&dir);
    assert_eq!(count(&second, "run ("), 0, "{second}");
    assert_eq!(count(&second, "already done"), planned, "{second}");
    assert!(second.contains("is up to date (nothing ran)"), "{second}");
    assert!(stderr.contains(&format!("{planned} of {planned} steps already done")), "{stderr}");
    assert!(!stderr.contains("] "), "no step ran:\n{stderr}");
    assert_eq!(snapshot(&dir), before, "the second run changed files");
    assert!(t2 < Duration::from_secs(15) && t2 < t1 + Duration::from_secs(1), "second run took {t2:?} (first {t1:?})");

    // One result removed: only that step runs, and the report is rebuilt.
    std::fs::remove_file(dir.join("latency/latency-raw.1.csv")).unwrap();
    let (third, _, _) = paper(&dir);
    assert_eq!(count(&third, "run ("), 1, "{third}");
    assert_eq!(count(&third, "already done"), planned - 1, "{third}");
    assert!(dir.join("latency/latency-raw.1.csv").is_file());
    assert!(third.contains("experiments: latency, bandwidth"), "{third}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dry_run_and_usage_errors() {
    let dir = scratch("dry");
    let out = chare_bench(&["paper", "--quick", "--out", dir.to_str().unwrap(), "--dry-run", "--only", "stencil,pic"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("to run  stencil/strong-chare-p1.1.csv"), "{text}");
    assert!(text.contains("stencil/weak-chare-p2.3.csv"), "{text}");
    assert!(!text.contains("latency/"), "{text}");
    assert!(!dir.exists(), "a dry run writes nothing");
    for args in [
        &["paper", "--only", "gpu"][..],
        &["paper", "--only", "nope"],
        &["paper", "--pes", "0"],
        &["paper", "--rounds", "0"],
    ] {
        let out = chare_bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("chare-bench: error: ") && err.lines().count() == 1, "{err}");
    }
}
