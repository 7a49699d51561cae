//! `exec`: run a command inside a node's network namespace, as `ip netns exec` does, with
//! the node's resolver settings on /etc/resolv.conf so that `dig` and `curl` use the lab's
//! DNS servers.
//!
//! The command replaces this process, so its exit code is the one `vprolab exec` exits
//! with. It runs in a private mount namespace: the resolver file and a fresh /sys (so
//! that /sys/class/net lists the node's links) are mounted there and nowhere else.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use vprolab::lab::cleanup::namespace_of;
use vprolab::lab::state::{self, Lock, ProcessId, RESOLVER_DIR, SandboxRecord, StateRecord};

use super::admin::state_dir_of;
use super::{CliError, ExecArgs};

const RESOLV_CONF: &str = "/etc/resolv.conf";

pub(crate) fn exec_in_node(args: &ExecArgs) -> Result<u8, CliError> {
    let dir = state_dir_of(&args.lab, args.state_dir.as_deref());
    let record = running_record(&args.lab, &dir)?;
    let Some(node) = record.nodes.iter().find(|node| node.name == args.node) else {
        let names: Vec<&str> = record.nodes.iter().map(|node| node.name.as_str()).collect();
        return Err(CliError::Input(format!("lab {} has no node {:?}: its nodes are {}", args.lab, args.node, names.join(", "))));
    };
    let resolver = dir.join(RESOLVER_DIR).join(format!("{}.conf", node.name));
    let cwd = std::env::current_dir().ok();

    if let Some(sandbox) = record.sandbox {
        enter_sandbox(record.owner, sandbox)?;
    }
    enter_network(&node.namespace)?;
    mount_node_files(&resolver)?;
    if let Some(cwd) = cwd {
        let _ = std::env::set_current_dir(cwd);
    }

    let (program, arguments) = args.command.split_first().expect("clap requires a command");
    let error = Command::new(program).args(arguments).exec();
    Err(CliError::Input(format!("cannot run {}: {error}", program.to_string_lossy())))
}

/// Reads the record of a lab whose owner still runs it.
fn running_record(lab: &str, dir: &Path) -> Result<StateRecord, CliError> {
    let not_running = || CliError::Input(format!("lab {lab} is not running ({} has no live lab); start it with `vprolab up`", dir.display()));
    let record = state::read_record(dir)?.ok_or_else(not_running)?;

    match state::lock_folder(dir)? {
        Lock::Busy => Ok(record),
        Lock::Held(_) => Err(CliError::Input(format!("lab {lab} is not running: its process {} died; `vprolab down {lab}` removes what it left", record.owner.pid))),
    }
}

/// Joins the sandbox of a `--sandbox` lab: its user namespace when rootless, then its
/// mount namespace, where the lab's /run/netns is.
fn enter_sandbox(owner: ProcessId, sandbox: SandboxRecord) -> Result<(), CliError> {
    let failed = |step: &str, error: String| CliError::Environment(format!("cannot enter the sandbox of process {} ({step}): {error}; run `vprolab exec` as the user who started the lab", owner.pid));
    let open = |kind: &str| File::open(format!("/proc/{}/ns/{kind}", owner.pid)).map_err(|error| failed(kind, error.to_string()));
    let (user, mounts) = (open("user")?, open("mnt")?);
    if !owner.is_alive() {
        return Err(failed("owner", "the process has exited".into()));
    }

    let own_user_namespace = namespace_of(std::process::id(), "user");
    if sandbox.user_namespace.is_some() && sandbox.user_namespace != own_user_namespace {
        setns(&user, CloneFlags::CLONE_NEWUSER).map_err(|errno| failed("setns user", errno.to_string()))?;
    }
    setns(&mounts, CloneFlags::CLONE_NEWNS).map_err(|errno| failed("setns mnt", errno.to_string()))
}

fn enter_network(namespace: &str) -> Result<(), CliError> {
    let path = Path::new(netns::NETNS_RUN_DIR).join(namespace);
    let file = File::open(&path).map_err(|error| CliError::Environment(format!("cannot open network namespace {}: {error}", path.display())))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| CliError::Environment(format!("cannot enter network namespace {namespace}: {errno}; run as root, or as the user who started a rootless lab")))
}

/// Makes a private mount namespace with the node's resolver file on /etc/resolv.conf and a
/// sysfs of the node's network namespace on /sys.
fn mount_node_files(resolver: &Path) -> Result<(), CliError> {
    let failed = |step: String, errno: nix::Error| CliError::Environment(format!("cannot {step}: {errno}"));
    unshare(CloneFlags::CLONE_NEWNS).map_err(|errno| failed("create a private mount namespace".into(), errno))?;
    // Slave, not private: mounts the host makes later still show up here, and none made
    // here leave.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>).map_err(|errno| failed("make the mount tree a slave".into(), errno))?;

    mount(Some(resolver), RESOLV_CONF, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|errno| failed(format!("mount {} on {RESOLV_CONF}", resolver.display()), errno))?;

    // A sysfs shows the links of the network namespace that mounts it; without a fresh one
    // /sys/class/net would list the host's. Not essential, so a failure is only logged.
    // It goes on top of the old one, which a rootless sandbox may not unmount.
    if let Err(errno) = mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), None::<&str>) {
        tracing::debug!(%errno, "cannot mount the node's sysfs on /sys");
    }
    Ok(())
}
