//! Link, address, route and neighbour operations of `Netlink`, and sysctls, each test in
//! its own sandbox. Results are checked through a separate rtnetlink connection or by
//! traffic, not through the methods under test.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use futures::TryStreamExt;
use ipnetwork::Ipv4Network;
use netns::sandbox::isolate_current_thread;
use netns::{Error, MacAddr, Namespace, Netlink, VethPair, read_sysctl, set_sysctl};
use nix::errno::Errno;
use rtnetlink::packet_route::link::{InfoBridge, InfoData, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};

use common::{ipv4_addresses, link_events, new_link_names, raw_handle, raw_links};

fn network(text: &str) -> Ipv4Network {
    text.parse().unwrap()
}

fn bridge_options(message: &LinkMessage) -> Vec<InfoBridge> {
    let info = message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::LinkInfo(info) => Some(info),
            _ => None,
        });
    let data = info.unwrap().iter().find_map(|info| match info {
        LinkInfo::Data(InfoData::Bridge(options)) => Some(options.clone()),
        _ => None,
    });
    data.unwrap()
}

fn link_named<'a>(messages: &'a [LinkMessage], name: &str) -> Option<&'a LinkMessage> {
    messages.iter().find(|message| {
        message
            .attributes
            .iter()
            .any(|attribute| *attribute == LinkAttribute::IfName(name.into()))
    })
}

#[tokio::test]
async fn set_up_brings_loopback_up() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-lo").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    assert!(!netlink.link("lo").await.unwrap().up);

    netlink.set_up("lo").await.unwrap();

    assert!(netlink.link("lo").await.unwrap().up);
    let send = || {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.send_to(b"x", "127.0.0.1:9"))
    };
    assert!(
        namespace.run(send).unwrap().is_ok(),
        "loopback still unreachable"
    );
}

#[tokio::test]
async fn set_up_unknown_link_gives_link_not_found() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-unknown-link").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();

    let error = netlink.set_up("eth9").await.unwrap_err();

    assert!(
        matches!(&error, Error::LinkNotFound { namespace, link } if namespace == "t-unknown-link" && link == "eth9"),
        "{error}"
    );
}

#[tokio::test]
async fn invalid_link_names_are_rejected_before_sending() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-bad-names").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();

    for name in ["", "sixteen-chars-16", "eth0:1", "a b", "a/b", ".."] {
        let up = netlink.set_up(name).await.unwrap_err();
        let bridge = netlink.add_bridge(name).await.unwrap_err();
        let delete = netlink.delete_link(name).await.unwrap_err();

        assert!(
            matches!(up, Error::InvalidLinkName { .. }),
            "set_up {name:?}: {up}"
        );
        assert!(
            matches!(bridge, Error::InvalidLinkName { .. }),
            "add_bridge {name:?}: {bridge}"
        );
        assert!(
            matches!(delete, Error::InvalidLinkName { .. }),
            "delete_link {name:?}: {delete}"
        );
    }
}

#[tokio::test]
async fn add_bridge_disables_stp_and_delay() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-bridge").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();

    netlink.add_bridge("br-a").await.unwrap();

    let links = raw_links(&raw_handle(&namespace)).await;
    let options = bridge_options(link_named(&links, "br-a").unwrap());
    assert!(options.contains(&InfoBridge::StpState(
        rtnetlink::packet_route::link::BridgeStpState::Disabled
    )));
    assert!(options.contains(&InfoBridge::ForwardDelay(0)));
    assert!(
        !netlink.link("br-a").await.unwrap().up,
        "a new bridge starts down"
    );
}

#[tokio::test]
async fn add_bridge_twice_gives_link_exists() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-bridge-twice").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br-a").await.unwrap();

    let error = netlink.add_bridge("br-a").await.unwrap_err();

    assert!(
        matches!(&error, Error::LinkExists { link, .. } if link == "br-a"),
        "{error}"
    );
}

