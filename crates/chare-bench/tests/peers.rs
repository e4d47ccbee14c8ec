//! The Python peers (`peers/python`: mpi4py and Charm4Py programs) on tiny
//! configurations: each runs, its output is chare-bench's format (the
//! report reads it as the experiment it is), the stencil peers compute the
//! Rust serial reference's grid (same checksum), and the PIC peers verify
//! and end in the Rust serial reference's state (same particle count, id
//! checksum and state hash). A peer whose packages do not import (mpi4py
//! and numpy, charm4py) or whose launcher is missing is skipped with the
//! reason printed; scripts/setup-peers.sh installs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/python")
}

fn python() -> String {
    std::env::var("CHARE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn imports(modules: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why the mpi4py peers cannot run here, if they cannot.
fn mpi4py_missing() -> Option<String> {
    if !cfg!(feature = "mpi") {
        return Some("built without the `mpi` feature (the MPI set-up)".into());
    }
    if Command::new("mpirun").arg("--version").output().map_or(true, |o| !o.status.success()) {
        return Some("no mpirun (scripts/setup-mpi.sh)".into());
    }
    (!imports("numpy, mpi4py.MPI")).then(|| format!("`{}` cannot import mpi4py and numpy", python()))
}

/// Why the Charm4Py peers cannot run here, if they cannot.
fn charm4py_missing() -> Option<String> {
    (!imports("numpy, charm4py, charmrun.start")).then(|| format!("`{}` cannot import charm4py", python()))
}

fn check(out: Output, what: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

fn mpirun(np: usize, peer: &str, args: &[&str]) -> String {
    let out = Command::new("mpirun")
        .args(["-np", &np.to_string(), "--oversubscribe"])
        .arg(python())
        .arg(peers().join(peer))
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdin(Stdio::null())
        .output()
        .expect("start mpirun");
    check(out, peer)
}

fn charmrun(np: usize, peer: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .args(["-m", "charmrun.start", &format!("+p{np}")])
        .arg(peers().join(peer))
        .args(["++quiet", "+quiet"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("start charmrun");
    check(out, peer)
}

fn chare_bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chare-bench"))
        .args(args)
        .env_remove("CHARE_MACHINE")
        .stdin(Stdio::null())
        .output()
        .expect("run chare-bench");
    check(out, "chare-bench")
}

/// The value of the `# key: value` line.
fn meta<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no `# {key}:` line in\n{text}"))
}

/// Writes `files` into a fresh folder and runs `chare-bench report` on it:
/// every file must be read as an experiment (none unrecognised), and the
/// report must name every `series`.
fn report_reads(name: &str, files: &[(&str, &str)], series: &[&str]) {
    let dir = std::env::temp_dir().join(format!("chare-peers-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (f, text) in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let summary = chare_bench(&["report", dir.to_str().unwrap(), "--resamples", "200"]);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(!md.contains("match no chare-bench output"), "a peer file was not recognised:\n{summary}\n{md}");
    for s in series {
        assert!(md.contains(&format!("`{s}`")) || md.contains(&format!("| {s} |")), "report lacks {s}:\n{md}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stencil_peers_compute_the_reference_grid() {
    let grid = ["--n", "48", "--m", "36", "--iters", "4", "--warmup", "1", "--verify", "--format", "csv"];
    let reference = chare_bench(&[&["stencil", "--model", "serial"][..], &grid].concat());
    let want = meta(&reference, "checksum");
    let mut files: Vec<(String, String)> = Vec::new();
    let mut series = Vec::new();
    match mpi4py_missing() {
        Some(why) => println!("skipped: the mpi4py stencil peer: {why}"),
        None => {
            for np in [1, 3] {
                let out = mpirun(np, "stencil_mpi4py.py", &grid);
                assert_eq!(meta(&out, "checksum"), want, "mpi4py on {np} ranks:\n{out}");
                assert_eq!(meta(&out, "model"), "mpi4py");
                assert_eq!(out.lines().filter(|l| !l.starts_with('#')).count(), 1 + 4 * np, "{out}");
                files.push((format!("stencil/strong-mpi4py-p{np}.1.csv"), out));
            }
            series.push("mpi4py");
        }
    }
    match charm4py_missing() {
        Some(why) => println!("skipped: the Charm4Py stencil peer: {why}"),
        None => {
            for (np, odf) in [(1, 1), (2, 3)] {
                let out = charmrun(np, "stencil_charm4py.py", &[&grid[..], &["--odf", &odf.to_string()]].concat());
                assert_eq!(meta(&out, "checksum"), want, "charm4py on {np} PEs, ODF {odf}:\n{out}");
                assert_eq!(meta(&out, "odf"), odf.to_string());
                files.push((format!("stencil/strong-charm4py-p{np}.1.csv"), out));
            }
            series.push("charm4py");
        }
    }
    if !files.is_empty() {
        let refs: Vec<(&str, &str)> = files.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
        report_reads("stencil", &refs, &series);
    }
}

#[test]
fn pic_peers_verify_and_end_in_the_reference_state() {
    let cfg = ["--grid", "40", "--particles", "3000", "--iters", "6", "--rho", "0.9", "--format", "csv"];
    let reference = chare_bench(&[&["pic", "--model", "serial"][..], &cfg].concat());
    let placed = meta(&reference, "particles placed");
    let hash = meta(&reference, "state hash");
    let n: u64 = placed.parse().unwrap();
    let ids = format!("{} (expected {} for ids 1..={n})", n * (n + 1) / 2, n * (n + 1) / 2);
    let with_hash = [&cfg[..], &["--state-hash"]].concat();
    let mut runs: Vec<(String, String)> = Vec::new();
    match mpi4py_missing() {
        Some(why) => println!("skipped: the mpi4py PIC peer: {why}"),
        None => {
            let out = mpirun(2, "pic_mpi4py.py", &with_hash);
            // The same tiles as the Rust mpi model: the same particles per rank.
            let rust = chare_bench(&[&["pic", "--model", "mpi", "--pes", "2"][..], &cfg].concat());
            assert_eq!(meta(&out, "rank particles start"), meta(&rust, "rank particles start"), "{out}");
            assert_eq!(meta(&out, "rank particles end"), meta(&rust, "rank particles end"), "{out}");
            runs.push(("pic/pic-mpi4py-p2.1.csv".into(), out));
        }
    }
    match charm4py_missing() {
        Some(why) => println!("skipped: the Charm4Py PIC peer: {why}"),
        None => {
            runs.push(("pic/pic-charm4py-p2.1.csv".into(), charmrun(2, "pic_charm4py.py", &with_hash)));
            let lb = [&with_hash[..], &["--odf", "4", "--lb-period", "2", "+balancer", "GreedyRefineLB"]].concat();
            let lb = [&lb[..], &["--balancer", "GreedyRefineLB"]].concat();
            runs.push(("pic/pic-charm4py-o-lb-p2.1.csv".into(), charmrun(2, "pic_charm4py.py", &lb)));
        }
    }
    for (f, out) in &runs {
        assert_eq!(meta(out, "particles placed"), placed, "{f}:\n{out}");
        assert_eq!(meta(out, "state hash"), hash, "{f}: not the serial reference's final state:\n{out}");
        assert_eq!(meta(out, "id checksum"), ids, "{f}");
        assert!(meta(out, "verification").starts_with("passed"), "{f}");
        let row = out.lines().find(|l| l.starts_with("mpi4py,") || l.starts_with("charm4py,")).expect("a row");
        assert!(row.contains(",yes,"), "{f}: {row}");
    }
    if !runs.is_empty() {
        let refs: Vec<(&str, &str)> = runs.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
        let series: Vec<&str> =
            refs.iter().map(|(f, _)| if f.contains("mpi4py") { "mpi4py" } else { "charm4py" }).collect();
        report_reads("pic", &refs, &series);
    }
}

#[test]
fn osu_charm4py_peer_prints_both_benchmarks() {
    if let Some(why) = charm4py_missing() {
        println!("skipped: the Charm4Py OSU peer: {why}");
        return;
    }
    let lat = charmrun(
        2,
        "osu_charm4py.py",
        &["latency", "--max-size", "64", "--iters", "5", "--warmup", "1", "--format", "csv"],
    );
    let bw = charmrun(
        2,
        "osu_charm4py.py",
        &["bandwidth", "--max-size", "64", "--iters", "1", "--warmup", "1", "--format", "csv"],
    );
    for (text, cols) in [
        (&lat, "size_bytes,iterations,one_way_us,bandwidth_mb_s"),
        (&bw, "size_bytes,iterations,window,bandwidth_mb_s"),
    ] {
        assert_eq!(meta(text, "model"), "charm4py");
        let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rows[0], cols, "{text}");
        assert_eq!(rows.len(), 1 + 7, "sizes 1..64:\n{text}");
    }
    report_reads(
        "osu",
        &[("latency/latency-charm4py.1.csv", &lat), ("bandwidth/bandwidth-charm4py.1.csv", &bw)],
        &["charm4py"],
    );
}
