//! The lab's state folder and state file: what a lab made, so that `down` and the next
//! `up` can remove it even after the process that made it was killed.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::LabError;

/// Parent of the default state folders, one per lab.
pub const STATE_ROOT: &str = "/run/vprolab";

const STATE_FILE: &str = "state.json";

/// Contents of `state.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StateRecord {
    pub lab: String,
    pub pid: u32,
    /// Namespaces in creation order; each is written here before it is created.
    pub namespaces: Vec<String>,
}

/// The state folder of a running lab and its record, kept on disk as it changes.
#[derive(Clone, Debug)]
pub struct LabState {
    dir: PathBuf,
    /// Whether `dir` was made for this run and is removed at teardown.
    owned: bool,
    record: Arc<Mutex<StateRecord>>,
}

impl LabState {
    /// Default state folder of a lab.
    pub fn default_dir(lab: &str) -> PathBuf {
        Path::new(STATE_ROOT).join(lab)
    }

    /// Creates the state folder (mode 0700) and writes the first record.
    ///
    /// When `dir` already contains the state of an earlier run whose process is gone, that
    /// state is returned in `Err(LabError::Leftover)` so that the caller can remove it.
    pub fn create(dir: &Path, lab: &str, owned: bool) -> Result<Self, LabError> {
        if let Some(previous) = read_record(dir)? {
            return Err(if process_alive(previous.pid) {
                LabError::AlreadyRunning { lab: lab.to_owned(), pid: previous.pid }
            } else {
                LabError::Leftover { dir: dir.to_owned(), record: previous }
            });
        }

        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| LabError::State { path: dir.to_owned(), source })?;

        let record = StateRecord { lab: lab.to_owned(), pid: std::process::id(), namespaces: Vec::new() };
        let state = Self { dir: dir.to_owned(), owned, record: Arc::new(Mutex::new(record)) };
        state.save()?;
        Ok(state)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records a namespace before it is created.
    pub fn add_namespace(&self, name: &str) -> Result<(), LabError> {
        self.record.lock().expect("state lock").namespaces.push(name.to_owned());
        self.save()
    }

    pub fn namespaces(&self) -> Vec<String> {
        self.record.lock().expect("state lock").namespaces.clone()
    }

    fn save(&self) -> Result<(), LabError> {
        let record = self.record.lock().expect("state lock").clone();
        write_record(&self.dir, &record)
    }

    /// Removes every recorded namespace, then the state file, and the folder when it was
    /// made for this run. Returns the namespaces that could not be removed.
    pub fn teardown(&self) -> Vec<(String, netns::Error)> {
        let namespaces = self.namespaces();
        let failures = remove_namespaces(&namespaces);

        if failures.is_empty() {
            let _ = fs::remove_file(self.dir.join(STATE_FILE));
            if self.owned {
                let _ = fs::remove_dir_all(&self.dir);
            }
        }
        failures
    }
}

/// Removes the namespaces of a recorded lab, newest first.
pub fn remove_namespaces(namespaces: &[String]) -> Vec<(String, netns::Error)> {
    namespaces
        .iter()
        .rev()
        .filter_map(|name| match netns::Namespace::delete(name) {
            Ok(()) | Err(netns::Error::NamespaceNotFound { .. }) => None,
            Err(error) => Some((name.clone(), error)),
        })
        .collect()
}

/// Reads the record in `dir`, if there is one.
pub fn read_record(dir: &Path) -> Result<Option<StateRecord>, LabError> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LabError::State { path, source }),
    };

    serde_json::from_str(&text).map(Some).map_err(|error| LabError::State { path, source: io::Error::new(io::ErrorKind::InvalidData, error) })
}

/// Writes the record through a temporary file and a rename, so that a reader never sees
/// half a file even if the process dies mid-write.
fn write_record(dir: &Path, record: &StateRecord) -> Result<(), LabError> {
    let path = dir.join(STATE_FILE);
    let temporary = dir.join(".state.json.tmp");
    let error = |source| LabError::State { path: path.clone(), source };

    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary).map_err(error)?;
    let text = serde_json::to_string_pretty(record).expect("state record serializes");
    file.write_all(text.as_bytes()).map_err(error)?;
    fs::rename(&temporary, &path).map_err(error)
}

pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Ok(()) | Err(nix::Error::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = LabState::create(&dir.path().join("lab"), "lab", true).unwrap();
        state.add_namespace("lab-l3sw").unwrap();

        let record = read_record(state.dir()).unwrap().unwrap();

        assert_eq!(record.lab, "lab");
        assert_eq!(record.pid, std::process::id());
        assert_eq!(record.namespaces, vec!["lab-l3sw".to_owned()]);
    }

    #[test]
    fn second_create_sees_running_lab() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lab");
        let _first = LabState::create(&path, "lab", true).unwrap();

        let second = LabState::create(&path, "lab", true);

        assert!(matches!(second, Err(LabError::AlreadyRunning { pid, .. }) if pid == std::process::id()));
    }

    #[test]
    fn dead_owner_reported_as_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lab");
        fs::create_dir_all(&path).unwrap();
        // PIDs above the kernel's pid_max (at most 2^22) never belong to a process.
        write_record(&path, &StateRecord { lab: "lab".into(), pid: 1 << 23, namespaces: vec!["lab-pc".into()] }).unwrap();

        let result = LabState::create(&path, "lab", true);

        assert!(matches!(result, Err(LabError::Leftover { record, .. }) if record.namespaces == ["lab-pc"]));
    }

    #[test]
    fn state_folder_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = LabState::create(&dir.path().join("lab"), "lab", true).unwrap();

        let mode = fs::metadata(state.dir()).unwrap().permissions().mode() & 0o777;

        assert_eq!(mode, 0o700);
    }
}
