//! The lab lifecycle: up, status, exec and down; interrupted and killed runs; two labs
//! at once; the host's network namespace left as it was; rootless runs; captures.
//!
//! Each test isolates its own thread first (see `common::host`). So the "host" these
//! tests build labs on and compare is a namespace the test made, never the machine's.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::host::{TestHost, host_snapshot, snapshot_diff};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// Waits for a child up to `limit`, killing it if it takes longer.
fn wait_with_limit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for vprolab") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().expect("wait for vprolab");
            panic!("vprolab did not exit within {} s ({status})", limit.as_secs());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn send(child: &Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).expect("signal vprolab");
}

#[test]
fn up_status_exec_down_leave_nothing() {
    let host = TestHost::isolate();

    let up = host.run(&["-q", "up", "--detach", "topologies/single.yaml"]);
    assert_eq!(up.status.code(), Some(0), "{}", describe(&up));
    assert!(text(&up.stdout).contains("1 of 1 clients ended as expected"), "{}", describe(&up));

    let status = host.run(&["status"]);
    let listing = text(&status.stdout);
    assert!(listing.contains("lab single: up"), "{listing}");
    assert!(listing.contains("single-dc1"), "{listing}");
    assert!(listing.contains("192.168.90.10/24"), "{listing}");
    assert!(listing.contains("single-pc90"), "{listing}");
    assert!(listing.contains("192.168.90.100/24"), "the client's leased address: {listing}");

    let dig = host.run(&["exec", "single", "pc90", "--", "dig", "+short", "provisionserver.jcert.info"]);
    assert_eq!(dig.status.code(), Some(0), "{}", describe(&dig));
    assert_eq!(text(&dig.stdout), "scs.jcert.info.\n192.168.90.20\n", "dig used the lab DNS through the node's resolv.conf");

    let resolver = host.run(&["exec", "single", "pc90", "--", "cat", "/etc/resolv.conf"]);
    assert!(text(&resolver.stdout).contains("search jcert.info\nnameserver 192.168.90.10\n"), "{}", describe(&resolver));
    let links = host.run(&["exec", "single", "dc1", "--", "ls", "/sys/class/net"]);
    assert_eq!(text(&links.stdout), "eth0\nlo\n", "/sys shows the node's links");
    let code = host.run(&["exec", "single", "pc90", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code.status.code(), Some(7), "exec exits with the command's code");

    // A command still running inside the lab must not keep a namespace alive after down:
    // the lab's owner stops it as it tears down.
    let mut sleeper = host.vprolab(&["exec", "single", "scs", "--", "sleep", "600"]).spawn().expect("start sleep in the lab");
    thread::sleep(Duration::from_millis(300));

    let down = host.run(&["down", "single"]);
    assert_eq!(down.status.code(), Some(0), "{}", describe(&down));
    assert!(text(&down.stderr).contains("stopping the vprolab process"), "{}", describe(&down));
    wait_with_limit(&mut sleeper, Duration::from_secs(5));
    host.assert_nothing_left("after down");
}

#[test]
fn exec_and_down_reject_unknown_names() {
    let host = TestHost::isolate();

    let exec = host.run(&["exec", "nolab", "pc90", "--", "true"]);
    assert_eq!(exec.status.code(), Some(2), "{}", describe(&exec));
    assert!(text(&exec.stderr).contains("lab nolab is not running"), "{}", describe(&exec));

    let up = host.run(&["-q", "up", "--detach", "--name", "names", "topologies/single.yaml"]);
    assert_eq!(up.status.code(), Some(0), "{}", describe(&up));
    let node = host.run(&["exec", "names", "pc99", "--", "true"]);
    assert_eq!(node.status.code(), Some(2), "{}", describe(&node));
    assert!(text(&node.stderr).contains("has no node \"pc99\": its nodes are l3sw, dc1, scs, pc90"), "{}", describe(&node));

    let invalid = host.run(&["up", "--name", "Bad_Name", "topologies/single.yaml"]);
    assert_eq!(invalid.status.code(), Some(2), "{}", describe(&invalid));

    assert_eq!(host.run(&["down", "names"]).status.code(), Some(0));
    host.assert_nothing_left("after down");
}

#[test]
fn killed_up_cleaned_by_next_up() {
    let host = TestHost::isolate();

    let mut first = host.vprolab(&["-q", "up", "topologies/single.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start vprolab up");
    wait_for_phase(&host, "single", "up", Duration::from_secs(30));
    let mut sleeper = host.vprolab(&["exec", "single", "pc90", "--", "sleep", "600"]).spawn().expect("start sleep in the lab");
    thread::sleep(Duration::from_millis(300));
    send(&first, nix::sys::signal::Signal::SIGKILL);
    wait_with_limit(&mut first, Duration::from_secs(5));
    assert_eq!(host.leftovers().namespaces.len(), 4, "SIGKILL leaves the namespaces");

    let status = host.run(&["status", "single"]);
    assert!(text(&status.stdout).contains("dead, left its namespaces behind"), "{}", describe(&status));

    let second = host.run(&["up", "--detach", "topologies/single.yaml"]);
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    let said = text(&second.stderr);
    assert!(said.contains("died without tearing down: removed 4 namespaces and stopped 1 processes"), "{said}");
    wait_with_limit(&mut sleeper, Duration::from_secs(5));

    assert_eq!(host.run(&["down", "single"]).status.code(), Some(0));
    host.assert_nothing_left("after the second up and down");
}

#[test]
fn killed_sandbox_lab_down_stops_exec() {
    let host = TestHost::isolate();

    let mut owner = host.vprolab(&["-q", "up", "--sandbox", "--name", "boxed", "topologies/single.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start vprolab up");
    wait_for_phase(&host, "boxed", "up", Duration::from_secs(30));
    let mut sleeper = host.vprolab(&["exec", "boxed", "pc90", "--", "sleep", "600"]).spawn().expect("start sleep in the sandboxed lab");
    thread::sleep(Duration::from_millis(300));
    send(&owner, nix::sys::signal::Signal::SIGKILL);
    wait_with_limit(&mut owner, Duration::from_secs(5));

    // The sleep keeps the sandbox, and the node's namespace in it, alive.
    let status = host.run(&["status", "boxed"]);
    assert!(text(&status.stdout).contains("1 processes run inside the lab's namespaces"), "{}", describe(&status));

    let down = host.run(&["down", "boxed"]);
    assert_eq!(down.status.code(), Some(0), "{}", describe(&down));
    assert!(text(&down.stderr).contains("1 processes stopped"), "{}", describe(&down));
    wait_with_limit(&mut sleeper, Duration::from_secs(5));
    host.assert_nothing_left("after down of the killed sandboxed lab");
}

/// Polls the state file until the lab reaches `phase`.
fn wait_for_phase(host: &TestHost, lab: &str, phase: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    let path = Path::new("/run/vprolab").join(lab).join("state.json");
    while Instant::now() < deadline {
        let record: Option<serde_json::Value> = fs::read_to_string(&path).ok().and_then(|text| serde_json::from_str(&text).ok());
        if record.is_some_and(|record| record["phase"] == phase) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("lab {lab} did not reach phase {phase} within {} s: {:?}", limit.as_secs(), host.leftovers());
}

#[test]
fn host_namespace_unchanged_by_lab_lifecycle() {
    let host = TestHost::isolate();
    let before = host_snapshot();

    let run = host.run(&["-q", "run", "topologies/wildcard.yaml"]);
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let up = host.run(&["-q", "up", "--detach", "--name", "hostcheck", "topologies/single.yaml"]);
    assert_eq!(up.status.code(), Some(0), "{}", describe(&up));
    let dig = host.run(&["exec", "hostcheck", "dc1", "--", "dig", "+short", "scs.jcert.info"]);
    assert_eq!(text(&dig.stdout), "192.168.90.20\n", "{}", describe(&dig));
    assert_eq!(host.run(&["down", "hostcheck"]).status.code(), Some(0));

    let mut interrupted = host.vprolab(&["-q", "up", "topologies/single.yaml"]).stdout(Stdio::null()).spawn().expect("start vprolab up");
    thread::sleep(Duration::from_millis(400));
    send(&interrupted, nix::sys::signal::Signal::SIGINT);
    wait_with_limit(&mut interrupted, Duration::from_secs(30));

    let after = host_snapshot();
    let diff = snapshot_diff(&before, &after);
    assert!(before.len() > 100, "the snapshot read the net.* sysctls: {} entries", before.len());
    assert!(diff.is_empty(), "the host namespace changed:\n{}", diff.join("\n"));
    host.assert_nothing_left("after the lifecycle");
}

#[test]
fn two_wildcard_labs_run_at_once() {
    let host = TestHost::isolate();
    let start = |name: &str| host.vprolab(&["-q", "run", "--json", "--name", name, "topologies/wildcard.yaml"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start vprolab run");

    let (first, second) = (start("wild-a"), start("wild-b"));
    let outputs = [first.wait_with_output().expect("wait for wild-a"), second.wait_with_output().expect("wait for wild-b")];

    for (name, output) in ["wild-a", "wild-b"].iter().zip(&outputs) {
        assert_eq!(output.status.code(), Some(0), "{name}: {}", describe(output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
        assert_eq!(report["lab"], *name);
        let clients = report["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 2, "{name}");
        for client in clients {
            assert_eq!(client["verdict"]["outcome"], "provisioned", "{name}: {}", client["verdict"]);
        }
    }
    host.assert_nothing_left("after both labs");
}

/// A user ID with no account, for the rootless test: setpriv needs none, and nothing on
/// the machine belongs to it.
const ROOTLESS_UID: &str = "64123";

#[test]
fn rootless_make_lab_single_passes() {
    let host = TestHost::isolate();
    // The repository may lie under a folder the user cannot enter (such as /root), so the
    // binary, the Makefile and the topology are copied to the private /tmp.
    let dir = Path::new("/tmp/rootless-lab");
    fs::create_dir_all(dir.join("topologies")).unwrap();
    fs::copy(common::VPROLAB, dir.join("vprolab")).unwrap();
    fs::copy(common::repo_path("Makefile"), dir.join("Makefile")).unwrap();
    fs::copy(common::repo_path("topologies/single.yaml"), dir.join("topologies/single.yaml")).unwrap();
    let chown = Command::new("chown").args(["-R", &format!("{ROOTLESS_UID}:{ROOTLESS_UID}"), dir.to_str().unwrap()]).status().unwrap();
    assert!(chown.success());

    // `-o build` takes the binary as built, as the user has no Rust toolchain here.
    let output = as_user(dir, &["make", "-o", "build", "lab-single", "VPROLAB=./vprolab", "LAB_ARGS=--capture cap"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(text(&output.stdout).contains("1 of 1 clients ended as expected"), "{}", describe(&output));
    assert!(dir.join("cap/single-vlan90.pcap").metadata().is_ok_and(|file| file.len() > 1000), "the rootless lab captured");

    let up = as_user(dir, &["./vprolab", "-q", "up", "--detach", "--sandbox", "topologies/single.yaml"]);
    assert_eq!(up.status.code(), Some(0), "{}", describe(&up));
    let dig = as_user(dir, &["./vprolab", "exec", "single", "pc90", "--", "dig", "+short", "provisionserver.jcert.info"]);
    assert_eq!(text(&dig.stdout), "scs.jcert.info.\n192.168.90.20\n", "{}", describe(&dig));
    let down = as_user(dir, &["./vprolab", "down", "single"]);
    assert_eq!(down.status.code(), Some(0), "{}", describe(&down));

    let state = Path::new("/tmp").join(format!("vprolab-{ROOTLESS_UID}"));
    assert_eq!(fs::read_dir(&state).map(|entries| entries.count()).unwrap_or(0), 0, "rootless state left in {}", state.display());
    host.assert_nothing_left("after the rootless lab");
}

fn as_user(dir: &Path, command: &[&str]) -> Output {
    let user = ["--reuid", ROOTLESS_UID, "--regid", ROOTLESS_UID, "--clear-groups", "--"];
    Command::new("setpriv")
        .args(user)
        .args(command)
        .current_dir(dir)
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv (util-linux)")
}

#[test]
fn rootless_without_sandbox_names_the_fix() {
    let host = TestHost::isolate();
    let output = Command::new("setpriv")
        .args(["--reuid", ROOTLESS_UID, "--regid", ROOTLESS_UID, "--clear-groups", "--", common::VPROLAB, "run", "topologies/single.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run setpriv (util-linux)");

    // Where the repository is out of this user's reach, reading the topology fails first,
    // as invalid input. Only where it is readable does the root check run.
    let said = text(&output.stderr);
    if !said.contains("cannot read topology") {
        assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
        assert!(said.contains("add --sandbox to run it in an unprivileged user namespace"), "{said}");
    }
    host.assert_nothing_left("after the refused run");
}

#[test]
fn capture_of_lab_single_shows_the_exchanges() {
    let host = TestHost::isolate();
    if !tshark_available() {
        return;
    }

    let capture = "/tmp/capture";
    let run = host.run(&["-q", "run", "--sandbox", "--capture", capture, "--capture-nodes", "topologies/single.yaml"]);
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let vlan = format!("{capture}/single-vlan90.pcap");

    let dhcp = tshark(&vlan, "dhcp", &["dhcp.option.dhcp"]);
    assert_eq!(dhcp, "1\n2\n3\n5\n", "DISCOVER, OFFER, REQUEST, ACK once each");

    let dns = tshark(&vlan, "dns.qry.name == \"provisionserver.jcert.info\"", &["dns.flags.response", "dns.cname", "dns.a"]);
    assert_eq!(dns, "0\t\t\n1\tscs.jcert.info\t192.168.90.20\n", "query and answer for provisionserver");

    let hello = tshark(&vlan, "tcp.dstport == 9971 && tcp.len > 0", &["ip.src", "tcp.payload"]);
    let first = hello.lines().next().unwrap_or_default();
    // u16 admin credentials set (0) and u16 version (3), both little-endian.
    assert!(first.starts_with("192.168.90.100\t00000300"), "hello v3 from the client: {hello}");

    let handshakes = tshark(&vlan, "tcp.port == 16993 && tls.handshake.type", &["ip.src", "tls.handshake.type"]);
    let lines: Vec<&str> = handshakes.lines().collect();
    assert!(lines.first().is_some_and(|line| *line == "192.168.90.20\t1"), "ClientHello from the setup server: {handshakes}");
    assert!(lines.iter().any(|line| line.starts_with("192.168.90.100\t2")), "ServerHello from the ME: {handshakes}");

    let node = tshark(&format!("{capture}/single-pc90.pcap"), "dhcp", &["dhcp.option.dhcp"]);
    assert_eq!(node, "1\n2\n3\n5\n", "the node's own capture holds its DHCP exchange");
    host.assert_nothing_left("after the captured run");
}

/// Checks for tshark, a test dependency that `.ci/run` installs. Elsewhere a missing
/// tshark skips the test with a message, but under CI it fails the test.
fn tshark_available() -> bool {
    let found = Command::new("tshark").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|status| status.success());
    assert!(found || std::env::var_os("CI").is_none(), "tshark is missing: `.ci/run` installs it (Debian package tshark)");
    if !found {
        eprintln!("skipped: tshark is not installed (Debian package tshark)");
    }
    found
}

fn tshark(file: &str, filter: &str, fields: &[&str]) -> String {
    let mut command = Command::new("tshark");
    command.args(["-r", file, "-d", "tcp.port==16993,tls", "-Y", filter, "-T", "fields"]);
    for field in fields {
        command.args(["-e", field]);
    }
    let output = command.output().expect("run tshark");
    assert!(output.status.success(), "tshark -r {file} -Y {filter:?}: {}", describe(&output));
    text(&output.stdout)
}
