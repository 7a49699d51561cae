//! Lab build and teardown: vprolab's builder against the same namespaces and links made
//! by `ip -batch`, each run in a fresh sandbox of its own.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use vprolab::lab::{self, RunOptions};
use vprolab::topology::{self, Lab, NODE_INTERFACE};

use crate::table::{Table, ms, time_ratio};
use crate::{Plan, sandbox, say};

/// First argument that makes this binary build and tear down one lab and print its times.
pub const CHILD_COMMAND: &str = "build-child";

const SECTION: &str = "lab build";

/// Builds and tears down labs of each size with vprolab and with `ip -batch`.
pub fn compare(plan: &Plan, work: &Path, table: &mut Table) -> Result<(), String> {
    for &nodes in plan.build_sizes() {
        let topology = write_topology(work, &format!("build{nodes}"), nodes)?;
        let lab = topology::load(&topology).map_err(|error| error.to_string())?;
        let runs = if nodes <= 200 { 3 } else { 1 };

        say(&format!("building {nodes} nodes, {runs} times each with vprolab and ip -batch"));
        let baseline = sandbox::live_namespaces().unwrap_or(0);
        let ours = median_of(runs, || vprolab_build(&topology).inspect(|_| sandbox::settle(baseline)))?;
        let floor = median_of(runs, || ip_batch_build(&lab, work).inspect(|_| sandbox::settle(baseline)))?;

        table.push(SECTION, format!("build, {nodes} nodes"), ms(ours.0), format!("ip -batch {}", ms(floor.0)), time_ratio(ours.0, floor.0));
        table.push(SECTION, format!("teardown, {nodes} nodes"), ms(ours.1), format!("ip -batch {}", ms(floor.1)), time_ratio(ours.1, floor.1));
    }
    table.note("lab build: N nodes is one server and N-1 clients on one VLAN, plus the switch namespace. vprolab's build includes waiting until every switch port forwards; the `ip -batch` script runs `ip -batch` for the namespaces, `ip -n SWITCH -batch` for the bridge and veth pairs, and one `ip -n NODE -batch` per node for lo, eth0 and a server's address and route, without waiting. Teardown on both sides removes the names under /run/netns; the kernel frees the namespaces afterwards, and the bench waits for that before the next run. Median of 3 runs up to 200 nodes, 1 run at 1000.");
    Ok(())
}

/// Runs `measure` `runs` times and returns the median of each of its two values.
fn median_of(runs: usize, mut measure: impl FnMut() -> Result<(f64, f64), String>) -> Result<(f64, f64), String> {
    let mut firsts = Vec::new();
    let mut seconds = Vec::new();
    for _ in 0..runs {
        let (first, second) = measure()?;
        firsts.push(first);
        seconds.push(second);
    }
    Ok((median(&mut firsts), median(&mut seconds)))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Writes a lab of `nodes` node namespaces: the server `dc1` with every role, and a fleet
/// of `nodes - 1` clients, on VLAN 90 = 10.90.0.0/16.
pub fn write_topology(work: &Path, name: &str, nodes: usize) -> Result<PathBuf, String> {
    let clients = nodes.saturating_sub(1).max(1);
    let text = format!(
        "lab: bench\ntimeout: 120s\nswitch:\n  name: l3sw\n  vlans:\n    90: {{ subnet: 10.90.0.0/16, gateway: 10.90.0.1 }}\n\
servers:\n  dc1:\n    vlan: 90\n    address: 10.90.0.10\n    fqdn: dc1.jcert.info\n    roles: [domain-controller, dns, dhcp-server, setup-server]\n\
zones:\n  jcert.info:\n    servers: [dc1]\n    records:\n      provisionserver: {{ cname: dc1.jcert.info }}\n\
dhcp:\n  scopes:\n    90:\n      server: dc1\n      range: 10.90.1.0-10.90.255.254\n      router: 10.90.0.1\n      dns_servers: [10.90.0.10]\n      domain: jcert.info\n\
setup_server:\n  server: dc1\n  certificate:\n    cn: dc1.jcert.info\n    ou: \"Intel(R) Client Setup Certificate\"\n    amt_setup_oid: true\n\
clients:\n  pc:\n    count: {clients}\n    vlan: 90\n    firmware: 4.1.1\n    expect: {{ outcome: provisioned, domain: jcert.info }}\n"
    );
    let path = work.join(format!("{name}.yaml"));
    fs::write(&path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(path)
}

/// Builds and tears down the lab with vprolab in a sandbox of its own; returns both times
/// in milliseconds.
fn vprolab_build(topology: &Path) -> Result<(f64, f64), String> {
    let me = std::env::current_exe().map_err(|error| error.to_string())?;
    let output = sandbox::child(&format!("exec \"$1\" {CHILD_COMMAND} \"$2\"")).arg(&me).arg(topology).output().map_err(|error| format!("cannot run unshare: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("vprolab build failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr)));
    }
    two_numbers(&stdout)
}

/// Parses the last line of a child's output: two numbers separated by a space.
fn two_numbers(text: &str) -> Result<(f64, f64), String> {
    let line = text.lines().last().unwrap_or_default();
    let mut numbers = line.split_whitespace().map(str::parse::<f64>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(first)), Some(Ok(second))) => Ok((first, second)),
        _ => Err(format!("unexpected child output {line:?}")),
    }
}

