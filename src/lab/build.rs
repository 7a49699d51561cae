//! Builds a lab's namespaces and links from the model.
//!
//! The switch namespace holds one bridge per VLAN with the VLAN's gateway address on it
//! and forwards between them, as the L3 switch does. Every node gets a namespace and a
//! veth pair: `eth0` inside the node, the other end in the switch namespace, named after
//! the node and attached to its VLAN's bridge. Links are created inside the switch
//! namespace with their peer placed straight into the node's, so that nothing is ever
//! created in the namespace `vprolab` itself runs in.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use futures::StreamExt;
use netns::{MacAddr, Namespace, Netlink, VethPair};

use super::LabError;
use super::state::{LabState, namespace_inode};
use crate::topology::{Lab, NODE_INTERFACE, Vlan};

/// How long a built lab may take until every link carries traffic; the kernel's link
/// watcher normally gets there within a second.
const LINKS_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The namespaces of a built lab.
#[derive(Debug)]
pub struct Built {
    pub switch: Arc<Namespace>,
    /// Node namespaces by node name.
    pub nodes: HashMap<String, Arc<Namespace>>,
    /// Netlink connections kept open in the switch namespace and in each server's, for
    /// the neighbour entries a fleet's leases add (see `clients::lease_neighbours`).
    pub switch_link: Arc<Netlink>,
    pub server_links: HashMap<String, Arc<Netlink>>,
}

/// One node to attach: its name, VLAN, MAC and, for servers, its static address.
struct Attachment<'a> {
    name: &'a str,
    vlan: u16,
    mac: [u8; 6],
    address: Option<Ipv4Addr>,
}

/// Requests sent at once on the switch's netlink socket while connecting nodes. The
/// kernel handles them one at a time under its RTNL lock, so more in flight only hides
/// the round trips.
const LINKS_IN_FLIGHT: usize = 64;

/// Builds every namespace and link of `lab`, recording each namespace and link in
/// `state` before creating it so that an interrupted build can be torn down, and calling
/// `progress` at each step.
///
/// Namespaces are created on several threads at once, and links are requested without
/// waiting for each reply. A lab of a thousand nodes otherwise spends most of its build
/// waiting, as `ip -batch` does with one command at a time.
pub async fn build(lab: &Lab, state: &LabState, progress: &dyn Fn(&str)) -> Result<Built, LabError> {
    let nodes_to_attach = attachments(lab);
    let mut names = vec![lab.namespace_of(&lab.switch.name)];
    names.extend(nodes_to_attach.iter().map(|node| lab.namespace_of(node.name)));

    progress(&format!("creating {} namespaces", names.len()));
    let mut namespaces = create_namespaces(state, &names).await?;
    let switch = namespaces.remove(0);
    let switch_link = Netlink::connect(&switch).map_err(LabError::Netns)?;
    let segments = build_switch(lab, state, &switch, &switch_link, &nodes_to_attach).await?;

    progress(&format!("connecting {} nodes to the switch", nodes_to_attach.len()));
    let nodes: HashMap<String, Arc<Namespace>> = nodes_to_attach.iter().zip(namespaces).map(|(node, namespace)| (node.name.to_owned(), namespace)).collect();
    connect_nodes(state, &switch_link, &nodes_to_attach, &nodes, &segments).await?;
    let ports: Vec<&str> = nodes_to_attach.iter().map(|node| node.name).collect();
    switch.turn_off_tso(&ports).map_err(LabError::Netns)?;
    bring_up_node_ends(&nodes).await?;
    let server_links = configure_servers(lab, &nodes_to_attach, &nodes).await?;

    progress("waiting until every link carries traffic");
    wait_ready(&switch_link, &server_links, &nodes_to_attach, &segments).await?;
    let server_links = nodes_to_attach.iter().filter(|node| node.address.is_some()).map(|node| node.name.to_owned()).zip(server_links.into_iter().map(Arc::new)).collect();
    Ok(Built { switch, nodes, switch_link: Arc::new(switch_link), server_links })
}