#[tokio::test]
async fn add_veth_creates_peer_directly_in_other_namespace() {
    isolate_current_thread().unwrap();
    let switch = Namespace::create("t-switch").unwrap();
    let node = Namespace::create("t-node").unwrap();
    let netlink = Netlink::connect(&switch).unwrap();
    let mut caller_events = link_events(None);
    let mut switch_events = link_events(Some(&switch));
    let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
    let peer_mac: MacAddr = "02:00:00:00:00:02".parse().unwrap();

    let pair = VethPair {
        name: "p-node",
        mac: Some(mac),
        peer_name: "eth0",
        peer_namespace: &node,
        peer_mac: Some(peer_mac),
    };
    netlink.add_veth(&pair).await.unwrap();

    let local = netlink.link("p-node").await.unwrap();
    let peer = Netlink::connect(&node).unwrap().link("eth0").await.unwrap();
    assert_eq!(local.mac, Some(mac));
    assert_eq!(peer.mac, Some(peer_mac));
    assert!(!local.up, "a new veth end starts down");
    assert!(!peer.up, "a new veth peer starts down");
    // A bridge made in the caller's namespace afterwards shows that its listener works.
    let (connection, caller_handle, _) = rtnetlink::new_connection().unwrap();
    tokio::spawn(connection);
    caller_handle
        .link()
        .add(rtnetlink::LinkBridge::new("control").build())
        .execute()
        .await
        .unwrap();
    let quiet = Duration::from_millis(200);
    let caller_names = new_link_names(&mut caller_events, quiet).await;
    let switch_names = new_link_names(&mut switch_events, quiet).await;
    assert!(
        !caller_names.is_empty() && caller_names.iter().all(|name| name == "control"),
        "caller saw {caller_names:?}"
    );
    assert!(
        !switch_names.is_empty() && switch_names.iter().all(|name| name == "p-node"),
        "switch saw {switch_names:?}"
    );
    assert!(
        netlink.link("eth0").await.is_err(),
        "peer visible in the switch"
    );
}

#[tokio::test]
async fn add_veth_without_macs_gets_random_ones() {
    isolate_current_thread().unwrap();
    let switch = Namespace::create("t-switch").unwrap();
    let node = Namespace::create("t-node").unwrap();
    let netlink = Netlink::connect(&switch).unwrap();

    let pair = VethPair {
        name: "p-node",
        mac: None,
        peer_name: "eth0",
        peer_namespace: &node,
        peer_mac: None,
    };
    netlink.add_veth(&pair).await.unwrap();

    let local = netlink.link("p-node").await.unwrap().mac.unwrap();
    let peer = Netlink::connect(&node)
        .unwrap()
        .link("eth0")
        .await
        .unwrap()
        .mac
        .unwrap();
    assert_ne!(local, peer);
    assert_eq!(
        local.octets()[0] & 0b11,
        0b10,
        "random MACs are unicast and locally administered"
    );
}

#[tokio::test]
async fn add_veth_taken_peer_gives_veth_exists() {
    isolate_current_thread().unwrap();
    let switch = Namespace::create("t-switch").unwrap();
    let node = Namespace::create("t-node").unwrap();
    let netlink = Netlink::connect(&switch).unwrap();
    let first = VethPair {
        name: "p-first",
        mac: None,
        peer_name: "eth0",
        peer_namespace: &node,
        peer_mac: None,
    };
    netlink.add_veth(&first).await.unwrap();

    let second = VethPair {
        name: "p-second",
        ..first
    };
    let error = netlink.add_veth(&second).await.unwrap_err();

    assert!(
        matches!(&error, Error::VethExists { link, peer, peer_namespace, .. }
            if link == "p-second" && peer == "eth0" && peer_namespace == "t-node"),
        "{error}"
    );
    assert!(
        netlink.link("p-second").await.is_err(),
        "half a pair was left behind"
    );
}

