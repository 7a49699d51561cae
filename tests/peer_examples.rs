//! The example topologies that put real peers in place of built-in services, run through
//! the vprolab binary in a sandbox: dnsmasq as DNS and DHCP server, dhcrelay as relay.

mod common;
mod peers;

use common::sandboxed;
use serde_json::Value;

fn client<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["clients"].as_array().unwrap().iter().find(|client| client["name"] == name).unwrap_or_else(|| panic!("no client {name} in {report}"))
}

fn step<'a>(client: &'a Value, step: &str) -> &'a Value {
    client["timeline"].as_array().unwrap().iter().find(|event| event["step"] == step).unwrap_or_else(|| panic!("no {step} step for {}", client["name"]))
}

fn assert_provisioned(client: &Value, domain: &str) {
    let name = &client["name"];
    assert_eq!(client["verdict"]["outcome"], "provisioned", "{name}: {}", client["verdict"]);
    assert_eq!(client["verdict"]["domain"], domain, "{name}");
    assert_eq!(step(client, "lease")["option15"], domain, "{name}: option 15");
    assert_eq!(step(client, "dns")["cnames"], serde_json::json!(["scs.jcert.info"]), "{name}: CNAME followed");
    assert_eq!(step(client, "dns")["address"], "192.168.90.20", "{name}: setup server address");
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn dnsmasq_example_provisions_its_client() {
    peers::require(peers::DNSMASQ);

    // -v puts dnsmasq's own log lines on stderr, which shows that dnsmasq sent the replies.
    let run = sandboxed(&["-v", "run", "--json", "topologies/examples/dnsmasq-dns-dhcp.yaml"]);

    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);
    let report = run.json();
    let pc90 = client(&report, "pc90");
    assert_provisioned(pc90, "jcert.info");
    assert_eq!(step(pc90, "lease")["server"], "192.168.90.10");
    assert!(run.stderr.contains("DHCPACK(eth0)"), "dnsmasq sent no DHCPACK: {}", run.stderr);
    assert!(run.stderr.contains("auth[A] provisionserver.jcert.info"), "dnsmasq answered no provisionserver query: {}", run.stderr);
    assert!(!run.stderr.contains("starting DNS server"), "the built-in DNS server ran too: {}", run.stderr);
    assert!(!run.stderr.contains("starting DHCP server"), "the built-in DHCP server ran too: {}", run.stderr);
    run.assert_nothing_left();
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn dhcrelay_example_provisions_both_clients() {
    peers::require(peers::DHCRELAY);

    let run = sandboxed(&["-v", "run", "--json", "topologies/examples/dhcrelay-relay.yaml"]);

    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);
    let report = run.json();
    assert_provisioned(client(&report, "pc90"), "jcert.info");
    let pc91 = client(&report, "pc91");
    assert_provisioned(pc91, "mtkg.jcert.info");
    assert_eq!(step(pc91, "lease")["relay"], "192.168.91.10", "pc91 leased through dhcrelay on dc2");
    assert!(run.stderr.contains("Forwarded BOOTREPLY"), "dhcrelay forwarded no reply: {}", run.stderr);
    assert!(!run.stderr.contains("starting DHCP relay"), "the built-in relay ran too: {}", run.stderr);
    run.assert_nothing_left();
}
