//! `status` and `down`: commands that work on running labs from their state files.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::Flock;
use nix::sys::signal::Signal;
use vprolab::lab::cleanup::{self, signal};
use vprolab::lab::state::{self, Lock, NodeRecord, StateRecord};
use vprolab::lab::{LabState, Phase};

use super::{CliError, DownArgs, Progress, StatusArgs};
use super::write_stdout;
use crate::exit;

/// How long `down` waits for a running lab's owner to tear down after SIGTERM, before it
/// sends SIGKILL and removes what is left itself.
const OWNER_GRACE: Duration = Duration::from_secs(10);

/// Returns the state folder of `lab`: `--state-dir`, or the default one for this user.
pub(crate) fn state_dir_of(lab: &str, state_dir: Option<&Path>) -> PathBuf {
    state_dir.map_or_else(|| LabState::default_dir(&state::state_root(), lab), Path::to_owned)
}

/// One lab found under the state root.
struct Listed {
    dir: PathBuf,
    record: Option<StateRecord>,
    running: bool,
}

pub(crate) fn status(args: &StatusArgs) -> Result<u8, CliError> {
    // NOTE: only labs under the state root are listed; one started with --state-dir
    // elsewhere is known to `exec` and `down` with the same option, but not to `status`.
    let root = state::state_root();
    let names = match &args.lab {
        Some(lab) => vec![lab.clone()],
        None => state::list_labs(&root),
    };
    let labs: Vec<Listed> = names.iter().map(|name| listed(&root.join(name))).filter(|listed| listed.dir.exists()).collect();

    if args.json {
        let records: Vec<serde_json::Value> = labs.iter().map(status_json).collect();
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(&records).expect("status serializes")));
    } else if labs.is_empty() {
        write_stdout(&format!("no labs under {}\n", root.display()));
    } else {
        labs.iter().for_each(|lab| write_stdout(&status_text(lab)));
    }

    match (&args.lab, labs.is_empty()) {
        (Some(lab), true) => Err(CliError::Input(format!("no lab {lab:?} under {}", root.display()))),
        _ => Ok(exit::OK),
    }
}

fn listed(dir: &Path) -> Listed {
    let running = matches!(state::lock_folder(dir), Ok(Lock::Busy));
    Listed { dir: dir.to_owned(), record: state::read_record(dir).ok().flatten(), running }
}

fn status_json(lab: &Listed) -> serde_json::Value {
    serde_json::json!({ "dir": lab.dir, "running": lab.running, "state": lab.record })
}

fn status_text(lab: &Listed) -> String {
    let name = lab.dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = String::new();
    let Some(record) = &lab.record else {
        let _ = writeln!(out, "lab {name}: no state file in {} (a run died while starting); `vprolab down {name}` removes it", lab.dir.display());
        return out;
    };

    let condition = match (lab.running, record.phase) {
        (false, _) => format!("dead, left its namespaces behind; `vprolab down {name}` removes them"),
        (true, Phase::Up) => "up".to_owned(),
        (true, phase) => format!("{phase:?}").to_lowercase(),
    };
    let sandbox = match record.sandbox {
        Some(sandbox) if sandbox.user_namespace.is_some() => ", rootless sandbox",
        Some(_) => ", sandbox",
        None => "",
    };
    let _ = writeln!(out, "lab {name}: {condition} (pid {}{sandbox}), topology {}, state {}", record.owner.pid, record.topology.display(), lab.dir.display());
    for node in &record.nodes {
        out.push_str(&node_line(node));
    }
    let processes = cleanup::lab_processes(record).len();
    if processes > 0 {
        let _ = writeln!(out, "  {processes} processes run inside the lab's namespaces");
    }
    for capture in &record.captures {
        let _ = writeln!(out, "  capture {}", capture.display());
    }
    out
}

fn node_line(node: &NodeRecord) -> String {
    let addresses = if node.addresses.is_empty() { "-".to_owned() } else { node.addresses.join(" ") };
    let kind = format!("{:?}", node.kind).to_lowercase();
    format!("  {:<12} {:<7} {:<24} {addresses}\n", node.name, kind, node.namespace)
}

pub(crate) fn down_lab(args: &DownArgs, progress: Progress) -> Result<u8, CliError> {
    let dir = state_dir_of(&args.lab, args.state_dir.as_deref());
    if !dir.is_dir() {
        return Err(CliError::Input(format!("no running lab {:?}: {} has no state file", args.lab, dir.display())));
    }

    let _lock = take_over(&args.lab, &dir, progress)?;
    let record = state::read_record(&dir)?;
    let removed = record.as_ref().map(cleanup::remove_recorded).unwrap_or_default();
    if !removed.failures.is_empty() {
        super::lab_commands::report_teardown(&removed.failures, progress);
        return Err(CliError::Environment(format!("{} namespaces of lab {} could not be removed", removed.failures.len(), args.lab)));
    }

    remove_state(&dir, args.state_dir.is_none());
    progress.say(format!("lab {} is down ({} namespaces removed, {} processes stopped)", args.lab, removed.namespaces, removed.processes));
    Ok(exit::OK)
}

/// Takes the lab's lock: at once when its owner is gone, else after asking the owner to
/// tear down with SIGTERM, and after SIGKILL if it does not exit in time. Returns `None`
/// when the owner removed the whole folder on its way out.
fn take_over(lab: &str, dir: &Path, progress: Progress) -> Result<Option<Flock<File>>, CliError> {
    if let Lock::Held(lock) = state::lock_folder(dir)? {
        return Ok(Some(lock));
    }

    let owner = state::read_record(dir)?.map(|record| record.owner);
    let Some(owner) = owner.filter(|owner| owner.is_alive()) else {
        return Err(CliError::Environment(format!("lab {lab} is locked by a process that is not its recorded owner: try again in a moment")));
    };

    progress.say(format!("stopping the vprolab process {} that runs lab {lab}", owner.pid));
    signal(owner, Signal::SIGTERM);
    if let Some(lock) = wait_for_lock(dir, OWNER_GRACE)? {
        return Ok(lock);
    }

    progress.say(format!("process {} did not stop within {} s: killing it", owner.pid, OWNER_GRACE.as_secs()));
    signal(owner, Signal::SIGKILL);
    wait_for_lock(dir, OWNER_GRACE)?.ok_or_else(|| CliError::Environment(format!("process {} of lab {lab} survived SIGKILL", owner.pid)))
}

/// Polls the lock until it is free or `limit` has passed: `Some(None)` when the owner
/// removed the folder on its way out, `None` when the time ran out.
fn wait_for_lock(dir: &Path, limit: Duration) -> Result<Option<Option<Flock<File>>>, CliError> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match state::lock_folder(dir) {
            Ok(Lock::Held(lock)) => return Ok(Some(Some(lock))),
            Ok(Lock::Busy) => {}
            Err(_) if !dir.exists() => return Ok(Some(None)),
            Err(error) => return Err(error.into()),
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(None)
}

/// Removes the state folder, or for a folder given with `--state-dir`, only what the lab
/// wrote in it.
fn remove_state(dir: &Path, owned: bool) {
    if owned {
        let _ = fs::remove_dir_all(dir);
        return;
    }
    for entry in ["state.json", ".state.json.tmp", state::RESOLVER_DIR, "pki"] {
        let path = dir.join(entry);
        let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
    }
}
