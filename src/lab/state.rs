//! The lab's state folder and state file: what a lab made, so that `status`, `exec`,
//! `down` and the next `up` can find it, even after the process that made it was killed.
//!
//! A running lab keeps an exclusive `flock` on its state folder for its whole life. The
//! kernel drops the lock when the process dies, however it dies, so "the folder is locked"
//! is the test for "the lab is running", free of the PID reuse a liveness check by PID
//! alone would suffer from.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::LabError;

/// Parent of the state folders of labs run by root, one folder per lab.
pub const STATE_ROOT: &str = "/run/vprolab";

const STATE_FILE: &str = "state.json";
const TEMPORARY_STATE_FILE: &str = ".state.json.tmp";

/// Folder of the per-node resolver files that `vprolab exec` mounts on /etc/resolv.conf.
pub const RESOLVER_DIR: &str = "resolv";

/// Contents of `state.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StateRecord {
    pub lab: String,
    /// The topology file the lab was built from.
    pub topology: PathBuf,
    /// The `vprolab run` or `up` process that owns the lab.
    pub owner: ProcessId,
    pub phase: Phase,
    /// Set when the lab runs inside `--sandbox`: its namespaces then exist only inside the
    /// sandbox, and vanish with the last process in it.
    pub sandbox: Option<SandboxRecord>,
    /// Named network namespaces in creation order; each is written here before it is
    /// created, and its nsfs inode once it exists.
    pub namespaces: Vec<NamespaceRecord>,
    /// Links in creation order, each written before it is created. They live inside the
    /// lab's namespaces and go with them; the list is what `status` shows.
    pub links: Vec<LinkRecord>,
    pub nodes: Vec<NodeRecord>,
    /// pcap files written by `--capture`.
    pub captures: Vec<PathBuf>,
    /// Folder of the per-service logs written by `--log-dir`.
    pub log_dir: Option<PathBuf>,
}

/// A process, named by PID and start time so that a PID reused by an unrelated process
/// is never taken for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    /// Field 22 of /proc/PID/stat: clock ticks after boot at which the process started.
    pub start_ticks: u64,
}

/// How far a lab got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    #[default]
    Building,
    /// Namespaces and services are up; clients run.
    Running,
    /// Every client has its verdict; `up` keeps the lab until `down` or a signal.
    Up,
    TearingDown,
}

/// The sandbox a lab runs in, by the inodes of its namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub mount_namespace: u64,
    pub network_namespace: u64,
    /// The unprivileged user namespace of a rootless sandbox.
    pub user_namespace: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRecord {
    pub name: String,
    /// The nsfs inode, recorded once the namespace exists.
    pub inode: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub namespace: String,
    pub name: String,
    /// `bridge`, or `veth` with the peer's namespace and name.
    pub kind: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    Switch,
    Server,
    Client,
}

/// One node of a running lab, as `status` lists it and `exec` enters it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub name: String,
    pub kind: NodeKind,
    pub namespace: String,
    /// Address with prefix: static for servers, the leased one for clients once leased,
    /// the gateway addresses for the switch.
    pub addresses: Vec<String>,
    /// DNS servers and search domain of the node's VLAN, from its DHCP scope.
    pub dns_servers: Vec<Ipv4Addr>,
    pub search: Option<String>,
}

/// The state folder of a running lab and its record, kept on disk as it changes.
#[derive(Clone, Debug)]
pub struct LabState {
    dir: PathBuf,
    /// Whether `dir` was made for this run and is removed at teardown.
    owned: bool,
    /// Held for the life of the lab; see the module documentation.
    _lock: Arc<Flock<File>>,
    record: Arc<Mutex<StateRecord>>,
}

/// A freshly locked state folder, and the record an earlier run that died left there.
pub struct Opened {
    pub state: LabState,
    pub leftover: Option<StateRecord>,
}

impl LabState {
    /// Default state folder of a lab for the current user.
    pub fn default_dir(root: &Path, lab: &str) -> PathBuf {
        root.join(lab)
    }