#[tokio::test]
async fn attach_to_bridge_sets_controller() {
    isolate_current_thread().unwrap();
    let switch = Namespace::create("t-switch").unwrap();
    let node = Namespace::create("t-node").unwrap();
    let netlink = Netlink::connect(&switch).unwrap();
    netlink.add_bridge("br-a").await.unwrap();
    let pair = VethPair {
        name: "p-node",
        mac: None,
        peer_name: "eth0",
        peer_namespace: &node,
        peer_mac: None,
    };
    netlink.add_veth(&pair).await.unwrap();

    netlink.attach_to_bridge("p-node", "br-a").await.unwrap();

    let bridge = netlink.link("br-a").await.unwrap();
    assert_eq!(
        netlink.link("p-node").await.unwrap().controller,
        Some(bridge.index)
    );
}

#[tokio::test]
async fn set_mac_keeps_bridge_mac_when_ports_join() {
    isolate_current_thread().unwrap();
    let switch = Namespace::create("t-switch").unwrap();
    let node = Namespace::create("t-node").unwrap();
    let netlink = Netlink::connect(&switch).unwrap();
    let bridge_mac = MacAddr::new([0x02, 0xff, 0, 0, 0, 0x5a]);
    netlink.add_bridge("br-a").await.unwrap();
    netlink.set_mac("br-a", bridge_mac).await.unwrap();

    // Without a MAC set on the bridge, the kernel would take this port's lower MAC.
    let pair = VethPair {
        name: "p-node",
        mac: Some(MacAddr::new([0x02, 0, 0, 0, 0, 0x01])),
        peer_name: "eth0",
        peer_namespace: &node,
        peer_mac: None,
    };
    netlink.add_veth(&pair).await.unwrap();
    netlink.attach_to_bridge("p-node", "br-a").await.unwrap();

    assert_eq!(netlink.link("br-a").await.unwrap().mac, Some(bridge_mac));
}

#[tokio::test]
async fn set_mac_unknown_link_gives_link_not_found() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-mac").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();

    let error = netlink
        .set_mac("nope0", MacAddr::new([0x02, 0, 0, 0, 0, 1]))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::LinkNotFound { .. }), "{error}");
}

#[tokio::test]
async fn attach_to_bridge_names_the_missing_link() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-attach").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br-a").await.unwrap();

    let no_bridge = netlink.attach_to_bridge("lo", "br-none").await.unwrap_err();
    let no_port = netlink
        .attach_to_bridge("p-none", "br-a")
        .await
        .unwrap_err();

    assert!(
        matches!(&no_bridge, Error::LinkNotFound { link, .. } if link == "br-none"),
        "{no_bridge}"
    );
    assert!(
        matches!(&no_port, Error::LinkNotFound { link, .. } if link == "p-none"),
        "{no_port}"
    );
}

#[tokio::test]
async fn add_address_then_flush_addresses() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-address").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br-a").await.unwrap();
    let index = netlink.link("br-a").await.unwrap().index;
    let raw = raw_handle(&namespace);

    netlink
        .add_address("br-a", network("10.0.1.1/24"))
        .await
        .unwrap();
    netlink
        .add_address("br-a", network("10.0.1.2/24"))
        .await
        .unwrap();
    netlink
        .add_address("br-a", network("10.0.9.1/16"))
        .await
        .unwrap();
    let mut added = ipv4_addresses(&raw, index).await;
    added.sort();
    netlink.flush_addresses("br-a").await.unwrap();
    let flushed = ipv4_addresses(&raw, index).await;

    assert_eq!(added, ["10.0.1.1/24", "10.0.1.2/24", "10.0.9.1/16"]);
    assert_eq!(flushed, Vec::<String>::new());
}

