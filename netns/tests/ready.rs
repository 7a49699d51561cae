//! `Netlink::wait_ready`: after it returns, a veth pair attached to a bridge carries the
//! very first frame, even when the switch end came up before the node end, which leaves
//! the switch end without a queueing discipline until the kernel's link watcher runs.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use ipnetwork::Ipv4Network;
use netns::sandbox::isolate_current_thread;
use netns::{Namespace, Netlink, VethPair};

use common::{receive, udp_socket};

const ROUNDS: u8 = 20;
const PORT: u16 = 4000;
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Far longer than a datagram needs to cross a bridge; a frame dropped by a link that
/// is not ready never arrives at all.
const DELIVERY_WAIT: Duration = Duration::from_secs(2);

/// Attaches a new node to `bridge` in the order a lab uses: switch end up first.
async fn attach(switch: &Netlink, bridge: &str, name: &str, address: Ipv4Addr) -> (Namespace, Netlink) {
    let namespace = Namespace::create(name).unwrap();
    let pair = VethPair { name, mac: None, peer_name: "eth0", peer_namespace: &namespace, peer_mac: None };
    switch.add_veth(&pair).await.unwrap();
    switch.attach_to_bridge(name, bridge).await.unwrap();
    switch.set_up(name).await.unwrap();

    let node = Netlink::connect(&namespace).unwrap();
    node.set_up("eth0").await.unwrap();
    node.add_address("eth0", Ipv4Network::new(address, 24).unwrap()).await.unwrap();
    (namespace, node)
}

#[tokio::test]
async fn wait_ready_lets_first_broadcast_through() {
    isolate_current_thread().unwrap();
    let switch_namespace = Namespace::create("ready-switch").unwrap();
    let switch = Netlink::connect(&switch_namespace).unwrap();
    switch.add_bridge("br0").await.unwrap();
    switch.set_up("br0").await.unwrap();

    for round in 0..ROUNDS {
        let sender_address = Ipv4Addr::new(10, 9, round, 1);
        let receiver_address = Ipv4Addr::new(10, 9, round, 2);
        let (sender_namespace, sender) = attach(&switch, "br0", &format!("ready-s{round}"), sender_address).await;
        let (receiver_namespace, receiver) = attach(&switch, "br0", &format!("ready-r{round}"), receiver_address).await;

        switch.wait_ready(&[&format!("ready-s{round}"), &format!("ready-r{round}")], READY_TIMEOUT).await.unwrap();
        sender.wait_ready(&["eth0"], READY_TIMEOUT).await.unwrap();
        receiver.wait_ready(&["eth0"], READY_TIMEOUT).await.unwrap();

        let listening = udp_socket(&receiver_namespace, SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)));
        let sending = udp_socket(&sender_namespace, SocketAddr::V4(SocketAddrV4::new(sender_address, 0)));
        let broadcast = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 9, round, 255), PORT));
        sending.send_to(b"first", broadcast).await.unwrap();

        let received = receive(&listening, DELIVERY_WAIT).await;
        assert_eq!(received.map(|(payload, _)| payload), Some(b"first".to_vec()), "round {round}: first broadcast lost");
    }
}

#[tokio::test]
async fn wait_ready_times_out_on_down_link() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("ready-down").unwrap();
    let peer = Namespace::create("ready-down-peer").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    let pair = VethPair { name: "v0", mac: None, peer_name: "v1", peer_namespace: &peer, peer_mac: None };
    netlink.add_veth(&pair).await.unwrap();

    let error = netlink.wait_ready(&["v0"], Duration::from_millis(50)).await.unwrap_err();

    assert!(matches!(error, netns::Error::LinksNotReady { ref links, .. } if links == &["v0".to_owned()]), "{error}");
}
