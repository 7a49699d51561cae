//! A DHCP relay agent (RFC 1542 section 4, RFC 2131 section 4.1).
//!
//! Client BOOTREQUESTs heard on the segment go to every configured server with giaddr
//! set to the relay's address; BOOTREPLYs from a server go back onto the segment.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::service::MAX_DATAGRAM;
use super::wire::{self, Message, Op, WireError, Xid};
use super::{Addressing, Destination};

/// RFC 1542 section 4.1.1: a BOOTREQUEST with more hops than this has looped.
const MAX_HOPS: u8 = 16;

/// Where the relay sits and where it forwards to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// The relay's address on the clients' segment, written into giaddr.
    pub giaddr: Ipv4Addr,
    /// DHCP servers to forward every client request to.
    pub servers: Vec<Ipv4Addr>,
    pub addressing: Addressing,
}

/// Errors that stop the relay, and reasons it drops one message.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("relay for giaddr {giaddr} has no DHCP server to forward to; list at least one")]
    NoServers { giaddr: Ipv4Addr },

    #[error("receiving on the DHCP relay socket failed: {source}")]
    Receive { source: io::Error },

    #[error("malformed DHCP message: {source}")]
    Malformed { source: WireError },

    #[error("BOOTREQUEST has {hops} hops, more than {MAX_HOPS}: it is looping between relays")]
    TooManyHops { hops: u8 },

    #[error("BOOTREPLY for giaddr {giaddr} is not for this relay ({own})")]
    ForeignGiaddr { giaddr: Ipv4Addr, own: Ipv4Addr },
}

/// The relay's decision on one datagram.
#[derive(Debug, PartialEq, Eq)]
enum Forward {
    /// Send these bytes to each server.
    ToServers(Vec<u8>),
    /// Send these bytes onto the client's segment.
    ToClient(Vec<u8>, Destination),
}

/// Relays DHCP on `socket` until `shutdown` is cancelled.
///
/// `socket` is bound to port 67 on every address, tied to the interface on the clients'
/// segment, with broadcast allowed: client broadcasts and server replies both arrive on it.
pub async fn serve_relay(
    config: RelayConfig,
    socket: UdpSocket,
    shutdown: CancellationToken,
) -> Result<(), RelayError> {
    if config.servers.is_empty() {
        return Err(RelayError::NoServers { giaddr: config.giaddr });
    }

    let span = tracing::info_span!("dhcp_relay", giaddr = %config.giaddr);
    run(config, socket, shutdown).instrument(span).await
}

async fn run(config: RelayConfig, socket: UdpSocket, shutdown: CancellationToken) -> Result<(), RelayError> {
    tracing::info!(servers = ?config.servers, port = config.addressing.server_port, "DHCP relay started");
    let mut buffer = vec![0; MAX_DATAGRAM];

    loop {
        let (len, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            received = socket.recv_from(&mut buffer) => received.map_err(|source| RelayError::Receive { source })?,
        };

        match forward(&config, &buffer[..len]) {
            Ok(forward) => send(&socket, &config, forward).await,
            Err(error) => tracing::warn!(%peer, %error, "DHCP message dropped by relay"),
        }
    }

    tracing::info!("DHCP relay stopped");
    Ok(())
}

/// Decides where one datagram goes. The bytes are forwarded as received except for hops
/// and giaddr, so that options the relay does not read reach the server unchanged.
fn forward(config: &RelayConfig, datagram: &[u8]) -> Result<Forward, RelayError> {
    let message = Message::parse(datagram).map_err(|source| RelayError::Malformed { source })?;

    match message.op {
        Op::Request => forward_request(config, &message, datagram),
        Op::Reply => forward_reply(config, &message, datagram),
    }
}

fn forward_request(config: &RelayConfig, message: &Message, datagram: &[u8]) -> Result<Forward, RelayError> {
    if message.hops > MAX_HOPS {
        return Err(RelayError::TooManyHops { hops: message.hops });
    }

    // RFC 1542 section 4.1.1: a giaddr set by an earlier relay stays, so that the server
    // replies to that relay, which is on the client's segment.
    let giaddr = if message.giaddr.is_unspecified() { config.giaddr } else { message.giaddr };

    let mut bytes = datagram.to_vec();
    wire::write_relay_fields(&mut bytes, message.hops + 1, giaddr)
        .map_err(|source| RelayError::Malformed { source })?;
    tracing::info!(xid = %Xid(message.xid), chaddr = %message.chaddr_display(), message_type = %message.message_type, %giaddr, "relaying request to servers");
    Ok(Forward::ToServers(bytes))
}

fn forward_reply(config: &RelayConfig, message: &Message, datagram: &[u8]) -> Result<Forward, RelayError> {
    if message.giaddr != config.giaddr {
        return Err(RelayError::ForeignGiaddr { giaddr: message.giaddr, own: config.giaddr });
    }

    let destination = Destination::of_relayed_reply(message);
    tracing::info!(xid = %Xid(message.xid), chaddr = %message.chaddr_display(), message_type = %message.message_type, yiaddr = %message.yiaddr, ?destination, "relaying reply to client");
    Ok(Forward::ToClient(datagram.to_vec(), destination))
}

