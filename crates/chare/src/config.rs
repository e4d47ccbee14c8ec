//! Runtime configuration: one typed place. Precedence: explicit builder call >
//! program command line (`--pes N`, `+pN`) > environment > default.
//!
//! | setting | command line | environment | range | default |
//! |---|---|---|---|---|
//! | number of PEs | `--pes N`, `--pes=N`, `+pN` | `CHARE_PES` | 1 to 4096 ([`MAX_PES`]) | number of cores |
//! | idle policy | | `CHARE_IDLE` | `spin`, `park`, `spin-park` | `spin-park` |
//! | spin time before parking | | `CHARE_SPIN_US` | 0 to 1000000 us (1 s, [`MAX_SPIN_US`]) | 200 us (0 when oversubscribed) |
//! | pin PE threads to cores | | `CHARE_PIN` | `0`/`1` (`no`/`yes`, `false`/`true`) | on unless oversubscribed |
//! | quiescence and deadlock check interval | | `CHARE_QD_MS` | 1 to 60000 ms (1 min, [`QD_MS_RANGE`]) | 2 ms |
//! | machine layer | | `CHARE_MACHINE` | `local`, `mpi` | `mpi` when started by `mpirun`, else `local` |
//! | huge pages for large blocks ([`HugePageAlloc`](crate::HugePageAlloc)) | | `CHARE_HUGEPAGES` | `0`/`off`/`OFF`/`false`/`no` turn it off, anything else leaves it on | on |
//! | check mode: entry calls, channel values, future values, broadcasts and reduction contributions within a process go through the wire format and back (a value MPI could not move fails on one machine too) | | `CHARE_CHECK_SERDE` | `0`/`1` (`no`/`yes`, `false`/`true`) | 0 |
//! | load-balancing strategy of at-sync arrays ([`crate::lb`]) | `--balancer S`, `--balancer=S` | `CHARE_BALANCER` | `greedy`, `refine`, `rotate`, `none` | `greedy` |
//! | print each balancing step's report to stderr | | `CHARE_LB_VERBOSE` | `0`/`1` (`no`/`yes`, `false`/`true`) | 0 |
//! | append each balancing step's report to a file | | `CHARE_LB_LOG` | a file path (not empty) | none |
//! | largest MPI message; longer ones go in parts (for tests of that path) | | `CHARE_MPI_CHUNK` | 1 to 1073741824 bytes (1 GiB); larger or not a number: 1 GiB | 1 GiB |
//! | task pool: idle PEs steal half of a running chunk ([`crate::pool`]; off only to measure what stealing brings) | | `CHARE_POOL_STEAL` | `0`/`off`/`false`/`no` turn it off, anything else leaves it on | on |
//!
//! A value outside its range, or one that is not a number, ends the program
//! (in [`run`](crate::run)) before any PE starts, with one line naming the
//! setting, the value and the range, and exit status 2
//! ([`JobError::Config`](crate::JobError::Config)); [`Runtime::from_env`](crate::Runtime::from_env)
//! returns that error instead. `CHARE_HUGEPAGES` is read by the allocator,
//! which cannot report errors, so it has no invalid values.
//!
//! Why these ranges: a PE is a thread on the local layer, and 4096 threads
//! are already 8 PEs per hardware thread on the largest single machines
//! (512 hardware threads), far into oversubscription; more would only add
//! threads that take turns. Spinning longer than a second before parking is
//! the `spin` policy in all but name (use `CHARE_IDLE=spin`). The quiescence
//! interval bounds how late an idle job notices that it is quiescent or
//! deadlocked: below 1 ms PE 0 would check continuously, and above a minute a
//! deadlocked job looks hung (a huge value used to disable detection).
//!
//! Command-line arguments: the runtime reads only `--pes N`, `--pes=N`,
//! `+pN` and `--balancer S`; arguments the runtime does not know are left to the program, and
//! are not reported. The runtime removes nothing: `std::env::args()` in the
//! program still sees every argument, `--pes` included.
//!
//! On the MPI layer the PE count is the number of ranks; `--pes` is checked
//! but ignored.

use std::time::Duration;