    /// Creates and locks the state folder (mode 0700), then writes `record` in it.
    ///
    /// Fails with [`LabError::AlreadyRunning`] while another process has the folder locked.
    /// A record found in an unlocked folder belongs to a run that died; it is returned in
    /// [`Opened::leftover`] so that the caller removes what it lists, and is replaced.
    pub fn create(dir: &Path, record: StateRecord, owned: bool) -> Result<Opened, LabError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| LabError::State { path: dir.to_owned(), source })?;
        check_owner(dir)?;

        let lock = match lock_folder(dir)? {
            Lock::Held(lock) => lock,
            Lock::Busy => {
                let pid = read_record(dir).ok().flatten().map(|record| record.owner.pid).unwrap_or(0);
                return Err(LabError::AlreadyRunning { lab: record.lab, pid });
            }
        };

        let leftover = read_record(dir).unwrap_or_else(|error| {
            tracing::warn!(%error, "unreadable state file of an earlier run, replaced");
            None
        });
        let state = Self { dir: dir.to_owned(), owned, _lock: Arc::new(lock), record: Arc::new(Mutex::new(record)) };
        if leftover.is_none() {
            state.save()?;
        }
        Ok(Opened { state, leftover })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the record, once the leftover of an earlier run is gone.
    pub fn save(&self) -> Result<(), LabError> {
        let record = self.record();
        write_record(&self.dir, &record)
    }

    /// Returns a copy of the current record.
    pub fn record(&self) -> StateRecord {
        self.record.lock().expect("state lock").clone()
    }

    /// Changes the record and writes it.
    pub fn update(&self, change: impl FnOnce(&mut StateRecord)) -> Result<(), LabError> {
        change(&mut self.record.lock().expect("state lock"));
        self.save()
    }

    /// Records a namespace before it is created.
    pub fn add_namespace(&self, name: &str) -> Result<(), LabError> {
        self.update(|record| record.namespaces.push(NamespaceRecord { name: name.to_owned(), inode: None }))
    }

    /// Records the nsfs inode of a namespace that now exists.
    pub fn namespace_created(&self, name: &str, inode: u64) -> Result<(), LabError> {
        self.update(|record| {
            if let Some(namespace) = record.namespaces.iter_mut().find(|namespace| namespace.name == name) {
                namespace.inode = Some(inode);
            }
        })
    }

    /// Records several namespaces, in one write, before they are created.
    pub fn add_namespaces(&self, names: &[String]) -> Result<(), LabError> {
        self.update(|record| record.namespaces.extend(names.iter().map(|name| NamespaceRecord { name: name.clone(), inode: None })))
    }

    /// Records, in one write, the nsfs inodes of namespaces that now exist.
    pub fn namespaces_created(&self, inodes: &[(String, u64)]) -> Result<(), LabError> {
        let by_name: std::collections::HashMap<&str, u64> = inodes.iter().map(|(name, inode)| (name.as_str(), *inode)).collect();
        self.update(|record| {
            for namespace in &mut record.namespaces {
                if let Some(inode) = by_name.get(namespace.name.as_str()) {
                    namespace.inode = Some(*inode);
                }
            }
        })
    }

    /// Records several links of `namespace`, each a name and its kind, in one write before
    /// they are created.
    pub fn add_links(&self, namespace: &str, links: Vec<(String, String)>) -> Result<(), LabError> {
        self.update(|record| record.links.extend(links.into_iter().map(|(name, kind)| LinkRecord { namespace: namespace.to_owned(), name, kind })))
    }

    /// Records a link before it is created.
    pub fn add_link(&self, namespace: &str, name: &str, kind: String) -> Result<(), LabError> {
        self.update(|record| record.links.push(LinkRecord { namespace: namespace.to_owned(), name: name.to_owned(), kind }))
    }

    pub fn set_phase(&self, phase: Phase) -> Result<(), LabError> {
        self.update(|record| record.phase = phase)
    }

    /// Removes every process, namespace and mount the record lists, then the state file
    /// and the resolver files, and the folder when it was made for this run. Returns what could not be removed.
    pub fn teardown(&self) -> Vec<(String, netns::Error)> {
        let _ = self.set_phase(Phase::TearingDown);
        let record = self.record();
        let removed = super::cleanup::remove_recorded(&record);

        if removed.failures.is_empty() {
            let _ = fs::remove_file(self.dir.join(STATE_FILE));
            // The resolver files name the lab's DNS servers, which are gone now; a
            // --state-dir folder keeps only its pki/ folder.
            let _ = fs::remove_dir_all(self.dir.join(RESOLVER_DIR));
            if self.owned {
                let _ = fs::remove_dir_all(&self.dir);
            }
        }
        removed.failures
    }
}

/// Refuses a state folder that another user owns, such as one planted under /tmp.
fn check_owner(dir: &Path) -> Result<(), LabError> {
    let metadata = fs::metadata(dir).map_err(|source| LabError::State { path: dir.to_owned(), source })?;
    if metadata.uid() == nix::unistd::geteuid().as_raw() {
        return Ok(());
    }
    let error = io::Error::new(io::ErrorKind::PermissionDenied, format!("owned by user {}, not by this user: remove it or pass --state-dir", metadata.uid()));
    Err(LabError::State { path: dir.to_owned(), source: error })
}

/// Outcome of a non-blocking attempt to lock a state folder.
pub enum Lock {
    Held(Flock<File>),
    /// Another process has it: the lab is running.
    Busy,
}

/// Tries to take the exclusive lock on a state folder without waiting.
pub fn lock_folder(dir: &Path) -> Result<Lock, LabError> {
    let folder = File::open(dir).map_err(|source| LabError::State { path: dir.to_owned(), source })?;
    match Flock::lock(folder, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Lock::Held(lock)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(Lock::Busy),
        Err((_, errno)) => Err(LabError::State { path: dir.to_owned(), source: errno.into() }),
    }
}