#[tokio::test]
async fn add_address_sets_subnet_broadcast() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-broadcast").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br-a").await.unwrap();

    netlink
        .add_address("br-a", network("10.0.1.1/24"))
        .await
        .unwrap();

    let raw = raw_handle(&namespace);
    let messages: Vec<_> = raw.address().get().execute().try_collect().await.unwrap();
    let broadcasts: Vec<Ipv4Addr> = messages
        .iter()
        .flat_map(|message| &message.attributes)
        .filter_map(|attribute| match attribute {
            rtnetlink::packet_route::address::AddressAttribute::Broadcast(address) => {
                Some(*address)
            }
            _ => None,
        })
        .collect();
    assert_eq!(broadcasts, [Ipv4Addr::new(10, 0, 1, 255)]);
}

#[tokio::test]
async fn add_address_twice_gives_address_exists() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-address-twice").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br-a").await.unwrap();
    netlink
        .add_address("br-a", network("10.0.1.1/24"))
        .await
        .unwrap();

    let error = netlink
        .add_address("br-a", network("10.0.1.1/24"))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, Error::AddressExists { link, address, .. } if link == "br-a" && *address == network("10.0.1.1/24")),
        "{error}"
    );
}

#[tokio::test]
async fn add_address_unknown_link_not_found() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-address-none").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();

    let error = netlink
        .add_address("eth0", network("10.0.1.1/24"))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, Error::LinkNotFound { link, .. } if link == "eth0"),
        "{error}"
    );
}

/// Creates a namespace with `br-a` up as 10.0.1.1/24, so that gateways in 10.0.1.0/24
/// are reachable.
async fn namespace_with_subnet(name: &str) -> (Namespace, Netlink) {
    let namespace = Namespace::create(name).unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br-a").await.unwrap();
    netlink
        .add_address("br-a", network("10.0.1.1/24"))
        .await
        .unwrap();
    netlink.set_up("br-a").await.unwrap();
    (namespace, netlink)
}

/// Dumps the (destination, prefix length, gateway) of every route with a gateway.
async fn gateway_routes(namespace: &Namespace) -> Vec<(Option<Ipv4Addr>, u8, Ipv4Addr)> {
    let raw = raw_handle(namespace);
    let query = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build();
    let messages: Vec<_> = raw
        .route()
        .get(query)
        .execute()
        .try_collect()
        .await
        .unwrap();

    let mut routes = Vec::new();
    for message in messages {
        let mut destination = None;
        let mut gateway = None;
        for attribute in &message.attributes {
            match attribute {
                RouteAttribute::Destination(RouteAddress::Inet(address)) => {
                    destination = Some(*address)
                }
                RouteAttribute::Gateway(RouteAddress::Inet(address)) => gateway = Some(*address),
                _ => {}
            }
        }
        if let Some(gateway) = gateway {
            routes.push((
                destination,
                message.header.destination_prefix_length,
                gateway,
            ));
        }
    }
    routes.sort();
    routes
}

#[tokio::test]
async fn add_default_route_and_prefix_route() {
    isolate_current_thread().unwrap();
    let (namespace, netlink) = namespace_with_subnet("t-routes").await;

    netlink
        .add_default_route(Ipv4Addr::new(10, 0, 1, 254))
        .await
        .unwrap();
    netlink
        .add_route(network("10.0.2.0/24"), Ipv4Addr::new(10, 0, 1, 253))
        .await
        .unwrap();

    let routes = gateway_routes(&namespace).await;
    assert_eq!(
        routes,
        [
            (None, 0, Ipv4Addr::new(10, 0, 1, 254)),
            (
                Some(Ipv4Addr::new(10, 0, 2, 0)),
                24,
                Ipv4Addr::new(10, 0, 1, 253)
            )
        ]
    );
}

#[tokio::test]
async fn add_default_route_twice_gives_route_exists() {
    isolate_current_thread().unwrap();
    let (_namespace, netlink) = namespace_with_subnet("t-route-twice").await;
    netlink
        .add_default_route(Ipv4Addr::new(10, 0, 1, 254))
        .await
        .unwrap();

    let error = netlink
        .add_default_route(Ipv4Addr::new(10, 0, 1, 253))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, Error::RouteExists { destination, .. } if *destination == network("0.0.0.0/0")),
        "{error}"
    );
}

