//! The ME's stub resolver, against the lab's server and against scripted UDP servers that
//! misbehave in one way each.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::{ANSWER_TIMEOUT, DC1, SCS, TestServer};
use crate::dns::stub::{LookupError, MalformedReply, Resolution, Transport, lookup_a};
use crate::net::NodeNet;

/// Timeout for exchanges that are expected to time out.
const SHORT_TIMEOUT: Duration = Duration::from_millis(150);

async fn lookup(server: SocketAddr, qname: &str) -> Result<Resolution, LookupError> {
    lookup_a(&NodeNet::current(), server, qname, ANSWER_TIMEOUT, 1).await
}

fn resolution(cnames: &[&str], address: Ipv4Addr) -> Resolution {
    Resolution { cnames: cnames.iter().map(|name| (*name).to_owned()).collect(), address }
}

#[tokio::test]
async fn lookup_a_returns_address_of_host() {
    let server = TestServer::start().await;

    let result = lookup(server.addr, "dc1.jcert.info").await;

    assert_eq!(result.unwrap(), resolution(&[], DC1));
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_follows_cname_in_zone() {
    let server = TestServer::start().await;

    let result = lookup(server.addr, "provisionserver.jcert.info").await;

    assert_eq!(result.unwrap(), resolution(&["scs.jcert.info"], SCS));
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_follows_cname_across_zones() {
    let server = TestServer::start().await;

    let result = lookup(server.addr, "provisionserver.mtkg.jcert.info").await;

    assert_eq!(result.unwrap(), resolution(&["scs.jcert.info"], SCS));
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_ignores_case() {
    let server = TestServer::start().await;

    let result = lookup(server.addr, "PROVISIONSERVER.Mtkg.Jcert.Info.").await;

    assert_eq!(result.unwrap(), resolution(&["scs.jcert.info"], SCS));
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_reports_nxdomain_of_name() {
    let server = TestServer::start().await;

    let error = lookup(server.addr, "nowhere.jcert.info").await.unwrap_err();

    assert!(
        matches!(&error, LookupError::Rcode { qname, rcode: ResponseCode::NXDomain } if qname == "nowhere.jcert.info"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "query for nowhere.jcert.info returned NXDOMAIN");
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_reports_nodata_of_name() {
    let server = TestServer::start().await;

    let error = lookup(server.addr, "_msdcs.jcert.info").await.unwrap_err();

    assert!(
        matches!(&error, LookupError::NoData { qname } if qname == "_msdcs.jcert.info"),
        "{error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_reports_refused_name() {
    let server = TestServer::start().await;

    let error = lookup(server.addr, "provisionserver.example.org").await.unwrap_err();

    assert!(matches!(error, LookupError::Rcode { rcode: ResponseCode::Refused, .. }), "{error:?}");
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_reports_alias_of_missing_name() {
    let server = TestServer::start().await;

    let same_zone = lookup(server.addr, "missing-alias.jcert.info").await.unwrap_err();
    let other_zone = lookup(server.addr, "stale.mtkg.jcert.info").await.unwrap_err();

    assert!(
        matches!(&same_zone, LookupError::NoAddress { qname, target, rcode: ResponseCode::NXDomain }
            if qname == "missing-alias.jcert.info" && target == "nowhere.jcert.info"),
        "{same_zone:?}"
    );
    assert!(
        matches!(&other_zone, LookupError::NoAddress { target, rcode: ResponseCode::NXDomain, .. }
            if target == "gone.jcert.info"),
        "{other_zone:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_reports_alias_of_name_without_address() {
    let server = TestServer::start().await;

    let error = lookup(server.addr, "ent-alias.jcert.info").await.unwrap_err();

    assert!(
        matches!(&error, LookupError::NoAddress { target, rcode: ResponseCode::NoError, .. }
            if target == "_msdcs.jcert.info"),
        "{error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_detects_cname_loop() {
    let server = TestServer::start().await;

    let same_zone = lookup(server.addr, "loop-a.jcert.info").await.unwrap_err();
    let across_zones = lookup(server.addr, "a-loop.mtkg.jcert.info").await.unwrap_err();

    assert!(
        matches!(&same_zone, LookupError::CnameLoop { target, .. } if target == "loop-a.jcert.info"),
        "{same_zone:?}"
    );
    assert!(
        matches!(&across_zones, LookupError::CnameLoop { target, .. } if target == "a-loop.mtkg.jcert.info"),
        "{across_zones:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_requeries_unserved_target() {
    let server = TestServer::start().await;

    let error = lookup(server.addr, "outside.jcert.info").await.unwrap_err();

    // The server ends the chain at scs.example.org; the re-query of that name is refused.
    assert!(
        matches!(&error, LookupError::Rcode { qname, rcode: ResponseCode::Refused } if qname == "scs.example.org"),
        "{error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_falls_back_to_tcp_on_truncation() {
    let server = TestServer::start().await;

    let result = lookup(server.addr, "big.jcert.info").await;

    assert_eq!(result.unwrap(), resolution(&[], Ipv4Addr::new(10, 0, 0, 1)));
    server.stop().await;
}

#[tokio::test]
async fn lookup_a_rejects_invalid_name() {
    let unused = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));

    let error = lookup(unused, "provisionserver..jcert.info").await.unwrap_err();

    assert!(matches!(error, LookupError::InvalidName { .. }), "{error:?}");
}

#[tokio::test]
async fn lookup_a_requeries_target_left_unanswered() {
    let fake = FakeServer::start(|query| {
        let name = query.queries[0].name().to_ascii();
        let answers = match name.as_str() {
            "provisionserver.jcert.info." => vec![cname_record(&name, "scs.jcert.info")],
            "scs.jcert.info." => vec![a_record(&name, SCS)],
            _ => vec![],
        };
        vec![encode(&reply(query, answers))]
    })
    .await;

    let result = lookup(fake.addr, "provisionserver.jcert.info").await;

    assert_eq!(result.unwrap(), resolution(&["scs.jcert.info"], SCS));
    assert_eq!(fake.queries(), 2);
}

#[tokio::test]
async fn lookup_a_drops_reply_with_wrong_id() {
    let fake = FakeServer::start(|query| {
        let name = query.queries[0].name().to_ascii();
        let mut forged = reply(query, vec![a_record(&name, Ipv4Addr::new(192, 168, 90, 66))]);
        forged.metadata.id = query.metadata.id.wrapping_add(1);
        vec![encode(&forged), encode(&reply(query, vec![a_record(&name, SCS)]))]
    })
    .await;

    let result = lookup(fake.addr, "scs.jcert.info").await;

    assert_eq!(result.unwrap(), resolution(&[], SCS));
    assert_eq!(fake.queries(), 1);
}

#[tokio::test]
async fn lookup_a_drops_reply_with_other_question() {
    let fake = FakeServer::start(|query| {
        let name = query.queries[0].name().to_ascii();
        let mut other = reply(query, vec![a_record("dc1.jcert.info", DC1)]);
        other.queries[0].set_name(fqdn("dc1.jcert.info"));
        vec![encode(&other), encode(&reply(query, vec![a_record(&name, SCS)]))]
    })
    .await;

    let result = lookup(fake.addr, "scs.jcert.info").await;

    assert_eq!(result.unwrap(), resolution(&[], SCS));
}

#[tokio::test]
async fn lookup_a_drops_reply_from_other_address() {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let intruder = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let server = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buffer = vec![0; 4096];
        let (len, from) = socket.recv_from(&mut buffer).await.unwrap();
        let query = Message::from_vec(&buffer[..len]).unwrap();
        let forged =
            reply(&query, vec![a_record("scs.jcert.info", Ipv4Addr::new(192, 168, 90, 66))]);
        intruder.send_to(&encode(&forged), from).await.unwrap();
        socket
            .send_to(&encode(&reply(&query, vec![a_record("scs.jcert.info", SCS)])), from)
            .await
            .unwrap();
    });

    let result = lookup(server, "scs.jcert.info").await;

    assert_eq!(result.unwrap(), resolution(&[], SCS));
    task.await.unwrap();
}

#[tokio::test]
async fn lookup_a_fails_on_undecodable_reply() {
    let fake = FakeServer::start(|query| {
        // A header with the query's id, QR set and one question, then a label that claims
        // 63 bytes and carries three.
        let mut bytes = query.metadata.id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 63, b'a', b'b', b'c']);
        vec![bytes]
    })
    .await;

    let error = lookup(fake.addr, "scs.jcert.info").await.unwrap_err();

    assert!(
        matches!(
            error,
            LookupError::Malformed {
                transport: Transport::Udp,
                reason: MalformedReply::Decode(_),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn lookup_a_retries_after_timeout() {
    let received = AtomicUsize::new(0);
    let fake = FakeServer::start(move |query| {
        if received.fetch_add(1, Ordering::SeqCst) == 0 {
            return vec![];
        }
        vec![encode(&reply(query, vec![a_record("scs.jcert.info", SCS)]))]
    })
    .await;

    let result = lookup_a(&NodeNet::current(), fake.addr, "scs.jcert.info", SHORT_TIMEOUT, 2).await;

    assert_eq!(result.unwrap(), resolution(&[], SCS));
    assert_eq!(fake.queries(), 2);
}

#[tokio::test]
async fn lookup_a_times_out_after_all_attempts() {
    let fake = FakeServer::start(|_| vec![]).await;

    let error = lookup_a(&NodeNet::current(), fake.addr, "scs.jcert.info", SHORT_TIMEOUT, 3)
        .await
        .unwrap_err();

    assert!(
        matches!(error, LookupError::Timeout { server, attempts: 3, transport: Transport::Udp } if server == fake.addr),
        "{error:?}"
    );
    assert_eq!(fake.queries(), 3);
}

#[tokio::test]
async fn lookup_a_makes_one_attempt_when_zero_requested() {
    let fake = FakeServer::start(|_| vec![]).await;

    let error = lookup_a(&NodeNet::current(), fake.addr, "scs.jcert.info", SHORT_TIMEOUT, 0)
        .await
        .unwrap_err();

    assert!(matches!(error, LookupError::Timeout { attempts: 1, .. }), "{error:?}");
    assert_eq!(fake.queries(), 1);
}

#[tokio::test]
async fn lookup_a_gives_up_on_endless_chain() {
    // Every name hopN is an alias of hop(N+1), one per reply.
    let fake = FakeServer::start(|query| {
        let name = query.queries[0].name().to_ascii();
        let hop: u32 = name.trim_start_matches("hop").split('.').next().unwrap().parse().unwrap();
        vec![encode(&reply(
            query,
            vec![cname_record(&name, &format!("hop{}.jcert.info", hop + 1))],
        ))]
    })
    .await;

    let error = lookup(fake.addr, "hop0.jcert.info").await.unwrap_err();

    assert!(matches!(error, LookupError::ChainTooLong { queries: 8, .. }), "{error:?}");
    assert_eq!(fake.queries(), 8);
}

#[tokio::test]
async fn lookup_a_fails_when_tcp_fallback_is_refused() {
    // The scripted server has no TCP listener, so the connection after TC is refused.
    let fake = FakeServer::start(|query| {
        let mut truncated = reply(query, vec![]);
        truncated.metadata.truncation = true;
        vec![encode(&truncated)]
    })
    .await;

    let error = lookup(fake.addr, "big.jcert.info").await.unwrap_err();

    assert!(matches!(error, LookupError::Io { server, .. } if server == fake.addr), "{error:?}");
}

/// A UDP server on 127.0.0.1 that hands each query to `respond` and sends back, in order,
/// the datagrams it returns. It counts the queries it received.
struct FakeServer {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FakeServer {
    async fn start(respond: impl Fn(&Message) -> Vec<Vec<u8>> + Send + 'static) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));

        let counter = queries.clone();
        let task = tokio::spawn(async move {
            let mut buffer = vec![0; 4096];
            while let Ok((len, from)) = socket.recv_from(&mut buffer).await {
                let query =
                    Message::from_vec(&buffer[..len]).expect("the stub sends decodable queries");
                counter.fetch_add(1, Ordering::SeqCst);
                for datagram in respond(&query) {
                    socket.send_to(&datagram, from).await.unwrap();
                }
            }
        });
        Self { addr, queries, task }
    }

    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply(query: &Message, answers: Vec<Record>) -> Message {
    let mut message = Message::response(query.metadata.id, OpCode::Query);
    message.metadata.recursion_desired = query.metadata.recursion_desired;
    message.add_queries(query.queries.clone());
    message.add_answers(answers);
    message
}

fn encode(message: &Message) -> Vec<u8> {
    message.to_vec().unwrap()
}

fn a_record(name: &str, address: Ipv4Addr) -> Record {
    Record::from_rdata(fqdn(name), 60, RData::A(A(address)))
}

fn cname_record(name: &str, target: &str) -> Record {
    Record::from_rdata(fqdn(name), 60, RData::CNAME(CNAME(fqdn(target))))
}

fn fqdn(text: &str) -> Name {
    let mut name = Name::from_ascii(text).unwrap();
    name.set_fqdn(true);
    name
}
