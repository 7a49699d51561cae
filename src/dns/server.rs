//! The lab's authoritative DNS server: hickory-server serving the checked zones over UDP and
//! TCP, with CNAME chains followed across the zones it serves.

use std::collections::HashSet;
use std::iter;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, LowerQuery, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::{DNSClass, LowerName, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{
    Catalog, LookupError, LookupOptions, MessageResponseBuilder, ZoneHandler,
};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::rcode_name;
use super::zone::Zones;

/// Maximum number of CNAME records followed for one query, across all zones. The chains of
/// the reference setups have one.
const MAX_CNAME_HOPS: usize = 8;

/// How long a TCP connection may stay idle between queries before the server closes it.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Responses hickory-server may queue for one TCP connection.
const TCP_RESPONSE_QUEUE: usize = 16;

/// Failure that stopped the DNS server before shutdown was requested.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("DNS server failed: {0}; restart the DNS service of the node")]
    Server(#[source] NetError),

    #[error("DNS server stopped before shutdown was requested, with no error from hickory-server")]
    StoppedEarly,
}

/// Serves `zones` authoritatively on the given sockets until `shutdown` is cancelled.
///
/// The sockets come bound: the lab creates them inside the DNS node's namespace, and this
/// function never binds. Returns `Ok` after a requested shutdown, once every task has ended.
pub async fn serve(
    zones: Zones,
    udp: Vec<UdpSocket>,
    tcp: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), DnsError> {
    let origins: Vec<String> = zones.origins().map(ToString::to_string).collect();
    info!(
        udp = ?udp.first().and_then(|socket| socket.local_addr().ok()),
        udp_sockets = udp.len(),
        tcp = ?tcp.local_addr().ok(),
        zones = ?origins,
        "DNS server started"
    );

    let mut server = Server::new(ChasingCatalog { catalog: zones.catalog() });
    // hickory-server receives a UDP socket's queries and sends its responses on one task.
    // Several sockets on the same address (`NodeNet::udp_bind_per_core`) let more than
    // one core respond.
    for socket in udp {
        server.register_socket(socket);
    }
    server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_QUEUE);

    tokio::select! {
        result = server.block_until_done() => {
            return Err(result.err().map_or(DnsError::StoppedEarly, DnsError::Server));
        }
        () = shutdown.cancelled() => {}
    }

    server.shutdown_gracefully().await.map_err(DnsError::Server)?;
    info!("DNS server stopped");
    Ok(())
}

/// hickory-server's catalog, with CNAME chains followed from one served zone into another.
///
/// In hickory-server 0.26 an in-memory zone follows a CNAME only inside itself, and the
/// catalog returns what that one zone found. The lab needs more: in the sub-domain setup
/// provisionserver.mtkg.jcert.info is a CNAME for scs.jcert.info, a name in another zone of
/// the same server, and the ME expects the address in the same answer. So ordinary queries
/// are answered here, zone by zone; everything else goes to the catalog unchanged.
struct ChasingCatalog {
    catalog: Catalog,
}

#[async_trait::async_trait]
impl RequestHandler for ChasingCatalog {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let response_info = match ordinary_query(request) {
            Some(query) => self.answer(request, query, response_handle).await,
            None => self.catalog.handle_request::<R, T>(request, response_handle).await,
        };

        log_query(request, &response_info);
        response_info
    }
}

impl ChasingCatalog {
    async fn answer<R: ResponseHandler>(
        &self,
        request: &Request,
        query: &LowerQuery,
        mut response_handle: R,
    ) -> ResponseInfo {
        let answer = self.resolve(query.name(), query.query_type()).await;

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = answer.rcode;
        metadata.authoritative = answer.authoritative;

        let edns = request.edns.as_ref().map(response_edns);
        let response = MessageResponseBuilder::new(&request.queries, edns.as_ref()).build(
            metadata,
            answer.answers.iter(),
            answer.authorities.iter(),
            iter::empty(),
            answer.additionals.iter(),
        );

        match response_handle.send_response(response).await {
            Ok(response_info) => response_info,
            Err(error) => {
                let (qname, src) = (query.name(), request.src());
                warn!(%error, %qname, %src, "failed to send DNS response");
                server_failure(&request.metadata)
            }
        }
    }