async fn send(socket: &UdpSocket, config: &RelayConfig, forward: Forward) {
    let (bytes, targets) = match forward {
        Forward::ToServers(bytes) => {
            let port = config.addressing.server_port;
            let targets = config.servers.iter().map(|server| SocketAddrV4::new(*server, port)).collect();
            (bytes, targets)
        }
        Forward::ToClient(bytes, destination) => (bytes, vec![destination.socket_address(&config.addressing)]),
    };

    for target in targets {
        if let Err(error) = socket.send_to(&bytes, SocketAddr::V4(target)).await {
            tracing::warn!(%error, %target, "relay could not send DHCP message");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDHCPC_DISCOVER: &[u8] = include_bytes!("fixtures/udhcpc-discover.bin");
    const DNSMASQ_OFFER: &[u8] = include_bytes!("fixtures/dnsmasq-offer.bin");
    const GIADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 3);

    fn config() -> RelayConfig {
        RelayConfig { giaddr: GIADDR, servers: vec![Ipv4Addr::new(192, 168, 90, 1)], addressing: Addressing::default() }
    }

    /// Encodes the dnsmasq DHCPOFFER as if it came back through this relay.
    fn relayed_offer(broadcast: bool) -> Vec<u8> {
        let mut message = Message::parse(DNSMASQ_OFFER).unwrap();
        message.giaddr = GIADDR;
        message.broadcast = broadcast;
        message.emit().unwrap()
    }

    #[test]
    fn relay_request_gets_giaddr_and_hop() {
        let forward = forward(&config(), UDHCPC_DISCOVER).unwrap();

        let Forward::ToServers(bytes) = forward else { panic!("expected a forward to servers, got {forward:?}") };
        let message = Message::parse(&bytes).unwrap();
        assert_eq!(message.giaddr, GIADDR);
        assert_eq!(message.hops, 1);
        assert_eq!(bytes.len(), UDHCPC_DISCOVER.len());
        assert_eq!(bytes[OPTIONS_START..], UDHCPC_DISCOVER[OPTIONS_START..]);
    }

    #[test]
    fn relay_request_keeps_earlier_giaddr() {
        let mut bytes = UDHCPC_DISCOVER.to_vec();
        wire::write_relay_fields(&mut bytes, 2, Ipv4Addr::new(10, 1, 1, 1)).unwrap();

        let Forward::ToServers(bytes) = forward(&config(), &bytes).unwrap() else { panic!("expected a forward") };

        let message = Message::parse(&bytes).unwrap();
        assert_eq!(message.giaddr, Ipv4Addr::new(10, 1, 1, 1));
        assert_eq!(message.hops, 3);
    }

    #[test]
    fn relay_request_at_hop_limit_is_forwarded() {
        let mut bytes = UDHCPC_DISCOVER.to_vec();
        wire::write_relay_fields(&mut bytes, MAX_HOPS, Ipv4Addr::UNSPECIFIED).unwrap();

        let forward = forward(&config(), &bytes);

        assert!(matches!(forward, Ok(Forward::ToServers(_))), "{forward:?}");
    }

    #[test]
    fn relay_request_over_hop_limit_is_dropped() {
        let mut bytes = UDHCPC_DISCOVER.to_vec();
        wire::write_relay_fields(&mut bytes, MAX_HOPS + 1, Ipv4Addr::UNSPECIFIED).unwrap();

        let error = forward(&config(), &bytes).unwrap_err();

        assert!(matches!(error, RelayError::TooManyHops { hops: 17 }), "{error}");
    }

    #[test]
    fn relay_reply_with_broadcast_flag_is_broadcast() {
        let bytes = relayed_offer(true);

        let forward = forward(&config(), &bytes).unwrap();

        assert_eq!(forward, Forward::ToClient(bytes, Destination::Broadcast));
    }

    #[test]
    fn relay_reply_without_broadcast_flag_goes_to_yiaddr() {
        let bytes = relayed_offer(false);

        let forward = forward(&config(), &bytes).unwrap();

        let chaddr = vec![0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x5e];
        let destination = Destination::ClientHardware { yiaddr: Ipv4Addr::new(192, 168, 90, 118), chaddr };
        assert_eq!(forward, Forward::ToClient(bytes, destination));
    }

    #[test]
    fn relay_reply_for_other_relay_is_dropped() {
        let error = forward(&config(), DNSMASQ_OFFER).unwrap_err();

        assert!(matches!(error, RelayError::ForeignGiaddr { giaddr, .. } if giaddr.is_unspecified()), "{error}");
    }

    #[test]
    fn relay_drops_malformed_message() {
        let error = forward(&config(), &UDHCPC_DISCOVER[..100]).unwrap_err();

        assert!(matches!(error, RelayError::Malformed { source: WireError::TooShort { len: 100 } }), "{error}");
    }

    #[tokio::test]
    async fn relay_without_servers_does_not_start() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let config = RelayConfig { servers: vec![], ..config() };

        let error = serve_relay(config, socket, CancellationToken::new()).await.unwrap_err();

        assert!(matches!(error, RelayError::NoServers { giaddr: GIADDR }), "{error}");
    }

    const OPTIONS_START: usize = wire::OPTIONS_OFFSET;
}
