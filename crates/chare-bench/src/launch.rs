//! Running under an MPI launcher: detecting it (every build: the local layer
//! refuses to run under one without the `mpi` feature), and starting
//! `mpirun` (the `mpi` feature: `$MPIRUN`, default `mpirun`).

#[cfg(feature = "mpi")]
use std::path::Path;
#[cfg(feature = "mpi")]
use std::process::{Command, Stdio};

/// This process's rank when started by an MPI launcher (Open MPI, MPICH, Slurm).
#[cfg(feature = "mpi")]
pub fn launcher_rank() -> Option<usize> {
    ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"].iter().find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// Ranks of the job when started by an MPI launcher that says so.
pub fn launcher_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"].iter().find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// Whether an MPI launcher started this process.
pub fn under_launcher() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some())
}

/// `mpirun` with the options this machine needs: allowed as root, and on a
/// box with fewer cores than ranks, oversubscription allowed.
#[cfg(feature = "mpi")]
fn mpirun_command(np: usize) -> Command {
    let program = std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into());
    let mut cmd = Command::new(&program);
    cmd.arg("-np").arg(np.to_string());
    let open_mpi = Command::new(&program)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("Open MPI"))
        .unwrap_or(false);
    if open_mpi {
        cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        if np > cores {
            cmd.arg("--oversubscribe");
        } else {
            cmd.args(["--bind-to", "core"]);
        }
    }
    cmd
}

/// Runs `bin args` under `mpirun -np np`; returns its standard output.
/// Standard error passes through.
#[cfg(feature = "mpi")]
pub fn mpirun(np: usize, bin: &Path, args: &[String]) -> Result<String, String> {
    let out = mpirun_command(np)
        .arg(bin)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start mpirun: {e} (run scripts/setup-mpi.sh)"))?;
    if !out.status.success() {
        return Err(format!("mpirun {} exited with {}", bin.display(), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Re-runs this program under `mpirun -np np` with the same arguments,
/// passing output through; returns the launcher's exit code.
#[cfg(feature = "mpi")]
pub fn relaunch(np: usize) -> Result<i32, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = mpirun_command(np)
        .arg(exe)
        .args(std::env::args().skip(1))
        .status()
        .map_err(|e| format!("cannot start mpirun: {e} (run scripts/setup-mpi.sh)"))?;
    Ok(status.code().unwrap_or(1))
}
