//! The lab's DNS servers against dig (Debian package dnsutils), from a peer node on each
//! VLAN, over UDP and TCP.

mod peers;

use std::net::Ipv4Addr;

use netns::Namespace;
use peers::{DIG, PeerLab, isolated};
use vprolab::topology::{Lab, RecordData, Role};

const WILDCARD: &str = "topologies/wildcard.yaml";
const TRANSPORTS: [&str; 2] = ["+notcp", "+tcp"];

/// What dig printed, reduced to the parts the tests compare.
#[derive(Debug, Default)]
struct DigReply {
    status: String,
    flags: Vec<String>,
    /// The question as echoed, `name class TYPE`.
    question: Vec<String>,
    /// Records as `owner TYPE data`, without TTL and class.
    answer: Vec<String>,
    authority: Vec<String>,
}

/// Runs `dig @server ARGS` inside `node`; dig must get a reply.
async fn dig(node: &Namespace, server: Ipv4Addr, transport: &str, args: &[&str]) -> DigReply {
    let server_arg = format!("@{server}");
    let mut all = vec![server_arg.as_str(), transport, "+norecurse", "+time=2", "+tries=2"];
    all.extend_from_slice(args);
    let output = peers::output(node, DIG, &all).await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "dig {all:?} failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    parse_dig(&stdout)
}

fn parse_dig(text: &str) -> DigReply {
    let mut reply = DigReply::default();
    let mut section = "";

    for line in text.lines() {
        if let Some((_, rest)) = line.split_once("status: ") {
            reply.status = rest.split(',').next().unwrap_or_default().to_owned();
        } else if let Some(flags) = line.strip_prefix(";; flags: ") {
            reply.flags = flags.split(';').next().unwrap_or_default().split_whitespace().map(str::to_owned).collect();
        } else if let Some(name) = line.strip_prefix(";; ").and_then(|rest| rest.strip_suffix(" SECTION:")) {
            section = if name == "QUESTION" { "question" } else { [("ANSWER", "answer"), ("AUTHORITY", "authority")].iter().find(|(key, _)| *key == name).map_or("other", |(_, value)| value) };
        } else if line.is_empty() {
            section = "";
        } else if section == "question" {
            reply.question.push(line.trim_start_matches(';').split_whitespace().collect::<Vec<_>>().join(" "));
        } else if section == "answer" && !line.starts_with(';') {
            reply.answer.push(record_text(line));
        } else if section == "authority" && !line.starts_with(';') {
            reply.authority.push(record_text(line));
        }
    }
    reply
}

/// Reduces `owner TTL class TYPE data...` to `owner TYPE data...`.
fn record_text(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.as_slice() {
        [owner, _ttl, _class, record_type, data @ ..] => format!("{owner} {record_type} {}", data.join(" ")),
        _ => panic!("dig printed a record line with fewer than 4 fields: {line:?}"),
    }
}

/// One query and the answer section it must get, in any order.
struct Expected {
    qname: String,
    qtype: &'static str,
    answer: Vec<String>,
}

