//! The server's answers, read raw: response code, AA flag and the three sections.

use std::net::SocketAddr;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Record, RecordType};

use super::{ANSWER_TIMEOUT, BIG_RRSET_LEN, DC1, TestServer};
use crate::dns::name::parse_name;
use crate::dns::stub::{Client, Transport};
use crate::dns::zone::ptr_name;
use crate::net::NodeNet;

const BOTH: [Transport; 2] = [Transport::Udp, Transport::Tcp];

async fn ask(
    server: SocketAddr,
    name: &str,
    record_type: RecordType,
    transport: Transport,
) -> Message {
    let net = NodeNet::current();
    let client = Client::bind(&net, server, ANSWER_TIMEOUT, 1).unwrap();
    let query = Query::query(parse_name(name).unwrap(), record_type);
    client.exchange(&query, transport).await.unwrap()
}

/// Records as `owner TYPE data`, owner in lower case, for comparing whole sections.
fn texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|record| {
            format!("{} {} {}", record.name.to_lowercase(), record.record_type(), record.data)
        })
        .collect()
}

fn soa_owner(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter(|record| record.record_type() == RecordType::SOA)
        .map(|record| record.name.to_lowercase().to_ascii())
        .collect()
}

#[tokio::test]
async fn server_answers_a_record_authoritatively() {
    let server = TestServer::start().await;

    for transport in BOTH {
        let response = ask(server.addr, "dc1.jcert.info", RecordType::A, transport).await;

        assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{transport}");
        assert!(response.metadata.authoritative, "{transport}");
        assert!(!response.metadata.recursion_available, "{transport}");
        assert_eq!(texts(&response.answers), ["dc1.jcert.info. A 192.168.90.10"], "{transport}");
    }
    server.stop().await;
}

