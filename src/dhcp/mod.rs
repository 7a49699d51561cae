//! DHCP server (one scope per subnet, chosen by giaddr), relay, and the ME's client.
//!
//! The wire format lives in [`wire`]; the server's state machine in [`server`] works on
//! decoded messages and a [`Clock`], so tests drive it without sockets or real time.
//! [`serve_server`], [`serve_relay`] and [`acquire`] take sockets the lab made inside a
//! node's namespace and never bind one themselves.

mod client;
mod clock;
mod leases;
mod relay;
mod server;
mod service;
pub mod wire;

#[cfg(test)]
mod loopback_tests;

use std::net::{Ipv4Addr, SocketAddrV4};

pub use client::{ClientConfig, ClientError, Lease, acquire};
pub use clock::{Clock, ManualClock, SystemClock};
pub use leases::{Binding, BindingState, ClientKey};
pub use relay::{RelayConfig, RelayError, serve_relay};
pub use server::{LeaseEvent, NoReply, Outcome, Reply, Scope, Server, ServerConfig, ServerError};
pub use service::serve_server;
pub use wire::escape_option15;

use wire::{Message, MessageType};

/// UDP ports and the broadcast address a service uses.
///
/// On a lab segment these are the RFC 2131 values. Tests on loopback pick free ports and
/// put a unicast loopback address in `broadcast`, because a limited broadcast from a
/// socket that is not bound to a device would leave through the host's default interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addressing {
    /// Port servers and relays listen on (67, bootps).
    pub server_port: u16,
    /// Port clients listen on (68, bootpc).
    pub client_port: u16,
    /// Destination of broadcast requests and replies (255.255.255.255).
    pub broadcast: Ipv4Addr,
}

impl Default for Addressing {
    fn default() -> Self {
        Self { server_port: 67, client_port: 68, broadcast: Ipv4Addr::BROADCAST }
    }
}

/// The destination of a reply from a server or relay, by the rules of RFC 2131 section 4.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// The relay agent at giaddr, on the server port.
    Relay(Ipv4Addr),
    /// The client at ciaddr, an address it already uses.
    Client(Ipv4Addr),
    /// Every host on the client's segment.
    Broadcast,
    /// The client at yiaddr, which it does not use yet: reaching it by unicast needs a
    /// neighbour entry for chaddr.
    ClientHardware { yiaddr: Ipv4Addr, chaddr: Vec<u8> },
}

impl Destination {
    /// Chooses where a server sends `reply`: to the relay when there is one, otherwise as
    /// RFC 2131 section 4.1 orders it (ciaddr before the broadcast flag).
    pub fn of_server_reply(reply: &Message) -> Self {
        if !reply.giaddr.is_unspecified() {
            return Self::Relay(reply.giaddr);
        }

        // RFC 2131 section 4.3.2: without a relay a DHCPNAK is always broadcast, because
        // the client may be using an address that is wrong for this segment.
        if reply.message_type == MessageType::Nak {
            return Self::Broadcast;
        }

        if !reply.ciaddr.is_unspecified() {
            return Self::Client(reply.ciaddr);
        }
        if reply.broadcast {
            return Self::Broadcast;
        }
        Self::ClientHardware { yiaddr: reply.yiaddr, chaddr: reply.chaddr.clone() }
    }

    /// Chooses where a relay delivers `reply` on the client's segment: broadcast when the
    /// broadcast flag is set (RFC 1542 section 5.4), otherwise as a server would.
    pub fn of_relayed_reply(reply: &Message) -> Self {
        if reply.broadcast || reply.message_type == MessageType::Nak {
            return Self::Broadcast;
        }

        if !reply.ciaddr.is_unspecified() {
            return Self::Client(reply.ciaddr);
        }
        Self::ClientHardware { yiaddr: reply.yiaddr, chaddr: reply.chaddr.clone() }
    }

