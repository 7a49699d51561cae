//! The ME's DHCP client: DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPACK (RFC 2131
//! section 4.4.1), with the broadcast flag set as AMT firmware sets it.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::Addressing;
use super::service::MAX_DATAGRAM;
use super::wire::{self, Message, MessageType, Op, Options, Xid, code};

/// RFC 2131 section 4.1: retransmission delays double up to this.
const MAX_RETRANSMIT_DELAY: Duration = Duration::from_secs(64);

/// Options the client asks for: what the ME reads from a lease.
const PARAMETER_REQUEST_LIST: [u8; 6] = [
    code::SUBNET_MASK,
    code::ROUTER,
    code::DOMAIN_NAME_SERVER,
    code::DOMAIN_NAME,
    code::IP_ADDRESS_LEASE_TIME,
    code::SERVER_IDENTIFIER,
];

/// Ethernet in the htype field.
const HTYPE_ETHERNET: u8 = 1;

/// How the ME's DHCP client identifies itself, retries and addresses its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The interface's MAC address, sent as chaddr.
    pub mac: [u8; 6],
    /// Option 12, when set.
    pub hostname: Option<String>,
    /// The broadcast flag: AMT firmware sets it. With the flag clear, a server or relay
    /// that follows RFC 2131 (dnsmasq, ISC dhcrelay) sends the DHCPOFFER by unicast to
    /// yiaddr, which a UDP socket on an interface without that address never receives.
    pub broadcast: bool,
    /// Transmissions of each DHCPDISCOVER and DHCPREQUEST, and DHCPNAKs accepted before
    /// giving up.
    pub attempts: u32,
    /// Time to wait for the first reply to a message. Each retransmission waits twice as
    /// long, up to 64 s.
    pub timeout: Duration,
    pub addressing: Addressing,
}

/// The address and options the client got in its DHCPACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// yiaddr.
    pub address: Ipv4Addr,
    /// From option 1.
    pub prefix_len: u8,
    /// First address of option 3.
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15 bytes as received: see [`wire::escape_option15`] to display them.
    pub domain: Option<Vec<u8>>,
    /// Option 51.
    pub lease_time: Duration,
    /// Option 54.
    pub server_id: Ipv4Addr,
    /// giaddr of the DHCPACK: the relay that carried the exchange, if any.
    pub relay: Option<Ipv4Addr>,
}

/// Reasons the client got no usable lease.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("DHCP client configured with 0 attempts; set attempts to 1 or more")]
    NoAttempts,

    #[error("sending {message_type} to {target} failed: {source}")]
    Send { message_type: MessageType, target: SocketAddrV4, source: io::Error },

    #[error("receiving on the DHCP client socket failed: {source}")]
    Receive { source: io::Error },

    #[error("DHCP message could not be encoded: {source}")]
    Encode { source: wire::WireError },

    #[error("no DHCPOFFER after {attempts} DHCPDISCOVERs; check that a DHCP server or relay serves this segment")]
    NoOffer { attempts: u32 },

    #[error("no DHCPACK from {server_id} after {attempts} DHCPREQUESTs for {address}")]
    NoAck { server_id: Ipv4Addr, address: Ipv4Addr, attempts: u32 },

    #[error("DHCPNAK from {server_id} {naks} times, last reason {reason:?}; check the server's scope for this segment")]
    Nak { server_id: Ipv4Addr, naks: u32, reason: String },

    #[error("DHCPACK from {server_id} has no subnet mask (option 1)")]
    MissingSubnetMask { server_id: Ipv4Addr },

    #[error("DHCPACK from {server_id} has subnet mask {mask}, which is not a contiguous prefix")]
    InvalidSubnetMask { server_id: Ipv4Addr, mask: Ipv4Addr },

    #[error("DHCPACK from {server_id} has no lease time (option 51)")]
    MissingLeaseTime { server_id: Ipv4Addr },
}

