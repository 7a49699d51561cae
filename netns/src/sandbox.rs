//! Test isolation: a private network and mount namespace for the calling thread, so that
//! a test can create named namespaces, links and routes with no effect on the host and
//! no collision with tests running in parallel.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

use crate::namespace::run_on_thread;
use crate::{Error, NETNS_RUN_DIR, Netlink};

/// The namespace name used in errors about the sandbox's own network namespace.
const SANDBOX: &str = "sandbox";

/// Moves the calling thread, and only it, into a new network namespace and a new mount
/// namespace, with `lo` up and an empty private `/run/netns`.
///
/// The steps are `unshare --net --mount` for this thread, `mount --make-rprivate /`, a
/// tmpfs on `/run/netns`, and `ip link set lo up`. Threads the caller spawns afterwards
/// inherit both namespaces. Threads that exist already do not, so call it before building
/// a multi-threaded tokio runtime. In `#[tokio::test]` (current-thread flavour), calling it
/// first in the test body is enough, because the body runs on the test thread.
///
/// Nothing becomes visible on the host: mounts made afterwards stay in the private mount
/// namespace, and the namespaces in it are freed once the thread and those it spawned
/// have exited. The only trace is the empty folder `/run/netns`, created if missing
/// because the tmpfs needs a mount point, as `ip netns add` would create it. Needs root.
pub fn isolate_current_thread() -> Result<(), Error> {
    // CLONE_NEWNS implies CLONE_FS, which the kernel allows in a multi-threaded process:
    // the thread gets its own copy of the root and working folder. CLONE_NEWUSER would not
    // be allowed there, and root does not need it.
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).map_err(|errno| {
        Error::Unshare {
            flags: "CLONE_NEWNET | CLONE_NEWNS",
            errno,
        }
    })?;

    // Without this, mounts below would propagate to the host's peer mounts.
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>).map_err(|errno| {
        Error::Mount {
            command: "mount --make-rprivate /".into(),
            errno,
        }
    })?;

    mount_private_run_dir()?;
    bring_loopback_up()
}

fn mount_private_run_dir() -> Result<(), Error> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(NETNS_RUN_DIR)
        .map_err(|source| Error::RunDir {
            action: "create",
            path: NETNS_RUN_DIR.into(),
            source,
        })?;

    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        NETNS_RUN_DIR,
        Some("tmpfs"),
        flags,
        Some("mode=0755"),
    )
    .map_err(|errno| Error::Mount {
        command: format!("mount -t tmpfs tmpfs {NETNS_RUN_DIR}"),
        errno,
    })
}

/// Sets `lo` up from a helper thread with its own small runtime, because the caller may
/// be inside a tokio runtime already, where blocking on another one would panic.
fn bring_loopback_up() -> Result<(), Error> {
    let set_up = || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::SandboxRuntime { source })?;

        runtime.block_on(async {
            let netlink = Netlink::connect_here(SANDBOX)?;
            netlink.set_up("lo").await
        })
    };
    run_on_thread(SANDBOX, set_up)?
}
