//! Helpers shared by the integration tests: raw rtnetlink access to check what the crate
//! did by an independent route, and UDP sockets inside a namespace.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use futures::TryStreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netns::Namespace;
use rtnetlink::packet_core::NetlinkMessage;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::sys::SocketAddr as NetlinkAddr;
use rtnetlink::{Handle, MulticastGroup};

/// Link notifications (RTM_NEWLINK, RTM_DELLINK) as the kernel multicasts them.
pub type LinkEvents = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, NetlinkAddr)>;

/// Opens an rtnetlink handle inside `namespace` without the crate's `Netlink`.
pub fn raw_handle(namespace: &Namespace) -> Handle {
    let runtime = tokio::runtime::Handle::current();
    let open = || {
        let _context = runtime.enter();
        rtnetlink::new_connection()
    };
    let (connection, handle, _) = namespace.run(open).unwrap().unwrap();
    tokio::spawn(connection);
    handle
}

/// Subscribes to link notifications in `namespace`, or in the caller's namespace.
pub fn link_events(namespace: Option<&Namespace>) -> LinkEvents {
    let runtime = tokio::runtime::Handle::current();
    let open = || {
        let _context = runtime.enter();
        rtnetlink::new_multicast_connection(&[MulticastGroup::Link])
    };
    let (connection, _handle, events) = match namespace {
        Some(namespace) => namespace.run(open).unwrap().unwrap(),
        None => open().unwrap(),
    };
    tokio::spawn(connection);
    events
}

/// Drains the notifications that arrive within `quiet`, and returns the names of the
/// links in RTM_NEWLINK ones.
pub async fn new_link_names(events: &mut LinkEvents, quiet: Duration) -> Vec<String> {
    use futures::StreamExt;
    use rtnetlink::packet_core::NetlinkPayload;
    use rtnetlink::packet_route::link::LinkAttribute;

    let mut names = Vec::new();
    while let Ok(Some((message, _))) = tokio::time::timeout(quiet, events.next()).await {
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) = message.payload {
            for attribute in link.attributes {
                if let LinkAttribute::IfName(name) = attribute {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// Dumps every link message of the namespace behind `handle`.
pub async fn raw_links(handle: &Handle) -> Vec<LinkMessage> {
    handle.link().get().execute().try_collect().await.unwrap()
}

/// Lists the IPv4 addresses, with prefix length, on the link with `index`.
pub async fn ipv4_addresses(handle: &Handle, index: u32) -> Vec<String> {
    let messages: Vec<AddressMessage> = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .unwrap();

    let mut addresses = Vec::new();
    for message in messages {
        for attribute in &message.attributes {
            if let AddressAttribute::Local(std::net::IpAddr::V4(ip)) = attribute {
                addresses.push(format!("{ip}/{}", message.header.prefix_len));
            }
        }
    }
    addresses
}

/// Binds a UDP socket to `address` inside `namespace`, allowed to send broadcasts.
pub fn udp_socket(namespace: &Namespace, address: SocketAddr) -> tokio::net::UdpSocket {
    let bind = || -> std::io::Result<UdpSocket> {
        let socket = UdpSocket::bind(address)?;
        socket.set_broadcast(true)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    };
    let socket = namespace.run(bind).unwrap().unwrap();
    tokio::net::UdpSocket::from_std(socket).unwrap()
}

/// Waits up to `wait` for one datagram, and returns its payload and source.
pub async fn receive(
    socket: &tokio::net::UdpSocket,
    wait: Duration,
) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buffer = [0u8; 1500];
    match tokio::time::timeout(wait, socket.recv_from(&mut buffer)).await {
        Ok(Ok((length, source))) => Some((buffer[..length].to_vec(), source)),
        Ok(Err(error)) => panic!("recv_from failed: {error}"),
        Err(_elapsed) => None,
    }
}
