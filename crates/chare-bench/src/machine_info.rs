//! What machine a benchmark ran on, for the `#` comment header of the output.
//!
//! Everything here is cheap and best-effort: a field that cannot be read is
//! reported as `unknown` rather than failing the benchmark.

use std::fs;

/// The facts about the machine that go into every result header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    /// Logical CPUs this process may use (`std::thread::available_parallelism`).
    pub cores: usize,
    /// The first `model name` line of `/proc/cpuinfo`, or `unknown`.
    pub cpu_model: String,
    /// `/proc/sys/kernel/hostname` (or `/etc/hostname`), or `unknown`.
    pub hostname: String,
}

impl MachineInfo {
    /// Reads the machine information of the host this process runs on.
    pub fn detect() -> Self {
        // A process started by mpirun may be bound to one core, and then the
        // affinity-aware count says 1: count the machine's processors instead.
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").ok();
        let listed = cpuinfo.as_deref().map(|t| t.lines().filter(|l| l.starts_with("processor")).count()).unwrap_or(0);
        let affinity = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let cores = listed.max(affinity);
        let cpu_model = cpuinfo.as_deref().and_then(cpu_model_from_cpuinfo).unwrap_or_else(|| "unknown".to_string());
        let hostname = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .filter_map(|path| fs::read_to_string(path).ok())
            .map(|s| s.trim().to_string())
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_string());
        MachineInfo { cores, cpu_model, hostname }
    }

    /// True when more PEs (busy threads) run than there are cores.
    pub fn oversubscribed(&self, pes: usize) -> bool {
        pes > self.cores
    }
}

/// Extracts the value of the first `model name : ...` line of a
/// `/proc/cpuinfo` text.
pub fn cpu_model_from_cpuinfo(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_model_name() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nmodel name\t: other\n";
        assert_eq!(cpu_model_from_cpuinfo(text).as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
        assert_eq!(cpu_model_from_cpuinfo("processor : 0\n"), None);
    }

    #[test]
    fn oversubscription() {
        let m = MachineInfo { cores: 2, cpu_model: "x".into(), hostname: "h".into() };
        assert!(!m.oversubscribed(2));
        assert!(m.oversubscribed(3));
    }
}
