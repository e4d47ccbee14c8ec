//! How a job ends when it does not end well.

use std::fmt;

/// Why a job failed. Every variant prints as one or more plain lines naming the
/// PE, chare and entry method involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// User code panicked in an entry method, a constructor or the main task.
    Panic {
        /// PE the panic happened on.
        pe: usize,
        /// Chare type name (`main` for the main task).
        chare: String,
        /// Element index.
        index: String,
        /// Entry method name.
        entry: String,
        /// The panic message.
        message: String,
        /// Where in the source the panic happened (`file:line:column`), if known.
        location: Option<String>,
        /// The backtrace, when `RUST_BACKTRACE` asked for one.
        backtrace: Option<String>,
    },
    /// `abort(message)` was called.
    Abort {
        /// PE that called abort.
        pe: usize,
        /// The message given.
        message: String,
    },
    /// Every PE went idle while tasks still waited: the program cannot progress.
    Deadlock {
        /// One line per waiting task: PE, chare, index, entry, what it awaits.
        waiting: Vec<String>,
        /// One line per chare and entry with calls held by an unmet `when`
        /// condition: PE, chare, index, entry, how many.
        held: Vec<String>,
    },
    /// The runtime found a misuse it cannot recover from (a future fulfilled
    /// twice, a message to an element that does not exist, ...).
    Usage {
        /// PE that found it.
        pe: usize,
        /// What went wrong.
        message: String,
    },
    /// Bad configuration (PE count, environment).
    Config(String),
}

impl JobError {
    /// Prints the error as the runtime reports it on stderr: one line
    /// `chare: ...` (a deadlock adds one line per waiting task), then the
    /// panic's backtrace if `RUST_BACKTRACE` asked for one.
    pub fn report(&self) {
        use std::io::Write;
        // One `write` per line: stderr is unbuffered, so `writeln!` would
        // issue one system call per piece of the format string, and under
        // mpirun, which forwards each rank's output in the chunks it reads,
        // another rank's (or mpirun's own) output could land mid-line.
        let mut text = format!("chare: {self}\n");
        if let JobError::Panic { backtrace: Some(bt), .. } = self {
            text.push_str(&format!("{bt}\n"));
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    /// The process exit code a launcher should use for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            JobError::Config(_) => 2,
            JobError::Deadlock { .. } => 3,
            _ => 1,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Panic { pe, chare, index, entry, message, location, .. } => {
                write!(f, "PE {pe}: panic in {chare}[{index}].{entry}: {message}")?;
                match location {
                    Some(l) => write!(f, " (at {l})"),
                    None => Ok(()),
                }
            }
            JobError::Abort { pe, message } => write!(f, "PE {pe}: abort: {message}"),
            JobError::Deadlock { waiting, held } => {
                write!(
                    f,
                    "deadlock: every PE is idle and no message is in flight, but {} task(s) still wait",
                    waiting.len()
                )?;
                if !held.is_empty() {
                    write!(f, " and {} chare entr(ies) hold calls whose `when` condition is false", held.len())?;
                }
                f.write_str(":")?;
                for w in waiting.iter().chain(held) {
                    write!(f, "\n  {w}")?;
                }
                Ok(())
            }
            JobError::Usage { pe, message } => write!(f, "PE {pe}: {message}"),
            JobError::Config(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for JobError {}

/// A panic in an entry method or a pool task, delivered to the caller that
/// asked for it instead of ending the job: `proxy.NAME_try_ret(..)`,
/// `collection.NAME_try_all_ret(..)`, and the pool's `try_map`,
/// `map_async` and `task`. It names where the panic happened; it prints as
/// the runtime's panic report does (`PE p: panic in T[i].entry: message (at
/// file:line:col)`). It travels between processes like any value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntryError {
    /// PE the panic happened on.
    pub pe: usize,
    /// Chare type name (`pool` for a pool task).
    pub chare: String,
    /// Element index (a pool task: the item's position in the input).
    pub index: String,
    /// Entry method name (a pool task: the task function's path).
    pub entry: String,
    /// The panic message.
    pub message: String,
    /// Where in the source the panic happened (`file:line:column`), if known.
    pub location: Option<String>,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PE {}: panic in {}[{}].{}: {}", self.pe, self.chare, self.index, self.entry, self.message)?;
        match &self.location {
            Some(l) => write!(f, " (at {l})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for EntryError {}
