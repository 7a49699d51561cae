//! The bench's own sandbox: a new network namespace with only loopback up, and a private
//! mount namespace with fresh tmpfs on /run/netns and /run/vprolab.

use std::process::Command;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

/// Moves this process into the sandbox. Must run before any thread starts, because the
/// kernel refuses a new mount namespace to a process with several threads.
pub fn enter() -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).map_err(|errno| format!("cannot create the bench's sandbox ({errno}): run it as root, as `make bench` does"))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>).map_err(|errno| format!("cannot make the mount tree private: {errno}"))?;

    for dir in ["/run/netns", "/run/vprolab"] {
        std::fs::create_dir_all(dir).map_err(|error| format!("cannot create {dir}: {error}"))?;
        mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::empty(), None::<&str>).map_err(|errno| format!("cannot mount a tmpfs on {dir}: {errno}"))?;
    }

    let status = Command::new("ip").args(["link", "set", "lo", "up"]).status().map_err(|error| format!("cannot run ip (iproute2): {error}"))?;
    if !status.success() {
        return Err("`ip link set lo up` failed in the bench's sandbox".into());
    }
    Ok(())
}

/// The script prefix that gives a child process a sandbox of its own: `unshare` makes the
/// namespaces and this script mounts fresh tmpfs on /run/netns and /run/vprolab in it.
pub const CHILD_SETUP: &str = "mount -t tmpfs tmpfs /run/netns && mount -t tmpfs tmpfs /run/vprolab && ip link set lo up || exit 90";

/// Returns `unshare` ready to run `bash -c SCRIPT` in a sandbox of its own; `args` follow as
/// `$1`, `$2` and so on.
pub fn child(script: &str) -> Command {
    let mut command = Command::new("unshare");
    command.args(["--net", "--mount", "--propagation", "private", "--", "bash", "-c"]).arg(format!("{CHILD_SETUP}\n{script}")).arg("bench-child");
    command
}

/// Waits until the kernel has freed the namespaces of the runs before, so that its
/// cleanup work does not slow the next measurement: until the count of live network
/// namespaces (the `net_namespace` line of /proc/slabinfo) is back to `baseline`, or
/// has not dropped for 2 s, or 60 s have passed.
///
/// The count is the whole machine's, so namespaces that other programs make or free
/// meanwhile move it too; hence the stall and time limits.
pub fn settle(baseline: u64) {
    let started = std::time::Instant::now();
    let mut lowest = u64::MAX;
    let mut last_drop = std::time::Instant::now();

    while let Some(live) = live_namespaces() {
        if live <= baseline || started.elapsed().as_secs() >= 60 || last_drop.elapsed().as_secs() >= 2 {
            return;
        }
        if live < lowest {
            lowest = live;
            last_drop = std::time::Instant::now();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Returns the active objects of the `net_namespace` slab cache, or `None` where
/// /proc/slabinfo is unreadable or has no such line.
pub fn live_namespaces() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let line = text.lines().find(|line| line.starts_with("net_namespace "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
