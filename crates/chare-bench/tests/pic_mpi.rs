//! `chare-bench pic --model mpi` end to end, through the real binary: on 1,
//! 2 and 4 ranks (relaunched under mpirun, or started by it) every mode
//! verifies and places the serial run's particles; the per-rank particles
//! and the imbalance are reported; bad options are one-line usage errors
//! (exit status 2) from the first process, before any relaunch.
//!
//! The MPI runs are built only with the `mpi` feature and need Open MPI's
//! `mpirun` (scripts/setup-mpi.sh). Without the feature the model is a
//! usage error.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chare-bench"))
        .args(args)
        .env_remove("CHARE_MACHINE")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("run chare-bench")
}

/// The one-line usage error of `args`.
fn usage_error(args: &[&str]) -> String {
    let out = bench(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
    assert!(stderr.starts_with("chare-bench: error: "), "{stderr:?}");
    assert!(out.stdout.is_empty(), "{args:?}");
    stderr
}

#[cfg(not(feature = "mpi"))]
#[test]
fn without_the_feature_the_mpi_model_is_a_usage_error() {
    let e = usage_error(&["pic", "--model", "mpi", "--grid", "10", "--particles", "100", "--iters", "2"]);
    assert!(e.contains("feature"), "{e}");
}

#[cfg(feature = "mpi")]
mod with_mpi {
    use super::*;

    fn ok_stdout(args: &[&str], out: Output) -> String {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn header<'a>(text: &'a str, key: &str) -> &'a str {
        text.lines()
            .find_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("no `# {key}:` line in\n{text}"))
    }

    /// The value of `key=` in the summary line.
    fn summary<'a>(text: &'a str, key: &str) -> &'a str {
        let line = text.lines().find(|l| l.starts_with("# summary: ")).unwrap_or_else(|| panic!("{text}"));
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {key}= in {line}"))
    }

    /// Small runs of every mode, with motion along both axes (and along x
    /// only).
    const MODES: [&[&str]; 4] = [
        &["--mode", "geometric", "--rho", "0.9"],
        &["--mode", "sinusoidal"],
        &["--mode", "linear", "--alpha", "1", "--beta", "3"],
        &["--mode", "patch", "--patch", "3,40,5,30"],
    ];
    const MOTIONS: [&[&str]; 2] = [&["-k", "1", "-m", "-3"], &["-k", "0", "-m", "0"]];
    const SIZE: [&str; 6] = ["--grid", "48", "--particles", "4000", "--iters", "6"];

    fn pic(model: &str, pes: Option<&str>, extra: &[&[&str]]) -> (Vec<String>, String) {
        let mut args: Vec<String> = ["pic", "--model", model].iter().map(|s| s.to_string()).collect();
        if let Some(p) = pes {
            args.extend(["--pes".to_string(), p.to_string()]);
        }
        args.extend(SIZE.iter().map(|s| s.to_string()));
        for e in extra {
            args.extend(e.iter().map(|s| s.to_string()));
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = ok_stdout(&a, bench(&a));
        (args, text)
    }

    #[test]
    fn every_mode_verifies_on_1_2_and_4_ranks_with_the_serial_particles() {
        for mode in MODES {
            for motion in MOTIONS {
                let (_, serial) = pic("serial", None, &[mode, motion]);
                let placed = summary(&serial, "particles").to_string();
                for pes in ["1", "2", "4"] {
                    let (args, text) = pic("mpi", Some(pes), &[mode, motion, &["--format", "csv"]]);
                    assert_eq!(header(&text, "layer"), "mpi", "{args:?}");
                    assert_eq!(header(&text, "pes"), pes, "{args:?}");
                    assert_eq!(summary(&text, "verified"), "yes", "{args:?}\n{text}");
                    assert_eq!(summary(&text, "particles"), placed, "{args:?}\n{text}");
                    assert!(header(&text, "verification").starts_with("passed"), "{text}");
                    let n: u64 = placed.parse().unwrap();
                    let ids = header(&text, "id checksum");
                    assert!(ids.starts_with(&format!("{} (expected {} ", n * (n + 1) / 2, n * (n + 1) / 2)), "{ids}");
                    let per_rank: Vec<u64> =
                        header(&text, "rank particles end").split(',').map(|v| v.parse().unwrap()).collect();
                    assert_eq!(per_rank.len().to_string(), pes);
                    assert_eq!(per_rank.iter().sum::<u64>(), n);
                    let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
                    assert_eq!(rows.len(), 2, "{text}");
                    assert!(rows[1].starts_with(&format!("mpi,48,{n},6,")), "{text}");
                }
            }
        }
    }

    /// PATCH in the lower half with `m = 0`: on 2 ranks (tiles 1 x 2, cut
    /// along y) every particle stays on rank 0, which does all the work.
    #[test]
    fn a_patch_in_one_half_loads_one_rank() {
        let (_, text) = pic("mpi", Some("2"), &[&["--mode", "patch", "--patch", "0,47,0,23", "-m", "0"]]);
        assert!(header(&text, "tiles").starts_with("1 x 2"), "{text}");
        let n = summary(&text, "particles");
        assert_eq!(header(&text, "rank particles start"), format!("{n},0"));
        assert_eq!(header(&text, "rank particles end"), format!("{n},0"));
        assert_eq!(summary(&text, "load_max_avg"), "2.000");
        assert_eq!((summary(&text, "particles_min"), summary(&text, "particles_max")), ("0", n));
    }

    /// Started by mpirun itself (no relaunch): the launcher's rank count is
    /// the run's; a different `--pes` is a usage error.
    #[test]
    fn under_mpirun_the_launcher_decides_the_ranks() {
        let exe = env!("CARGO_BIN_EXE_chare-bench");
        let mpirun = |extra: &[&str]| {
            let mut args = vec!["-np", "2", "--oversubscribe", exe, "pic", "--model", "mpi"];
            args.extend_from_slice(&SIZE);
            args.extend_from_slice(extra);
            Command::new(std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into()))
                .args(&args)
                .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
                .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
                .output()
                .expect("mpirun on PATH (scripts/setup-mpi.sh installs it)")
        };
        let out = mpirun(&[]);
        let text = ok_stdout(&["mpirun -np 2"], out);
        assert_eq!(header(&text, "pes"), "2");
        assert_eq!(summary(&text, "verified"), "yes");
        let out = mpirun(&["--pes", "3"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("chare-bench: error: --pes 3 but the launcher started 2 ranks"), "{stderr}");
    }

    #[test]
    fn bad_options_are_one_line_usage_errors_before_any_relaunch() {
        for (extra, want) in [
            (&["--pes", "0"][..], "--pes"),
            (&["--grid", "7"], "even"),
            (&["--grid", "4", "--pes", "5"], "tiles"),
            (&["--grid", "20", "--pes", "11", "-m", "5"], "m = 5"),
            (&["--grid", "20", "--pes", "6", "-k", "5"], "k = 5"),
            (&["--rho", "2"], "rho"),
            (&["--mode", "linear"], "--alpha"),
            (&["--mode", "patch", "--patch", "0,1000,0,5"], "patch"),
            (&["--odf", "2"], "--odf"),
            (&["--balancer", "greedy"], "--balancer"),
            (&["--lb-period", "4"], "--lb-period"),
            (&["--iters", "0"], "steps"),
        ] {
            let mut args = vec!["pic", "--model", "mpi"];
            args.extend_from_slice(extra);
            let e = usage_error(&args);
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }
}
