//! Commands run in place of built-in services (`exec:` in a topology), through the
//! vprolab binary in a sandbox: start failures with their reason and output, and
//! processes stopped and reaped at teardown. The commands are sh and sleep from the base
//! system. The example topologies with real peers are tested in peer_examples.rs.

mod common;

use std::path::Path;

use common::{SandboxedRun, sandboxed};

const DC1_ROLES: &str = "    roles: [domain-controller, dns, dhcp-server]\n";

/// Writes the single-domain lab with one exec entry on dc1 that replaces its DHCP server.
fn topology_with_exec(dir: &Path, command: &str, ready: &str) -> String {
    let text = std::fs::read_to_string(common::repo_path("topologies/single.yaml")).unwrap();
    assert!(text.contains(DC1_ROLES), "dc1's roles line not found in single.yaml");
    let exec = format!("    exec:\n      - command: {command}\n        replaces: [dhcp-server]\n        ready: {ready}\n");

    let path = dir.join("single-exec.yaml");
    std::fs::write(&path, text.replacen(DC1_ROLES, &format!("{DC1_ROLES}{exec}"), 1)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs the lab with its state folder in `dir`, so that the command's files outlive it.
fn run(dir: &Path, topology: &str, timeout: &str) -> SandboxedRun {
    let state = dir.join("state");
    sandboxed(&["run", "--timeout", timeout, "--state-dir", state.to_str().unwrap(), topology])
}

/// Checks that the process whose pid the command wrote to `state/exec.pid` is gone.
fn assert_reaped(dir: &Path) {
    let pid = std::fs::read_to_string(dir.join("state").join("exec.pid")).expect("the command wrote no pid file");
    let pid = pid.trim();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "exec process {pid} outlived the lab");
}

#[test]
fn exec_missing_program_fails_lab_start() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology_with_exec(dir.path(), "[vprolab-no-such-program]", "{ udp: 67 }");

    let run = run(dir.path(), &topology, "5s");

    assert_eq!(run.exit_code, 3, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("dc1 exec vprolab-no-such-program"), "{}", run.stderr);
    assert!(run.stderr.contains("vprolab-no-such-program not found in PATH"), "{}", run.stderr);
    run.assert_nothing_left();
}

#[test]
fn exec_early_exit_quotes_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology_with_exec(dir.path(), "[sh, -c, 'echo unknown option --foo >&2; exit 3']", "{ udp: 67 }");

    let run = run(dir.path(), &topology, "5s");

    assert_eq!(run.exit_code, 3, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("sh exited (exit status: 3) before it was ready"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown option --foo"), "{}", run.stderr);
    let log = std::fs::read_to_string(dir.path().join("state").join("dc1-sh.log")).unwrap();
    assert_eq!(log, "unknown option --foo\n");
    run.assert_nothing_left();
}

#[test]
fn exec_not_ready_in_time_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let command = "[sh, -c, 'echo $$ > {state_dir}/exec.pid; exec sleep 60']";
    let topology = topology_with_exec(dir.path(), command, "{ udp: 6767, timeout: 1s }");

    let run = run(dir.path(), &topology, "5s");

    assert_eq!(run.exit_code, 3, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("sh did not bind UDP port 6767 within 1 s"), "{}", run.stderr);
    assert_reaped(dir.path());
    run.assert_nothing_left();
}

#[test]
fn exec_ignoring_sigterm_is_killed_at_teardown() {
    let dir = tempfile::tempdir().unwrap();
    let command = "[sh, -c, 'trap \"\" TERM; echo $$ > {state_dir}/exec.pid; while true; do sleep 0.1; done']";
    let topology = topology_with_exec(dir.path(), command, "{ after: 200ms }");

    // Nothing serves DHCP in this lab, so its client ends without a lease.
    let run = run(dir.path(), &topology, "2s");

    assert_eq!(run.exit_code, 1, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("exec service ignored SIGTERM, killing it"), "{}", run.stderr);
    assert_reaped(dir.path());
    run.assert_nothing_left();
}