/// Reads the record in `dir`, if there is one.
pub fn read_record(dir: &Path) -> Result<Option<StateRecord>, LabError> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if matches!(error.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => return Ok(None),
        Err(source) => return Err(LabError::State { path, source }),
    };

    serde_json::from_str(&text).map(Some).map_err(|error| LabError::State { path, source: io::Error::new(io::ErrorKind::InvalidData, error) })
}

/// Writes the record through a temporary file and a rename, so that a reader never sees
/// half a file even if the process dies mid-write.
fn write_record(dir: &Path, record: &StateRecord) -> Result<(), LabError> {
    let path = dir.join(STATE_FILE);
    let temporary = dir.join(TEMPORARY_STATE_FILE);
    let error = |source| LabError::State { path: path.clone(), source };

    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary).map_err(error)?;
    let text = serde_json::to_string_pretty(record).expect("state record serializes");
    file.write_all(text.as_bytes()).map_err(error)?;
    fs::rename(&temporary, &path).map_err(error)
}

/// Parent of the state folders for the current user: [`STATE_ROOT`] for root, else
/// `$XDG_RUNTIME_DIR/vprolab`, else `/tmp/vprolab-UID`.
///
/// Call it before entering a user namespace, where every user is root.
pub fn state_root() -> PathBuf {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return PathBuf::from(STATE_ROOT);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => Path::new(&dir).join("vprolab"),
        None => std::env::temp_dir().join(format!("vprolab-{uid}")),
    }
}

/// Lists the labs under a state root, sorted: every folder, with or without a record.
pub fn list_labs(root: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
    let mut labs: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    labs.sort();
    labs
}

impl ProcessId {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self { pid, start_ticks: start_ticks(pid).unwrap_or(0) }
    }

    /// Checks that this very process is still alive, and not a later one with its PID.
    pub fn is_alive(self) -> bool {
        start_ticks(self.pid) == Some(self.start_ticks)
    }
}

/// Field 22 (starttime) of /proc/PID/stat, or `None` when there is no such process.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')', so
    // fields are counted from after its last ')', where field 3 starts.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Returns the nsfs inode of a namespace file such as /proc/self/ns/net or /run/netns/NAME.
pub fn namespace_inode(path: &Path) -> io::Result<u64> {
    fs::metadata(path).map(|metadata| metadata.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(lab: &str) -> StateRecord {
        StateRecord { lab: lab.into(), owner: ProcessId::current(), ..StateRecord::default() }
    }

    #[test]
    fn record_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let opened = LabState::create(&dir.path().join("lab"), record("lab"), true).unwrap();
        opened.state.add_namespace("lab-l3sw").unwrap();
        opened.state.namespace_created("lab-l3sw", 4026532000).unwrap();

        let read = read_record(opened.state.dir()).unwrap().unwrap();

        assert_eq!(read.lab, "lab");
        assert_eq!(read.owner, ProcessId::current());
        assert_eq!(read.namespaces, vec![NamespaceRecord { name: "lab-l3sw".into(), inode: Some(4026532000) }]);
        assert!(opened.leftover.is_none());
    }

    #[test]
    fn second_create_sees_running_lab() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lab");
        let _first = LabState::create(&path, record("lab"), true).unwrap();

        let second = LabState::create(&path, record("lab"), true);

        assert!(matches!(second, Err(LabError::AlreadyRunning { pid, .. }) if pid == std::process::id()));
    }

    #[test]
    fn unlocked_record_reported_as_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lab");
        fs::create_dir_all(&path).unwrap();
        let mut dead = record("lab");
        dead.namespaces.push(NamespaceRecord { name: "lab-pc".into(), inode: None });
        write_record(&path, &dead).unwrap();

        let opened = LabState::create(&path, record("lab"), true).unwrap();

        let leftover = opened.leftover.expect("leftover record");
        assert_eq!(leftover.namespaces[0].name, "lab-pc");
    }

    #[test]
    fn lock_released_when_state_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lab");
        let opened = LabState::create(&path, record("lab"), true).unwrap();
        assert!(matches!(lock_folder(&path).unwrap(), Lock::Busy));

        drop(opened);

        assert!(matches!(lock_folder(&path).unwrap(), Lock::Held(_)));
    }

    #[test]
    fn state_folder_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let opened = LabState::create(&dir.path().join("lab"), record("lab"), true).unwrap();

        let mode = fs::metadata(opened.state.dir()).unwrap().permissions().mode() & 0o777;

        assert_eq!(mode, 0o700);
    }

    #[test]
    fn process_id_alive_only_with_its_start_time() {
        let me = ProcessId::current();
        let reused = ProcessId { start_ticks: me.start_ticks + 1, ..me };

        assert!(me.is_alive());
        assert!(!reused.is_alive());
    }

    #[test]
    fn start_ticks_reads_past_a_name_with_spaces() {
        assert!(start_ticks(std::process::id()).is_some());
        // PIDs above the kernel's pid_max (at most 2^22) never belong to a process.
        assert_eq!(start_ticks(1 << 23), None);
    }
}