/// The offer the client accepted.
#[derive(Clone, Copy, Debug)]
struct Selected {
    address: Ipv4Addr,
    server_id: Ipv4Addr,
}

/// A server's reply to a DHCPREQUEST.
enum RequestReply {
    Ack(Box<Message>),
    Nak(String),
}

impl ClientConfig {
    /// Creates a configuration with the ME's defaults: broadcast flag set, 4 transmissions,
    /// 4 s first wait (RFC 2131 section 4.1), the RFC 2131 ports.
    pub fn new(mac: [u8; 6]) -> Self {
        Self {
            mac,
            hostname: None,
            broadcast: true,
            attempts: 4,
            timeout: Duration::from_secs(4),
            addressing: Addressing::default(),
        }
    }
}

/// Gets a lease on `socket`: DHCPDISCOVER, first DHCPOFFER, DHCPREQUEST, DHCPACK.
///
/// `socket` is bound to the client port on every address of the interface, with broadcast
/// allowed. A DHCPNAK starts over with a new transaction, at most `attempts` times.
pub async fn acquire(config: &ClientConfig, socket: &UdpSocket) -> Result<Lease, ClientError> {
    if config.attempts == 0 {
        return Err(ClientError::NoAttempts);
    }

    let started = Instant::now();
    let mut naks = 0;
    loop {
        let xid = rand::random();
        let offer = discover(config, socket, xid, started).await?;

        match request(config, socket, xid, started, offer).await? {
            RequestReply::Ack(ack) => {
                let lease = lease_from_ack(&ack, offer.server_id)?;
                tracing::info!(address = %lease.address, server_id = %lease.server_id, relay = ?lease.relay, "DHCP lease obtained");
                return Ok(lease);
            }
            RequestReply::Nak(reason) => {
                naks += 1;
                tracing::info!(server_id = %offer.server_id, %reason, naks, "DHCPNAK, starting over");
                if naks >= config.attempts {
                    return Err(ClientError::Nak { server_id: offer.server_id, naks, reason });
                }
            }
        }
    }
}

async fn discover(
    config: &ClientConfig,
    socket: &UdpSocket,
    xid: u32,
    started: Instant,
) -> Result<Selected, ClientError> {
    for attempt in 0..config.attempts {
        let message = client_message(config, MessageType::Discover, xid, started, Options::default());
        send(config, socket, &message).await?;

        let deadline = Instant::now() + retransmit_delay(config.timeout, attempt);
        if let Some(offer) = receive(config, socket, xid, deadline, accept_offer).await? {
            return Ok(offer);
        }
        tracing::debug!(xid = %Xid(xid), attempt, "no DHCPOFFER yet");
    }
    Err(ClientError::NoOffer { attempts: config.attempts })
}

async fn request(
    config: &ClientConfig,
    socket: &UdpSocket,
    xid: u32,
    started: Instant,
    offer: Selected,
) -> Result<RequestReply, ClientError> {
    let options =
        Options { requested_address: Some(offer.address), server_id: Some(offer.server_id), ..Options::default() };

    for attempt in 0..config.attempts {
        let message = client_message(config, MessageType::Request, xid, started, options.clone());
        send(config, socket, &message).await?;

        let deadline = Instant::now() + retransmit_delay(config.timeout, attempt);
        if let Some(reply) = receive(config, socket, xid, deadline, |reply| accept_request_reply(reply, offer)).await? {
            return Ok(reply);
        }
        tracing::debug!(xid = %Xid(xid), attempt, "no DHCPACK yet");
    }
    Err(ClientError::NoAck { server_id: offer.server_id, address: offer.address, attempts: config.attempts })
}