#[tokio::test]
async fn add_route_with_host_bits_suggests_network() {
    isolate_current_thread().unwrap();
    let (_namespace, netlink) = namespace_with_subnet("t-host-bits").await;

    let error = netlink
        .add_route(network("10.0.2.7/24"), Ipv4Addr::new(10, 0, 1, 254))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, Error::HostBitsSet { network: suggested, .. } if *suggested == network("10.0.2.0/24")),
        "{error}"
    );
    assert!(
        error.to_string().contains("did you mean 10.0.2.0/24"),
        "{error}"
    );
}

#[tokio::test]
async fn add_route_via_unreachable_gateway_names_the_command() {
    isolate_current_thread().unwrap();
    let (_namespace, netlink) = namespace_with_subnet("t-unreachable").await;

    let error = netlink
        .add_route(network("10.0.2.0/24"), Ipv4Addr::new(192, 0, 2, 1))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            Error::Netlink {
                errno: Errno::ENETUNREACH,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("`ip route add 10.0.2.0/24 via 192.0.2.1`"),
        "{error}"
    );
    assert!(error.to_string().contains("t-unreachable"), "{error}");
}

#[tokio::test]
async fn add_neighbour_sets_permanent_entry() {
    isolate_current_thread().unwrap();
    let (namespace, netlink) = namespace_with_subnet("t-neighbour").await;
    let mac: MacAddr = "02:00:00:00:01:0a".parse().unwrap();

    netlink
        .add_neighbour("br-a", Ipv4Addr::new(10, 0, 1, 10), mac)
        .await
        .unwrap();
    // Setting it again replaces the entry instead of failing.
    netlink
        .add_neighbour("br-a", Ipv4Addr::new(10, 0, 1, 10), mac)
        .await
        .unwrap();

    let raw = raw_handle(&namespace);
    let entries: Vec<_> = raw
        .neighbours()
        .get()
        .execute()
        .try_collect()
        .await
        .unwrap();
    let entry = entries
        .iter()
        .find(|entry| {
            entry
                .attributes
                .contains(&NeighbourAttribute::Destination(NeighbourAddress::Inet(
                    Ipv4Addr::new(10, 0, 1, 10),
                )))
        })
        .expect("no neighbour entry for 10.0.1.10");
    assert_eq!(entry.header.state, NeighbourState::Permanent);
    assert!(
        entry
            .attributes
            .contains(&NeighbourAttribute::LinkLayerAddress(mac.octets().to_vec()))
    );
}

#[tokio::test]
async fn link_reports_index_and_mac() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-link").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br-a").await.unwrap();

    let link = netlink.link("br-a").await.unwrap();

    let raw = raw_links(&raw_handle(&namespace)).await;
    let message = link_named(&raw, "br-a").unwrap();
    assert_eq!(link.name, "br-a");
    assert_eq!(link.index, message.header.index);
    let raw_mac = message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::Address(bytes) => Some(bytes.clone()),
            _ => None,
        });
    assert_eq!(link.mac.map(|mac| mac.octets().to_vec()), raw_mac);
}

#[tokio::test]
async fn links_lists_every_link() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-links").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br-a").await.unwrap();
    netlink.add_bridge("br-b").await.unwrap();

    let mut names: Vec<String> = netlink
        .links()
        .await
        .unwrap()
        .into_iter()
        .map(|link| link.name)
        .collect();
    names.sort();

    assert_eq!(names, ["br-a", "br-b", "lo"]);
}

