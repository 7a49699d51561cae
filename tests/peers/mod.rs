//! A lab for tests against real peers from Debian: dig, udhcpc, dhclient, dhcrelay,
//! dnsmasq, kea-dhcp4 and openssl.
//!
//! Each test isolates its own thread in a fresh network and mount namespace first
//! ([`isolated`]), then builds a lab there with the library, on a current-thread runtime.
//! Peers run as child processes inside the lab's node namespaces, or inside extra peer
//! nodes attached to a VLAN's bridge, so they reach only what the lab made. A peer that is
//! not installed fails its test with the Debian package to install: `make test-peers`
//! runs these tests after `.ci/run` installed every package, so none passes by skipping.

#![allow(dead_code)]

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use netns::{MacAddr, Namespace, Netlink, VethPair};
use tempfile::TempDir;
use vprolab::lab::{self, RunOptions, RunningLab};
use vprolab::report::LabReport;
use vprolab::topology::{self, Lab, NODE_INTERFACE};

/// A program from a Debian package.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

pub const DIG: Tool = Tool { program: "dig", package: "dnsutils" };
pub const BUSYBOX: Tool = Tool { program: "busybox", package: "busybox" };
pub const DHCLIENT: Tool = Tool { program: "dhclient", package: "isc-dhcp-client" };
pub const DHCRELAY: Tool = Tool { program: "dhcrelay", package: "isc-dhcp-relay" };
pub const DNSMASQ: Tool = Tool { program: "dnsmasq", package: "dnsmasq-base" };
pub const KEA_DHCP4: Tool = Tool { program: "kea-dhcp4", package: "kea-dhcp4-server" };
pub const OPENSSL: Tool = Tool { program: "openssl", package: "openssl" };

/// Time a one-shot peer command (dig, udhcpc, openssl) may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// Time a peer server gets to bind its port.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Moves the test thread into a fresh network and mount namespace and runs `body` on a
/// current-thread runtime there. The lab's services and the test share that one thread,
/// so the body must never block it: peers are awaited, not waited for.
pub fn isolated<F, Fut>(body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    netns::sandbox::isolate_current_thread().expect("cannot isolate the test thread: these tests need root for unshare --net --mount");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(body());
}

/// Returns the path of a file in the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A running lab, a scratch folder for peer files, and the peer nodes added to it.
pub struct PeerLab {
    pub lab: Lab,
    pub running: RunningLab,
    pub dir: TempDir,
    peers: Vec<String>,
}

impl PeerLab {
    /// Loads the topology at `relative` (from the repository root) and starts its lab:
    /// namespaces, links and every built-in service, but no ME yet.
    pub async fn start(relative: &str) -> Self {
        let lab = topology::load(&repo_path(relative)).unwrap_or_else(|error| panic!("{relative}: {error}"));
        let dir = tempfile::tempdir().expect("scratch folder");
        let options = RunOptions { state_root: dir.path().join("root"), state_dir: Some(dir.path().join("state")), ..RunOptions::default() };

        let (state, _) = lab::open_state(&lab, &options).expect("lab state");
        let running = lab::start(&lab, &state, &options, &|_| {}).await.unwrap_or_else(|error| panic!("cannot start lab {}: {error}", lab.name));
        Self { lab, running, dir, peers: Vec::new() }
    }

    /// Returns the namespace of the lab node `name`.
    pub fn node(&self, name: &str) -> Arc<Namespace> {
        self.running.built.nodes.get(name).unwrap_or_else(|| panic!("no node {name} in lab {}", self.lab.name)).clone()
    }

    /// Returns the folder containing the lab's certificate chain and keys.
    pub fn pki_dir(&self) -> PathBuf {
        self.dir.path().join("state").join("pki")
    }

    /// Adds a peer node `name` on `vlan`: a namespace whose `eth0` is attached to the
    /// VLAN's bridge, with `address` and a default route to the VLAN's gateway when given,
    /// or no address for a DHCP client.
    pub async fn add_peer(&mut self, name: &str, vlan: u16, mac: [u8; 6], address: Option<Ipv4Addr>) -> Arc<Namespace> {
        let vlan = self.lab.vlan(vlan).unwrap_or_else(|| panic!("no VLAN {vlan} in lab {}", self.lab.name)).clone();
        let namespace = Arc::new(Namespace::create(&format!("peer-{name}")).expect("peer namespace"));
        self.peers.push(namespace.name().to_owned());

        // The switch end gets one of the lowest locally administered MACs, lower than any
        // port the lab made, so that a bridge following its ports' MACs would change its own.
        let switch_end = MacAddr::new([0x02, 0, 0, 0, 0, u8::try_from(self.peers.len()).expect("fewer than 256 peers")]);
        let switch = Netlink::connect(&self.running.built.switch).expect("switch netlink");
        let pair = VethPair { name, mac: Some(switch_end), peer_name: NODE_INTERFACE, peer_namespace: &namespace, peer_mac: Some(MacAddr::new(mac)) };
        switch.add_veth(&pair).await.expect("peer veth");
        switch.attach_to_bridge(name, &Lab::bridge_of(vlan.id)).await.expect("peer bridge port");
        switch.set_up(name).await.expect("peer port up");

        let link = Netlink::connect(&namespace).expect("peer netlink");
        link.set_up("lo").await.expect("peer lo up");
        link.set_up(NODE_INTERFACE).await.expect("peer eth0 up");
        if let Some(address) = address {
            link.add_address(NODE_INTERFACE, Ipv4Network::new(address, vlan.subnet.prefix()).expect("prefix")).await.expect("peer address");
            link.add_default_route(vlan.gateway).await.expect("peer route");
        }
        namespace
    }