/// Waits until `deadline` for a reply to `xid` that `accept` takes.
async fn receive<T>(
    config: &ClientConfig,
    socket: &UdpSocket,
    xid: u32,
    deadline: Instant,
    accept: impl Fn(Message) -> Option<T>,
) -> Result<Option<T>, ClientError> {
    let mut buffer = vec![0; MAX_DATAGRAM];

    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await;
        let Ok(received) = received else { return Ok(None) };
        let (len, peer) = received.map_err(|source| ClientError::Receive { source })?;

        let reply = match Message::parse(&buffer[..len]) {
            Ok(reply) if is_reply_to(&reply, xid, &config.mac) => reply,
            Ok(_) => continue,
            Err(error) => {
                tracing::info!(%peer, %error, "malformed DHCP message ignored");
                continue;
            }
        };

        if let Some(accepted) = accept(reply) {
            return Ok(Some(accepted));
        }
    }
}

fn is_reply_to(reply: &Message, xid: u32, mac: &[u8; 6]) -> bool {
    reply.op == Op::Reply && reply.xid == xid && reply.chaddr == mac
}

fn accept_offer(reply: Message) -> Option<Selected> {
    if reply.message_type != MessageType::Offer {
        return None;
    }

    let Some(server_id) = reply.options.server_id else {
        tracing::info!(xid = %Xid(reply.xid), "DHCPOFFER without server identifier (option 54) ignored");
        return None;
    };
    if reply.yiaddr.is_unspecified() {
        tracing::info!(xid = %Xid(reply.xid), %server_id, "DHCPOFFER without yiaddr ignored");
        return None;
    }
    Some(Selected { address: reply.yiaddr, server_id })
}

/// Takes a DHCPACK or DHCPNAK from the selected server. A DHCPNAK without option 54,
/// which RFC 2131 requires, is taken as well: ignoring it would only delay the restart.
fn accept_request_reply(reply: Message, offer: Selected) -> Option<RequestReply> {
    let from_selected = reply.options.server_id.is_none_or(|server_id| server_id == offer.server_id);

    match reply.message_type {
        MessageType::Ack if reply.options.server_id == Some(offer.server_id) => {
            Some(RequestReply::Ack(Box::new(reply)))
        }
        MessageType::Nak if from_selected => {
            let reason = reply.options.message.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            Some(RequestReply::Nak(reason.into_owned()))
        }
        _ => None,
    }
}

fn lease_from_ack(ack: &Message, server_id: Ipv4Addr) -> Result<Lease, ClientError> {
    let options = &ack.options;
    let mask = options.subnet_mask.ok_or(ClientError::MissingSubnetMask { server_id })?;
    let prefix_len =
        ipnetwork::ipv4_mask_to_prefix(mask).map_err(|_| ClientError::InvalidSubnetMask { server_id, mask })?;
    let lease_secs = options.lease_time.ok_or(ClientError::MissingLeaseTime { server_id })?;

    Ok(Lease {
        address: ack.yiaddr,
        prefix_len,
        router: options.routers.first().copied(),
        dns_servers: options.dns_servers.clone(),
        domain: options.domain_name.clone(),
        lease_time: Duration::from_secs(lease_secs.into()),
        server_id,
        relay: Some(ack.giaddr).filter(|giaddr| !giaddr.is_unspecified()),
    })
}

fn client_message(
    config: &ClientConfig,
    message_type: MessageType,
    xid: u32,
    started: Instant,
    options: Options,
) -> Message {
    let options = Options {
        host_name: config.hostname.clone().map(String::into_bytes),
        parameter_request_list: Some(PARAMETER_REQUEST_LIST.to_vec()),
        ..options
    };

    Message {
        op: Op::Request,
        message_type,
        htype: HTYPE_ETHERNET,
        hops: 0,
        xid,
        secs: u16::try_from(started.elapsed().as_secs()).unwrap_or(u16::MAX),
        broadcast: config.broadcast,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        siaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        chaddr: config.mac.to_vec(),
        options,
        option_order: vec![code::MESSAGE_TYPE],
    }
}