/// Most bytes in one MPI message: MPI counts are `int`, so longer messages
/// and `Buffer`s travel in parts of this size. `CHARE_MPI_CHUNK` makes it
/// smaller (the tests use 4 KiB to cover the path with small messages).
pub(crate) fn mpi_chunk_bytes() -> usize {
    const MAX: usize = 1 << 30;
    std::env::var("CHARE_MPI_CHUNK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&c| c > 0)
        .map_or(MAX, |c| c.min(MAX))
}

/// Whether the task pool's idle PEs steal work (`CHARE_POOL_STEAL`). Read
/// once per process by the pool; like `CHARE_HUGEPAGES` it has no invalid
/// values (it is a measuring switch, not a setting of the job).
pub(crate) fn pool_steal() -> bool {
    !matches!(std::env::var("CHARE_POOL_STEAL").as_deref(), Ok("0" | "off" | "OFF" | "false" | "no"))
}

/// Whether the MPI layer coalesces small messages to one rank into one MPI
/// message (`CHARE_MPI_COALESCE`; see `machine::mpi::endpoint`). A
/// measuring switch like `CHARE_POOL_STEAL`: no invalid values.
pub(crate) fn mpi_coalesce() -> bool {
    !matches!(std::env::var("CHARE_MPI_COALESCE").as_deref(), Ok("0" | "off" | "OFF" | "false" | "no"))
}

/// Whether the MPI layer sends mid-sized messages and attachments in eager
/// parts (`CHARE_MPI_SPLIT`; see `machine::mpi::endpoint`). A measuring
/// switch like `CHARE_MPI_COALESCE`: no invalid values.
pub(crate) fn mpi_split() -> bool {
    !matches!(std::env::var("CHARE_MPI_SPLIT").as_deref(), Ok("0" | "off" | "OFF" | "false" | "no"))
}

/// What an idle PE does while it has nothing to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Spin forever: lowest latency, burns the core.
    Spin,
    /// Park the thread at once; woken by the next message.
    Park,
    /// Spin for the configured time, then park.
    SpinThenPark,
}

/// Which machine layer runs the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// PEs are threads of this process.
    Local,
    /// One PE per MPI rank (cargo feature `mpi`).
    Mpi,
}

/// Settings of one job. Build with [`Config::from_env`] and adjust fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// The machine layer.
    pub layer: Layer,
    /// Number of processing elements (PE threads).
    pub pes: usize,
    /// Idle policy of every PE.
    pub idle: IdlePolicy,
    /// How long an idle PE spins before parking under [`IdlePolicy::SpinThenPark`].
    pub spin: Duration,
    /// Pin PE `i` to core `i mod cores`.
    pub pin: bool,
    /// How often PE 0 checks for quiescence while idle.
    pub qd_interval: Duration,
    /// Pass every entry call, channel value, future value, broadcast and
    /// reduction contribution within the process through
    /// the wire format and back (`CHARE_CHECK_SERDE=1`), so that values the
    /// MPI layer could not move fail on a laptop too. Off by default: it
    /// copies every value.
    pub check_serde: bool,
    /// The load-balancing strategy of at-sync arrays (`--balancer`,
    /// `CHARE_BALANCER`).
    pub balancer: crate::lb::strategy::Strategy,
    /// Print each load-balancing step's report to stderr (`CHARE_LB_VERBOSE=1`).
    pub lb_verbose: bool,
    /// Append each load-balancing step's report to this file (`CHARE_LB_LOG`).
    pub lb_log: Option<std::path::PathBuf>,
}

/// A configuration error: the message is one line for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigError {}

/// Number of cores the process may use.
pub fn num_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Number of processors of the machine, whatever this process is bound to
/// (mpirun binds each rank to one core).
pub fn machine_cores() -> usize {
    let listed = std::fs::read_to_string("/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    listed.max(num_cores())
}

/// On the MPI layer: more ranks on this machine than it has processors.
pub fn ranks_oversubscribed() -> bool {
    let local = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok())
        .unwrap_or(1);
    local > machine_cores()
}

/// The most PEs a job may have (`--pes`, `+p`, `CHARE_PES`).
pub const MAX_PES: usize = 4096;
/// The longest spin before parking, in microseconds (`CHARE_SPIN_US`).
pub const MAX_SPIN_US: u64 = 1_000_000;
/// The quiescence and deadlock check interval's range, in milliseconds (`CHARE_QD_MS`).
pub const QD_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=60_000;

/// Parses a whole number in `range`; the error names the setting, the value
/// and the range in one line.
/// An on/off setting: `1`/`yes`/`true` or `0`/`no`/`false`.
fn parse_switch(v: &str, what: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "1" | "yes" | "true" => Ok(true),
        "0" | "no" | "false" => Ok(false),
        _ => Err(ConfigError(format!("{what} must be 0 or 1 (or no/yes, false/true), got `{}`", v.escape_debug()))),
    }
}

