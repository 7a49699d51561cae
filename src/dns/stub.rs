//! The ME's stub resolver: the A lookup of `provisionserver.<domain>` at the DNS server from
//! the lease.
//!
//! The exchange is written here rather than taken from hickory-resolver for two reasons.
//! First, the ME's sockets must be created through [`NodeNet`], so that they live in the ME's
//! namespace. Second, each step of the lookup (a CNAME followed, a re-query, the fallback to
//! TCP) must reach the caller, and a caching resolver hides those steps. Messages are still
//! encoded and decoded by hickory-proto.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::ProtoError;
use hickory_proto::op::{Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, DecodeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tracing::debug;

use super::name::{NameError, display_name, parse_name};
use super::rcode_name;
use crate::net::NodeNet;

/// Maximum number of queries one lookup sends: the first one, then one per CNAME target that
/// the server left unanswered. Retries after a timeout do not count here.
const MAX_QUERIES: usize = 8;

/// Maximum UDP reply length read. Queries carry no EDNS, so servers keep replies within 512
/// bytes (RFC 1035 section 4.2.1). The margin is for servers that do not.
const UDP_BUFFER_LEN: usize = 4096;

/// The address `provisionserver.<domain>` resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// Targets of the CNAME records followed, in order, without the trailing dot. The last one
    /// is the name whose A record is `address`. Empty when the name itself has the A record.
    pub cnames: Vec<String>,
    /// The first A record of the final name, in the order the server sent them.
    pub address: Ipv4Addr,
}

/// Transport of one DNS exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        })
    }
}

