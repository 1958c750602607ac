//! Exit codes, and the error that carries one (`Coded`): what every command, `serve` and the
//! report views return when a failure has its own documented exit code (DESIGN §exit codes).

/// An error that carries its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    pub code: i32,
    pub message: String,
}

/// Build an error with an exit code.
pub fn coded(code: i32, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        message: message.into(),
    })
}

/// Exit code: input rejected.
pub const EXIT_REJECTED: i32 = 5;
/// Exit code: not found.
pub const EXIT_NOT_FOUND: i32 = 4;
/// Exit code: a job failed in this run.
pub const EXIT_JOBS_FAILED: i32 = 3;
/// Exit code: `status --check` found stale data, or `doctor` found a problem.
pub const EXIT_UNHEALTHY: i32 = 6;
/// Exit code: the job's state does not allow what was asked.
pub const EXIT_STATE: i32 = 7;

/// The exit code for an error: its `Coded` code, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Coded>().map(|c| c.code))
        .unwrap_or(1)
}