fn parse_in<T>(s: &str, what: &str, unit: &str, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match s.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError(format!(
            "{what} must be {unit} from {} to {}, got `{}`",
            range.start(),
            range.end(),
            s.escape_debug()
        ))),
    }
}

fn parse_balancer(s: &str, what: &str) -> Result<crate::lb::strategy::Strategy, ConfigError> {
    crate::lb::strategy::Strategy::parse(s).map_err(|e| ConfigError(format!("{what}: {e}")))
}

fn parse_pes(s: &str, what: &str) -> Result<usize, ConfigError> {
    parse_in(s, what, "a PE count", 1..=MAX_PES)
}

impl Config {
    /// Defaults, then the environment, then the program's command line.
    pub fn from_env() -> Result<Config, ConfigError> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Self::from_sources(&args, |k| std::env::var(k).ok())
    }

    /// Like [`Config::from_env`] with explicit arguments and variables (for tests).
    pub fn from_sources(args: &[String], var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut pes = num_cores();
        let mut balancer = None;
        if let Some(v) = var("CHARE_PES") {
            pes = parse_pes(&v, "CHARE_PES")?;
        }
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            if let Some(rest) = a.strip_prefix("+p") {
                pes = parse_pes(rest, "+p")?;
            } else if let Some(rest) = a.strip_prefix("--pes=") {
                pes = parse_pes(rest, "--pes")?;
            } else if a == "--pes" {
                let v = it.next().ok_or_else(|| ConfigError("--pes needs a value".into()))?;
                pes = parse_pes(v, "--pes")?;
            } else if let Some(rest) = a.strip_prefix("--balancer=") {
                balancer = Some(parse_balancer(rest, "--balancer")?);
            } else if a == "--balancer" {
                let v = it.next().ok_or_else(|| ConfigError("--balancer needs a value".into()))?;
                balancer = Some(parse_balancer(v, "--balancer")?);
            }
        }
        let idle = match var("CHARE_IDLE").as_deref() {
            None | Some("spin-park") => IdlePolicy::SpinThenPark,
            Some("spin") => IdlePolicy::Spin,
            Some("park") => IdlePolicy::Park,
            Some(other) => {
                return Err(ConfigError(format!(
                    "CHARE_IDLE must be spin, park or spin-park, got `{}`",
                    other.escape_debug()
                )))
            }
        };
        let mut cfg = Config::with_pes(pes);
        cfg.idle = idle;
        let launched = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| var(v).is_some());
        cfg.layer = match var("CHARE_MACHINE").as_deref() {
            None if launched => Layer::Mpi,
            None | Some("local") => Layer::Local,
            Some("mpi") => Layer::Mpi,
            Some(other) => {
                return Err(ConfigError(format!("CHARE_MACHINE must be local or mpi, got `{}`", other.escape_debug())))
            }
        };
        if cfg.layer == Layer::Mpi && !cfg!(feature = "mpi") {
            return Err(ConfigError(
                "started under mpirun (or CHARE_MACHINE=mpi) but built without the cargo feature `mpi`; rebuild with --features chare/mpi, or set CHARE_MACHINE=local".into(),
            ));
        }
        if let Some(v) = var("CHARE_SPIN_US") {
            let us = parse_in(&v, "CHARE_SPIN_US", "microseconds", 0..=MAX_SPIN_US)?;
            cfg.spin = Duration::from_micros(us);
        }
        if let Some(v) = var("CHARE_PIN") {
            cfg.pin = parse_switch(&v, "CHARE_PIN")?;
        }
        if let Some(v) = var("CHARE_CHECK_SERDE") {
            cfg.check_serde = parse_switch(&v, "CHARE_CHECK_SERDE")?;
        }
        if let Some(v) = var("CHARE_LB_LOG") {
            if v.is_empty() {
                return Err(ConfigError("CHARE_LB_LOG must name a file".into()));
            }
            cfg.lb_log = Some(v.into());
        }
        if let Some(v) = var("CHARE_LB_VERBOSE") {
            cfg.lb_verbose = parse_switch(&v, "CHARE_LB_VERBOSE")?;
        }
        match (balancer, var("CHARE_BALANCER")) {
            (Some(b), _) => cfg.balancer = b,
            (None, Some(v)) => cfg.balancer = parse_balancer(&v, "CHARE_BALANCER")?,
            (None, None) => {}
        }
        if let Some(v) = var("CHARE_QD_MS") {
            let ms = parse_in(&v, "CHARE_QD_MS", "milliseconds", QD_MS_RANGE)?;
            cfg.qd_interval = Duration::from_millis(ms);
        }
        Ok(cfg)
    }

    /// Defaults for `pes` PEs, ignoring the environment.
    pub fn with_pes(pes: usize) -> Config {
        assert!(pes >= 1, "a job needs at least one PE");
        let oversubscribed = pes > num_cores();
        Config {
            layer: Layer::Local,
            pes,
            idle: IdlePolicy::SpinThenPark,
            spin: if oversubscribed { Duration::ZERO } else { Duration::from_micros(200) },
            pin: !oversubscribed,
            qd_interval: Duration::from_millis(2),
            check_serde: false,
            balancer: crate::lb::strategy::Strategy::Greedy,
            lb_verbose: false,
            lb_log: None,
        }
    }

    /// Checks that every value is in its documented range (a configuration
    /// built in code, not read from the environment, is checked here when
    /// the job starts).
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_PES).contains(&self.pes) {
            return Err(ConfigError(format!("pes must be from 1 to {MAX_PES}, got {}", self.pes)));
        }
        if self.spin > Duration::from_micros(MAX_SPIN_US) {
            return Err(ConfigError(format!("spin must be at most {MAX_SPIN_US} us, got {:?}", self.spin)));
        }
        let (lo, hi) = (*QD_MS_RANGE.start(), *QD_MS_RANGE.end());
        if self.qd_interval < Duration::from_millis(lo) || self.qd_interval > Duration::from_millis(hi) {
            return Err(ConfigError(format!("qd_interval must be from {lo} to {hi} ms, got {:?}", self.qd_interval)));
        }
        Ok(())
    }

    /// Whether there are more PEs than cores.
    pub fn oversubscribed(&self) -> bool {
        self.pes > num_cores()
    }
}

