//! A two-VLAN lab built the way vprolab builds one: a switch namespace with one bridge per
//! VLAN holding the VLAN's gateway, and two nodes per VLAN attached by veth pairs. Checks
//! routing between VLANs, broadcast confined to a VLAN, and a teardown that leaves
//! nothing behind.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use ipnetwork::Ipv4Network;
use netns::sandbox::isolate_current_thread;
use netns::{MacAddr, Namespace, Netlink, VethPair, read_sysctl, set_sysctl};

use common::{LinkEvents, link_events, new_link_names, receive, udp_socket};

const SWITCH: &str = "lab-switch";

/// Long enough for a datagram to cross two veth pairs and a bridge many times over, so
/// that its absence after this long means it was not delivered.
const NO_DELIVERY_WAIT: Duration = Duration::from_millis(500);
const DELIVERY_WAIT: Duration = Duration::from_secs(5);

struct Vlan {
    bridge: &'static str,
    gateway: Ipv4Network,
}

const VLAN_A: Vlan = Vlan {
    bridge: "br-a",
    gateway: gateway(1),
};
const VLAN_B: Vlan = Vlan {
    bridge: "br-b",
    gateway: gateway(2),
};

const fn gateway(subnet: u8) -> Ipv4Network {
    match Ipv4Network::new_checked(Ipv4Addr::new(10, 0, subnet, 1), 24) {
        Some(network) => network,
        None => panic!("valid prefix"),
    }
}

struct Node {
    name: &'static str,
    vlan: &'static Vlan,
    address: Ipv4Addr,
    namespace: Namespace,
}

impl Node {
    fn ip(&self, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.address, port))
    }
}

async fn build_switch() -> (Namespace, Netlink) {
    let switch = Namespace::create(SWITCH).unwrap();
    let netlink = Netlink::connect(&switch).unwrap();
    netlink.set_up("lo").await.unwrap();

    for vlan in [&VLAN_A, &VLAN_B] {
        netlink.add_bridge(vlan.bridge).await.unwrap();
        netlink
            .add_address(vlan.bridge, vlan.gateway)
            .await
            .unwrap();
        netlink.set_up(vlan.bridge).await.unwrap();
    }
    (switch, netlink)
}

async fn build_node(switch: &Netlink, name: &'static str, vlan: &'static Vlan, host: u8) -> Node {
    let namespace = Namespace::create(&format!("lab-{name}")).unwrap();
    let octets = vlan.gateway.ip().octets();
    let address = Ipv4Addr::new(octets[0], octets[1], octets[2], host);

    let port = format!("p-{name}");
    let mac = MacAddr::new([0x02, 0, 0, 0, octets[2], host]);
    let pair = VethPair {
        name: &port,
        mac: None,
        peer_name: "eth0",
        peer_namespace: &namespace,
        peer_mac: Some(mac),
    };
    switch.add_veth(&pair).await.unwrap();
    switch.attach_to_bridge(&port, vlan.bridge).await.unwrap();
    switch.set_up(&port).await.unwrap();

    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.set_up("lo").await.unwrap();
    netlink.set_up("eth0").await.unwrap();
    let prefix = Ipv4Network::new(address, vlan.gateway.prefix()).unwrap();
    netlink.add_address("eth0", prefix).await.unwrap();
    netlink.add_default_route(vlan.gateway.ip()).await.unwrap();

    Node {
        name,
        vlan,
        address,
        namespace,
    }
}

async fn build_lab() -> (Namespace, Netlink, Vec<Node>) {
    let (switch, switch_netlink) = build_switch().await;
    let mut nodes = Vec::new();
    for (name, vlan, host) in [
        ("a1", &VLAN_A, 11),
        ("a2", &VLAN_A, 12),
        ("b1", &VLAN_B, 11),
        ("b2", &VLAN_B, 12),
    ] {
        nodes.push(build_node(&switch_netlink, name, vlan, host).await);
    }
    (switch, switch_netlink, nodes)
}

/// Lists the names of the links in the caller's own namespace.
async fn caller_link_names() -> Vec<String> {
    use futures::TryStreamExt;
    use rtnetlink::packet_route::link::LinkAttribute;

    let (connection, handle, _) = rtnetlink::new_connection().unwrap();
    tokio::spawn(connection);
    let links: Vec<_> = handle.link().get().execute().try_collect().await.unwrap();
    let names = links
        .into_iter()
        .flat_map(|link| link.attributes)
        .filter_map(|attribute| match attribute {
            LinkAttribute::IfName(name) => Some(name),
            _ => None,
        });
    names.collect()
}

#[tokio::test]
async fn lab_routes_between_vlans_and_confines_broadcast() {
    isolate_current_thread().unwrap();
    let mut caller_events = link_events(None);
    let (switch, switch_netlink, nodes) = build_lab().await;
    let [a1, a2, b1, b2] = &nodes[..] else {
        unreachable!()
    };

    assert_no_link_in_caller(&mut caller_events).await;
    assert_forwarding_needed_and_routes(&switch, a1, b1).await;
    assert_broadcast_stays_in_vlan(a1, a2, &[b1, b2], Ipv4Addr::BROADCAST).await;
    assert_broadcast_stays_in_vlan(b2, b1, &[a1, a2], Ipv4Addr::new(10, 0, 2, 255)).await;

    teardown(switch, switch_netlink, nodes).await;
}

