//! Runtime configuration: one typed place. Precedence: explicit builder call >
//! program command line (`--pes N`, `+pN`) > environment > default.
//!
//! | setting | command line | environment | default |
//! |---|---|---|---|
//! | number of PEs | `--pes N`, `+pN` | `CHARE_PES` | number of cores |
//! | idle policy | | `CHARE_IDLE` = `spin`, `park`, `spin-park` | `spin-park` |
//! | spin time before parking | | `CHARE_SPIN_US` | 200 us (0 when oversubscribed) |
//! | pin PE threads to cores | | `CHARE_PIN` = `0`/`1` | on unless oversubscribed |
//! | deadlock check interval | | `CHARE_QD_MS` | 2 ms |
//! | machine layer | | `CHARE_MACHINE` = `local`, `mpi` | `mpi` when started by `mpirun`, else `local` |
//!
//! On the MPI layer the PE count is the number of ranks; `--pes` is ignored.

use std::time::Duration;

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

fn parse_pes(s: &str, what: &str) -> Result<usize, ConfigError> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(ConfigError(format!("{what} must be a PE count from 1 to 4096, got `{s}`"))),
    }
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
            }
        }
        let idle = match var("CHARE_IDLE").as_deref() {
            None | Some("spin-park") => IdlePolicy::SpinThenPark,
            Some("spin") => IdlePolicy::Spin,
            Some("park") => IdlePolicy::Park,
            Some(other) => {
                return Err(ConfigError(format!("CHARE_IDLE must be spin, park or spin-park, got `{other}`")))
            }
        };
        let mut cfg = Config::with_pes(pes);
        cfg.idle = idle;
        let launched = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| var(v).is_some());
        cfg.layer = match var("CHARE_MACHINE").as_deref() {
            None if launched => Layer::Mpi,
            None | Some("local") => Layer::Local,
            Some("mpi") => Layer::Mpi,
            Some(other) => return Err(ConfigError(format!("CHARE_MACHINE must be local or mpi, got `{other}`"))),
        };
        if cfg.layer == Layer::Mpi && !cfg!(feature = "mpi") {
            return Err(ConfigError(
                "started under mpirun (or CHARE_MACHINE=mpi) but built without the cargo feature `mpi`; rebuild with --features chare/mpi, or set CHARE_MACHINE=local".into(),
            ));
        }
        if let Some(v) = var("CHARE_SPIN_US") {
            let us: u64 =
                v.parse().map_err(|_| ConfigError(format!("CHARE_SPIN_US must be microseconds, got `{v}`")))?;
            cfg.spin = Duration::from_micros(us);
        }
        if let Some(v) = var("CHARE_PIN") {
            cfg.pin = match v.as_str() {
                "1" | "yes" | "true" => true,
                "0" | "no" | "false" => false,
                _ => return Err(ConfigError(format!("CHARE_PIN must be 0 or 1, got `{v}`"))),
            };
        }
        if let Some(v) = var("CHARE_QD_MS") {
            let ms: u64 = v.parse().map_err(|_| ConfigError(format!("CHARE_QD_MS must be milliseconds, got `{v}`")))?;
            cfg.qd_interval = Duration::from_millis(ms.max(1));
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
        }
    }

    /// Whether there are more PEs than cores.
    pub fn oversubscribed(&self) -> bool {
        self.pes > num_cores()
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
    fn bad_values_are_one_line_errors() {
        let none = |_: &str| None;
        let e = Config::from_sources(&args(&["--pes", "0"]), none).unwrap_err();
        assert!(e.0.contains("--pes") && !e.0.contains('\n'));
        assert!(Config::from_sources(&args(&["+pabc"]), none).is_err());
        assert!(Config::from_sources(&args(&["--pes"]), none).is_err());
        let idle = |k: &str| (k == "CHARE_IDLE").then(|| "nap".to_string());
        assert!(Config::from_sources(&[], idle).is_err());
    }
}