/// Broadcasts `message`: before it has a lease the client knows no server address.
async fn send(config: &ClientConfig, socket: &UdpSocket, message: &Message) -> Result<(), ClientError> {
    let target = SocketAddrV4::new(config.addressing.broadcast, config.addressing.server_port);
    let bytes = message.emit().map_err(|source| ClientError::Encode { source })?;
    let message_type = message.message_type;

    socket.send_to(&bytes, target).await.map_err(|source| ClientError::Send { message_type, target, source })?;
    tracing::debug!(xid = %Xid(message.xid), %message_type, %target, "DHCP message sent");
    Ok(())
}

/// Returns the wait after transmission number `attempt`: `timeout`, doubled for each
/// retransmission up to 64 s. RFC 2131 section 4.1 also randomizes each wait by one
/// second, which this client leaves out so that lab runs repeat exactly.
fn retransmit_delay(timeout: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt);
    timeout.saturating_mul(factor).min(MAX_RETRANSMIT_DELAY.max(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DNSMASQ_OFFER: &[u8] = include_bytes!("fixtures/dnsmasq-offer.bin");
    const DNSMASQ_ACK: &[u8] = include_bytes!("fixtures/dnsmasq-ack.bin");
    const MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x5e];
    const XID: u32 = 0x6d3c_cc5c;
    const SERVER_ID: Ipv4Addr = Ipv4Addr::new(192, 168, 90, 1);

    fn selected() -> Selected {
        Selected { address: Ipv4Addr::new(192, 168, 90, 118), server_id: SERVER_ID }
    }

    #[test]
    fn client_lease_from_dnsmasq_ack() {
        let ack = Message::parse(DNSMASQ_ACK).unwrap();

        let lease = lease_from_ack(&ack, SERVER_ID).unwrap();

        assert_eq!(
            lease,
            Lease {
                address: Ipv4Addr::new(192, 168, 90, 118),
                prefix_len: 24,
                router: Some(Ipv4Addr::new(192, 168, 90, 254)),
                dns_servers: vec![SERVER_ID],
                domain: Some(b"jcert.info".to_vec()),
                lease_time: Duration::from_secs(3600),
                server_id: SERVER_ID,
                relay: None,
            }
        );
    }

    #[test]
    fn client_lease_records_relay() {
        let mut ack = Message::parse(DNSMASQ_ACK).unwrap();
        ack.giaddr = Ipv4Addr::new(192, 168, 91, 3);

        let lease = lease_from_ack(&ack, SERVER_ID).unwrap();

        assert_eq!(lease.relay, Some(Ipv4Addr::new(192, 168, 91, 3)));
    }

    #[test]
    fn client_lease_needs_subnet_mask() {
        let mut ack = Message::parse(DNSMASQ_ACK).unwrap();
        ack.options.subnet_mask = None;

        let error = lease_from_ack(&ack, SERVER_ID).unwrap_err();

        assert!(matches!(error, ClientError::MissingSubnetMask { server_id: SERVER_ID }), "{error}");
    }

    #[test]
    fn client_lease_rejects_non_contiguous_mask() {
        let mut ack = Message::parse(DNSMASQ_ACK).unwrap();
        ack.options.subnet_mask = Some(Ipv4Addr::new(255, 0, 255, 0));

        let error = lease_from_ack(&ack, SERVER_ID).unwrap_err();

        assert!(matches!(error, ClientError::InvalidSubnetMask { .. }), "{error}");
    }

    #[test]
    fn client_lease_needs_lease_time() {
        let mut ack = Message::parse(DNSMASQ_ACK).unwrap();
        ack.options.lease_time = None;

        let error = lease_from_ack(&ack, SERVER_ID).unwrap_err();

        assert!(matches!(error, ClientError::MissingLeaseTime { .. }), "{error}");
    }

    #[test]
    fn client_accepts_offer_with_server_id() {
        let offer = Message::parse(DNSMASQ_OFFER).unwrap();

        let selected = accept_offer(offer).unwrap();

        assert_eq!(selected.address, Ipv4Addr::new(192, 168, 90, 118));
        assert_eq!(selected.server_id, SERVER_ID);
    }

    #[test]
    fn client_ignores_offer_without_server_id() {
        let mut offer = Message::parse(DNSMASQ_OFFER).unwrap();
        offer.options.server_id = None;

        assert!(accept_offer(offer).is_none());
    }

    #[test]
    fn client_ignores_ack_as_offer() {
        let ack = Message::parse(DNSMASQ_ACK).unwrap();

        assert!(accept_offer(ack).is_none());
    }

    #[test]
    fn client_accepts_ack_from_selected_server() {
        let ack = Message::parse(DNSMASQ_ACK).unwrap();

        assert!(matches!(accept_request_reply(ack, selected()), Some(RequestReply::Ack(_))));
    }

    #[test]
    fn client_ignores_ack_from_other_server() {
        let mut ack = Message::parse(DNSMASQ_ACK).unwrap();
        ack.options.server_id = Some(Ipv4Addr::new(192, 168, 90, 2));

        assert!(accept_request_reply(ack, selected()).is_none());
    }

    #[test]
    fn client_accepts_nak_with_reason() {
        let mut nak = Message::parse(DNSMASQ_ACK).unwrap();
        nak.message_type = MessageType::Nak;
        nak.options.message = Some(b"wrong network".to_vec());

        let reply = accept_request_reply(nak, selected());

        assert!(matches!(reply, Some(RequestReply::Nak(reason)) if reason == "wrong network"));
    }

    #[test]
    fn client_matches_replies_by_xid_and_chaddr() {
        let offer = Message::parse(DNSMASQ_OFFER).unwrap();
        let mut other_mac = MAC;
        other_mac[5] = 0;

        assert!(is_reply_to(&offer, XID, &MAC));
        assert!(!is_reply_to(&offer, XID + 1, &MAC));
        assert!(!is_reply_to(&offer, XID, &other_mac));
    }

    #[test]
    fn client_discover_asks_for_me_options() {
        let mut config = ClientConfig::new(MAC);
        config.hostname = Some("vpro-90".to_owned());

        let message = client_message(&config, MessageType::Discover, XID, Instant::now(), Options::default());
        let parsed = Message::parse(&message.emit().unwrap()).unwrap();

        assert_eq!(parsed.op, Op::Request);
        assert_eq!(parsed.message_type, MessageType::Discover);
        assert!(parsed.broadcast);
        assert_eq!(parsed.chaddr, MAC);
        assert_eq!(parsed.options.host_name.as_deref(), Some(&b"vpro-90"[..]));
        assert_eq!(parsed.options.parameter_request_list.as_deref(), Some(&PARAMETER_REQUEST_LIST[..]));
    }

    #[test]
    fn client_discover_matches_capture() {
        // The capture is this client's DHCPDISCOVER after dhcrelay set hops and giaddr.
        let capture = include_bytes!("fixtures/dhcrelay-discover.bin");
        let config = ClientConfig::new([0x00, 0x1b, 0x21, 0x3a, 0x91, 0x50]);

        let message = client_message(&config, MessageType::Discover, 0x681f_50f7, Instant::now(), Options::default());
        let mut bytes = message.emit().unwrap();
        wire::write_relay_fields(&mut bytes, 1, Ipv4Addr::new(192, 168, 91, 3)).unwrap();

        assert_eq!(bytes, capture);
    }

    #[test]
    fn client_retransmit_delay_doubles_up_to_64_seconds() {
        let timeout = Duration::from_secs(4);

        let delays: Vec<u64> = (0..6).map(|attempt| retransmit_delay(timeout, attempt).as_secs()).collect();

        assert_eq!(delays, [4, 8, 16, 32, 64, 64]);
        assert_eq!(retransmit_delay(timeout, 40), MAX_RETRANSMIT_DELAY);
    }

    #[tokio::test]
    async fn client_with_zero_attempts_fails() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let config = ClientConfig { attempts: 0, ..ClientConfig::new(MAC) };

        let error = acquire(&config, &socket).await.unwrap_err();

        assert!(matches!(error, ClientError::NoAttempts), "{error}");
    }
}
