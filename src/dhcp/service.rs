//! The DHCP server on a socket.

use std::net::SocketAddr;

use ipnetwork::Ipv4Network;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::clock::{Clock, SystemClock};
use super::server::{LeaseEvent, Outcome, Server, ServerConfig, ServerError};
use super::wire::{Message, Xid};
use super::{Addressing, Destination};

/// Largest datagram read. DHCP messages are at most 576 bytes unless a client raises the
/// limit with option 57, which still caps them at one UDP datagram.
pub(super) const MAX_DATAGRAM: usize = 65_535;

/// Serves DHCP on `socket` until `shutdown` is cancelled.
///
/// `socket` is bound to port 67 on every address, tied to the server's interface, with
/// broadcast allowed. `local` is that interface's address and prefix: it picks the scope
/// for clients on the server's own segment. Replies go to giaddr when relayed, and to the
/// client's segment otherwise (see [`Destination`]). Each DHCPACK of an address is sent
/// to `leases` as a [`LeaseEvent`], when given.
pub async fn serve_server(
    config: ServerConfig,
    socket: UdpSocket,
    local: Ipv4Network,
    shutdown: CancellationToken,
    leases: Option<UnboundedSender<LeaseEvent>>,
) -> Result<(), ServerError> {
    let span = tracing::info_span!("dhcp_server", server_id = %config.server_id);
    let addressing = config.addressing;
    let server = Server::new(config, SystemClock)?;

    run(server, addressing, socket, local, shutdown, leases).instrument(span).await
}

async fn run<C: Clock>(
    mut server: Server<C>,
    addressing: Addressing,
    socket: UdpSocket,
    local: Ipv4Network,
    shutdown: CancellationToken,
    leases: Option<UnboundedSender<LeaseEvent>>,
) -> Result<(), ServerError> {
    tracing::info!(%local, port = addressing.server_port, "DHCP server started");
    let mut buffer = vec![0; MAX_DATAGRAM];

    loop {
        let (len, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            received = socket.recv_from(&mut buffer) => received.map_err(|source| ServerError::Receive { source })?,
        };

        if let Some((request, reply)) = answer(&mut server, &buffer[..len], peer, local) {
            send(&socket, &reply.message, &reply.destination, &addressing).await;
            report_lease(leases.as_ref(), &request, &reply.message);
        }
    }

    tracing::info!("DHCP server stopped");
    Ok(())
}

fn answer<C: Clock>(
    server: &mut Server<C>,
    datagram: &[u8],
    peer: SocketAddr,
    local: Ipv4Network,
) -> Option<(Message, super::server::Reply)> {
    let request = match Message::parse(datagram) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%peer, %error, "malformed DHCP message dropped");
            return None;
        }
    };

    match server.handle(&request, local) {
        Outcome::Reply(reply) => Some((request, *reply)),
        Outcome::Recorded | Outcome::Ignored(_) => None,
    }
}

/// Sends the lease a DHCPACK grants to the lease receiver, such as dynamic DNS.
fn report_lease(leases: Option<&UnboundedSender<LeaseEvent>>, request: &Message, reply: &Message) {
    let (Some(leases), Some(event)) = (leases, LeaseEvent::from_ack(request, reply)) else { return };
    if leases.send(event).is_err() {
        tracing::debug!(xid = %Xid(reply.xid), "lease not reported: the lease receiver has stopped");
    }
}

/// Sends one reply; a failure is logged and the server goes on with the next message.
pub(super) async fn send(socket: &UdpSocket, message: &Message, destination: &Destination, addressing: &Addressing) {
    let target = destination.socket_address(addressing);
    let bytes = match message.emit() {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, xid = %Xid(message.xid), "DHCP reply could not be encoded");
            return;
        }
    };

    if let Err(error) = socket.send_to(&bytes, target).await {
        tracing::warn!(%error, %target, xid = %Xid(message.xid), "sending DHCP message failed");
    }
}
