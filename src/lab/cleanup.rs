//! Removing what a state record lists: the processes inside the lab's namespaces (such
//! as commands started by `vprolab exec`), then the namespaces themselves.
//!
//! A namespace lives as long as its bind mount under /run/netns or any process inside
//! it, so the processes go first. They are found by the nsfs inode of their network
//! namespace, or of the sandbox's mount namespace, compared with the recorded inodes.

use std::collections::HashSet;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::state::{ProcessId, StateRecord, start_ticks};

/// How long processes get to exit after SIGTERM before they get SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

/// Counts of what [`remove_recorded`] removed, and its failures.
#[derive(Debug, Default)]
pub struct Removed {
    pub processes: usize,
    pub namespaces: usize,
    /// Namespaces that could not be removed, with the reason.
    pub failures: Vec<(String, netns::Error)>,
}

/// Stops every process in the lab's namespaces other than this one, then removes the
/// recorded namespaces, newest first.
///
/// For a sandboxed lab, the namespaces exist only inside the sandbox: when its owner is
/// gone they vanish with the sandbox's last process, so stopping the processes is all
/// there is to do from outside it.
pub fn remove_recorded(record: &StateRecord) -> Removed {
    let processes = stop_processes(&lab_processes(record));
    let outside_its_sandbox = record.sandbox.is_some() && !inside_sandbox_of(record);
    if outside_its_sandbox {
        return Removed { processes, ..Removed::default() };
    }

    let names: Vec<&str> = record.namespaces.iter().map(|namespace| namespace.name.as_str()).collect();
    let failures: Vec<(String, netns::Error)> = names
        .iter()
        .rev()
        .filter_map(|name| match netns::Namespace::delete(name) {
            Ok(()) | Err(netns::Error::NamespaceNotFound { .. }) => None,
            Err(error) => Some(((*name).to_owned(), error)),
        })
        .collect();
    Removed { processes, namespaces: names.len() - failures.len(), failures }
}

/// Checks whether this process runs inside the sandbox the record names.
fn inside_sandbox_of(record: &StateRecord) -> bool {
    let Some(sandbox) = record.sandbox else { return false };
    namespace_of(std::process::id(), "mnt") == Some(sandbox.mount_namespace)
}

/// Lists the processes inside the lab's network namespaces, or inside its sandbox, other than this
/// process and the lab's owner, started after the owner.
///
/// The start time guards against a namespace inode that the kernel reused for an
/// unrelated namespace after the lab's was freed.
pub fn lab_processes(record: &StateRecord) -> Vec<ProcessId> {
    let networks: HashSet<u64> = record.namespaces.iter().filter_map(|namespace| namespace.inode).collect();
    let sandbox_mount = record.sandbox.map(|sandbox| sandbox.mount_namespace);
    let me = std::process::id();

    all_pids()
        .filter(|&pid| pid != me && pid != record.owner.pid)
        .filter(|&pid| {
            let in_network = namespace_of(pid, "net").is_some_and(|inode| networks.contains(&inode));
            let in_sandbox = sandbox_mount.is_some() && namespace_of(pid, "mnt") == sandbox_mount;
            in_network || in_sandbox
        })
        .filter_map(|pid| Some(ProcessId { pid, start_ticks: start_ticks(pid)? }))
        .filter(|process| process.start_ticks >= record.owner.start_ticks)
        .collect()
}

/// Sends SIGTERM to each process, then SIGKILL to those still alive after a grace time.
/// Returns how many there were.
pub fn stop_processes(processes: &[ProcessId]) -> usize {
    for process in processes {
        tracing::info!(pid = process.pid, "stopping a process left in the lab's namespaces");
        signal(*process, Signal::SIGTERM);
    }

    let deadline = Instant::now() + TERM_GRACE;
    while processes.iter().any(|process| process.is_alive()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    for process in processes.iter().filter(|process| process.is_alive()) {
        signal(*process, Signal::SIGKILL);
    }
    processes.len()
}

/// Signals a process, checking right before that the PID still names it.
pub fn signal(process: ProcessId, signal: Signal) {
    let Ok(raw) = i32::try_from(process.pid) else { return };
    if process.is_alive() {
        let _ = kill(Pid::from_raw(raw), signal);
    }
}

fn all_pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc").into_iter().flatten().filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
}

/// Returns the inode of a process's namespace of `kind` (`net`, `mnt`, `user`), from the link
/// /proc/PID/ns/KIND, which reads `net:[4026531840]`.
pub fn namespace_of(pid: u32, kind: &str) -> Option<u64> {
    let target = fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok()?;
    parse_namespace_link(target.to_str()?, kind)
}

fn parse_namespace_link(target: &str, kind: &str) -> Option<u64> {
    target.strip_prefix(kind)?.strip_prefix(":[")?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::state::NamespaceRecord;

    #[test]
    fn parse_namespace_link_reads_inode() {
        assert_eq!(parse_namespace_link("net:[4026531840]", "net"), Some(4026531840));
        assert_eq!(parse_namespace_link("mnt:[4026531841]", "net"), None);
        assert_eq!(parse_namespace_link("net:[x]", "net"), None);
    }

    #[test]
    fn namespace_of_current_process() {
        assert!(namespace_of(std::process::id(), "net").is_some());
    }

    #[test]
    fn lab_processes_skips_this_process() {
        let own_network = namespace_of(std::process::id(), "net").unwrap();
        let record = StateRecord {
            namespaces: vec![NamespaceRecord { name: "x".into(), inode: Some(own_network) }],
            owner: ProcessId { pid: 0, start_ticks: u64::MAX },
            ..StateRecord::default()
        };

        // Every process of this namespace started before the fake owner, and this one is
        // excluded by PID, so none qualifies.
        assert!(lab_processes(&record).is_empty());
    }
}
