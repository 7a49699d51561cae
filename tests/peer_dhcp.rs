//! The lab's DHCP server against real DHCP clients and relays from Debian, the lab's relay
//! against real clients and servers, and the ME's DHCP client against real servers.

mod peers;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use peers::{BUSYBOX, DHCLIENT, DHCRELAY, DNSMASQ, KEA_DHCP4, Peer, PeerLab, isolated, write_file};
use vprolab::dhcp::{self, ClientConfig, Lease};
use vprolab::net::NodeNet;
use vprolab::timeline::Step;

const WILDCARD: &str = "topologies/wildcard.yaml";

/// Options of one scope of the wildcard lab as a client must receive them.
struct ScopeOptions {
    subnet_prefix: &'static str,
    router: &'static str,
    dns: &'static str,
    domain: &'static str,
}

const VLAN_90: ScopeOptions = ScopeOptions { subnet_prefix: "192.168.90.", router: "192.168.90.1", dns: "192.168.90.10", domain: "jcert.info" };
const VLAN_91: ScopeOptions = ScopeOptions { subnet_prefix: "192.168.91.", router: "192.168.91.1", dns: "192.168.91.10", domain: "mtkg.jcert.info" };

/// dc1, the DHCP server of both scopes (option 54).
const SERVER_ID: &str = "192.168.90.10";
/// Option 51 of both scopes: 8 h.
const LEASE_SECS: &str = "28800";

/// Parses the `NAME=value` lines a client script wrote with `env`.
fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines().filter_map(|line| line.split_once('=')).map(|(name, value)| (name.to_owned(), value.to_owned())).collect()
}

