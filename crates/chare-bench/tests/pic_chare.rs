//! The chare model of PIC end to end, through the real binary: every mode
//! verifies on 1, 2 and 4 PEs, one and four tiles per PE, with and without
//! load balancing, and places the same particles as the serial reference;
//! tiles that migrate (the rotate strategy moves every tile at every sync
//! point) keep their particles and channels; bad options are one-line
//! usage errors; the sweep runs its variants.
//!
//! The MPI-layer test (`mpirun -np 2`) is built only with the `mpi`
//! feature and needs Open MPI's `mpirun` (scripts/setup-mpi.sh).

use std::process::{Command, Output};

/// The small problem every run shares.
const SMALL: [&str; 6] = ["--grid", "24", "--particles", "3000", "--iters", "7"];

/// The four modes, with their options.
const MODES: [&[&str]; 4] = [
    &["--mode", "geometric", "--rho", "0.9"],
    &["--mode", "sinusoidal"],
    &["--mode", "linear", "--alpha", "1", "--beta", "3"],
    &["--mode", "patch", "--patch", "2,13,3,20"],
];

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chare-bench"))
        .args(args)
        .env_remove("CHARE_MACHINE")
        .env_remove("CHARE_PES")
        .env_remove("CHARE_BALANCER")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("run chare-bench")
}

fn ok_stdout(args: &[&str], out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// The value of `key=` in the summary line.
fn summary<'a>(text: &'a str, key: &str) -> &'a str {
    let line = text.lines().find_map(|l| l.strip_prefix("# summary: ")).unwrap_or_else(|| panic!("{text}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
}

fn header<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no `# {key}:` line in\n{text}"))
}

fn pic(extra: &[&str]) -> String {
    let mut args = vec!["pic"];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(extra);
    ok_stdout(&args, bench(&args))
}

#[test]
fn every_mode_verifies_on_1_2_4_pes_with_odf_1_and_4_with_and_without_balancing() {
    for mode in MODES {
        let serial = pic(mode);
        let placed = summary(&serial, "particles").to_string();
        for pes in ["1", "2", "4"] {
            for odf in ["1", "4"] {
                for lb in [&["--balancer", "none"][..], &["--balancer", "greedy", "--lb-period", "2"]] {
                    let mut extra = vec!["--model", "chare", "--pes", pes, "--odf", odf];
                    extra.extend_from_slice(mode);
                    extra.extend_from_slice(lb);
                    let text = pic(&extra);
                    let what = format!("{extra:?}\n{text}");
                    assert_eq!(summary(&text, "verified"), "yes", "{what}");
                    assert_eq!(summary(&text, "particles"), placed, "{what}");
                    assert_eq!(summary(&text, "pes"), pes, "{what}");
                    assert_eq!(header(&text, "layer"), "local", "{what}");
                    // 7 timed steps, a sync point every 2: after steps 2, 4 and 6.
                    let steps = if lb.len() > 2 { "3" } else { "0" };
                    assert_eq!(summary(&text, "lb_steps"), steps, "{what}");
                }
            }
        }
    }
}

/// The rotate strategy moves every tile at every sync point: particles
/// and channels travel with the tiles.
#[test]
fn tiles_that_move_at_every_sync_point_still_verify() {
    let text = pic(&["--model", "chare", "--pes", "2", "--odf", "4", "--balancer", "rotate", "--lb-period", "1"]);
    assert_eq!(summary(&text, "verified"), "yes", "{text}");
    assert_eq!(summary(&text, "lb_steps"), "6", "{text}");
    assert_eq!(summary(&text, "moved"), "48", "{text}");
    // One tile per PE, 2 tiles along x (left and right neighbour the same
    // tile), and the --lb-period default balancer.
    let text = pic(&["--model", "chare", "--pes", "4", "--lb-period", "3", "--mode", "sinusoidal"]);
    assert_eq!(summary(&text, "verified"), "yes", "{text}");
    assert_eq!(summary(&text, "balancer"), "default", "{text}");
}