#[tokio::test]
async fn server_answers_cname_with_target_address() {
    let server = TestServer::start().await;

    for transport in BOTH {
        let response =
            ask(server.addr, "provisionserver.jcert.info", RecordType::A, transport).await;

        assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{transport}");
        assert!(response.metadata.authoritative, "{transport}");
        assert_eq!(
            texts(&response.answers),
            [
                "provisionserver.jcert.info. CNAME scs.jcert.info.",
                "scs.jcert.info. A 192.168.90.20"
            ],
            "{transport}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn server_chases_cname_into_other_zone() {
    let server = TestServer::start().await;

    for transport in BOTH {
        let response =
            ask(server.addr, "provisionserver.mtkg.jcert.info", RecordType::A, transport).await;

        assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{transport}");
        assert!(response.metadata.authoritative, "{transport}");
        assert_eq!(
            texts(&response.answers),
            [
                "provisionserver.mtkg.jcert.info. CNAME scs.jcert.info.",
                "scs.jcert.info. A 192.168.90.20"
            ],
            "{transport}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn server_matches_mixed_case_names() {
    let server = TestServer::start().await;

    for transport in BOTH {
        let response =
            ask(server.addr, "ProvisionServer.MTKG.jCert.INFO", RecordType::A, transport).await;

        assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{transport}");
        assert_eq!(
            response.queries[0].name().to_ascii(),
            "ProvisionServer.MTKG.jCert.INFO.",
            "{transport}"
        );
        assert_eq!(
            texts(&response.answers),
            [
                "provisionserver.mtkg.jcert.info. CNAME scs.jcert.info.",
                "scs.jcert.info. A 192.168.90.20"
            ],
            "{transport}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn server_returns_nxdomain_with_soa() {
    let server = TestServer::start().await;

    for transport in BOTH {
        let response = ask(server.addr, "nowhere.jcert.info", RecordType::A, transport).await;

        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain, "{transport}");
        assert!(response.metadata.authoritative, "{transport}");
        assert!(response.answers.is_empty(), "{transport}");
        assert_eq!(soa_owner(&response.authorities), ["jcert.info."], "{transport}");
    }
    server.stop().await;
}

#[tokio::test]
async fn server_returns_nodata_for_missing_type() {
    let server = TestServer::start().await;

    for (name, record_type) in
        [("dc1.jcert.info", RecordType::AAAA), ("_msdcs.jcert.info", RecordType::A)]
    {
        let response = ask(server.addr, name, record_type, Transport::Udp).await;

        assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{name} {record_type}");
        assert!(response.metadata.authoritative, "{name} {record_type}");
        assert!(response.answers.is_empty(), "{name} {record_type}");
        assert_eq!(soa_owner(&response.authorities), ["jcert.info."], "{name} {record_type}");
    }
    server.stop().await;
}

#[tokio::test]
async fn server_refuses_name_outside_zones() {
    let server = TestServer::start().await;

    for transport in BOTH {
        let response = ask(server.addr, "scs.example.org", RecordType::A, transport).await;

        assert_eq!(response.metadata.response_code, ResponseCode::Refused, "{transport}");
        assert!(!response.metadata.authoritative, "{transport}");
        assert!(response.answers.is_empty(), "{transport}");
        assert!(response.authorities.is_empty(), "{transport}");
    }
    server.stop().await;
}

#[tokio::test]
async fn server_returns_nxdomain_for_alias_of_missing_name() {
    let server = TestServer::start().await;

    let same_zone =
        ask(server.addr, "missing-alias.jcert.info", RecordType::A, Transport::Udp).await;
    let other_zone = ask(server.addr, "stale.mtkg.jcert.info", RecordType::A, Transport::Udp).await;

    assert_eq!(same_zone.metadata.response_code, ResponseCode::NXDomain);
    assert!(same_zone.metadata.authoritative);
    assert_eq!(texts(&same_zone.answers), ["missing-alias.jcert.info. CNAME nowhere.jcert.info."]);
    assert_eq!(soa_owner(&same_zone.authorities), ["jcert.info."]);

    // The SOA is that of the zone holding the last name of the chain (RFC 2308 section 2.1).
    assert_eq!(other_zone.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(texts(&other_zone.answers), ["stale.mtkg.jcert.info. CNAME gone.jcert.info."]);
    assert_eq!(soa_owner(&other_zone.authorities), ["jcert.info."]);
    server.stop().await;
}

#[tokio::test]
async fn server_returns_nodata_for_addressless_alias() {
    let server = TestServer::start().await;

    let response = ask(server.addr, "ent-alias.jcert.info", RecordType::A, Transport::Udp).await;

    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(texts(&response.answers), ["ent-alias.jcert.info. CNAME _msdcs.jcert.info."]);
    assert_eq!(soa_owner(&response.authorities), ["jcert.info."]);
    server.stop().await;
}

#[tokio::test]
async fn server_stops_at_cname_loop() {
    let server = TestServer::start().await;

    let same_zone = ask(server.addr, "loop-a.jcert.info", RecordType::A, Transport::Udp).await;
    let across_zones =
        ask(server.addr, "a-loop.mtkg.jcert.info", RecordType::A, Transport::Tcp).await;

    assert_eq!(same_zone.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        texts(&same_zone.answers),
        [
            "loop-a.jcert.info. CNAME loop-b.jcert.info.",
            "loop-b.jcert.info. CNAME loop-a.jcert.info."
        ]
    );
    assert_eq!(across_zones.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        texts(&across_zones.answers),
        [
            "a-loop.mtkg.jcert.info. CNAME x-loop.jcert.info.",
            "x-loop.jcert.info. CNAME a-loop.mtkg.jcert.info."
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn server_ends_chain_at_unserved_target() {
    let server = TestServer::start().await;

    let response = ask(server.addr, "outside.jcert.info", RecordType::A, Transport::Udp).await;

    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative);
    assert_eq!(texts(&response.answers), ["outside.jcert.info. CNAME scs.example.org."]);
    assert!(response.authorities.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn server_answers_cname_query_without_chasing() {
    let server = TestServer::start().await;

    let response =
        ask(server.addr, "provisionserver.mtkg.jcert.info", RecordType::CNAME, Transport::Udp)
            .await;

    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        texts(&response.answers),
        ["provisionserver.mtkg.jcert.info. CNAME scs.jcert.info."]
    );
    server.stop().await;
}

#[tokio::test]
async fn server_answers_ptr_from_reverse_zone() {
    let server = TestServer::start().await;

    for transport in BOTH {
        let response = ask(server.addr, &ptr_name(DC1), RecordType::PTR, transport).await;

        assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{transport}");
        assert!(response.metadata.authoritative, "{transport}");
        assert_eq!(
            texts(&response.answers),
            ["10.90.168.192.in-addr.arpa. PTR dc1.jcert.info."],
            "{transport}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn server_answers_ns_and_soa_at_apex() {
    let server = TestServer::start().await;

    let ns = ask(server.addr, "jcert.info", RecordType::NS, Transport::Udp).await;
    let soa = ask(server.addr, "mtkg.jcert.info", RecordType::SOA, Transport::Udp).await;

    assert!(ns.metadata.authoritative);
    assert_eq!(texts(&ns.answers), ["jcert.info. NS dc1.jcert.info."]);
    assert!(soa.metadata.authoritative);
    assert_eq!(
        texts(&soa.answers),
        [
            "mtkg.jcert.info. SOA dc3.mtkg.jcert.info. hostmaster.mtkg.jcert.info. 1 3600 600 86400 300"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn server_answers_inner_zone_despite_delegation() {
    let server = TestServer::start().await;

    let response = ask(server.addr, "dc3.mtkg.jcert.info", RecordType::A, Transport::Udp).await;

    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative);
    assert_eq!(texts(&response.answers), ["dc3.mtkg.jcert.info. A 192.168.91.10"]);
    server.stop().await;
}

#[tokio::test]
async fn server_refers_to_unserved_delegated_zone() {
    let server = TestServer::start().await;

    let direct = ask(server.addr, "host.branch.jcert.info", RecordType::A, Transport::Udp).await;
    let via_alias =
        ask(server.addr, "branch-alias.jcert.info", RecordType::A, Transport::Udp).await;

    assert_eq!(direct.metadata.response_code, ResponseCode::NoError);
    assert!(!direct.metadata.authoritative);
    assert!(direct.answers.is_empty());
    assert_eq!(texts(&direct.authorities), ["branch.jcert.info. NS ns.branch.jcert.info."]);

    // AA stays set: it describes branch-alias.jcert.info, whose CNAME is ours.
    assert_eq!(via_alias.metadata.response_code, ResponseCode::NoError);
    assert!(via_alias.metadata.authoritative);
    assert_eq!(
        texts(&via_alias.answers),
        ["branch-alias.jcert.info. CNAME host.branch.jcert.info."]
    );
    assert_eq!(texts(&via_alias.authorities), ["branch.jcert.info. NS ns.branch.jcert.info."]);
    server.stop().await;
}

#[tokio::test]
async fn server_truncates_large_udp_reply_but_not_tcp() {
    let server = TestServer::start().await;

    let udp = ask(server.addr, "big.jcert.info", RecordType::A, Transport::Udp).await;
    let tcp = ask(server.addr, "big.jcert.info", RecordType::A, Transport::Tcp).await;

    assert!(udp.metadata.truncation);
    assert!(udp.answers.len() < usize::from(BIG_RRSET_LEN));
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), usize::from(BIG_RRSET_LEN));
    server.stop().await;
}

#[tokio::test]
async fn serve_returns_ok_after_shutdown() {
    let server = TestServer::start().await;
    let addr = server.addr;

    server.stop().await;

    let net = NodeNet::current();
    let refused = net.tcp_connect(addr).await;
    assert!(refused.is_err(), "TCP listener still accepts after shutdown");
}
