//! Runs every example binary with 1, 2 and 8 PEs (8 oversubscribes small
//! machines, which must still work), checks that each exits with status 0,
//! prints the same output for every PE count, and prints the right values
//! (computed independently here). `farm` also prints its timing and how its
//! tasks spread over the PEs, which vary: only its results are compared.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one run may take before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `exe` with `args` and extra environment; returns stdout. Fails the
/// test on a non-zero exit, or kills the child and fails after [`TIMEOUT`].
fn run_with(exe: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(exe);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).env_remove("CHARE_PES");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s)
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(status) => break status,
            None if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{exe} {args:?} did not finish within {TIMEOUT:?}; killed");
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let stdout = out_t.join().unwrap().expect("stdout is UTF-8");
    let stderr = err_t.join().unwrap().expect("stderr is UTF-8");
    assert!(status.success(), "{exe} {args:?} failed with {status}\n--- stdout\n{stdout}--- stderr\n{stderr}");
    stdout
}

/// Runs `exe` with `--pes 1`, `--pes 2` and `--pes 8`, asserts that the
/// outputs are identical and returns it.
fn run_all_pes(exe: &str) -> String {
    let outs: Vec<(usize, String)> =
        [1, 2, 8].iter().map(|&p| (p, run_with(exe, &["--pes", &p.to_string()], &[]))).collect();
    let (_, first) = &outs[0];
    for (p, out) in &outs[1..] {
        assert_eq!(out, first, "{exe}: output with {p} PEs differs from output with 1 PE");
    }
    first.clone()
}

/// The value after `prefix` on the first line that starts with it.
fn value_after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
        .trim()
}

#[test]
fn hello() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_hello"));
    let mut expected = vec![
        "group: hello from group element 0".to_string(),
        "group: one greeting per PE, in index order".to_string(),
        "array: the broadcast reached all 12 elements".to_string(),
    ];
    for r in 0..3 {
        for c in 0..4 {
            expected.push(format!("array: hello from array element ({r}, {c}), which heard \"hi\""));
        }
    }
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn pi() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_pi"));
    let pi: f64 = value_after(&out, "pi ~= ").parse().expect("pi is a number");
    assert!((pi - std::f64::consts::PI).abs() < 1e-9, "pi = {pi}");
    assert_eq!(value_after(&out, "pi ~= "), "3.1415926536");
    assert!(value_after(&out, "bits  = ").starts_with("0x400921fb544"), "{out}");
    assert_eq!(value_after(&out, "Sum reduction agrees within 1e-12: "), "true");
}

#[test]
fn fibonacci() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_fibonacci"));
    assert_eq!(out.trim(), "fib(20) = 6765");
}

#[test]
fn parallel_map() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_parallel_map"));
    let f = |i: u64| {
        let (mut x, mut steps) = (i + 1, 0u64);
        while x != 1 {
            x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
            steps += 1;
        }
        steps
    };
    let values: Vec<u64> = (0..1000).map(f).collect();
    let first: Vec<String> = values[..10].iter().map(|v| v.to_string()).collect();
    let sum: u64 = values.iter().sum();
    let checksum: u64 = values.iter().enumerate().map(|(i, v)| (i as u64 + 1) * v).sum();
    assert_eq!(value_after(&out, "first 10: "), first.join(" "));
    assert_eq!(value_after(&out, "sum = "), sum.to_string());
    assert_eq!(value_after(&out, "checksum = "), checksum.to_string());
}

#[test]
fn ring() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_ring"));
    // Simulate the ring serially.
    const N: usize = 8;
    let mut v: Vec<u64> = (0..N as u64).map(|i| i * i + 1).collect();
    for _ in 0..100 {
        v = (0..N).map(|i| (v[(i + N - 1) % N] + 2 * v[i] + v[(i + 1) % N]) % 1_000_003).collect();
    }
    assert!(out.starts_with("token after one lap around 8 chares: 28 "), "{out}");
    for (i, x) in v.iter().enumerate() {
        assert_eq!(value_after(&out, &format!("  element {i}: ")), x.to_string());
    }
}

