//! DHCP leases per second: the lab's DHCP server against kea-dhcp4 with its memfile lease
//! database, each in turn in the same server namespace with the same scope, loaded by
//! perfdhcp acting as a relay from a second namespace.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use netns::{Namespace, Netlink, VethPair};
use tokio_util::sync::CancellationToken;
use vprolab::dhcp;
use vprolab::net::NodeNet;

use crate::table::{Table, rate_ratio};
use crate::{Plan, say};

const SECTION: &str = "DHCP";
const SERVER_NAMESPACE: &str = "bench-dhcp-server";
const RELAY_NAMESPACE: &str = "bench-dhcp-relay";
const SERVER: &str = "10.77.0.1";
const RELAY: &str = "10.77.0.2";
const PREFIX: u8 = 16;
const POOL: (&str, &str) = ("10.77.1.0", "10.77.255.254");
/// Distinct client MACs perfdhcp simulates: fewer than the pool holds, so no run
/// exhausts it.
const CLIENTS: &str = "50000";

/// Measures both servers and adds one row.
pub fn compare(plan: &Plan, work: &Path, table: &mut Table) -> Result<(), String> {
    if let Some(missing) = ["perfdhcp", "kea-dhcp4"].into_iter().find(|program| !crate::dns::on_path(program)) {
        table.push(SECTION, "leases per second", "skipped", format!("{missing} not found: install kea-dhcp4-server and kea-admin"), "-");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| error.to_string())?;
    let (server, _relay) = runtime.block_on(build_namespaces())?;

    say("DHCP: the lab's server");
    let ours = runtime.block_on(measure_lab_dhcp(&server, plan.load_seconds()))?;
    say("DHCP: kea-dhcp4");
    let kea = measure_kea(work, plan.load_seconds())?;

    let rate = |rate: f64| format!("{rate:.0} leases/s");
    table.push(SECTION, "leases per second (DORA)", rate(ours), format!("kea-dhcp4 memfile {}", rate(kea)), rate_ratio(ours, kea));
    table.note(format!("DHCP: perfdhcp -R {CLIENTS} for {} s as fast as it can, as a relay at {RELAY} in its own namespace, to the server at {SERVER} in another; scope 10.77.0.0/16, pool {}-{}, option 15 jcert.info, lease 1 h. kea-dhcp4 writes every lease to its memfile CSV (persist: true).", plan.load_seconds(), POOL.0, POOL.1));
    Ok(())
}

/// Makes the server and relay namespaces, joined by a veth pair.
async fn build_namespaces() -> Result<(Arc<Namespace>, Arc<Namespace>), String> {
    let failed = |error: netns::Error| error.to_string();
    let server = Arc::new(Namespace::create_with_loopback_up(SERVER_NAMESPACE).map_err(failed)?);
    let relay = Arc::new(Namespace::create_with_loopback_up(RELAY_NAMESPACE).map_err(failed)?);

    let server_link = Netlink::connect(&server).map_err(failed)?;
    server_link.add_veth(&VethPair { name: "eth0", mac: None, peer_name: "eth0", peer_namespace: &relay, peer_mac: None }).await.map_err(failed)?;
    server_link.set_up("eth0").await.map_err(failed)?;
    server_link.add_address("eth0", network(SERVER)).await.map_err(failed)?;

    let relay_link = Netlink::connect(&relay).map_err(failed)?;
    relay_link.set_up("eth0").await.map_err(failed)?;
    relay_link.add_address("eth0", network(RELAY)).await.map_err(failed)?;
    relay_link.wait_ready(&["eth0"], Duration::from_secs(5)).await.map_err(failed)?;
    server_link.wait_ready(&["eth0"], Duration::from_secs(5)).await.map_err(failed)?;
    Ok((server, relay))
}

fn network(address: &str) -> Ipv4Network {
    Ipv4Network::new(address.parse().expect("valid address"), PREFIX).expect("valid prefix")
}

/// Runs the lab's DHCP server in the server namespace and measures it.
async fn measure_lab_dhcp(server: &Arc<Namespace>, seconds: u32) -> Result<f64, String> {
    let socket = NodeNet::in_namespace(server.clone()).udp_bind_broadcast(67, "eth0").map_err(|error| error.to_string())?;
    let scope = dhcp::Scope {
        subnet: Ipv4Network::new(network(SERVER).network(), PREFIX).expect("valid prefix"),
        range: (POOL.0.parse().expect("valid address"), POOL.1.parse().expect("valid address")),
        router: None,
        dns_servers: Vec::new(),
        domain: Some(b"jcert.info".to_vec()),
        lease_time: Duration::from_secs(3600),
    };
    let config = dhcp::ServerConfig { server_id: SERVER.parse().expect("valid address"), scopes: vec![scope], addressing: dhcp::Addressing::default() };
    let cancel = CancellationToken::new();
    let task = tokio::spawn(dhcp::serve_server(config, socket, network(SERVER), cancel.clone(), None));

    let rate = tokio::task::spawn_blocking(move || perfdhcp(seconds)).await.map_err(|error| error.to_string())?;
    cancel.cancel();
    let _ = task.await;
    rate
}

/// Starts kea-dhcp4 with the same scope in the server namespace and measures it.
fn measure_kea(work: &Path, seconds: u32) -> Result<f64, String> {
    let dir = work.join("kea");
    std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let config = serde_json::json!({
        "Dhcp4": {
            "interfaces-config": { "interfaces": ["eth0"], "dhcp-socket-type": "udp" },
            "lease-database": { "type": "memfile", "persist": true, "lfc-interval": 0, "name": dir.join("leases4.csv") },
            "valid-lifetime": 3600,
            "subnet4": [{ "id": 1, "subnet": "10.77.0.0/16", "pools": [{ "pool": format!("{} - {}", POOL.0, POOL.1) }], "option-data": [{ "name": "domain-name", "data": "jcert.info" }] }],
            "loggers": [{ "name": "kea-dhcp4", "output_options": [{ "output": "stdout" }], "severity": "WARN" }]
        }
    });
    let path = dir.join("kea-dhcp4.json");
    std::fs::write(&path, config.to_string()).map_err(|error| error.to_string())?;

    let mut kea: Child = Command::new("ip")
        .args(["netns", "exec", SERVER_NAMESPACE, "kea-dhcp4", "-c"])
        .arg(&path)
        .env("KEA_LOCKFILE_DIR", &dir)
        .env("KEA_PIDFILE_DIR", &dir)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start kea-dhcp4: {error}"))?;
    // NOTE: kea-dhcp4 has no readiness signal here; a second is far more than it takes to
    // open its sockets on this scope.
    std::thread::sleep(Duration::from_secs(1));

    let rate = perfdhcp(seconds);
    let _ = kea.kill();
    let _ = kea.wait();
    rate
}

/// Runs perfdhcp from the relay namespace and returns its 4-way exchanges per second.
fn perfdhcp(seconds: u32) -> Result<f64, String> {
    let output = Command::new("ip")
        .args(["netns", "exec", RELAY_NAMESPACE, "perfdhcp", "-4", "-l", RELAY, "-R", CLIENTS, "-p", &seconds.to_string(), SERVER])
        .output()
        .map_err(|error| format!("cannot run perfdhcp: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = text.lines().find_map(|line| line.trim().strip_prefix("Rate:")).and_then(|rest| rest.split_whitespace().next()).and_then(|rate| rate.parse().ok());
    rate.ok_or_else(|| format!("perfdhcp printed no rate: {text}{}", String::from_utf8_lossy(&output.stderr)))
}