/// Failure of an A lookup.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("invalid DNS name {qname:?}: {source}")]
    InvalidName {
        qname: String,
        #[source]
        source: NameError,
    },

    /// The server returned an error code for the name itself, or for a CNAME target when
    /// the code is neither NXDOMAIN nor NOERROR.
    #[error("query for {qname} returned {}", rcode_name(*rcode))]
    Rcode { qname: String, rcode: ResponseCode },

    /// The name exists but has no A record (NODATA), and no CNAME led elsewhere.
    #[error("{qname} exists but has no A record")]
    NoData { qname: String },

    /// The name is an alias, and the last name of its CNAME chain does not exist (NXDOMAIN)
    /// or has no A record (NOERROR with an empty answer).
    #[error(
        "{qname} is an alias of {target}, which has no address ({} for {target})",
        rcode_name(*rcode)
    )]
    NoAddress { qname: String, target: String, rcode: ResponseCode },

    #[error("CNAME chain of {qname} loops back to {target}; fix the CNAME records of the zone")]
    CnameLoop { qname: String, target: String },

    #[error("CNAME chain of {qname} had no address after {queries} queries")]
    ChainTooLong { qname: String, queries: usize },

    #[error(
        "no reply from DNS server {server} over {transport} after {attempts} attempt(s); check \
         that the server runs and that the route to it works"
    )]
    Timeout { server: SocketAddr, attempts: u32, transport: Transport },

    #[error("malformed reply from DNS server {server} over {transport}: {reason}")]
    Malformed { server: SocketAddr, transport: Transport, reason: MalformedReply },

    #[error("failed to encode the query for {qname}: {source}")]
    Encode {
        qname: String,
        #[source]
        source: ProtoError,
    },

    #[error("socket error while querying DNS server {server}: {source}")]
    Io {
        server: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// Problem with a reply. Over UDP only [`MalformedReply::Decode`] fails the lookup, because
/// the other problems mark a datagram that is not the reply, and such datagrams are dropped.
#[derive(Debug, thiserror::Error)]
pub enum MalformedReply {
    #[error("{len} bytes, shorter than a DNS header")]
    TooShort { len: usize },

    #[error("cannot decode it: {0}")]
    Decode(#[source] DecodeError),

    #[error("message id {actual} differs from query id {expected}")]
    IdMismatch { expected: u16, actual: u16 },

    #[error("the QR bit is clear, so it is a query, not a response")]
    NotAResponse,

    #[error("its question ({actual}) differs from the query ({expected})")]
    QuestionMismatch { expected: String, actual: String },
}

/// Looks up the A record of `qname` at `server`, following CNAME records, as the ME does for
/// `provisionserver.<domain>`.
///
/// Sends a recursive query over UDP from a socket in `net`'s namespace, waits `timeout` for a
/// reply and sends it again up to `attempts` times in all (at least once). A truncated reply
/// (TC) repeats the query over TCP. When the answer ends at a CNAME target without its
/// address, the target is queried in turn.
pub async fn lookup_a(
    net: &NodeNet,
    server: SocketAddr,
    qname: &str,
    timeout: Duration,
    attempts: u32,
) -> Result<Resolution, LookupError> {
    let name = parse_name(qname)
        .map_err(|source| LookupError::InvalidName { qname: qname.to_owned(), source })?;
    let client = Client::bind(net, server, timeout, attempts)?;
    let mut chain = Chain::new(name);

    // NOTE: Intel does not document whether AMT firmware re-queries a CNAME target that the
    // reply leaves unresolved. The lab's server follows chains across all its zones, so the
    // re-query runs only for targets outside them or against other servers.
    for _ in 0..MAX_QUERIES {
        let response = client.query(chain.current(), RecordType::A).await?;
        if let Some(resolution) = chain.follow(&response)? {
            return Ok(resolution);
        }
        let (qname, target) = (&chain.qname, chain.current());
        debug!(%qname, %target, "reply ended at a CNAME target without its address; querying it");
    }

    Err(LookupError::ChainTooLong { qname: display_name(&chain.qname), queries: MAX_QUERIES })
}

/// A UDP socket in one node's namespace, aimed at one DNS server.
pub(super) struct Client<'a> {
    net: &'a NodeNet,
    socket: UdpSocket,
    server: SocketAddr,
    timeout: Duration,
    attempts: u32,
}

impl<'a> Client<'a> {
    pub(super) fn bind(
        net: &'a NodeNet,
        server: SocketAddr,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Self, LookupError> {
        let socket = net
            .udp_bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
            .map_err(|source| LookupError::Io { server, source })?;
        Ok(Self { net, socket, server, timeout, attempts: attempts.max(1) })
    }

    /// Sends one recursive query over UDP, and again over TCP when the reply is truncated.
    pub(super) async fn query(
        &self,
        name: &Name,
        record_type: RecordType,
    ) -> Result<Message, LookupError> {
        let query = Query::query(name.clone(), record_type);
        let response = self.exchange(&query, Transport::Udp).await?;
        if !response.metadata.truncation {
            return Ok(response);
        }

        let (qname, server) = (name, self.server);
        debug!(%qname, %server, "truncated UDP reply (TC set); repeating the query over TCP");
        self.exchange(&query, Transport::Tcp).await
    }

    /// Sends `query` over `transport` and returns the matching reply, trying up to
    /// `attempts` times with the same message id.
    pub(super) async fn exchange(
        &self,
        query: &Query,
        transport: Transport,
    ) -> Result<Message, LookupError> {
        let id: u16 = rand::random();
        let request = encode_query(id, query)?;

        for attempt in 1..=self.attempts {
            let once = async {
                match transport {
                    Transport::Udp => self.udp_once(&request, id, query).await,
                    Transport::Tcp => self.tcp_once(&request, id, query).await,
                }
            };
            match tokio::time::timeout(self.timeout, once).await {
                Ok(result) => return result,
                Err(_elapsed) => {
                    let (qname, server) = (query.name(), self.server);
                    debug!(%qname, %server, %transport, attempt, "no reply within the timeout");
                }
            }
        }

        Err(LookupError::Timeout { server: self.server, attempts: self.attempts, transport })
    }

    async fn udp_once(
        &self,
        request: &[u8],
        id: u16,
        query: &Query,
    ) -> Result<Message, LookupError> {
        let io = |source| LookupError::Io { server: self.server, source };
        self.socket.send_to(request, self.server).await.map_err(io)?;

        let mut buffer = vec![0; UDP_BUFFER_LEN];
        loop {
            let (len, from) = self.socket.recv_from(&mut buffer).await.map_err(io)?;
            if from != self.server {
                let server = self.server;
                debug!(%from, %server, "dropped UDP datagram: not from the DNS server");
                continue;
            }

            match parse_reply(&buffer[..len], id, query) {
                Ok(message) => return Ok(message),
                Err(reason @ MalformedReply::Decode(_)) => {
                    return Err(LookupError::Malformed {
                        server: self.server,
                        transport: Transport::Udp,
                        reason,
                    });
                }
                Err(reason) => {
                    let server = self.server;
                    debug!(%server, %reason, "dropped UDP datagram: not the reply to the query");
                }
            }
        }
    }

    async fn tcp_once(
        &self,
        request: &[u8],
        id: u16,
        query: &Query,
    ) -> Result<Message, LookupError> {
        let io = |source| LookupError::Io { server: self.server, source };
        let mut stream = self.net.tcp_connect(self.server).await.map_err(io)?;

        // RFC 1035 section 4.2.2: over TCP, each message is preceded by its length in two
        // bytes, most significant first. `encode_query` keeps queries within 65535 bytes.
        let len = request.len() as u16;
        stream.write_all(&len.to_be_bytes()).await.map_err(io)?;
        stream.write_all(request).await.map_err(io)?;

        let mut len = [0; 2];
        stream.read_exact(&mut len).await.map_err(io)?;
        let mut reply = vec![0; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply).await.map_err(io)?;

        parse_reply(&reply, id, query).map_err(|reason| LookupError::Malformed {
            server: self.server,
            transport: Transport::Tcp,
            reason,
        })
    }
}

/// Encodes a query with RD set, because the ME relies on its DNS server to resolve the whole
/// name.
fn encode_query(id: u16, query: &Query) -> Result<Vec<u8>, LookupError> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(query.clone());

    let encode_error = |source| LookupError::Encode { qname: display_name(query.name()), source };
    let bytes = message.to_vec().map_err(encode_error)?;
    if bytes.len() > usize::from(u16::MAX) {
        return Err(encode_error(ProtoError::from("query longer than 65535 bytes")));
    }
    Ok(bytes)
}

/// Decodes a reply and checks that it answers the query: same id, QR set, same question.
fn parse_reply(bytes: &[u8], id: u16, query: &Query) -> Result<Message, MalformedReply> {
    let header =
        Header::from_bytes(bytes).map_err(|_| MalformedReply::TooShort { len: bytes.len() })?;
    if header.metadata.id != id {
        return Err(MalformedReply::IdMismatch { expected: id, actual: header.metadata.id });
    }
    if header.metadata.message_type != MessageType::Response {
        return Err(MalformedReply::NotAResponse);
    }

    let message = Message::from_vec(bytes).map_err(MalformedReply::Decode)?;
    check_question(&message, query)?;
    Ok(message)
}

fn check_question(message: &Message, query: &Query) -> Result<(), MalformedReply> {
    match message.queries.as_slice() {
        // Name comparison ignores case (RFC 4343).
        [question]
            if question.name() == query.name()
                && question.query_type() == query.query_type()
                && question.query_class() == query.query_class() =>
        {
            Ok(())
        }
        // Error replies may lack the question: hickory-server 0.26 sends FORMERR without one
        // when it cannot parse the request.
        [] if message.metadata.response_code != ResponseCode::NoError => Ok(()),
        questions => Err(MalformedReply::QuestionMismatch {
            expected: query.to_string(),
            actual: questions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// The CNAME chain of one lookup, followed across replies.
struct Chain {
    qname: Name,
    cnames: Vec<Name>,
}

impl Chain {
    fn new(qname: Name) -> Self {
        Self { qname, cnames: Vec::new() }
    }

    /// Returns the name the chain has reached: the last CNAME target, or the name looked up.
    fn current(&self) -> &Name {
        self.cnames.last().unwrap_or(&self.qname)
    }

    /// Follows the chain through the answer section of `response`. Returns the resolution
    /// once an A record of the current name turns up, and `None` when the chain moved on to
    /// a target whose records the reply lacks, so that the target must be queried.
    fn follow(&mut self, response: &Message) -> Result<Option<Resolution>, LookupError> {
        let asked = self.current().clone();
        loop {
            if let Some(address) = address_of(&response.answers, self.current()) {
                return Ok(Some(self.resolution(address)));
            }
            let Some(target) = cname_of(&response.answers, self.current()) else {
                break;
            };
            self.push(target)?;
        }

        let moved = *self.current() != asked;
        self.end_without_address(response.metadata.response_code, moved)
    }

    /// Decides what a reply without the address means. The response code of a reply with a
    /// CNAME chain describes the last name of the chain (RFC 6604).
    fn end_without_address(
        &self,
        rcode: ResponseCode,
        moved: bool,
    ) -> Result<Option<Resolution>, LookupError> {
        let current = display_name(self.current());
        match rcode {
            ResponseCode::NoError if moved => Ok(None),
            ResponseCode::NoError | ResponseCode::NXDomain if !self.cnames.is_empty() => {
                Err(LookupError::NoAddress {
                    qname: display_name(&self.qname),
                    target: current,
                    rcode,
                })
            }
            ResponseCode::NoError => Err(LookupError::NoData { qname: current }),
            _ => Err(LookupError::Rcode { qname: current, rcode }),
        }
    }

    fn push(&mut self, target: Name) -> Result<(), LookupError> {
        if target == self.qname || self.cnames.contains(&target) {
            return Err(LookupError::CnameLoop {
                qname: display_name(&self.qname),
                target: display_name(&target),
            });
        }
        self.cnames.push(target);
        Ok(())
    }

    fn resolution(&self, address: Ipv4Addr) -> Resolution {
        Resolution { cnames: self.cnames.iter().map(display_name).collect(), address }
    }
}

fn address_of(answers: &[Record], name: &Name) -> Option<Ipv4Addr> {
    answers.iter().filter(|record| record.name == *name).find_map(|record| match &record.data {
        RData::A(address) => Some(address.0),
        _ => None,
    })
}

fn cname_of(answers: &[Record], name: &Name) -> Option<Name> {
    answers.iter().filter(|record| record.name == *name).find_map(|record| match &record.data {
        RData::CNAME(cname) => Some(cname.0.clone()),
        _ => None,
    })
}