/// `coroutines` computes `ring`'s exchange with entry calls, a reentrant
/// entry and `when` conditions: the same values.
#[test]
fn coroutines() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_coroutines"));
    const N: usize = 8;
    let mut v: Vec<u64> = (0..N as u64).map(|i| i * i + 1).collect();
    for _ in 0..100 {
        v = (0..N).map(|i| (v[(i + N - 1) % N] + 2 * v[i] + v[(i + 1) % N]) % 1_000_003).collect();
    }
    assert!(out.starts_with("values after 100 exchange rounds:"), "{out}");
    for (i, x) in v.iter().enumerate() {
        assert_eq!(value_after(&out, &format!("  element {i}: ")), x.to_string());
    }
}

/// `sections`: each row's sum after its multicast, the diagonal's, and the
/// union of the first and last rows' (computed here).
#[test]
fn sections() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_sections"));
    let cell = |r: u64, c: u64| 10 * r + c;
    let mut want = String::new();
    let mut value: Vec<Vec<u64>> = (0..4).map(|r| (0..6).map(|c| cell(r, c) * (r + 1)).collect()).collect();
    for (r, row) in value.iter().enumerate() {
        want += &format!("row {r} scaled by {}: sum {}\n", r + 1, row.iter().sum::<u64>());
    }
    let diag: u64 = (0..4).map(|i| value[i][i]).sum();
    want += &format!("diagonal (4 cells): sum {diag}\n");
    for r in [0, 3] {
        for v in &mut value[r] {
            *v *= 2;
        }
    }
    let ends: u64 = value[0].iter().chain(&value[3]).sum();
    want += &format!("rows 0 and 3 (12 cells) scaled by 2: sum {ends}\n");
    assert_eq!(out, want);
}

/// `dynamic`: after each doubling round the array has twice the elements,
/// element i of generation popcount(i); then the odd ones are deleted.
#[test]
fn dynamic() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_dynamic"));
    let gens = |n: usize, keep: fn(usize) -> bool| -> (usize, u32) {
        let alive: Vec<usize> = (0..n).filter(|&i| keep(i)).collect();
        (alive.len(), alive.iter().map(|i| i.count_ones()).sum())
    };
    let mut want = String::new();
    let mut width = 1;
    while 2 * width <= 16 {
        let (n, g) = gens(2 * width, |_| true);
        want += &format!("after a round of width {width}: {n} elements, generations sum to {g}\n");
        width *= 2;
    }
    let (n, g) = gens(16, |i| i % 2 == 0);
    want += &format!("odd elements deleted: {n} elements, generations sum to {g}\n");
    assert_eq!(out, want);
}

/// `pool`: the map's results in input order (longest chain and an
/// order-sensitive checksum computed here), a single task, a task's panic
/// as a value; the same output with 1, 2 and 8 PEs.
#[test]
fn pool() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_pool"));
    let f = |n: u64| {
        let (mut x, mut steps) = (n, 0u64);
        while x != 1 {
            x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
            steps += 1;
        }
        steps
    };
    let steps: Vec<u64> = (1..=100_000).map(f).collect();
    let (longest, start) = steps.iter().zip(1u64..).max().unwrap();
    let checksum: u64 = steps.iter().zip(1u64..).map(|(s, i)| i * s).sum();
    assert_eq!(value_after(&out, "collatz over 1..=100000: "), format!("longest is {longest} steps, from {start}"));
    assert_eq!(value_after(&out, "checksum = "), checksum.to_string());
    assert_eq!(value_after(&out, "collatz(27) = "), "111");
    assert_eq!(value_after(&out, "task 2 failed: "), "attempt to divide by zero");
}