#[tokio::test]
async fn delete_link_removes_both_veth_ends() {
    isolate_current_thread().unwrap();
    let switch = Namespace::create("t-switch").unwrap();
    let node = Namespace::create("t-node").unwrap();
    let netlink = Netlink::connect(&switch).unwrap();
    let node_netlink = Netlink::connect(&node).unwrap();
    let pair = VethPair {
        name: "p-node",
        mac: None,
        peer_name: "eth0",
        peer_namespace: &node,
        peer_mac: None,
    };
    netlink.add_veth(&pair).await.unwrap();

    netlink.delete_link("p-node").await.unwrap();

    assert!(matches!(
        netlink.link("p-node").await,
        Err(Error::LinkNotFound { .. })
    ));
    assert!(matches!(
        node_netlink.link("eth0").await,
        Err(Error::LinkNotFound { .. })
    ));
}

#[tokio::test]
async fn delete_unknown_link_gives_link_not_found() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-delete").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();

    let error = netlink.delete_link("p-none").await.unwrap_err();

    assert!(
        matches!(&error, Error::LinkNotFound { link, .. } if link == "p-none"),
        "{error}"
    );
}

#[test]
fn connect_outside_runtime_gives_no_runtime() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-no-runtime").unwrap();

    let error = Netlink::connect(&namespace).unwrap_err();

    assert!(matches!(error, Error::NoRuntime), "{error}");
}

#[tokio::test]
async fn connect_from_multi_thread_runtime_worker() {
    isolate_current_thread().unwrap();
    let namespace = std::sync::Arc::new(Namespace::create("t-worker").unwrap());
    // Built after isolating, so its workers are inside the sandbox too.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let in_worker = std::sync::Arc::clone(&namespace);
    let up = runtime.spawn(async move {
        let netlink = Netlink::connect(&in_worker).unwrap();
        netlink.set_up("lo").await.unwrap();
        netlink.link("lo").await.unwrap().up
    });

    assert!(up.await.unwrap());
    tokio::task::spawn_blocking(move || drop(runtime))
        .await
        .unwrap();
}

#[test]
fn set_sysctl_changes_only_target_namespace() {
    isolate_current_thread().unwrap();
    let target = Namespace::create("t-forward").unwrap();
    let other = Namespace::create("t-other").unwrap();
    let caller_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    set_sysctl(&other, "net.ipv4.ip_forward", "0").unwrap();

    set_sysctl(&target, "net.ipv4.ip_forward", "1").unwrap();

    assert_eq!(read_sysctl(&target, "net.ipv4.ip_forward").unwrap(), "1");
    assert_eq!(read_sysctl(&other, "net.ipv4.ip_forward").unwrap(), "0");
    let caller_after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(caller_after, caller_before);
}

#[test]
fn set_sysctl_reports_bad_keys_and_values() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-sysctl").unwrap();

    let global = set_sysctl(&namespace, "kernel.hostname", "x").unwrap_err();
    let unknown = set_sysctl(&namespace, "net.ipv4.conf.eth9.forwarding", "1").unwrap_err();
    let bad_value = set_sysctl(&namespace, "net.ipv4.ip_forward", "yes").unwrap_err();

    assert!(matches!(global, Error::InvalidSysctlKey { .. }), "{global}");
    assert!(
        matches!(&unknown, Error::SysctlNotFound { key, .. } if key == "net.ipv4.conf.eth9.forwarding"),
        "{unknown}"
    );
    assert!(
        matches!(&bad_value, Error::Sysctl { action: "write", source, .. } if source.raw_os_error() == Some(nix::libc::EINVAL)),
        "{bad_value}"
    );
}

#[tokio::test]
async fn set_sysctl_reaches_per_link_keys() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-link-sysctl").unwrap();
    let netlink = Netlink::connect(&namespace).unwrap();
    netlink.add_bridge("br.90").await.unwrap();

    set_sysctl(&namespace, "net.ipv4.conf.br/90.forwarding", "1").unwrap();

    assert_eq!(
        read_sysctl(&namespace, "net.ipv4.conf.br/90.forwarding").unwrap(),
        "1"
    );
}
