//! `--sandbox`: run the lab inside a new, empty network namespace and a private mount
//! namespace, so that even a mistake in the lab cannot reach this machine's network and
//! no mount outlives the process.

use std::fs;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

/// Folders that get a private tmpfs inside the sandbox: where named namespaces and lab
/// state live. Labs outside the sandbox stay untouched and invisible.
const PRIVATE_DIRS: &[&str] = &[netns::NETNS_RUN_DIR, vprolab::lab::state::STATE_ROOT];

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("--sandbox cannot create namespaces ({0}): run as root, or with CAP_SYS_ADMIN and CAP_NET_ADMIN")]
    Unshare(nix::Error),

    #[error("--sandbox cannot make the mount tree private: {0}")]
    Private(nix::Error),

    #[error("--sandbox cannot mount a private {dir}: {error}")]
    Mount { dir: &'static str, error: String },
}

/// Moves the calling process into the sandbox. Must run before any thread is started,
/// because the kernel changes a multi-threaded process's mount namespace only per thread.
pub fn enter() -> Result<(), SandboxError> {
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).map_err(SandboxError::Unshare)?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>).map_err(SandboxError::Private)?;

    for dir in PRIVATE_DIRS {
        fs::create_dir_all(dir).map_err(|error| SandboxError::Mount { dir, error: error.to_string() })?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), *dir, Some("tmpfs"), flags, Some("mode=0755")).map_err(|error| SandboxError::Mount { dir, error: error.to_string() })?;
    }
    Ok(())
}