/// Lists every record the DNS server `server` must serve, derived from the lab's model.
///
/// Per forward zone these are its SOA, its NS set and its records, which include the A
/// record of each server FQDN in the zone. A CNAME asked for as A comes with its target's
/// address. Per server address, they are a PTR and the SOA of its reverse zone.
fn expected_records(lab: &Lab, server: &str) -> Vec<Expected> {
    let fqdn_of = |name: &str| lab.server(name).unwrap().fqdn.to_string();
    let address_of = |fqdn: &str| lab.servers.iter().find(|server| server.fqdn.as_str() == fqdn).map(|server| server.address);
    let mut expected = Vec::new();

    for zone in lab.zones.iter().filter(|zone| zone.servers.iter().any(|name| name == server)) {
        let origin = zone.origin.to_string();
        let soa = format!("{origin}. SOA {}. hostmaster.{origin}.", fqdn_of(&zone.servers[0]));
        expected.push(Expected { qname: origin.clone(), qtype: "SOA", answer: vec![soa] });
        let ns = zone.servers.iter().map(|name| format!("{origin}. NS {}.", fqdn_of(name))).collect();
        expected.push(Expected { qname: origin.clone(), qtype: "NS", answer: ns });

        for record in &zone.records {
            let owner = record.name.to_string();
            match &record.data {
                RecordData::A(address) => expected.push(Expected { qname: owner.clone(), qtype: "A", answer: vec![format!("{owner}. A {address}")] }),
                RecordData::Cname(target) => {
                    let cname = format!("{owner}. CNAME {target}.");
                    let mut chased = vec![cname.clone()];
                    chased.extend(address_of(target.as_str()).map(|address| format!("{target}. A {address}")));
                    expected.push(Expected { qname: owner.clone(), qtype: "CNAME", answer: vec![cname] });
                    expected.push(Expected { qname: owner, qtype: "A", answer: chased });
                }
            }
        }
    }

    for node in &lab.servers {
        let fqdn = node.fqdn.to_string();
        let [a, b, c, d] = node.address.octets();
        expected.push(Expected { qname: format!("{d}.{c}.{b}.{a}.in-addr.arpa"), qtype: "PTR", answer: vec![format!("{d}.{c}.{b}.{a}.in-addr.arpa. PTR {fqdn}.")] });
        expected.push(Expected { qname: format!("{c}.{b}.{a}.in-addr.arpa"), qtype: "SOA", answer: vec![format!("{c}.{b}.{a}.in-addr.arpa. SOA")] });
    }
    expected
}

/// Checks the answer section against the expected records. An SOA is compared by its
/// owner, primary server and mailbox only, because serial and timers are the zone
/// builder's choice.
fn assert_answer(reply: &DigReply, expected: &Expected, context: &str) {
    assert_eq!(reply.status, "NOERROR", "{context}: {reply:?}");
    assert!(reply.flags.contains(&"aa".to_owned()), "{context}: not authoritative: {reply:?}");

    let mut got: Vec<String> = reply.answer.iter().map(|record| if record.contains(" SOA ") { soa_prefix(record, &expected.answer) } else { record.clone() }).collect();
    let mut wanted = expected.answer.clone();
    got.sort();
    wanted.sort();
    assert_eq!(got, wanted, "{context}");
}

/// Shortens an SOA record to as many fields as the expected one names.
fn soa_prefix(record: &str, expected: &[String]) -> String {
    let fields = expected.first().map_or(0, |soa| soa.split_whitespace().count());
    record.split_whitespace().take(fields).collect::<Vec<_>>().join(" ")
}