    /// Answers `qname` the way RFC 1034 section 4.3.2 describes for an authoritative server:
    /// at a CNAME, copy it and restart at its target in whichever served zone holds the
    /// target. A chain that leaves the served zones ends with the records found so far.
    async fn resolve(&self, qname: &LowerName, qtype: RecordType) -> Answer {
        let mut answer = Answer::default();
        let mut name = qname.clone();
        let mut seen = HashSet::from([qname.clone()]);

        for _ in 0..MAX_CNAME_HOPS {
            let Some(zone) = self.zone_for(&name) else {
                answer.end_outside_zones();
                return answer;
            };
            if !answer.add_from_zone(zone.as_ref(), &name, qtype).await {
                return answer;
            }

            seen.extend(cname_owners(&answer.answers));
            let Some(target) = next_target(&answer.answers, qtype) else {
                return answer;
            };
            if !seen.insert(target.clone()) {
                debug!(%qname, %target, "CNAME loop: answering with the chain up to the loop");
                return answer;
            }
            name = target;
        }

        debug!(%qname, max = MAX_CNAME_HOPS, "CNAME chain too long: answering with its start");
        answer
    }

    fn zone_for(&self, name: &LowerName) -> Option<&Arc<dyn ZoneHandler>> {
        self.catalog.find(name)?.first()
    }
}

/// The sections and header fields of one response, filled in as the chain is followed.
#[derive(Default)]
struct Answer {
    rcode: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
}

impl Answer {
    /// Adds what `zone` holds for `name` to the response. Returns whether the chain may go
    /// on, which is when records were added to the answer section.
    async fn add_from_zone(
        &mut self,
        zone: &dyn ZoneHandler,
        name: &LowerName,
        qtype: RecordType,
    ) -> bool {
        // AA describes the query name, the first owner name of the answer section (RFC 1035
        // section 4.1.1), and that name is in a served zone.
        self.authoritative = true;

        match lookup(zone, name, qtype).await {
            ZoneLookup::Records { records, .. } if is_referral(&records, qtype) => {
                self.refer(records);
                false
            }
            ZoneLookup::Records { mut records, additionals } => {
                cut_at_delegation(&mut records, qtype);
                self.answers.extend(records);
                self.additionals.extend(additionals);
                true
            }
            ZoneLookup::NoData => {
                self.negative(ResponseCode::NoError, zone).await;
                false
            }
            ZoneLookup::NxDomain => {
                self.negative(ResponseCode::NXDomain, zone).await;
                false
            }
            ZoneLookup::Failed(rcode) => {
                self.rcode = rcode;
                false
            }
        }
    }

    /// Ends the answer at a name outside every served zone: REFUSED when that name is the
    /// query name, otherwise NOERROR with the CNAME records found so far.
    fn end_outside_zones(&mut self) {
        if self.answers.is_empty() {
            self.rcode = ResponseCode::Refused;
        }
    }

    /// Ends the answer with a referral to a delegated zone: NS records in the authority
    /// section, and AA cleared unless a CNAME of ours led there.
    fn refer(&mut self, ns_records: Vec<Record>) {
        self.authoritative = !self.answers.is_empty();
        self.authorities.extend(ns_records);
    }

    /// Ends the answer with NXDOMAIN or NODATA, with the SOA of the zone that holds the last
    /// name in the authority section (RFC 2308 section 2).
    async fn negative(&mut self, rcode: ResponseCode, zone: &dyn ZoneHandler) {
        self.rcode = rcode;

        match lookup(zone, zone.origin(), RecordType::SOA).await {
            ZoneLookup::Records { records, .. } => self.authorities.extend(records),
            _ => warn!(zone = %zone.origin(), "zone has no SOA record for a negative answer"),
        }
    }
}

/// Result of looking up one name and type in one zone.
enum ZoneLookup {
    Records { records: Vec<Record>, additionals: Vec<Record> },
    NoData,
    NxDomain,
    Failed(ResponseCode),
}