    /// Returns the UDP destination of the reply.
    pub fn socket_address(&self, addressing: &Addressing) -> SocketAddrV4 {
        match self {
            Self::Relay(giaddr) => SocketAddrV4::new(*giaddr, addressing.server_port),
            Self::Client(ciaddr) => SocketAddrV4::new(*ciaddr, addressing.client_port),
            Self::Broadcast => SocketAddrV4::new(addressing.broadcast, addressing.client_port),
            // NOTE: RFC 2131 specifies unicast to yiaddr here, which needs a neighbour entry
            // for chaddr before the client answers ARP; until the lab adds one, broadcast.
            Self::ClientHardware { .. } => SocketAddrV4::new(addressing.broadcast, addressing.client_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::{Op, Options};

    const GIADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 3);
    const YIADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 100);
    const CIADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 50);

    fn reply(message_type: MessageType, broadcast: bool) -> Message {
        Message {
            op: Op::Reply,
            message_type,
            htype: 1,
            hops: 0,
            xid: 1,
            secs: 0,
            broadcast,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: YIADDR,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: vec![0, 1, 2, 3, 4, 5],
            options: Options::default(),
            option_order: vec![],
        }
    }

    #[test]
    fn destination_relayed_reply_goes_to_giaddr() {
        let mut message = reply(MessageType::Nak, true);
        message.giaddr = GIADDR;

        assert_eq!(Destination::of_server_reply(&message), Destination::Relay(GIADDR));
    }

    #[test]
    fn destination_nak_is_broadcast() {
        let mut message = reply(MessageType::Nak, false);
        message.ciaddr = CIADDR;

        assert_eq!(Destination::of_server_reply(&message), Destination::Broadcast);
        assert_eq!(Destination::of_relayed_reply(&message), Destination::Broadcast);
    }

    #[test]
    fn destination_server_prefers_ciaddr_over_broadcast_flag() {
        let mut message = reply(MessageType::Ack, true);
        message.ciaddr = CIADDR;

        assert_eq!(Destination::of_server_reply(&message), Destination::Client(CIADDR));
    }

    #[test]
    fn destination_relay_prefers_broadcast_flag_over_ciaddr() {
        let mut message = reply(MessageType::Ack, true);
        message.ciaddr = CIADDR;

        assert_eq!(Destination::of_relayed_reply(&message), Destination::Broadcast);
    }

    #[test]
    fn destination_without_flag_or_ciaddr_is_client_hardware() {
        let message = reply(MessageType::Offer, false);

        let expected = Destination::ClientHardware { yiaddr: YIADDR, chaddr: vec![0, 1, 2, 3, 4, 5] };
        assert_eq!(Destination::of_server_reply(&message), expected);
        assert_eq!(Destination::of_relayed_reply(&message), expected);
    }

    #[test]
    fn destination_socket_addresses_use_ports() {
        let addressing = Addressing { server_port: 1067, client_port: 1068, broadcast: Ipv4Addr::new(127, 0, 0, 9) };
        let hardware = Destination::ClientHardware { yiaddr: YIADDR, chaddr: vec![] };

        assert_eq!(Destination::Relay(GIADDR).socket_address(&addressing), SocketAddrV4::new(GIADDR, 1067));
        assert_eq!(Destination::Client(CIADDR).socket_address(&addressing), SocketAddrV4::new(CIADDR, 1068));
        assert_eq!(Destination::Broadcast.socket_address(&addressing), SocketAddrV4::new(addressing.broadcast, 1068));
        assert_eq!(hardware.socket_address(&addressing), SocketAddrV4::new(addressing.broadcast, 1068));
    }

    #[test]
    fn addressing_default_is_rfc_2131() {
        let addressing = Addressing::default();

        assert_eq!(addressing.server_port, 67);
        assert_eq!(addressing.client_port, 68);
        assert_eq!(addressing.broadcast, Ipv4Addr::BROADCAST);
    }
}