/// `build-child TOPOLOGY`: builds the lab's namespaces and links, tears them down, and
/// prints the two times in milliseconds. Runs inside a sandbox made by the bench.
pub fn child(args: &[String]) -> ExitCode {
    let Some(path) = args.first() else {
        eprintln!("usage: vprolab-bench {CHILD_COMMAND} TOPOLOGY");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(build_and_tear_down(Path::new(path))) {
        Ok((build, teardown)) => {
            println!("{build:.3} {teardown:.3}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vprolab-bench {CHILD_COMMAND}: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn build_and_tear_down(path: &Path) -> Result<(f64, f64), String> {
    let lab = topology::load(path).map_err(|error| error.to_string())?;
    let options = RunOptions { state_root: lab::state::STATE_ROOT.into(), topology: path.to_owned(), ..RunOptions::default() };
    let (state, _) = lab::open_state(&lab, &options).map_err(|error| error.to_string())?;

    let started = Instant::now();
    let built = lab::build_namespaces(&lab, &state, &|_| {}).await.map_err(|error| error.to_string())?;
    let build = started.elapsed();

    let started = Instant::now();
    drop(built);
    let failures = state.teardown();
    let teardown = started.elapsed();
    if let Some((namespace, error)) = failures.first() {
        return Err(format!("cannot remove {namespace}: {error}"));
    }
    Ok((build.as_secs_f64() * 1000.0, teardown.as_secs_f64() * 1000.0))
}

/// Builds and tears down the same namespaces and links with `ip -batch` in a sandbox of
/// its own; returns both times in milliseconds.
fn ip_batch_build(lab: &Lab, work: &Path) -> Result<(f64, f64), String> {
    let dir = work.join("ip-batch");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("nodes")).map_err(|error| error.to_string())?;
    write_batches(lab, &dir)?;

    let script = "cd \"$1\" || exit 91
start=$EPOCHREALTIME
ip -batch namespaces.batch || exit 92
ip -n \"$2\" -batch switch.batch || exit 93
for file in nodes/*; do ip -n \"${file#nodes/}\" -batch \"$file\" || exit 94; done
built=$EPOCHREALTIME
ip -batch delete.batch || exit 95
deleted=$EPOCHREALTIME
echo \"$start $built $deleted\"";
    let output = sandbox::child(script).arg(&dir).arg(lab.namespace_of(&lab.switch.name)).output().map_err(|error| format!("cannot run unshare: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("the ip -batch script failed ({}): {}{}", output.status, stdout, String::from_utf8_lossy(&output.stderr)));
    }

    let stamps: Vec<f64> = stdout.split_whitespace().filter_map(|stamp| stamp.parse().ok()).collect();
    let [start, built, deleted] = stamps[..] else { return Err(format!("unexpected script output {stdout:?}")) };
    Ok(((built - start) * 1000.0, (deleted - built) * 1000.0))
}

/// Writes the batch files: namespaces, the switch's bridge and veth pairs, one file per
/// node named after its namespace, and the teardown.
fn write_batches(lab: &Lab, dir: &Path) -> Result<(), String> {
    let switch = lab.namespace_of(&lab.switch.name);
    let mut namespaces = format!("netns add {switch}\n");
    let mut delete = String::new();
    let mut links = String::from("link set lo up\n");

    for vlan in &lab.switch.vlans {
        let bridge = Lab::bridge_of(vlan.id);
        let [high, low] = vlan.id.to_be_bytes();
        let _ = writeln!(links, "link add {bridge} type bridge stp_state 0 forward_delay 0\nlink set {bridge} address 02:76:6c:00:{high:02x}:{low:02x}\naddr add {}/{} brd + dev {bridge}\nlink set {bridge} up", vlan.gateway, vlan.subnet.prefix());
    }

    let servers = lab.servers.iter().map(|server| (&server.name, server.vlan, server.mac, Some(server.address)));
    let clients = lab.clients.iter().map(|client| (&client.name, client.vlan, client.mac, None));
    for (name, vlan, mac, address) in servers.chain(clients) {
        let namespace = lab.namespace_of(name);
        let mac = mac.iter().map(|byte| format!("{byte:02x}")).collect::<Vec<_>>().join(":");
        let _ = writeln!(namespaces, "netns add {namespace}");
        let _ = writeln!(delete, "netns del {namespace}");
        let _ = writeln!(links, "link add {name} master {} up type veth peer name {NODE_INTERFACE} address {mac} netns {namespace}", Lab::bridge_of(vlan));

        let mut node = format!("link set lo up\nlink set {NODE_INTERFACE} up\n");
        if let (Some(address), Some(vlan)) = (address, lab.vlan(vlan)) {
            let _ = writeln!(node, "addr add {address}/{} brd + dev {NODE_INTERFACE}\nroute add default via {}", vlan.subnet.prefix(), vlan.gateway);
        }
        write(&dir.join("nodes").join(&namespace), &node)?;
    }
    let _ = writeln!(delete, "netns del {switch}");

    write(&dir.join("namespaces.batch"), &namespaces)?;
    write(&dir.join("switch.batch"), &links)?;
    write(&dir.join("delete.batch"), &delete)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}
