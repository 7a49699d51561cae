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
    let CertificateSource::Issued(request) = &lab.setup_server.certificate.source else { panic!("the lab issues the wildcard chain") };
    assert_eq!(request.cn, "*.jcert.info");
    assert_eq!((request.not_before_days, request.not_after_days), (-1, 365));
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
fn unknown_key_reported_with_semantic_problems() {
    let text = REFERENCE_SINGLE.replace("    fqdn: dc1.jcert.info", "    fqdm: dc1.jcert.info").replace("subnet: 192.168.90.0/24", "subnet: 192.168.90.5/24");
    let found = problems(&text);

    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!((found[0].path.as_str(), found[0].line), ("switch.vlans.90.subnet", 13));
    assert_eq!((found[1].path.as_str(), found[1].line), ("servers.dc1.fqdm", 20));
    assert_eq!(found[1].help.as_deref(), Some("did you mean \"fqdn\"?"));
}

#[test]
fn binary_input_rejected() {
    let result = parse(Path::new("garbage.bin"), &[0xff, 0xfe, 0x00, 0x12]);

    assert!(matches!(result, Err(LoadError::NotText { offset: 0, .. })), "{result:?}");
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

/// Parses the single-domain reference with `settings` added to its client pc90.
fn single_with_client_settings(settings: &str) -> Result<Lab, LoadError> {
    let text = REFERENCE_SINGLE.replace("    firmware: 4.1.1\n", &format!("    firmware: 4.1.1\n{settings}"));
    assert_ne!(text, REFERENCE_SINGLE, "client firmware line not found");
    parse_text(&text)
}

fn problems_of(result: Result<Lab, LoadError>) -> Vec<Problem> {
    match result {
        Err(LoadError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn has_problem(found: &[Problem], path: &str, fragment: &str) -> bool {
    found.iter().any(|problem| problem.path == path && problem.message.contains(fragment))
}

#[test]
fn mebx_settings_resolve() {
    let lab = single_with_client_settings(
        "    mebx:\n      pki_dns_suffix: \" JCert.info \"\n      setup_server: 192.168.90.20\n      custom_hashes:\n        - { algorithm: SHA-1, hash: \"AD:7E:1C:28:B0:64:EF:8F:60:03:40:20:14:C3:D0:E3:37:0E:B5:8A\" }\n",
    )
    .unwrap();
    let mebx = &lab.clients[0].mebx;

    assert_eq!(mebx.pki_dns_suffix.as_ref().unwrap().as_str(), "jcert.info");
    assert_eq!(mebx.setup_server, Some(SetupServerAddress::Address("192.168.90.20".parse().unwrap())));
    assert_eq!(mebx.custom_hashes[0].to_hex(), "ad7e1c28b064ef8f6003402014c3d0e3370eb58a");
    assert!(mebx.trust_lab_root);
}

#[test]
fn mebx_defaults_trust_lab_root() {
    let lab = parse_text(REFERENCE_SINGLE).unwrap();

    assert!(lab.clients[0].mebx.trust_lab_root);
    assert!(lab.clients[0].mebx.pki_dns_suffix.is_none());
    assert_eq!(lab.clients[0].hello, crate::amt::schedule::HelloSchedule::LAB_FAST);
}

#[test]
fn mebx_blank_or_dot_suffix_is_unset() {
    for suffix in ["\"\"", "\" \"", "\".\""] {
        let lab = single_with_client_settings(&format!("    mebx:\n      pki_dns_suffix: {suffix}\n")).unwrap();
        assert!(lab.clients[0].mebx.pki_dns_suffix.is_none(), "{suffix}");
    }
}

#[test]
fn mebx_setup_server_fqdn() {
    let lab = single_with_client_settings("    mebx:\n      setup_server: scs.jcert.info.\n").unwrap();

    assert_eq!(lab.clients[0].mebx.setup_server, Some(SetupServerAddress::Fqdn(DomainName::parse("scs.jcert.info").unwrap())));
}

#[test]
fn mebx_mistakes_located() {
    let found = problems_of(single_with_client_settings(
        "    mebx:\n      pki_dns_suffix: jcert..info\n      setup_server: 192.168.90\n      custom_hashes:\n        - { algorithm: md5, hash: \"00\" }\n        - { algorithm: sha-256, hash: \"abcd\" }\n        - { algorithm: sha-1, hash: \"zz\" }\n",
    ));

    assert!(has_problem(&found, "clients.pc90.mebx.pki_dns_suffix", "invalid PKI DNS suffix"), "{found:?}");
    assert!(has_problem(&found, "clients.pc90.mebx.setup_server", "neither an IPv4 address nor an FQDN"), "{found:?}");
    assert!(has_problem(&found, "clients.pc90.mebx.custom_hashes[0].algorithm", "unknown hash algorithm"), "{found:?}");
    assert!(has_problem(&found, "clients.pc90.mebx.custom_hashes[1].algorithm", "does not store SHA-256"), "{found:?}");
    assert!(has_problem(&found, "clients.pc90.mebx.custom_hashes[2].hash", "invalid hash"), "{found:?}");
    assert!(found.iter().all(|problem| problem.line > 0), "{found:?}");
}

#[test]
fn mebx_hash_length_checked() {
    let found = problems_of(single_with_client_settings("    mebx:\n      custom_hashes:\n        - { algorithm: sha-1, hash: \"abcd\" }\n"));

    assert!(has_problem(&found, "clients.pc90.mebx.custom_hashes[0].hash", "has 2 bytes, but SHA-1 has 20"), "{found:?}");
}

#[test]
fn mebx_sha1_hash_rejected_on_me16() {
    let text = REFERENCE_SINGLE.replace("firmware: 4.1.1", "firmware: 16.1\n    mebx:\n      custom_hashes:\n        - { algorithm: sha-1, hash: \"ad7e1c28b064ef8f6003402014c3d0e3370eb58a\" }");
    let found = problems_of(parse_text(&text));

    assert!(has_problem(&found, "clients.pc90.mebx.custom_hashes[0].algorithm", "AMT 16.1 does not store SHA-1 hashes"), "{found:?}");
}

#[test]
fn mebx_too_many_hashes() {
    let hash = "{ algorithm: sha-1, hash: \"ad7e1c28b064ef8f6003402014c3d0e3370eb58a\" }";
    let settings = format!("    mebx:\n      custom_hashes: [{hash}, {hash}, {hash}]\n");
    let found = problems_of(single_with_client_settings(&settings));
    assert!(has_problem(&found, "clients.pc90.mebx.custom_hashes", "4 custom hashes, but AMT 4.1.1 holds at most 3"), "{found:?}");

    let settings = format!("    mebx:\n      trust_lab_root: false\n      custom_hashes: [{hash}, {hash}, {hash}]\n");
    assert!(single_with_client_settings(&settings).is_ok());
}

#[test]
fn hello_schedule_settings() {
    use crate::amt::schedule::HelloSchedule;

    let lab = single_with_client_settings("    hello: { schedule: firmware, window: 6h }\n").unwrap();
    assert_eq!(lab.clients[0].hello, HelloSchedule::Firmware { window: std::time::Duration::from_secs(6 * 3600) });

    let lab = single_with_client_settings("    hello: { schedule: firmware }\n").unwrap();
    assert_eq!(lab.clients[0].hello, crate::amt::profile::FirmwareProfile::parse("4.1.1").unwrap().hello_schedule);

    let found = problems_of(single_with_client_settings("    hello: { schedule: firmware, window: 5h }\n"));
    assert!(has_problem(&found, "clients.pc90.hello.window", "6h to 255h"), "{found:?}");
    let found = problems_of(single_with_client_settings("    hello: { schedule: lab-fast, window: 24h }\n"));
    assert!(has_problem(&found, "clients.pc90.hello.window", "firmware schedule only"), "{found:?}");
    let found = problems_of(single_with_client_settings("    hello: { schedule: firmwre }\n"));
    assert!(found.iter().any(|problem| problem.help.as_deref() == Some("did you mean \"firmware\"?")), "{found:?}");
}

#[test]
fn option15_raw_keeps_escaped_bytes() {
    let text = REFERENCE_SINGLE.replace("domain: jcert.info            # option 15", "option15_raw: \"jcert.info.\\0\"");
    let lab = parse_text(&text).unwrap();

    assert_eq!(lab.scopes[0].option15_raw.as_deref(), Some(&b"jcert.info.\0"[..]));
    assert!(lab.scopes[0].domain.is_none());
}

#[test]
fn option15_raw_mistakes_located() {
    let both = REFERENCE_SINGLE.replace("domain: jcert.info            # option 15", "domain: jcert.info\n      option15_raw: \"jcert info\"");
    let found = problems_of(parse_text(&both));
    assert!(has_problem(&found, "dhcp.scopes.90.option15_raw", "both set option 15"), "{found:?}");

    let wide = REFERENCE_SINGLE.replace("domain: jcert.info            # option 15", "option15_raw: \"jcert.info\\u3042\"");
    let found = problems_of(parse_text(&wide));
    assert!(has_problem(&found, "dhcp.scopes.90.option15_raw", "not one byte"), "{found:?}");

    let empty = REFERENCE_SINGLE.replace("domain: jcert.info            # option 15", "option15_raw: \"\"");
    let found = problems_of(parse_text(&empty));
    assert!(has_problem(&found, "dhcp.scopes.90.option15_raw", "empty"), "{found:?}");
}

#[test]
fn certificate_validity_and_send() {
    let text = REFERENCE_SINGLE.replace("    valid_days: 365\n", "    not_before_days: -400\n    not_after_days: -35\n    send: without-root\n    untrusted_root: true\n");
    let lab = parse_text(&text).unwrap();
    let certificate = &lab.setup_server.certificate;

    let CertificateSource::Issued(request) = &certificate.source else { panic!("issued chain expected") };
    assert_eq!((request.not_before_days, request.not_after_days), (-400, -35));
    assert_eq!(certificate.send, ChainPart::WithoutRoot);
    assert!(certificate.untrusted_root);
    assert!(!lab.clients[0].mebx.trust_lab_root, "untrusted_root keeps the lab root from every client");
}

#[test]
fn certificate_mistakes_located() {
    let both_ends = REFERENCE_SINGLE.replace("    valid_days: 365\n", "    valid_days: 365\n    not_after_days: 10\n");
    let found = problems_of(parse_text(&both_ends));
    assert!(has_problem(&found, "setup_server.certificate.not_after_days", "both set"), "{found:?}");

    let empty = REFERENCE_SINGLE.replace("    valid_days: 365\n", "    not_before_days: 30\n    valid_days: 10\n");
    let found = problems_of(parse_text(&empty));
    assert!(has_problem(&found, "setup_server.certificate.not_before_days", "empty period"), "{found:?}");

    let send = REFERENCE_SINGLE.replace("    valid_days: 365\n", "    send: without-intermediat\n");
    let found = problems_of(parse_text(&send));
    assert!(found.iter().any(|problem| problem.help.as_deref() == Some("did you mean \"without-intermediate\"?")), "{found:?}");
}

#[test]
fn certificate_files_load_relative_to_topology() {
    let text = REFERENCE_SINGLE.replace(
        "    cn: scs.jcert.info\n    ou: \"Intel(R) Client Setup Certificate\"\n    amt_setup_oid: true\n    key: rsa-2048\n    valid_days: 365\n",
        "    chain_file: fixtures/pki/sha1-rsa2048/chain.pem\n    key_file: fixtures/pki/sha1-rsa2048/leaf.key\n",
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/user-chain.yaml");
    let lab = parse(&path, text.as_bytes()).unwrap();

    let CertificateSource::Files { chain, key } = &lab.setup_server.certificate.source else { panic!("file chain expected") };
    assert!(chain.ends_with("tests/fixtures/pki/sha1-rsa2048/chain.pem"));
    assert!(key.ends_with("tests/fixtures/pki/sha1-rsa2048/leaf.key"));
}

#[test]
fn certificate_files_mistakes_located() {
    let text = REFERENCE_SINGLE.replace("    valid_days: 365\n", "    chain_file: missing.pem\n");
    let found = problems_of(parse_text(&text));

    assert!(has_problem(&found, "setup_server.certificate.chain_file", "without key_file"), "{found:?}");
    assert!(has_problem(&found, "setup_server.certificate.cn", "applies to a certificate the lab issues"), "{found:?}");

    let text = REFERENCE_SINGLE.replace(
        "    cn: scs.jcert.info\n",
        "    chain_file: missing.pem\n    key_file: missing.key\n",
    ).replace("    ou: \"Intel(R) Client Setup Certificate\"\n    amt_setup_oid: true\n    key: rsa-2048\n    valid_days: 365\n", "");
    let found = problems_of(parse_text(&text));
    assert!(has_problem(&found, "setup_server.certificate.chain_file", "missing.pem"), "{found:?}");
    assert!(has_problem(&found, "setup_server.certificate.key_file", "missing.key"), "{found:?}");

    let text = REFERENCE_SINGLE.replace("    cn: scs.jcert.info\n", "");
    let found = problems_of(parse_text(&text));
    assert!(has_problem(&found, "setup_server.certificate.cn", "missing cn"), "{found:?}");
}
