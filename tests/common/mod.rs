//! Runs the vprolab binary for integration tests.
//!
//! Labs run inside `unshare --net --mount`: a fresh network namespace with nothing but
//! loopback, and a private mount namespace with its own tmpfs on /run/netns and
//! /run/vprolab. Whatever a lab does, it cannot reach this machine's network, and what it
//! leaves behind is visible to the script that runs it, which reports it afterwards.

#![allow(dead_code)]

pub mod host;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const VPROLAB: &str = env!("CARGO_BIN_EXE_vprolab");

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs `vprolab ARGS` without a lab sandbox: for commands that build nothing.
pub fn vprolab(args: &[&str]) -> Output {
    Command::new(VPROLAB).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("run vprolab")
}

/// What a sandboxed `vprolab run` produced and left behind.
#[derive(Debug)]
pub struct SandboxedRun {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Entries left under /run/netns.
    pub namespaces_left: String,
    /// Entries left under /run/vprolab.
    pub state_left: String,
    /// Links in the sandbox's own namespace after the run (only `lo` is expected).
    pub links: usize,
    /// nsfs mounts after the run minus those before it.
    pub namespace_mounts_added: i64,
}

/// Script run inside the sandbox. After the run it prints one `key=value` line per
/// finding, so the test can check what the lab left.
const SCRIPT: &str = r#"
mkdir -p /run/netns /run/vprolab
mount -t tmpfs tmpfs /run/netns || exit 90
mount -t tmpfs tmpfs /run/vprolab || exit 91
before=$(grep -c ' nsfs ' /proc/self/mountinfo)
"$VPROLAB" "$@" > "$OUT_FILE" 2> "$ERR_FILE"
echo "exit=$?"
echo "namespaces=$(ls -A /run/netns | tr '\n' ' ')"
echo "state=$(ls -A /run/vprolab | tr '\n' ' ')"
echo "links=$(ip -o link show | wc -l)"
echo "nsfs_added=$(( $(grep -c ' nsfs ' /proc/self/mountinfo) - before ))"
"#;

/// Runs `vprolab ARGS` inside a fresh network and mount namespace.
pub fn sandboxed(args: &[&str]) -> SandboxedRun {
    let dir = tempfile::tempdir().expect("temporary folder");
    let out_file = dir.path().join("stdout");
    let err_file = dir.path().join("stderr");

    let output = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "--", "sh", "-c", SCRIPT, "sandbox"])
        .args(args)
        .env("VPROLAB", VPROLAB)
        .env("OUT_FILE", &out_file)
        .env("ERR_FILE", &err_file)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run unshare (util-linux)");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && report.contains("exit="),
        "the sandbox could not be set up (these tests need root for unshare --net --mount): {}{}",
        report,
        String::from_utf8_lossy(&output.stderr)
    );

    let field = |key: &str| report.lines().find_map(|line| line.strip_prefix(&format!("{key}="))).unwrap_or_default().trim().to_owned();
    SandboxedRun {
        exit_code: field("exit").parse().expect("exit code"),
        stdout: std::fs::read_to_string(&out_file).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_file).unwrap_or_default(),
        namespaces_left: field("namespaces"),
        state_left: field("state"),
        links: field("links").parse().expect("link count"),
        namespace_mounts_added: field("nsfs_added").parse().expect("nsfs count"),
    }
}

impl SandboxedRun {
    /// Asserts that the run removed every namespace, mount, link and state file it made.
    pub fn assert_nothing_left(&self) {
        assert_eq!(self.namespaces_left, "", "namespaces left under /run/netns; stderr: {}", self.stderr);
        assert_eq!(self.state_left, "", "state left under /run/vprolab");
        assert_eq!(self.links, 1, "links other than lo in the sandbox namespace");
        assert_eq!(self.namespace_mounts_added, 0, "namespace mounts left");
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}