#[cfg(test)]
mod code_built {
    use super::*;

    /// A configuration built in code is held to the same ranges.
    #[test]
    fn out_of_range_fields_are_refused() {
        let ok = Config::with_pes(2);
        assert!(ok.check().is_ok());
        let mut c = ok.clone();
        c.qd_interval = Duration::from_secs(u64::MAX / 4);
        assert!(c.check().unwrap_err().0.contains("qd_interval must be from 1 to 60000 ms"));
        let mut c = ok.clone();
        c.qd_interval = Duration::ZERO;
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.spin = Duration::from_secs(5);
        assert!(c.check().unwrap_err().0.contains("spin must be at most"));
        let mut c = ok;
        c.pes = MAX_PES + 1;
        assert!(c.check().unwrap_err().0.contains("pes must be from 1"));
        let code = crate::Runtime::with_config(c).run(|_rt| async {});
        assert!(matches!(code, Err(crate::JobError::Config(_))), "{code:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line_beats_environment() {
        let env = |k: &str| (k == "CHARE_PES").then(|| "3".to_string());
        assert_eq!(Config::from_sources(&[], env).unwrap().pes, 3);
        assert_eq!(Config::from_sources(&args(&["+p5"]), env).unwrap().pes, 5);
        assert_eq!(Config::from_sources(&args(&["--pes", "7"]), env).unwrap().pes, 7);
        assert_eq!(Config::from_sources(&args(&["--pes=2"]), env).unwrap().pes, 2);
    }

    #[test]
    fn the_balancer_comes_from_the_command_line_or_the_environment() {
        use crate::lb::strategy::Strategy;
        let none = |_: &str| None;
        let env = |k: &str| (k == "CHARE_BALANCER").then(|| "refine".to_string());
        assert_eq!(Config::from_sources(&[], none).unwrap().balancer, Strategy::Greedy);
        assert_eq!(Config::from_sources(&[], env).unwrap().balancer, Strategy::Refine);
        assert_eq!(Config::from_sources(&args(&["--balancer", "rotate"]), env).unwrap().balancer, Strategy::Rotate);
        assert_eq!(Config::from_sources(&args(&["--balancer=none"]), env).unwrap().balancer, Strategy::None);
        let e = Config::from_sources(&args(&["--balancer", "tree"]), none).unwrap_err();
        assert!(e.0.starts_with("--balancer: ") && e.0.contains("greedy") && !e.0.contains('\n'), "{}", e.0);
        let bad = |k: &str| (k == "CHARE_BALANCER").then(|| "GREEDY!".to_string());
        assert!(Config::from_sources(&[], bad).unwrap_err().0.starts_with("CHARE_BALANCER: "));
        assert!(Config::from_sources(&args(&["--balancer"]), none).is_err());
        let log = |k: &str| (k == "CHARE_LB_LOG").then(String::new);
        assert!(Config::from_sources(&[], log).is_err());
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        let none = |_: &str| None;
        let e = Config::from_sources(&args(&["--pes", "0"]), none).unwrap_err();
        assert!(e.0.contains("--pes") && !e.0.contains('\n'));
        assert!(Config::from_sources(&args(&["+pabc"]), none).is_err());
        assert!(Config::from_sources(&args(&["--pes"]), none).is_err());
        let idle = |k: &str| (k == "CHARE_IDLE").then(|| "nap".to_string());
        assert!(Config::from_sources(&[], idle).is_err());
    }

    /// The error for `var=value`, with no command-line arguments.
    fn env_error(var: &str, value: &str) -> String {
        let e = Config::from_sources(&[], |k| (k == var).then(|| value.to_string())).unwrap_err().0;
        assert!(!e.contains('\n'), "not one line: {e}");
        assert!(e.contains(var), "does not name {var}: {e}");
        e
    }

    fn env_ok(var: &str, value: &str) -> Config {
        Config::from_sources(&[], |k| (k == var).then(|| value.to_string())).unwrap()
    }

    #[test]
    fn pes_range() {
        assert_eq!(env_ok("CHARE_PES", "1").pes, 1);
        assert_eq!(env_ok("CHARE_PES", "4096").pes, MAX_PES);
        for bad in ["0", "4097", "18446744073709551616", "-1", "four", ""] {
            let e = env_error("CHARE_PES", bad);
            assert!(e.contains("from 1 to 4096") && e.contains(&format!("`{bad}`")), "{e}");
        }
        let none = |_: &str| None;
        assert_eq!(Config::from_sources(&args(&["+p4096"]), none).unwrap().pes, 4096);
        for bad in [&["+p4097"][..], &["--pes", "0"], &["--pes=99999"], &["+p"], &["--pes", "x"]] {
            let e = Config::from_sources(&args(bad), none).unwrap_err().0;
            assert!(e.contains("from 1 to 4096") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn spin_range() {
        assert_eq!(env_ok("CHARE_SPIN_US", "0").spin, Duration::ZERO);
        assert_eq!(env_ok("CHARE_SPIN_US", "1000000").spin, Duration::from_secs(1));
        for bad in ["1000001", "18446744073709551615", "-5", "200us", "1e3"] {
            let e = env_error("CHARE_SPIN_US", bad);
            assert!(e.contains("from 0 to 1000000") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn qd_interval_range() {
        assert_eq!(env_ok("CHARE_QD_MS", "1").qd_interval, Duration::from_millis(1));
        assert_eq!(env_ok("CHARE_QD_MS", "60000").qd_interval, Duration::from_secs(60));
        // The value that used to turn quiescence and deadlock detection off.
        for bad in ["0", "60001", "18446744073709551615", "99999999999999999999999", "2ms", ""] {
            let e = env_error("CHARE_QD_MS", bad);
            assert!(e.contains("from 1 to 60000") && e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn switches_and_names() {
        assert!(env_ok("CHARE_PIN", "1").pin);
        assert!(!env_ok("CHARE_PIN", "no").pin);
        env_error("CHARE_PIN", "2");
        env_error("CHARE_PIN", "on\nof");
        assert_eq!(env_ok("CHARE_IDLE", "park").idle, IdlePolicy::Park);
        assert!(env_error("CHARE_IDLE", "nap").contains("spin, park or spin-park"));
        assert_eq!(env_ok("CHARE_MACHINE", "local").layer, Layer::Local);
        assert!(env_error("CHARE_MACHINE", "gpu").contains("local or mpi"));
    }

    #[test]
    fn unknown_arguments_are_left_to_the_program() {
        let none = |_: &str| None;
        let cfg =
            Config::from_sources(&args(&["--steps", "10", "-v", "+p3", "input.txt", "--pes-file"]), none).unwrap();
        assert_eq!(cfg.pes, 3);
    }
}