/// Adds a peer node with a static address on each VLAN, to run dig from.
async fn resolver_nodes(lab: &mut PeerLab) -> Vec<std::sync::Arc<Namespace>> {
    let on_90 = lab.add_peer("dig90", 90, [0x02, 0, 0, 0x0d, 90, 1], Some(Ipv4Addr::new(192, 168, 90, 50))).await;
    let on_91 = lab.add_peer("dig91", 91, [0x02, 0, 0, 0x0d, 91, 1], Some(Ipv4Addr::new(192, 168, 91, 50))).await;
    vec![on_90, on_91]
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn dig_gets_every_reference_record() {
    isolated(|| async {
        let mut lab = PeerLab::start(WILDCARD).await;
        let nodes = resolver_nodes(&mut lab).await;
        let dns_servers: Vec<(String, Ipv4Addr)> = lab.lab.servers.iter().filter(|server| server.has_role(Role::Dns)).map(|server| (server.name.clone(), server.address)).collect();
        assert_eq!(dns_servers.len(), 2, "the wildcard lab has DNS on dc1 and dc2");

        let mut checked = 0;
        for (node, (name, address)) in nodes.iter().zip(&dns_servers) {
            for expected in expected_records(&lab.lab, name) {
                for transport in TRANSPORTS {
                    let reply = dig(node, *address, transport, &[&expected.qname, expected.qtype]).await;
                    assert_answer(&reply, &expected, &format!("{name} {transport} {} {}", expected.qname, expected.qtype));
                    checked += 1;
                }
            }
        }

        // Per DNS server and transport: 2 zones x (SOA, NS, the CNAME asked as CNAME and
        // as A), the A records of 3 servers, and 3 addresses x (PTR, reverse SOA).
        assert_eq!(checked, 2 * 2 * (2 * 4 + 3 + 3 * 2));
        lab.stop().await;
    });
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn dig_gets_cname_with_target_in_mixed_case() {
    isolated(|| async {
        let mut lab = PeerLab::start(WILDCARD).await;
        let nodes = resolver_nodes(&mut lab).await;

        for (node, server) in nodes.iter().zip([Ipv4Addr::new(192, 168, 90, 10), Ipv4Addr::new(192, 168, 91, 10)]) {
            for transport in TRANSPORTS {
                let reply = dig(node, server, transport, &["ProvisionServer.MTKG.JCert.Info", "A"]).await;

                assert_eq!(reply.status, "NOERROR", "{server} {transport}: {reply:?}");
                assert!(reply.flags.contains(&"aa".to_owned()), "{server} {transport}: {reply:?}");
                // RFC 4343 section 4.1: the question comes back exactly as asked, which
                // resolvers that randomize letter case (DNS 0x20) check.
                assert_eq!(reply.question, ["ProvisionServer.MTKG.JCert.Info. IN A"], "{server} {transport}");
                let answer: Vec<String> = reply.answer.iter().map(|record| record.to_ascii_lowercase()).collect();
                assert_eq!(answer, ["provisionserver.mtkg.jcert.info. cname scs.jcert.info.", "scs.jcert.info. a 192.168.90.20"], "{server} {transport}");
            }
        }
        lab.stop().await;
    });
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn dig_gets_nxdomain_nodata_and_refused() {
    isolated(|| async {
        let mut lab = PeerLab::start(WILDCARD).await;
        let nodes = resolver_nodes(&mut lab).await;
        let dc1 = Ipv4Addr::new(192, 168, 90, 10);

        for transport in TRANSPORTS {
            let missing = dig(&nodes[0], dc1, transport, &["nowhere.mtkg.jcert.info", "A"]).await;
            assert_eq!(missing.status, "NXDOMAIN", "{transport}: {missing:?}");
            assert!(missing.flags.contains(&"aa".to_owned()), "{transport}: {missing:?}");
            assert!(missing.answer.is_empty(), "{transport}: {missing:?}");
            assert_eq!(soa_owners(&missing.authority), ["mtkg.jcert.info."], "{transport}: SOA of the closest zone");

            let no_data = dig(&nodes[0], dc1, transport, &["DC1.jcert.INFO", "AAAA"]).await;
            assert_eq!(no_data.status, "NOERROR", "{transport}: {no_data:?}");
            assert!(no_data.flags.contains(&"aa".to_owned()), "{transport}: {no_data:?}");
            assert!(no_data.answer.is_empty(), "{transport}: {no_data:?}");
            assert_eq!(soa_owners(&no_data.authority), ["jcert.info."], "{transport}: NODATA carries the SOA");

            let elsewhere = dig(&nodes[0], dc1, transport, &["provisionserver.example.org", "A"]).await;
            assert_eq!(elsewhere.status, "REFUSED", "{transport}: {elsewhere:?}");
            assert!(!elsewhere.flags.contains(&"aa".to_owned()), "{transport}: {elsewhere:?}");
            assert!(elsewhere.answer.is_empty(), "{transport}: {elsewhere:?}");
        }
        lab.stop().await;
    });
}

/// Owners of the SOA records in a section.
fn soa_owners(records: &[String]) -> Vec<&str> {
    records.iter().filter(|record| record.contains(" SOA ")).filter_map(|record| record.split_whitespace().next()).collect()
}