/// `farm` with 1, 2 and 8 PEs: every task is done exactly once (the master
/// checks), the checksum of the results is right (computed here), and the
/// tasks run per PE add up to the task count. How they spread over the PEs,
/// and the time, vary from run to run: not checked.
#[test]
fn farm() {
    let exe = env!("CARGO_BIN_EXE_farm");
    let (tasks, steps) = (300u64, 20_000u64);
    // The example's task: `steps` rounds of SplitMix64 from the task's number.
    let mix = |x: u64| {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let checksum = (0..tasks).map(|i| (0..steps).fold(i, |x, _| mix(x))).fold(0u64, u64::wrapping_add);
    for p in [1, 2, 8] {
        let args = ["--pes", &p.to_string(), "--tasks", &tasks.to_string(), "--steps", &steps.to_string()];
        let out = run_with(exe, &args, &[]);
        assert_eq!(value_after(&out, "farm: "), format!("{tasks} tasks of {steps} steps"), "{out}");
        assert_eq!(value_after(&out, "every task done exactly once: "), "true", "{out}");
        assert_eq!(value_after(&out, "checksum = "), format!("{checksum:#018x}"), "{out}");
        assert_eq!(value_after(&out, "PEs: "), p.to_string(), "{out}");
        let per_pe: Vec<u64> = value_after(&out, "tasks per PE: ")
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(|n| n.parse().expect("a task count"))
            .collect();
        assert_eq!(per_pe.len(), p, "{out}");
        assert_eq!(per_pe.iter().sum::<u64>(), tasks, "{out}");
    }
}

/// The other ways to give the PE count: `+pN` and `CHARE_PES`.
#[test]
fn pe_count_from_plus_p_and_environment() {
    let exe = env!("CARGO_BIN_EXE_fibonacci");
    assert_eq!(run_with(exe, &["+p3"], &[]).trim(), "fib(20) = 6765");
    assert_eq!(run_with(exe, &[], &[("CHARE_PES", "5")]).trim(), "fib(20) = 6765");
}

/// `balance` with 1, 2 and 4 PEs and each strategy: the blocks' results do
/// not depend on where they ran (checksum computed here), and every period
/// ended in one balancing step. Times and moves vary: not checked.
#[test]
fn balance() {
    let exe = env!("CARGO_BIN_EXE_balance");
    let (blocks, iters, period, work) = (16u64, 6u64, 2u64, 2_000u64);
    let mix = |x: u64| {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let rounds = |i: u64| if i < blocks / 4 { 4 * work } else { work };
    let checksum = (0..blocks).map(|i| (0..iters * rounds(i)).fold(i, |x, _| mix(x))).fold(0u64, u64::wrapping_add);
    for (p, balancer) in [(1, "greedy"), (2, "greedy"), (2, "refine"), (4, "rotate"), (2, "none")] {
        let args = [
            "--pes",
            &p.to_string(),
            "--balancer",
            balancer,
            "--blocks",
            &blocks.to_string(),
            "--iters",
            &iters.to_string(),
            "--period",
            &period.to_string(),
            "--work",
            &work.to_string(),
        ];
        let out = run_with(exe, &args, &[]);
        assert_eq!(value_after(&out, "checksum = "), format!("{checksum:#018x}"), "{balancer} on {p} PEs: {out}");
        assert_eq!(value_after(&out, "balancing steps: "), (iters / period).to_string(), "{out}");
        assert!(out.contains(&format!("({balancer})")), "{out}");
    }
}

/// `timeouts`: the services answering in 0 and 20 ms make the 150 ms
/// deadline, those answering in 400 ms miss it and answer later; every
/// reply is `x * x` of its request `i + 1`.
#[test]
fn timeouts() {
    let out = run_all_pes(env!("CARGO_BIN_EXE_timeouts"));
    let want = "service 0: 1\nservice 1: 4\nservice 3: 16\nservice 4: 25\n\
                service 2: missed the deadline, then answered 9\n\
                service 5: missed the deadline, then answered 36\n";
    assert_eq!(out, want);
}
