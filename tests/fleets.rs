//! Fleets end to end: topologies/examples/floor.yaml, whose client entries stand for 130
//! PCs on three VLANs, run in a sandbox of its own.

mod common;

use std::collections::HashSet;

use common::sandboxed;
use serde_json::Value;

const FLOOR: &str = "topologies/examples/floor.yaml";

fn fleet<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["fleets"].as_array().unwrap().iter().find(|fleet| fleet["name"] == name).unwrap_or_else(|| panic!("no fleet {name} in {}", report["fleets"]))
}

fn members<'a>(report: &'a Value, fleet: &str) -> Vec<&'a Value> {
    report["clients"].as_array().unwrap().iter().filter(|client| client["fleet"] == fleet).collect()
}

/// Collects one string field of every member, and checks that no two members share it.
fn distinct(members: &[&Value], field: &str) -> usize {
    let values: HashSet<&str> = members.iter().map(|client| client[field].as_str().unwrap_or_else(|| panic!("{} has no {field}", client["name"]))).collect();
    assert_eq!(values.len(), members.len(), "two PCs share a {field}");
    values.len()
}

#[test]
fn floor_fleets_reach_acm_and_group_their_failures() {
    let run = sandboxed(&["-q", "run", "--json", FLOOR]);
    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);
    let report = run.json();
    assert_eq!(report["clients"].as_array().unwrap().len(), 130);

    for (name, vlan, subnet) in [("floor90", 90, "192.168.90."), ("floor91", 91, "192.168.91.")] {
        let summary = fleet(&report, name);
        assert_eq!(summary["vlan"], vlan);
        assert_eq!(summary["pcs"], 60, "{name}");
        assert_eq!(summary["provisioned"], 60, "{name}: {summary}");
        assert_eq!(summary["failures"], Value::Array(Vec::new()), "{name}");

        let times = &summary["time_to_acm"];
        let (p50, p90, max) = (times["p50_ms"].as_f64().unwrap(), times["p90_ms"].as_f64().unwrap(), times["max_ms"].as_f64().unwrap());
        assert!(p50 > 0.0, "{name}: p50 of zero: {times}");
        assert!(p50 <= p90, "{name}: p50 after p90: {times}");
        assert!(p90 <= max, "{name}: p90 after max: {times}");

        let pcs = members(&report, name);
        assert_eq!(pcs.len(), 60);
        for field in ["name", "mac", "uuid", "address"] {
            distinct(&pcs, field);
        }
        assert!(pcs.iter().all(|pc| pc["address"].as_str().unwrap().starts_with(subnet)), "{name}: an address outside {subnet}0/24");
        assert!(pcs.iter().all(|pc| pc["verdict"]["control_mode"] == "ACM"), "{name}: a PC not in ACM");
    }

    let relayed = members(&report, "floor91");
    let leases = relayed.iter().filter_map(|pc| pc["timeline"].as_array().unwrap().iter().find(|event| event["step"] == "lease"));
    assert!(leases.clone().count() == 60 && leases.into_iter().all(|lease| lease["relay"] == "192.168.91.10"), "floor91 PCs lease through dc2's relay");

    let unconfigured = fleet(&report, "floor92");
    assert_eq!(unconfigured["provisioned"], 0);
    assert_eq!(unconfigured["as_expected"], 10, "floor92 is expected to refuse");
    assert_eq!(unconfigured["time_to_acm"], Value::Null);
    let failures = unconfigured["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "one reason for the whole fleet: {failures:?}");
    assert_eq!(failures[0]["code"], "no-dns-suffix");
    assert_eq!(failures[0]["count"], 10);

    let activated = report["setup_sessions"].as_array().unwrap().iter().filter(|session| session["activated"] == true).count();
    assert_eq!(activated, 120, "one activated setup session per PC in ACM");
    run.assert_nothing_left();
}

#[test]
fn text_report_lists_fleet_pcs_only_when_verbose() {
    let quiet = sandboxed(&["run", FLOOR]);
    assert_eq!(quiet.exit_code, 0, "stderr: {}", quiet.stderr);
    assert!(quiet.stdout.contains("fleet floor90  VLAN 90  firmware 4.1.1  60 PCs (floor90-1 to floor90-60)"), "{}", quiet.stdout);
    assert!(quiet.stdout.contains("10 x no-dns-suffix"), "{}", quiet.stdout);
    assert!(quiet.stdout.contains("130 of 130 clients ended as expected"), "{}", quiet.stdout);
    assert!(!quiet.stdout.contains("client floor90-17"), "a fleet's PCs are listed without -v:\n{}", quiet.stdout);

    let verbose = sandboxed(&["-v", "run", FLOOR]);
    assert_eq!(verbose.exit_code, 0, "stderr: {}", verbose.stderr);
    assert!(verbose.stdout.contains("floor90-17"), "-v lists every PC:\n{}", verbose.stdout);
}

/// A fleet of 1100 PCs on one VLAN, more nodes than one Linux bridge takes (1023). The
/// lab spreads the VLAN over two bridges joined by an uplink, and floods each broadcast
/// to more ports than the kernel's shared receive backlog takes (1000).
#[test]
fn vlan_past_one_bridge_provisions_every_pc() {
    let dir = tempfile::tempdir().unwrap();
    let topology = dir.path().join("wide.yaml");
    std::fs::write(&topology, WIDE_VLAN).unwrap();

    let run = sandboxed(&["-q", "run", "--json", topology.to_str().unwrap()]);
    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);
    let report = run.json();

    let summary = fleet(&report, "pc");
    assert_eq!(summary["pcs"], 1100);
    assert_eq!(summary["provisioned"], 1100, "{summary}");
    let behind_uplink = members(&report, "pc").into_iter().find(|pc| pc["name"] == "pc-1100").unwrap();
    assert_eq!(behind_uplink["verdict"]["control_mode"], "ACM", "the last PC, on the second bridge");
    run.assert_nothing_left();
}

const WIDE_VLAN: &str = r#"
lab: wide
timeout: 240s
switch:
  name: l3sw
  vlans:
    90: { subnet: 10.90.0.0/16, gateway: 10.90.0.1 }
servers:
  dc1:
    vlan: 90
    address: 10.90.0.10
    fqdn: dc1.jcert.info
    roles: [domain-controller, dns, dhcp-server, setup-server]
zones:
  jcert.info:
    servers: [dc1]
    records:
      provisionserver: { cname: dc1.jcert.info }
dhcp:
  scopes:
    90:
      server: dc1
      range: 10.90.1.0-10.90.255.254
      router: 10.90.0.1
      dns_servers: [10.90.0.10]
      domain: jcert.info
setup_server:
  server: dc1
  certificate:
    cn: dc1.jcert.info
    ou: "Intel(R) Client Setup Certificate"
    amt_setup_oid: true
clients:
  pc:
    count: 1100
    vlan: 90
    firmware: 4.1.1
    expect: { outcome: provisioned, domain: jcert.info }
"#;
