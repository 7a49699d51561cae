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
use super::wire::{self, Message, Op, WireError};
use super::{Addressing, Destination};

/// RFC 1542 section 4.1.1: a BOOTREQUEST with more hops than this has looped.
const MAX_HOPS: u8 = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// The relay's address on the clients' segment, written into giaddr.
    pub giaddr: Ipv4Addr,
    /// DHCP servers to forward every client request to.
    pub servers: Vec<Ipv4Addr>,
    pub addressing: Addressing,
}

/// Why the relay stopped, or why it dropped one message.
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

/// What to do with one datagram.
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
    // answers that relay, which is on the client's segment.
    let giaddr = if message.giaddr.is_unspecified() { config.giaddr } else { message.giaddr };

    let mut bytes = datagram.to_vec();
    wire::write_relay_fields(&mut bytes, message.hops + 1, giaddr)
        .map_err(|source| RelayError::Malformed { source })?;
    tracing::info!(xid = message.xid, chaddr = %message.chaddr_display(), message_type = %message.message_type, %giaddr, "relaying request to servers");
    Ok(Forward::ToServers(bytes))
}

fn forward_reply(config: &RelayConfig, message: &Message, datagram: &[u8]) -> Result<Forward, RelayError> {
    if message.giaddr != config.giaddr {
        return Err(RelayError::ForeignGiaddr { giaddr: message.giaddr, own: config.giaddr });
    }

    let destination = Destination::of_relayed_reply(message);
    tracing::info!(xid = message.xid, chaddr = %message.chaddr_display(), message_type = %message.message_type, yiaddr = %message.yiaddr, ?destination, "relaying reply to client");
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
