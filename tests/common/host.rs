//! A stand-in host for lifecycle tests: the test thread moves into a fresh network
//! namespace and a private mount namespace, with tmpfs on /run/netns, /run/vprolab and
//! /tmp. Labs started from the thread without `--sandbox` then build their namespaces
//! "on the host" exactly as they would on a real one, while the machine's own network
//! namespace stays out of reach. Processes the thread spawns inherit both namespaces.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use nix::mount::{MsFlags, mount};

use super::VPROLAB;

/// The isolated host of one test thread.
pub struct TestHost {
    /// nsfs mounts visible at isolation, to compare with later.
    nsfs_before: usize,
}

/// What a lab left on the host, each empty when nothing was left.
#[derive(Debug, PartialEq, Eq)]
pub struct Leftovers {
    pub namespaces: Vec<String>,
    pub state: Vec<String>,
    /// Links other than `lo` in the host namespace.
    pub links: Vec<String>,
    pub nsfs_mounts_added: i64,
    /// Processes in this test's mount namespace other than the test process.
    pub processes: Vec<String>,
}

impl TestHost {
    /// Isolates the calling thread. Needs root, as `make test` runs.
    pub fn isolate() -> Self {
        netns::sandbox::isolate_current_thread().expect("isolate the test thread (needs root: run under `make test`)");
        for dir in ["/run/vprolab", "/tmp"] {
            fs::create_dir_all(dir).expect("create a mount point");
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            mount(Some("tmpfs"), dir, Some("tmpfs"), flags, Some("mode=1777")).unwrap_or_else(|errno| panic!("mount a tmpfs on {dir}: {errno}"));
        }
        Self { nsfs_before: nsfs_mounts() }
    }

    /// `vprolab ARGS`, run from the repository, inside this host.
    pub fn vprolab(&self, args: &[&str]) -> Command {
        let mut command = Command::new(VPROLAB);
        command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
        command
    }

    /// Runs `vprolab ARGS` to completion with its output captured.
    pub fn run(&self, args: &[&str]) -> Output {
        self.vprolab(args).stdin(Stdio::null()).output().expect("run vprolab")
    }

    pub fn leftovers(&self) -> Leftovers {
        Leftovers {
            namespaces: entries("/run/netns"),
            state: entries("/run/vprolab"),
            links: host_links(),
            nsfs_mounts_added: nsfs_mounts() as i64 - self.nsfs_before as i64,
            processes: processes_here(),
        }
    }

    pub fn assert_nothing_left(&self, context: &str) {
        let left = self.leftovers();
        assert_eq!(left, Leftovers::nothing(), "{context}: the lab left something behind");
    }
}

impl Leftovers {
    pub fn nothing() -> Self {
        Self { namespaces: Vec::new(), state: Vec::new(), links: Vec::new(), nsfs_mounts_added: 0, processes: Vec::new() }
    }
}

fn entries(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir).map(|entries| entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok()).collect()).unwrap_or_default();
    names.sort();
    names
}

fn nsfs_mounts() -> usize {
    fs::read_to_string("/proc/thread-self/mountinfo").expect("read mountinfo").lines().filter(|line| line.contains(" - nsfs ")).count()
}

fn host_links() -> Vec<String> {
    let output = Command::new("ip").args(["-o", "link", "show"]).output().expect("run ip (iproute2)");
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| line.split(':').nth(1)).map(|name| name.trim().to_owned()).filter(|name| name != "lo").collect()
}

/// Processes other than this one whose mount namespace is this thread's: whatever the
/// test started and is still running, lab owners, detached labs and `exec` commands.
fn processes_here() -> Vec<String> {
    let own = fs::read_link("/proc/thread-self/ns/mnt").expect("own mount namespace");
    let me = std::process::id().to_string();
    fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|byte| byte.is_ascii_digit()) && *pid != me)
        .filter(|pid| fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|mnt| mnt == own))
        .filter(|pid| !is_zombie_of_ours(pid))
        .map(|pid| format!("{pid} {}", fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default().replace('\0', " ")))
        .collect()
}

/// Tells zombies apart: a zombie keeps no namespace or socket, and the test reaps its
/// children when it waits for them.
fn is_zombie_of_ours(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
}

/// Reads the host network namespace's configuration as text, to compare before and after:
/// links, addresses, routes and rules of IPv4 and IPv6, every readable net.* sysctl, and
/// the nftables and iptables rule sets where those tools are installed.
pub fn host_snapshot() -> BTreeMap<String, String> {
    let mut snapshot = BTreeMap::new();
    let commands: &[&[&str]] = &[
        &["ip", "-d", "link", "show"],
        &["ip", "-d", "address", "show"],
        &["ip", "-4", "route", "show", "table", "all"],
        &["ip", "-6", "route", "show", "table", "all"],
        &["ip", "-4", "rule", "show"],
        &["ip", "-6", "rule", "show"],
        &["ip", "neigh", "show"],
        &["nft", "list", "ruleset"],
        &["iptables-save"],
        &["ip6tables-save"],
    ];
    for command in commands {
        let output = Command::new(command[0]).args(&command[1..]).output();
        let text = match output {
            Ok(output) => format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
            Err(error) => format!("not run: {error}"),
        };
        // iptables-save stamps its output with the time.
        let text: String = text.lines().filter(|line| !line.starts_with('#')).map(|line| format!("{line}\n")).collect();
        snapshot.insert(command.join(" "), text);
    }
    read_sysctls(Path::new("/proc/sys/net"), &mut snapshot);
    snapshot
}

fn read_sysctls(dir: &Path, snapshot: &mut BTreeMap<String, String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_sysctls(&path, snapshot);
        } else if let Ok(value) = fs::read_to_string(&path) {
            snapshot.insert(path.display().to_string(), value);
        }
    }
}

/// Lists the keys whose values differ between two snapshots, with both values.
pub fn snapshot_diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| format!("{key}:\n  before: {:?}\n  after:  {:?}", before.get(key), after.get(key)))
        .collect()
}
