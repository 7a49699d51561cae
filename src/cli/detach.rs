//! `up --detach`: the process forks, and the child builds and runs the lab. The parent
//! waits until the child reports that every client has its verdict, then exits with the
//! exit code the child sends. The child keeps running the lab in the background.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe, setsid};

use super::CliError;
use crate::exit;

/// The child's end of the pipe to the waiting parent.
pub(crate) struct Detached {
    ready: OwnedFd,
}

/// Forks. Returns in the child only; the parent waits for [`Detached::ready`] or for the
/// child's death, and exits.
///
/// Must run while the process has one thread, before the runtime starts: a child forked
/// from a multi-threaded process may only call async-signal-safe functions.
pub(crate) fn fork_and_wait() -> Result<Detached, CliError> {
    let (read, write) = pipe().map_err(|errno| CliError::Environment(format!("--detach cannot create a pipe: {errno}")))?;

    // SAFETY: the process has a single thread here (see above), so the child may do
    // anything a new process may.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            drop(write);
            std::process::exit(i32::from(wait_for_child(read, child)))
        }
        Ok(ForkResult::Child) => {
            drop(read);
            Ok(Detached { ready: write })
        }
        Err(errno) => Err(CliError::Environment(format!("--detach cannot fork: {errno}"))),
    }
}

/// Waits for the exit code the child sends, or, when it dies first, the one it died with.
fn wait_for_child(read: OwnedFd, child: Pid) -> u8 {
    let mut code = [0u8; 1];
    if let Ok(1) = File::from(read).read(&mut code) {
        return code[0];
    }

    match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, status)) => u8::try_from(status).unwrap_or(exit::ENVIRONMENT),
        Ok(WaitStatus::Signaled(..)) => exit::INTERRUPTED,
        _ => exit::ENVIRONMENT,
    }
}

impl Detached {
    /// Sends `code` to the parent and leaves the terminal: a new session, and standard
    /// input and output on /dev/null, so that the parent's reader sees the end of output.
    pub(crate) fn ready(self, code: u8) {
        let _ = std::io::stdout().flush();
        let _ = File::from(self.ready).write_all(&[code]);

        if let Err(errno) = setsid() {
            tracing::warn!(%errno, "cannot start a new session for the detached lab");
        }
        match File::options().read(true).write(true).open("/dev/null") {
            Ok(null) => {
                let _ = dup2_stdin(&null).and_then(|_| dup2_stdout(&null)).and_then(|_| dup2_stderr(&null));
            }
            Err(error) => tracing::warn!(%error, "cannot open /dev/null for the detached lab"),
        }
    }
}