#[test]
fn a_wide_tile_grid_and_k_above_0_verify() {
    let text = ok_stdout(
        &[],
        bench(&[
            "pic",
            "--model",
            "chare",
            "--pes",
            "3",
            "--odf",
            "5",
            "--grid",
            "60",
            "--particles",
            "5000",
            "--iters",
            "9",
            "-k",
            "1",
            "-m",
            "-2",
            "--balancer",
            "refine",
            "--lb-period",
            "4",
        ]),
    );
    assert_eq!(summary(&text, "verified"), "yes", "{text}");
    assert_eq!(summary(&text, "tiles"), "15", "{text}");
}

#[test]
fn bad_options_are_one_line_usage_errors() {
    let cases: Vec<Vec<&str>> = vec![
        vec!["--grid", "25"],
        vec!["--grid", "0"],
        vec!["--particles", "0"],
        vec!["--rho", "0"],
        vec!["--rho", "1.5"],
        vec!["--odf", "0"],
        vec!["--pes", "0"],
        vec!["--lb-period", "0"],
        vec!["--balancer", "fastest"],
        // 8 x 8 tiles of 3 cells: k = 2 moves particles 5 cells per step.
        vec!["--pes", "16", "--odf", "4", "-k", "2"],
        // More tiles than cells.
        vec!["--pes", "4", "--odf", "16", "--grid", "6"],
    ];
    for extra in cases {
        let mut args = vec!["pic", "--model", "chare", "--particles", "100", "--iters", "2"];
        if !extra.contains(&"--grid") {
            args.extend(["--grid", "24"]);
        }
        args.extend_from_slice(&extra);
        let out = bench(&args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with("chare-bench: error: "), "{stderr:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn sweep_runs_the_chare_variants_and_writes_csv() {
    let dir = std::env::temp_dir().join(format!("chare-bench-pic-sweep-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let args = [
        "pic-sweep",
        "--grid",
        "24",
        "--particles",
        "2000",
        "--iters",
        "6",
        "--rho",
        "0.9",
        "--pes",
        "1,2",
        "--runs",
        "2",
        "--odf",
        "4",
        "--lb-period",
        "2",
        "--variants",
        "chare,chare-o,chare-o-lb",
        "--format",
        "csv",
        "--out",
        out,
    ];
    let text = ok_stdout(&args, bench(&args));
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("chare")).collect();
    assert_eq!(rows.len(), 6, "{text}");
    assert!(rows.iter().any(|r| r.starts_with("chare-o-lb,2,") && r.contains(",yes,2,")), "{text}");
    for v in ["chare", "chare-o", "chare-o-lb"] {
        for p in [1, 2] {
            for r in [1, 2] {
                assert!(dir.join(format!("{v}-p{p}-r{r}.csv")).exists(), "{v} {p} {r}");
            }
        }
    }
    assert!(dir.join("summary.csv").exists() && dir.join("ratios.csv").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The runtime's MPI layer under `mpirun -np 2`: tiles migrate between
/// processes (rotate moves every tile) and the run verifies.
#[cfg(feature = "mpi")]
#[test]
fn chare_model_verifies_on_the_mpi_layer() {
    let exe = env!("CARGO_BIN_EXE_chare-bench");
    for lb in [&["--balancer", "none"][..], &["--balancer", "rotate", "--lb-period", "2"], &["--lb-period", "3"]] {
        let mut args = vec!["-np", "2", "--oversubscribe", exe, "pic", "--model", "chare", "--odf", "4"];
        args.extend_from_slice(&SMALL);
        args.extend_from_slice(lb);
        let out = Command::new(std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into()))
            .args(&args)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env_remove("CHARE_PES")
            .env_remove("CHARE_BALANCER")
            .output()
            .expect("mpirun on PATH (scripts/setup-mpi.sh installs it)");
        let text = ok_stdout(&args, out);
        assert_eq!(header(&text, "layer"), "mpi", "{text}");
        assert_eq!(header(&text, "pes"), "2", "{text}");
        assert_eq!(summary(&text, "verified"), "yes", "{text}");
        if lb[1] == "rotate" {
            assert_eq!(summary(&text, "lb_steps"), "3", "{text}");
            assert_eq!(summary(&text, "moved"), "24", "{text}");
        }
    }
}