/// Waits until `path` exists and is not empty, or until `timeout`.
async fn wait_for_file(path: &Path, timeout: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return Some(text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Runs busybox udhcpc on a new peer node of `vlan` until it is bound, and returns the
/// variables its script received.
async fn udhcpc_lease(lab: &mut PeerLab, name: &str, vlan: u16, mac: [u8; 6], broadcast_flag: bool) -> HashMap<String, String> {
    let node = lab.add_peer(name, vlan, mac, None).await;
    let out = lab.dir.path().join(format!("{name}.env"));
    let script = write_file(lab.dir.path(), &format!("{name}.sh"), &format!("#!/bin/sh\n[ \"$1\" = bound ] && env > {}\nexit 0\n", out.display()), true);

    // -f foreground, -q quit once bound, -n fail without a lease; 5 DHCPDISCOVERs 1 s apart.
    let mut args = vec!["udhcpc", "-f", "-q", "-n", "-i", "eth0", "-t", "5", "-T", "1", "-s", script.to_str().unwrap()];
    if broadcast_flag {
        args.push("-B");
    }
    let output = peers::output(&node, BUSYBOX, &args).await;

    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "udhcpc on {name} got no lease ({}):\n{log}", output.status);
    parse_env(&std::fs::read_to_string(&out).unwrap_or_else(|_| panic!("udhcpc on {name} never ran its script with bound:\n{log}")))
}

fn assert_udhcpc_options(env: &HashMap<String, String>, scope: &ScopeOptions) {
    let ip = env.get("ip").map(String::as_str).unwrap_or_default();
    assert!(ip.starts_with(scope.subnet_prefix), "yiaddr {ip:?} is not in {}0/24: {env:?}", scope.subnet_prefix);
    assert_eq!(env.get("subnet").map(String::as_str), Some("255.255.255.0"), "option 1");
    assert_eq!(env.get("router").map(String::as_str), Some(scope.router), "option 3");
    assert_eq!(env.get("dns").map(String::as_str), Some(scope.dns), "option 6");
    assert_eq!(env.get("domain").map(String::as_str), Some(scope.domain), "option 15");
    assert_eq!(env.get("lease").map(String::as_str), Some(LEASE_SECS), "option 51");
    assert_eq!(env.get("serverid").map(String::as_str), Some(SERVER_ID), "option 54");
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn udhcpc_leases_directly_and_through_relay() {
    isolated(|| async {
        let mut lab = PeerLab::start(WILDCARD).await;

        for (name, vlan, scope, broadcast_flag) in [("udhcpc90", 90, &VLAN_90, false), ("udhcpc90b", 90, &VLAN_90, true), ("udhcpc91", 91, &VLAN_91, false), ("udhcpc91b", 91, &VLAN_91, true)] {
            let mac = [0x02, 0x00, 0x00, 0x00, u8::try_from(vlan).unwrap(), u8::from(broadcast_flag)];
            let env = udhcpc_lease(&mut lab, name, vlan, mac, broadcast_flag).await;
            assert_udhcpc_options(&env, scope);
        }
        lab.stop().await;
    });
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn relay_serves_client_added_to_running_lab() {
    isolated(|| async {
        let mut lab = PeerLab::start(WILDCARD).await;
        let report = lab.run_clients(Duration::from_secs(30)).await;
        assert!(report.all_as_expected(), "the wildcard lab's MEs did not end as expected: {}", report.to_text());

        // dc2 resolved the gateway's MAC while it relayed pc91's lease. A node joining
        // VLAN 91 now must not change that MAC, or the relayed DHCPDISCOVER goes nowhere.
        let env = udhcpc_lease(&mut lab, "udhcpc91", 91, [0x02, 0, 0, 0x06, 91, 0], false).await;
        assert_udhcpc_options(&env, &VLAN_91);
        lab.stop().await;
    });
}

/// Runs dhclient on a new peer node of `vlan` until it is bound, and returns the
/// variables its script received.
async fn dhclient_lease(lab: &mut PeerLab, name: &str, vlan: u16, mac: [u8; 6]) -> HashMap<String, String> {
    let node = lab.add_peer(name, vlan, mac, None).await;
    let dir = lab.dir.path();
    let out = dir.join(format!("{name}.env"));
    let script = write_file(dir, &format!("{name}.sh"), &format!("#!/bin/sh\n[ \"$reason\" = BOUND ] && env > {}\nexit 0\n", out.display()), true);
    let config = write_file(dir, &format!("{name}.conf"), "request subnet-mask, routers, domain-name-servers, domain-name;\n", false);
    let leases = dir.join(format!("{name}.leases"));
    let pid = dir.join(format!("{name}.pid"));

    // Every file dhclient writes is in the scratch folder, and its script only records
    // what it got, so nothing outside the peer node changes.
    let args = ["-4", "-d", "-1", "-v", "-cf", config.to_str().unwrap(), "-sf", script.to_str().unwrap(), "-lf", leases.to_str().unwrap(), "-pf", pid.to_str().unwrap(), "eth0"];
    let client = Peer::start(&node, DHCLIENT, &args, dir);
    let env = wait_for_file(&out, Duration::from_secs(20)).await;
    let log = client.stop().await;

    parse_env(&env.unwrap_or_else(|| panic!("dhclient on {name} got no lease:\n{log}")))
}

fn assert_dhclient_options(env: &HashMap<String, String>, scope: &ScopeOptions) {
    let ip = env.get("new_ip_address").map(String::as_str).unwrap_or_default();
    assert!(ip.starts_with(scope.subnet_prefix), "yiaddr {ip:?} is not in {}0/24: {env:?}", scope.subnet_prefix);
    assert_eq!(env.get("new_subnet_mask").map(String::as_str), Some("255.255.255.0"), "option 1");
    assert_eq!(env.get("new_routers").map(String::as_str), Some(scope.router), "option 3");
    assert_eq!(env.get("new_domain_name_servers").map(String::as_str), Some(scope.dns), "option 6");
    assert_eq!(env.get("new_domain_name").map(String::as_str), Some(scope.domain), "option 15");
    assert_eq!(env.get("new_dhcp_lease_time").map(String::as_str), Some(LEASE_SECS), "option 51");
    assert_eq!(env.get("new_dhcp_server_identifier").map(String::as_str), Some(SERVER_ID), "option 54");
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn dhclient_leases_directly_and_through_relay() {
    isolated(|| async {
        let mut lab = PeerLab::start(WILDCARD).await;

        for (name, vlan, scope) in [("dhclient90", 90, &VLAN_90), ("dhclient91", 91, &VLAN_91)] {
            let mac = [0x02, 0x00, 0x00, 0x01, u8::try_from(vlan).unwrap(), 0x01];
            let env = dhclient_lease(&mut lab, name, vlan, mac).await;
            assert_dhclient_options(&env, scope);
        }
        lab.stop().await;
    });
}

/// The wildcard lab with nothing serving DHCP on VLAN 91, where dc2 (192.168.91.10) is free
/// to run a peer relay or server.
const NO_VLAN91_DHCP: &str = "tests/fixtures/topologies/wildcard-no-vlan91-dhcp.yaml";

/// Starts ISC dhcrelay on dc2 in place of the lab relay, forwarding to dc1; with
/// `agent_option`, it adds option 82 and drops replies that do not echo it.
async fn start_dhcrelay(lab: &PeerLab, agent_option: bool) -> Peer {
    let dc2 = lab.node("dc2");
    let pid = lab.dir.path().join("dhcrelay.pid");
    let mut args = vec!["-4", "-d", "-pf", pid.to_str().unwrap(), "-i", "eth0"];
    if agent_option {
        args.push("-a");
    }
    args.push("192.168.90.10");

    let mut relay = Peer::start(&dc2, DHCRELAY, &args, lab.dir.path());
    relay.wait_for_udp_port(&dc2, 67).await;
    relay
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn dhcrelay_relays_to_lab_server() {
    isolated(|| async {
        let mut lab = PeerLab::start(NO_VLAN91_DHCP).await;
        let relay = start_dhcrelay(&lab, false).await;

        let env = udhcpc_lease(&mut lab, "udhcpc91", 91, [0x02, 0, 0, 0x02, 91, 0], false).await;
        let flagged = udhcpc_lease(&mut lab, "udhcpc91b", 91, [0x02, 0, 0, 0x02, 91, 1], true).await;

        let log = relay.stop().await;
        assert_udhcpc_options(&env, &VLAN_91);
        assert_udhcpc_options(&flagged, &VLAN_91);
        assert!(log.contains("Forwarded BOOTREPLY"), "dhcrelay log:\n{log}");
        lab.stop().await;
    });
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn dhcrelay_agent_option_is_echoed() {
    isolated(|| async {
        let mut lab = PeerLab::start(NO_VLAN91_DHCP).await;
        let relay = start_dhcrelay(&lab, true).await;

        let env = udhcpc_lease(&mut lab, "udhcpc91", 91, [0x02, 0, 0, 0x03, 91, 0], false).await;

        relay.stop().await;
        assert_udhcpc_options(&env, &VLAN_91);
        lab.stop().await;
    });
}

/// dc2's address: where the peer DHCP servers run, and their option 54.
const DC2: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 10);

/// Acquires a lease with the ME's DHCP client on a new peer node of VLAN 91.
async fn me_lease(lab: &mut PeerLab, name: &str, mac: [u8; 6]) -> Lease {
    let node = lab.add_peer(name, 91, mac, None).await;
    let socket = NodeNet::in_namespace(node).udp_bind_broadcast(68, "eth0").expect("DHCP client socket");
    let config = ClientConfig { timeout: Duration::from_secs(1), ..ClientConfig::new(mac) };

    dhcp::acquire(&config, &socket).await.unwrap_or_else(|error| panic!("the ME's DHCP client got no lease: {error}"))
}

fn assert_me_lease(lease: &Lease) {
    let pool = Ipv4Addr::new(192, 168, 91, 100)..=Ipv4Addr::new(192, 168, 91, 199);
    assert!(pool.contains(&lease.address), "yiaddr {} outside the pool", lease.address);
    assert_eq!(lease.prefix_len, 24, "option 1");
    assert_eq!(lease.router, Some(Ipv4Addr::new(192, 168, 91, 1)), "option 3");
    assert_eq!(lease.dns_servers, [DC2], "option 6");
    assert_eq!(lease.domain.as_deref(), Some(&b"mtkg.jcert.info"[..]), "option 15");
    assert_eq!(lease.lease_time, Duration::from_secs(3600), "option 51");
    assert_eq!(lease.server_id, DC2, "option 54");
    assert_eq!(lease.relay, None, "giaddr");
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn me_client_leases_from_dnsmasq() {
    isolated(|| async {
        let mut lab = PeerLab::start(NO_VLAN91_DHCP).await;
        let dc2 = lab.node("dc2");
        let dir = lab.dir.path().to_owned();
        let leases = dir.join("dnsmasq.leases");
        let pid = dir.join("dnsmasq.pid");

        // --port=0 turns DNS off: dc2's own DNS server already has port 53.
        let args = [
            "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=eth0", "--bind-interfaces",
            "--dhcp-authoritative", "--log-dhcp", "--log-facility=-",
            "--dhcp-range=192.168.91.100,192.168.91.199,255.255.255.0,1h",
            "--dhcp-option=option:router,192.168.91.1", "--dhcp-option=option:dns-server,192.168.91.10",
            "--dhcp-option=option:domain-name,mtkg.jcert.info",
        ];
        let mut args: Vec<String> = args.iter().map(ToString::to_string).collect();
        args.push(format!("--dhcp-leasefile={}", leases.display()));
        args.push(format!("--pid-file={}", pid.display()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = Peer::start(&dc2, DNSMASQ, &args, &dir);
        server.wait_for_udp_port(&dc2, 67).await;

        let lease = me_lease(&mut lab, "me91", [0x02, 0, 0, 0x04, 91, 1]).await;

        let log = server.stop().await;
        assert_me_lease(&lease);
        assert!(log.contains("DHCPACK(eth0)"), "dnsmasq log:\n{log}");
        lab.stop().await;
    });
}

/// Configuration of kea-dhcp4 for VLAN 91: raw sockets, because Kea needs them to reply
/// to clients that have no address yet, and an in-memory lease database.
fn kea_config(dir: &Path) -> String {
    serde_json::json!({
        "Dhcp4": {
            "interfaces-config": { "interfaces": ["eth0"], "dhcp-socket-type": "raw" },
            "lease-database": { "type": "memfile", "persist": false, "name": dir.join("kea-leases4.csv") },
            "valid-lifetime": 3600,
            "subnet4": [{
                "id": 91,
                "subnet": "192.168.91.0/24",
                "pools": [{ "pool": "192.168.91.100 - 192.168.91.199" }],
                "option-data": [
                    { "name": "routers", "data": "192.168.91.1" },
                    { "name": "domain-name-servers", "data": "192.168.91.10" },
                    { "name": "domain-name", "data": "mtkg.jcert.info" }
                ]
            }],
            "loggers": [{ "name": "kea-dhcp4", "output_options": [{ "output": "stdout" }], "severity": "INFO" }]
        }
    })
    .to_string()
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn me_client_leases_from_kea() {
    isolated(|| async {
        let mut lab = PeerLab::start(NO_VLAN91_DHCP).await;
        let dc2 = lab.node("dc2");
        let dir = lab.dir.path().to_owned();
        let config = write_file(&dir, "kea-dhcp4.conf", &kea_config(&dir), false);

        let mut server = Peer::start_with_env(&dc2, KEA_DHCP4, &["-c", config.to_str().unwrap()], &dir, &[("KEA_PIDFILE_DIR", &dir), ("KEA_LOCKFILE_DIR", &dir)]);
        server.wait_for_udp_port(&dc2, 67).await;

        let lease = me_lease(&mut lab, "me91", [0x02, 0, 0, 0x05, 91, 1]).await;

        let log = server.stop().await;
        assert_me_lease(&lease);
        assert!(log.contains("DHCP4_LEASE_ALLOC"), "kea-dhcp4 log:\n{log}");
        lab.stop().await;
    });
}

/// Runs a wildcard lab whose DHCP server on dc1 is a peer started by `exec`, and checks
/// that both MEs are provisioned, pc91 through the lab relay, from the peer's leases.
async fn provision_through_lab_relay(topology: &str) {
    let mut lab = PeerLab::start(topology).await;

    let report = lab.run_clients(Duration::from_secs(30)).await;

    assert!(report.all_as_expected(), "{}", report.to_text());
    for client in &report.clients {
        let lease = client.timeline.events().iter().find_map(|event| match &event.step {
            Step::Lease { server, relay, lease_secs, .. } => Some((*server, *relay, *lease_secs)),
            _ => None,
        });
        let (server, relay, lease_secs) = lease.unwrap_or_else(|| panic!("{} got no lease", client.name));
        let expected_relay = (client.vlan == 91).then_some(Ipv4Addr::new(192, 168, 91, 10));

        assert_eq!(server, Some(Ipv4Addr::new(192, 168, 90, 10)), "{}: option 54", client.name);
        assert_eq!(relay, expected_relay, "{}: giaddr", client.name);
        assert_eq!(lease_secs, Some(28800), "{}: option 51", client.name);
    }
    lab.stop().await;
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn lab_relay_forwards_to_dnsmasq() {
    peers::require(DNSMASQ);
    isolated(|| provision_through_lab_relay("tests/fixtures/topologies/wildcard-dnsmasq-dhcp.yaml"));
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn lab_relay_forwards_to_kea() {
    peers::require(KEA_DHCP4);
    isolated(|| provision_through_lab_relay("tests/fixtures/topologies/wildcard-kea-dhcp.yaml"));
}