async fn assert_no_link_in_caller(caller_events: &mut LinkEvents) {
    let created = new_link_names(caller_events, Duration::from_millis(100)).await;

    assert!(
        created.is_empty(),
        "links appeared in the caller's namespace: {created:?}"
    );
    assert_eq!(caller_link_names().await, ["lo"]);
}

/// Sends from `from` to `to` in the other VLAN, first with forwarding off in the switch
/// and then on: only the second datagram may arrive.
async fn assert_forwarding_needed_and_routes(switch: &Namespace, from: &Node, to: &Node) {
    assert_ne!(from.vlan.bridge, to.vlan.bridge);
    let receiver = udp_socket(&to.namespace, "0.0.0.0:5000".parse().unwrap());
    let sender = udp_socket(&from.namespace, from.ip(0));

    set_sysctl(switch, "net.ipv4.ip_forward", "0").unwrap();
    sender
        .send_to(b"forwarding off", to.ip(5000))
        .await
        .unwrap();
    let while_off = receive(&receiver, NO_DELIVERY_WAIT).await;

    set_sysctl(switch, "net.ipv4.ip_forward", "1").unwrap();
    sender.send_to(b"forwarding on", to.ip(5000)).await.unwrap();
    let while_on = receive(&receiver, DELIVERY_WAIT).await;

    assert_eq!(
        while_off, None,
        "{} reached {} with forwarding off",
        from.name, to.name
    );
    assert_eq!(read_sysctl(switch, "net.ipv4.ip_forward").unwrap(), "1");
    let (payload, source) =
        while_on.unwrap_or_else(|| panic!("{} did not reach {}", from.name, to.name));
    assert_eq!(payload, b"forwarding on");
    assert_eq!(source, from.ip(sender.local_addr().unwrap().port()));
}

/// Broadcasts from `from` to `destination`: `neighbour` in the same VLAN must receive
/// it, and none of `others` in the other VLAN.
async fn assert_broadcast_stays_in_vlan(
    from: &Node,
    neighbour: &Node,
    others: &[&Node],
    destination: Ipv4Addr,
) {
    let port = 6000;
    let listen: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    let at_neighbour = udp_socket(&neighbour.namespace, listen);
    let at_others: Vec<_> = others
        .iter()
        .map(|node| udp_socket(&node.namespace, listen))
        .collect();
    let sender = udp_socket(&from.namespace, from.ip(0));

    sender
        .send_to(
            b"broadcast",
            SocketAddr::V4(SocketAddrV4::new(destination, port)),
        )
        .await
        .unwrap();

    let (payload, source) = receive(&at_neighbour, DELIVERY_WAIT)
        .await
        .unwrap_or_else(|| {
            panic!(
                "broadcast to {destination} from {} missed {}",
                from.name, neighbour.name
            )
        });
    assert_eq!(payload, b"broadcast");
    assert_eq!(source.ip(), from.address);
    for (node, socket) in others.iter().zip(&at_others) {
        let leaked = receive(socket, NO_DELIVERY_WAIT).await;
        assert_eq!(
            leaked, None,
            "broadcast to {destination} from {} reached {}",
            from.name, node.name
        );
    }
}

/// Deletes every namespace and checks that no namespace and no link is left. A witness
/// namespace outside the lab holds a veth peer of the switch, whose disappearance shows
/// that the switch namespace itself was freed, not only unnamed.
async fn teardown(switch: Namespace, switch_netlink: Netlink, nodes: Vec<Node>) {
    let witness = Namespace::create("witness").unwrap();
    let witness_netlink = Netlink::connect(&witness).unwrap();
    let probe = VethPair {
        name: "w-switch",
        mac: None,
        peer_name: "probe",
        peer_namespace: &witness,
        peer_mac: None,
    };
    switch_netlink.add_veth(&probe).await.unwrap();

    let node_ports: Vec<String> = nodes
        .iter()
        .map(|node| format!("p-{}", node.name))
        .collect();
    for node in nodes {
        Namespace::delete(node.namespace.name()).unwrap();
    }
    wait_until("node namespaces freed, taking their veth pairs", || async {
        let links = switch_netlink.links().await.unwrap();
        !links.iter().any(|link| node_ports.contains(&link.name))
    })
    .await;

    drop(switch_netlink);
    drop(switch);
    Namespace::delete(SWITCH).unwrap();
    wait_until("switch namespace freed", || async {
        witness_netlink.link("probe").await.is_err()
    })
    .await;

    drop(witness_netlink);
    Namespace::delete("witness").unwrap();
    assert_eq!(Namespace::list("").unwrap(), Vec::<String>::new());
    assert_eq!(caller_link_names().await, ["lo"]);
}

async fn wait_until<F, Fut>(condition: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {condition}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