    /// Runs every ME of the lab to its verdict, as `vprolab run` does.
    pub async fn run_clients(&mut self, timeout: Duration) -> LabReport {
        self.running.run_clients(timeout, Path::new("peer test")).await
    }

    /// Stops the lab and removes its namespaces and the peer nodes, and fails the test
    /// when one could not be removed.
    pub async fn stop(self) {
        let failures = self.running.stop().await;
        assert!(failures.is_empty(), "lab namespaces left: {failures:?}");

        for name in &self.peers {
            Namespace::delete(name).unwrap_or_else(|error| panic!("cannot remove peer node {name}: {error}"));
        }
    }
}

/// Writes `text` to `name` in `dir`, executable when `executable`.
pub fn write_file(dir: &Path, name: &str, text: &str, executable: bool) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;

    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    if executable {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    path
}

/// Fails the test, naming the Debian package, when `tool` is not in PATH.
pub fn require(tool: Tool) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool.program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{} not found in PATH: install the Debian package {} (`.ci/run` installs it for make test-peers)", tool.program, tool.package))
}

/// Starts `tool ARGS` inside `namespace`, with the variables `env` added and with stdout
/// and stderr appended to `log`.
///
/// The child process inherits the namespace of the thread that forks it, so it is forked
/// on a thread that entered `namespace`. It is registered with the caller's runtime, so
/// that the test can await and kill it.
pub fn spawn(namespace: &Namespace, tool: Tool, args: &[&str], env: &[(&str, &Path)], log: &Path) -> tokio::process::Child {
    let program = require(tool);
    let runtime = tokio::runtime::Handle::current();
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("peer log");
    let error_file = log_file.try_clone().expect("peer log");

    let fork = || {
        let _context = runtime.enter();
        tokio::process::Command::new(&program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(error_file)
            .kill_on_drop(true)
            .spawn()
    };
    namespace.run(fork).expect("enter namespace").unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()))
}

/// Runs `tool ARGS` inside `namespace` to its end and returns what it printed. Fails the
/// test when it takes longer than [`COMMAND_TIMEOUT`].
pub async fn output(namespace: &Namespace, tool: Tool, args: &[&str]) -> Output {
    let program = require(tool);
    let runtime = tokio::runtime::Handle::current();

    let fork = || {
        let _context = runtime.enter();
        tokio::process::Command::new(&program).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn()
    };
    let child = namespace.run(fork).expect("enter namespace").unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));

    tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} did not finish within {COMMAND_TIMEOUT:?}", tool.program))
        .expect("peer output")
}

/// A long-running peer server or relay, killed and reaped by [`Peer::stop`].
pub struct Peer {
    pub tool: Tool,
    child: tokio::process::Child,
    pub log: PathBuf,
}

impl Peer {
    /// Starts `tool ARGS` in `namespace`, logging to `<dir>/<program>.log`.
    pub fn start(namespace: &Namespace, tool: Tool, args: &[&str], dir: &Path) -> Self {
        Self::start_with_env(namespace, tool, args, dir, &[])
    }

    /// Starts `tool ARGS` in `namespace` with the variables `env` added.
    pub fn start_with_env(namespace: &Namespace, tool: Tool, args: &[&str], dir: &Path, env: &[(&str, &Path)]) -> Self {
        let log = dir.join(format!("{}.log", tool.program));
        let child = spawn(namespace, tool, args, env, &log);
        Self { tool, child, log }
    }

    /// Waits until a socket in `namespace` is bound to UDP `port`, and fails the test,
    /// with the peer's log, when the peer exits or [`READY_TIMEOUT`] passes first.
    pub async fn wait_for_udp_port(&mut self, namespace: &Namespace, port: u16) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        while !udp_port_bound(namespace, port) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before binding UDP port {port}:\n{}", self.tool.program, self.log_text());
            }
            assert!(tokio::time::Instant::now() < deadline, "{} did not bind UDP port {port} within {READY_TIMEOUT:?}:\n{}", self.tool.program, self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Returns what the peer printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the peer and waits for it, so that no process outlives the test.
    pub async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        self.log_text()
    }
}

/// Checks `/proc/thread-self/net/udp` from a thread inside `namespace`: `/proc/net` would
/// show the namespace of the process's main thread instead.
pub fn udp_port_bound(namespace: &Namespace, port: u16) -> bool {
    let table = namespace.run(|| std::fs::read_to_string("/proc/thread-self/net/udp")).expect("enter namespace").expect("read the UDP socket table");
    let wanted = format!(":{port:04X}");

    table.lines().skip(1).filter_map(|line| line.split_whitespace().nth(1)).any(|local| local.ends_with(&wanted))
}