/// Records every namespace in `state`, creates them with `lo` up and IPv6 off on as many
/// threads as the machine has cores, then records their inodes. Returns them in the
/// order of `names`.
async fn create_namespaces(state: &LabState, names: &[String]) -> Result<Vec<Arc<Namespace>>, LabError> {
    state.add_namespaces(names)?;

    let results = on_all_cores(names, |name| create_namespace(name));
    let created: Vec<(Arc<Namespace>, u64)> = results.iter().filter_map(|result| result.as_ref().ok().cloned()).collect();
    let inodes: Vec<(String, u64)> = created.iter().map(|(namespace, inode)| (namespace.name().to_owned(), *inode)).collect();
    state.namespaces_created(&inodes)?;

    results.into_iter().map(|result| result.map(|(namespace, _)| namespace)).collect()
}

/// Runs `work` on every item, spread over as many threads as the machine has cores, and
/// returns the results in the order of `items`.
///
/// The threads are joined before this returns, inside `block_in_place`, so that a build
/// interrupted by a signal never has a namespace created after its teardown: the signal
/// is seen once the batch is done.
fn on_all_cores<I: Sync, T: Send>(items: &[I], work: impl Fn(&I) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = items.len().div_ceil(threads).max(1);

    let run = || {
        std::thread::scope(|scope| {
            let workers: Vec<_> = items.chunks(chunk).map(|part| scope.spawn(|| part.iter().map(&work).collect::<Vec<T>>())).collect();
            workers.into_iter().flat_map(|worker| worker.join().expect("lab build thread")).collect()
        })
    };
    // block_in_place lets the runtime move other tasks off this worker; a current-thread
    // runtime, as in tests, has no other worker and simply waits.
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(run),
        _ => run(),
    }
}

fn create_namespace(name: &str) -> Result<(Arc<Namespace>, u64), LabError> {
    let namespace = Namespace::create_ipv4_only(name).map_err(LabError::Netns)?;
    let inode = namespace_inode(&namespace.path()).map_err(|source| LabError::State { path: namespace.path(), source })?;
    Ok((Arc::new(namespace), inode))
}

