use std::path::Path;

use super::*;

fn parse_text(text: &str) -> Result<Lab, LoadError> {
    parse(Path::new("test.yaml"), text.as_bytes())
}

fn problems(text: &str) -> Vec<Problem> {
    match parse_text(text) {
        Err(LoadError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

const REFERENCE_SINGLE: &str = include_str!("../../topologies/single.yaml");
const REFERENCE_WILDCARD: &str = include_str!("../../topologies/wildcard.yaml");

#[test]
fn single_reference_resolves() {
    let lab = parse_text(REFERENCE_SINGLE).unwrap();

    assert_eq!(lab.name, "single");
    assert_eq!(lab.switch.vlans.len(), 1);
    assert_eq!(lab.switch.vlans[0].subnet.to_string(), "192.168.90.0/24");
    assert_eq!(lab.setup_server.fqdn.as_str(), "scs.jcert.info");
    assert_eq!(lab.setup_server.port, 9971);
    assert_eq!(lab.clients[0].firmware, "4.1.1");
    assert_eq!(lab.scopes[0].domain.as_ref().unwrap().as_str(), "jcert.info");
}

#[test]
fn wildcard_reference_resolves() {
    let lab = parse_text(REFERENCE_WILDCARD).unwrap();

    assert_eq!(lab.switch.vlans.len(), 2);
    assert_eq!(lab.relays.len(), 1);
    assert_eq!(lab.relays[0].giaddr.to_string(), "192.168.91.10");
    assert_eq!(lab.relays[0].dhcp_server_address.to_string(), "192.168.90.10");
    assert_eq!(lab.setup_server.certificate.cn, "*.jcert.info");
    assert_eq!(lab.clients[1].expect.domain.as_ref().unwrap().as_str(), "mtkg.jcert.info");
}

#[test]
fn server_a_records_join_their_zone() {
    let lab = parse_text(REFERENCE_WILDCARD).unwrap();
    let parent = lab.zones.iter().find(|zone| zone.origin.as_str() == "jcert.info").unwrap();
    let child = lab.zones.iter().find(|zone| zone.origin.as_str() == "mtkg.jcert.info").unwrap();

    assert!(parent.records.iter().any(|record| record.name.as_str() == "scs.jcert.info"));
    assert!(child.records.iter().any(|record| record.name.as_str() == "dc2.mtkg.jcert.info"));
    assert!(!parent.records.iter().any(|record| record.name.as_str() == "dc2.mtkg.jcert.info"));
}

#[test]
fn derived_identities_are_stable() {
    let first = parse_text(REFERENCE_WILDCARD).unwrap();
    let second = parse_text(REFERENCE_WILDCARD).unwrap();

    assert_eq!(first.clients[0].mac, second.clients[0].mac);
    assert_eq!(first.clients[0].uuid, second.clients[0].uuid);
    assert_ne!(first.clients[0].mac, first.clients[1].mac);
    assert_eq!(first.clients[0].mac[0], 0x02);
}

#[test]
fn host_bits_suggest_network() {
    let text = REFERENCE_SINGLE.replace("subnet: 192.168.90.0/24", "subnet: 192.168.90.5/24");
    let found = problems(&text);

    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "switch.vlans.90.subnet");
    assert_eq!(found[0].help.as_deref(), Some("did you mean 192.168.90.0/24?"));
    assert!(found[0].line > 0);
}

#[test]
fn several_mistakes_reported_together() {
    let text = REFERENCE_SINGLE
        .replace("address: 192.168.90.20", "address: 192.168.91.20")
        .replace("roles: [setup-server]", "roles: [setup-srever]")
        .replace("range: 192.168.90.100-192.168.90.199", "range: 192.168.90.199-192.168.90.100")
        .replace("firmware: 4.1.1", "firmware: \"\"")
        .replace("cn: scs.jcert.info", "cn: \"scs jcert info\"");
    let found = problems(&text);
    let paths: Vec<&str> = found.iter().map(|problem| problem.path.as_str()).collect();

    assert!(paths.contains(&"servers.scs.address"), "{paths:?}");
    assert!(paths.contains(&"servers.scs.roles[0]"), "{paths:?}");
    assert!(paths.contains(&"dhcp.scopes.90.range"), "{paths:?}");
    assert!(paths.contains(&"clients.pc90.firmware"), "{paths:?}");
    assert!(paths.contains(&"setup_server.certificate.cn"), "{paths:?}");
}

#[test]
fn unknown_role_suggests_closest() {
    let text = REFERENCE_SINGLE.replace("roles: [setup-server]", "roles: [setup-srever]");
    let found = problems(&text);

    assert!(found.iter().any(|problem| problem.help.as_deref() == Some("did you mean \"setup-server\"?")), "{found:?}");
}

#[test]
fn range_over_static_address_rejected() {
    let text = REFERENCE_SINGLE.replace("range: 192.168.90.100-192.168.90.199", "range: 192.168.90.2-192.168.90.199");
    let found = problems(&text);

    assert!(found.iter().any(|problem| problem.message.contains("192.168.90.10")), "{found:?}");
}

#[test]
fn client_vlan_without_relay_rejected() {
    let text = REFERENCE_WILDCARD.replace("  relays:\n    dc2:\n      listen_vlan: 91\n      server: dc1\n", "");
    let found = problems(&text);

    assert!(found.iter().any(|problem| problem.path == "clients.pc91.vlan" && problem.message.contains("no relay")), "{found:?}");
}

#[test]
fn relay_on_wrong_vlan_rejected() {
    let text = REFERENCE_WILDCARD.replace("listen_vlan: 91", "listen_vlan: 90");
    let found = problems(&text);

    assert!(found.iter().any(|problem| problem.path == "dhcp.relays.dc2.listen_vlan"), "{found:?}");
}

#[test]
fn unknown_key_is_a_syntax_error_with_line() {
    let text = REFERENCE_SINGLE.replace("    fqdn: dc1.jcert.info", "    fqdm: dc1.jcert.info");

    match parse_text(&text) {
        Err(LoadError::Syntax { message, .. }) => assert!(message.contains("fqdm"), "{message}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn binary_input_rejected() {
    let result = parse(Path::new("garbage.bin"), &[0xff, 0xfe, 0x00, 0x12]);

    assert!(matches!(result, Err(LoadError::Syntax { .. })));
}

#[test]
fn long_node_name_rejected() {
    let text = REFERENCE_SINGLE.replace("  pc90:", "  pc90-with-a-long-name:");
    let found = problems(&text);

    assert!(found.iter().any(|problem| problem.path == "clients.pc90-with-a-long-name" && problem.message.contains("at most 15")), "{found:?}");
}

#[test]
fn duplicate_address_rejected() {
    let text = REFERENCE_SINGLE.replace("address: 192.168.90.20", "address: 192.168.90.10");
    let found = problems(&text);

    assert!(found.iter().any(|problem| problem.path == "servers.scs.address" && problem.message.contains("already used by servers.dc1.address")), "{found:?}");
}
