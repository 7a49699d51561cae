//! Tests of the DNS server and the stub resolver, on loopback sockets the tests open
//! themselves in the current namespace.
//!
//! The zones are shaped like the sub-domain lab: jcert.info with dc1, scs and the
//! provisionserver alias, mtkg.jcert.info whose provisionserver is an alias of scs.jcert.info
//! in the other zone, and the reverse zones of both VLANs. Extra names cover the failure
//! cases: aliases of missing names, loops, a target outside every served zone, a delegation
//! to a zone the server does not serve, an RRset too large for a 512-byte UDP reply.

mod dig;
mod lookup;
mod serving;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::server::{DnsError, serve};
use super::zone::{RecordData, ZoneSpec, Zones, ptr_name, reverse_zone_origin};
use crate::net::NodeNet;

const DC1: Ipv4Addr = Ipv4Addr::new(192, 168, 90, 10);
const SCS: Ipv4Addr = Ipv4Addr::new(192, 168, 90, 20);
const DC3: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 10);
/// Name server of branch.jcert.info, a zone jcert.info delegates and this server does not serve.
const BRANCH_NS: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 10);

/// A records at big.jcert.info: 40 of them take more than 512 bytes, so UDP replies without
/// EDNS come back truncated.
const BIG_RRSET_LEN: u8 = 40;

/// Timeout for exchanges with a server that is expected to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

fn a(address: Ipv4Addr) -> RecordData {
    RecordData::A(address)
}

fn cname(target: &str) -> RecordData {
    RecordData::Cname(target.to_owned())
}

fn jcert_zone() -> ZoneSpec {
    let mut zone = ZoneSpec::new("jcert.info", "dc1.jcert.info", "hostmaster@jcert.info")
        .with("dc1.jcert.info", 3600, a(DC1))
        .with("scs.jcert.info", 3600, a(SCS))
        .with("provisionserver.jcert.info", 3600, cname("scs.jcert.info"))
        .with("missing-alias.jcert.info", 3600, cname("nowhere.jcert.info"))
        .with("dc._msdcs.jcert.info", 3600, a(DC1))
        .with("ent-alias.jcert.info", 3600, cname("_msdcs.jcert.info"))
        .with("loop-a.jcert.info", 3600, cname("loop-b.jcert.info"))
        .with("loop-b.jcert.info", 3600, cname("loop-a.jcert.info"))
        .with("x-loop.jcert.info", 3600, cname("a-loop.mtkg.jcert.info"))
        .with("outside.jcert.info", 3600, cname("scs.example.org"))
        .with("mtkg.jcert.info", 3600, RecordData::Ns("dc3.mtkg.jcert.info".into()))
        .with("dc3.mtkg.jcert.info", 3600, a(DC3))
        .with("branch.jcert.info", 3600, RecordData::Ns("ns.branch.jcert.info".into()))
        .with("ns.branch.jcert.info", 3600, a(BRANCH_NS))
        .with("branch-alias.jcert.info", 3600, cname("host.branch.jcert.info"));
    zone.serial = 2009061501;

    for host in 1..=BIG_RRSET_LEN {
        zone = zone.with("big.jcert.info", 60, a(Ipv4Addr::new(10, 0, 0, host)));
    }
    zone
}

fn mtkg_zone() -> ZoneSpec {
    ZoneSpec::new("mtkg.jcert.info", "dc3.mtkg.jcert.info", "hostmaster@mtkg.jcert.info")
        .with("dc3.mtkg.jcert.info", 3600, a(DC3))
        .with("provisionserver.mtkg.jcert.info", 3600, cname("scs.jcert.info"))
        .with("stale.mtkg.jcert.info", 3600, cname("gone.jcert.info"))
        .with("a-loop.mtkg.jcert.info", 3600, cname("x-loop.jcert.info"))
}

fn reverse_zone(primary_ns: &str, hosts: &[(Ipv4Addr, &str)]) -> ZoneSpec {
    let origin = reverse_zone_origin(hosts[0].0);
    let mut zone = ZoneSpec::new(&origin, primary_ns, "hostmaster@jcert.info");
    for (address, host) in hosts {
        zone = zone.with(&ptr_name(*address), 3600, RecordData::Ptr((*host).to_owned()));
    }
    zone
}

fn lab_zones() -> Vec<ZoneSpec> {
    vec![
        jcert_zone(),
        mtkg_zone(),
        reverse_zone("dc1.jcert.info", &[(DC1, "dc1.jcert.info"), (SCS, "scs.jcert.info")]),
        reverse_zone("dc3.mtkg.jcert.info", &[(DC3, "dc3.mtkg.jcert.info")]),
    ]
}

/// A DNS server on 127.0.0.1, with UDP and TCP on the same port.
struct TestServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), DnsError>>,
}

impl TestServer {
    async fn start() -> Self {
        let zones = Zones::build(lab_zones()).expect("lab zones are valid");
        let (udp, tcp) = bind_same_port();
        let addr = udp.local_addr().unwrap();

        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(zones, vec![udp], tcp, shutdown.clone()));
        Self { addr, shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server stops within 5 s of shutdown")
            .expect("server task does not panic");
        assert!(result.is_ok(), "serve returned {result:?}");
    }
}

/// Binds UDP on a free loopback port, then TCP on the same port. Tries other ports while
/// another program uses the TCP one.
fn bind_same_port() -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    let net = NodeNet::current();
    for _ in 0..20 {
        let udp = net.udp_bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = net.tcp_listen(addr) {
            return (udp, tcp);
        }
    }
    panic!("found no loopback port free for both UDP and TCP in 20 tries");
}