/// Creates every node's veth pair, both ends up and the switch end already a port of its
/// segment's bridge, with [`LINKS_IN_FLIGHT`] requests outstanding at a time.
async fn connect_nodes(state: &LabState, switch_link: &Netlink, attachments: &[Attachment<'_>], nodes: &HashMap<String, Arc<Namespace>>, segments: &Segments) -> Result<(), LabError> {
    let records = attachments.iter().map(|node| {
        let bridge = &segments.port_of[node.name].0;
        (node.name.to_owned(), format!("veth, peer {NODE_INTERFACE} in {}, port of {bridge}", nodes[node.name].name()))
    });
    state.add_links(switch_link.namespace(), records.collect())?;

    let requests = attachments.iter().map(|node| {
        let namespace = &nodes[node.name];
        let (_, bridge_index) = &segments.port_of[node.name];
        async move {
            let pair = VethPair { name: node.name, mac: None, peer_name: NODE_INTERFACE, peer_namespace: namespace, peer_mac: Some(MacAddr::new(node.mac)) };
            switch_link.add_veth_port(&pair, *bridge_index).await
        }
    });
    let mut replies = futures::stream::iter(requests).buffer_unordered(LINKS_IN_FLIGHT);
    while let Some(reply) = replies.next().await {
        reply.map_err(LabError::Netns)?;
    }
    Ok(())
}

/// Brings up `eth0` in every node with GRO on, on as many threads as the machine has
/// cores. GRO, with TSO off on the switch ends, gives each node end a receive ring of its
/// own, so that a broadcast flooded to more than a thousand ports at once is not dropped
/// (see `Namespace::set_link_up_with_gro`).
///
/// Each node end comes up after its switch end, so it has its carrier when it opens and
/// the kernel gives it its queueing discipline at once. Only the switch ends wait for
/// the kernel's link watcher, and [`wait_ready`] polls those.
async fn bring_up_node_ends(nodes: &HashMap<String, Arc<Namespace>>) -> Result<(), LabError> {
    let namespaces: Vec<&Arc<Namespace>> = nodes.values().collect();
    let results = on_all_cores(&namespaces, |namespace| namespace.set_link_up_with_gro(NODE_INTERFACE));
    results.into_iter().collect::<Result<(), netns::Error>>().map_err(LabError::Netns)
}

/// Gives every server its static address and default route. Returns each server's
/// netlink connection, in the order of `attachments`.
async fn configure_servers(lab: &Lab, attachments: &[Attachment<'_>], nodes: &HashMap<String, Arc<Namespace>>) -> Result<Vec<Netlink>, LabError> {
    let mut links = Vec::new();
    for node in attachments {
        let Some(address) = node.address else { continue };
        let vlan = lab.vlan(node.vlan).expect("VLAN checked by the resolver");
        let network = Ipv4Network::new(address, vlan.subnet.prefix()).expect("prefix checked by the resolver");

        let link = Netlink::connect(&nodes[node.name]).map_err(LabError::Netns)?;
        link.add_address(NODE_INTERFACE, network).await.map_err(LabError::Netns)?;
        link.add_default_route(vlan.gateway).await.map_err(LabError::Netns)?;
        links.push(link);
    }
    Ok(links)
}

/// Waits until every link carries traffic: the switch ends of all nodes and uplinks,
/// and both ends of every server's link, so that no first DHCP exchange is lost to a
/// link the kernel has not finished bringing up.
///
/// A client's own end is not polled, which would cost a netlink socket in each client
/// namespace: it opened with its carrier (see [`bring_up_node_ends`]).
async fn wait_ready(switch_link: &Netlink, server_links: &[Netlink], attachments: &[Attachment<'_>], segments: &Segments) -> Result<(), LabError> {
    let waiting = std::time::Instant::now();
    let mut ports: Vec<&str> = attachments.iter().map(|attachment| attachment.name).collect();
    ports.extend(segments.uplink_ports.iter().map(String::as_str));

    switch_link.wait_ready(&ports, LINKS_READY_TIMEOUT).await.map_err(LabError::Netns)?;
    for link in server_links {
        link.wait_ready(&[NODE_INTERFACE], LINKS_READY_TIMEOUT).await.map_err(LabError::Netns)?;
    }

    tracing::debug!(links = ports.len(), waited_ms = waiting.elapsed().as_millis() as u64, "lab links ready");
    Ok(())
}

/// Brings up each VLAN's bridges, the first with the gateway address, and turns on
/// forwarding. Returns where each node's port goes.
async fn build_switch(lab: &Lab, state: &LabState, switch: &Namespace, link: &Netlink, attachments: &[Attachment<'_>]) -> Result<Segments, LabError> {
    netns::set_sysctl(switch, "net.ipv4.ip_forward", "1").map_err(LabError::Netns)?;
    // Where br_netfilter is loaded, bridged IPv4 frames would also pass iptables; the
    // lab's switch filters nothing, so that is work without effect.
    match netns::set_sysctl(switch, "net.bridge.bridge-nf-call-iptables", "0") {
        Ok(()) | Err(netns::Error::SysctlNotFound { .. }) => {}
        Err(error) => return Err(LabError::Netns(error)),
    }
    let mut segments = Segments::default();

    for vlan in &lab.switch.vlans {
        let members: Vec<&str> = attachments.iter().filter(|node| node.vlan == vlan.id).map(|node| node.name).collect();
        let plan = plan_segment(vlan.id, members.len(), BRIDGE_MAX_PORTS);
        let indexes = build_segment(state, switch, link, vlan, &plan).await?;

        let mut slots = plan.bridges.iter().zip(&indexes).flat_map(|((bridge, nodes), index)| std::iter::repeat_n((bridge.clone(), *index), *nodes));
        for member in members {
            let slot = slots.next().expect("the plan has a port for every node of the VLAN");
            segments.port_of.insert(member.to_owned(), slot);
        }
        segments.uplink_ports.extend(plan.uplinks.iter().flat_map(|(main_end, extension_end)| [main_end.clone(), extension_end.clone()]));
    }
    Ok(segments)
}

/// Creates the bridges of one VLAN's plan and the uplinks that join them, and returns
/// the bridges' interface indexes in plan order.
async fn build_segment(state: &LabState, switch: &Namespace, link: &Netlink, vlan: &Vlan, plan: &SegmentPlan) -> Result<Vec<u32>, LabError> {
    let gateway = Ipv4Network::new(vlan.gateway, vlan.subnet.prefix()).expect("prefix checked by the resolver");
    let mut indexes = Vec::new();

    for (position, (bridge, _)) in plan.bridges.iter().enumerate() {
        state.add_link(switch.name(), bridge, "bridge".into())?;
        link.add_bridge(bridge).await.map_err(LabError::Netns)?;
        if position == 0 {
            link.set_mac(bridge, gateway_mac(vlan.id)).await.map_err(LabError::Netns)?;
            link.add_address(bridge, gateway).await.map_err(LabError::Netns)?;
        }
        link.set_up(bridge).await.map_err(LabError::Netns)?;
        indexes.push(link.link(bridge).await.map_err(LabError::Netns)?.index);
    }

    for (number, (main_end, extension_end)) in plan.uplinks.iter().enumerate() {
        let extension = &plan.bridges[number + 1].0;
        state.add_link(switch.name(), main_end, format!("veth, peer {extension_end}, joins {} to {extension}", plan.bridges[0].0))?;
        let pair = VethPair { name: main_end, mac: None, peer_name: extension_end, peer_namespace: switch, peer_mac: None };
        link.add_veth_port(&pair, indexes[0]).await.map_err(LabError::Netns)?;
        link.attach_to_bridge(extension_end, extension).await.map_err(LabError::Netns)?;
        // The pair's peer end is created down (see `Netlink::add_veth_port`).
        link.set_up(extension_end).await.map_err(LabError::Netns)?;
    }
    Ok(indexes)
}

/// Returns the fixed MAC of a VLAN's bridge, which is the gateway's MAC on that VLAN:
/// locally administered, `02:76:6c:00` and the VLAN id.
///
/// A bridge without a MAC of its own takes the lowest MAC of its ports, and changes it when
/// a port with a lower one joins. Nodes that had already resolved the gateway by ARP would
/// then send routed traffic to the old MAC, which the bridge drops. So attaching a node to
/// a running lab would cut the others off from every other VLAN.
pub(super) fn gateway_mac(vlan: u16) -> MacAddr {
    let [high, low] = vlan.to_be_bytes();
    MacAddr::new([0x02, 0x76, 0x6c, 0x00, high, low])
}

fn attachments(lab: &Lab) -> Vec<Attachment<'_>> {
    let servers = lab.servers.iter().map(|server| Attachment { name: &server.name, vlan: server.vlan, mac: server.mac, address: Some(server.address) });
    let clients = lab.clients.iter().map(|client| Attachment { name: &client.name, vlan: client.vlan, mac: client.mac, address: None });
    servers.chain(clients).collect()
}

/// Ports one Linux bridge takes: BR_MAX_PORTS (1024) in net/bridge/br_private.h, less
/// port number 0, which the kernel never gives out.
pub const BRIDGE_MAX_PORTS: usize = 1023;

/// The switch ports of a lab: each node's bridge name and interface index, by node name,
/// and the switch ends of the uplinks between a VLAN's bridges.
#[derive(Default)]
struct Segments {
    port_of: HashMap<String, (String, u32)>,
    uplink_ports: Vec<String>,
}

/// The bridges of one VLAN: the first carries the gateway address, the others hang off
/// it by one uplink veth pair each, because one bridge takes at most
/// [`BRIDGE_MAX_PORTS`] ports.
#[derive(Debug, PartialEq, Eq)]
struct SegmentPlan {
    /// Bridge name and how many nodes get a port on it, filled in order.
    bridges: Vec<(String, usize)>,
    /// For each extension bridge, the names of its uplink's two ends: the port on the
    /// first bridge, then the port on the extension.
    uplinks: Vec<(String, String)>,
}

/// Plans the bridges of VLAN `vlan` for `nodes` nodes when a bridge takes `max_ports`
/// ports (at least 3): the VLAN's own bridge, then as few extensions as fit them.
///
/// Each extension costs a port on the first bridge and one of its own, so it adds
/// `max_ports - 2` nodes. Extension bridges are named `vlanID_N` and their uplink ends
/// `vlanID_Na` and `vlanID_Nb`: node names cannot contain '_', so no switch port is
/// named the same.
fn plan_segment(vlan: u16, nodes: usize, max_ports: usize) -> SegmentPlan {
    assert!(max_ports >= 3, "a bridge of {max_ports} ports cannot take an uplink and a node");
    let main = Lab::bridge_of(vlan);
    let extensions = nodes.saturating_sub(max_ports).div_ceil(max_ports - 2);

    let on_main = nodes.min(max_ports - extensions);
    let mut bridges = vec![(main.clone(), on_main)];
    let mut uplinks = Vec::new();
    let mut left = nodes - on_main;
    for number in 1..=extensions {
        let here = left.min(max_ports - 1);
        bridges.push((format!("{main}_{number}"), here));
        uplinks.push((format!("{main}_{number}a"), format!("{main}_{number}b")));
        left -= here;
    }
    SegmentPlan { bridges, uplinks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_small_vlan_uses_one_bridge() {
        let plan = plan_segment(90, 3, BRIDGE_MAX_PORTS);

        assert_eq!(plan.bridges, [("vlan90".to_owned(), 3)]);
        assert!(plan.uplinks.is_empty());
    }

    #[test]
    fn plan_full_bridge_needs_no_extension() {
        let plan = plan_segment(90, BRIDGE_MAX_PORTS, BRIDGE_MAX_PORTS);

        assert_eq!(plan.bridges.len(), 1);
    }

    #[test]
    fn plan_large_vlan_adds_extensions() {
        let plan = plan_segment(90, 2500, 1023);

        let ports: usize = plan.bridges.iter().map(|(_, nodes)| nodes).sum();
        assert_eq!(ports, 2500);
        assert_eq!(plan.bridges.len(), 3);
        assert_eq!(plan.bridges[1].0, "vlan90_1");
        assert_eq!(plan.uplinks[1], ("vlan90_2a".to_owned(), "vlan90_2b".to_owned()));
        assert!(plan.bridges[0].1 + plan.uplinks.len() <= 1023, "main bridge over its limit: {plan:?}");
        assert!(plan.bridges[1..].iter().all(|(_, nodes)| *nodes < 1023), "each extension bridge keeps a port for its uplink: {plan:?}");
    }

    #[test]
    fn plan_tiny_limit_fills_extensions() {
        let plan = plan_segment(7, 5, 3);

        assert_eq!(plan.bridges.iter().map(|(_, nodes)| *nodes).collect::<Vec<_>>(), [1, 2, 2]);
        assert_eq!(plan.uplinks.len(), 2);
    }

    #[test]
    fn plan_names_fit_interface_names() {
        let plan = plan_segment(4094, 65_534, BRIDGE_MAX_PORTS);

        let longest = plan.uplinks.iter().map(|(main_end, _)| main_end.len()).max().unwrap();
        assert!(longest <= crate::topology::MAX_IFNAME_LEN, "{longest}");
    }
}