async fn lookup(zone: &dyn ZoneHandler, name: &LowerName, qtype: RecordType) -> ZoneLookup {
    let result = zone.lookup(name, qtype, None, LookupOptions::default()).await.map_result();

    match result {
        Some(Ok(mut found)) => {
            let additionals = found
                .take_additionals()
                .map(|records| records.iter().cloned().collect())
                .unwrap_or_default();
            let records: Vec<Record> = found.iter().cloned().collect();
            if records.is_empty() {
                return ZoneLookup::NoData;
            }
            ZoneLookup::Records { records, additionals }
        }
        Some(Err(error)) if error.is_nx_domain() => ZoneLookup::NxDomain,
        Some(Err(LookupError::NameExists)) => ZoneLookup::NoData,
        Some(Err(LookupError::ResponseCode(rcode))) => ZoneLookup::Failed(rcode),
        Some(Err(error)) => {
            let zone = zone.origin();
            warn!(%error, %name, %qtype, %zone, "zone lookup failed; responding with SERVFAIL");
            ZoneLookup::Failed(ResponseCode::ServFail)
        }
        None => {
            let zone = zone.origin();
            warn!(%name, %qtype, %zone, "zone skipped the lookup; responding with SERVFAIL");
            ZoneLookup::Failed(ResponseCode::ServFail)
        }
    }
}

/// Returns whether a zone returned the NS records of a delegation below it instead of an
/// answer.
fn is_referral(records: &[Record], qtype: RecordType) -> bool {
    qtype != RecordType::NS
        && records.first().is_some_and(|record| record.record_type() == RecordType::NS)
}

/// Drops the NS records a zone appends when its own CNAME chain reaches a name it
/// delegates. hickory-server 0.26 returns them as if they answered the query; the chain
/// goes on instead from the last CNAME target, in whichever zone serves it.
fn cut_at_delegation(records: &mut Vec<Record>, qtype: RecordType) {
    if qtype == RecordType::NS {
        return;
    }
    if let Some(position) = records.iter().position(|record| record.record_type() == RecordType::NS)
    {
        records.truncate(position);
    }
}

fn cname_owners(records: &[Record]) -> impl Iterator<Item = LowerName> + '_ {
    records
        .iter()
        .filter(|record| record.record_type() == RecordType::CNAME)
        .map(|record| LowerName::new(&record.name))
}

/// Returns the name to continue at when the answer so far ends with a CNAME that the query
/// did not request.
fn next_target(answers: &[Record], qtype: RecordType) -> Option<LowerName> {
    if qtype == RecordType::CNAME {
        return None;
    }
    match &answers.last()?.data {
        RData::CNAME(cname) => Some(LowerName::new(&cname.0)),
        _ => None,
    }
}

/// Returns the query of a request that this module answers itself: one question of class IN, opcode
/// QUERY, EDNS version 0 or none, and a type other than AXFR, IXFR and ANY.
fn ordinary_query(request: &Request) -> Option<&LowerQuery> {
    let metadata = &request.metadata;
    if metadata.message_type != MessageType::Query || metadata.op_code != OpCode::Query {
        return None;
    }
    if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
        return None;
    }

    let [query] = request.queries.queries() else {
        return None;
    };
    let special =
        matches!(query.query_type(), RecordType::AXFR | RecordType::IXFR | RecordType::ANY);
    (query.query_class() == DNSClass::IN && !special).then_some(query)
}

/// Builds the OPT record of a response to a request that carried one (RFC 6891 section
/// 6.1.1).
fn response_edns(request_edns: &Edns) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(request_edns.max_payload().max(512));
    edns.set_version(0);
    edns
}

fn server_failure(request: &Metadata) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header { metadata, counts: HeaderCounts::default() })
}

fn log_query(request: &Request, response: &ResponseInfo) {
    let rcode = rcode_name(response.response_code);
    let Some(query) = request.queries.queries().first() else {
        debug!(src = %request.src(), %rcode, "DNS request without a question");
        return;
    };

    debug!(
        qname = %query.original().name(),
        qtype = %query.query_type(),
        %rcode,
        answers = response.counts().answers,
        protocol = %request.protocol(),
        src = %request.src(),
        "DNS query"
    );
}
