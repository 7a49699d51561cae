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
use netns::{MacAddr, Namespace, Netlink, VethPair};

use super::LabError;
use super::state::{LabState, namespace_inode};
use crate::topology::{Lab, NODE_INTERFACE};

/// How long a built lab may take until every link carries traffic; the kernel's link
/// watcher normally gets there within a second.
const LINKS_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The namespaces of a built lab.
#[derive(Debug)]
pub struct Built {
    pub switch: Arc<Namespace>,
    /// Node namespaces by node name.
    pub nodes: HashMap<String, Arc<Namespace>>,
}

/// One node to attach: its name, VLAN, MAC and, for servers, its static address.
struct Attachment<'a> {
    name: &'a str,
    vlan: u16,
    mac: [u8; 6],
    address: Option<Ipv4Addr>,
}

/// Builds every namespace and link of `lab`, recording each namespace and link in
/// `state` before creating it so that an interrupted build can be torn down, and calling
/// `progress` once per namespace.
pub async fn build(lab: &Lab, state: &LabState, progress: &dyn Fn(&str)) -> Result<Built, LabError> {
    let nodes_to_attach = attachments(lab);
    let total = 1 + nodes_to_attach.len();

    progress(&format!("creating namespace 1 of {total}: {}", lab.namespace_of(&lab.switch.name)));
    let switch = create_namespace(state, &lab.namespace_of(&lab.switch.name))?;
    let switch_link = Netlink::connect(&switch).map_err(LabError::Netns)?;
    build_switch(lab, state, &switch, &switch_link).await?;

    let mut nodes = HashMap::new();
    let mut node_links = Vec::new();
    for (index, attachment) in nodes_to_attach.iter().enumerate() {
        let name = lab.namespace_of(attachment.name);
        progress(&format!("creating namespace {} of {total}: {name}", index + 2));
        let namespace = create_namespace(state, &name)?;
        node_links.push(attach(lab, state, &switch_link, &namespace, attachment).await?);
        nodes.insert(attachment.name.to_owned(), namespace);
    }

    progress("waiting until every link carries traffic");
    wait_ready(&switch_link, &node_links, &nodes_to_attach).await?;
    Ok(Built { switch, nodes })
}

/// Waits until both ends of every node's link carry traffic, so that no client's first
/// DHCP exchange is lost to a link the kernel has not finished bringing up.
async fn wait_ready(switch_link: &Netlink, node_links: &[Netlink], attachments: &[Attachment<'_>]) -> Result<(), LabError> {
    let waiting = std::time::Instant::now();
    let ports: Vec<&str> = attachments.iter().map(|attachment| attachment.name).collect();

    switch_link.wait_ready(&ports, LINKS_READY_TIMEOUT).await.map_err(LabError::Netns)?;
    for link in node_links {
        link.wait_ready(&[NODE_INTERFACE], LINKS_READY_TIMEOUT).await.map_err(LabError::Netns)?;
    }

    tracing::debug!(links = 2 * ports.len(), waited_ms = waiting.elapsed().as_millis() as u64, "lab links ready");
    Ok(())
}

fn create_namespace(state: &LabState, name: &str) -> Result<Arc<Namespace>, LabError> {
    state.add_namespace(name)?;
    let namespace = Namespace::create(name).map_err(LabError::Netns)?;

    let inode = namespace_inode(&namespace.path()).map_err(|source| LabError::State { path: namespace.path(), source })?;
    state.namespace_created(name, inode)?;
    Ok(Arc::new(namespace))
}

/// Brings up the bridges with their gateway addresses and turns on forwarding.
async fn build_switch(lab: &Lab, state: &LabState, switch: &Namespace, link: &Netlink) -> Result<(), LabError> {
    link.set_up("lo").await.map_err(LabError::Netns)?;
    netns::set_sysctl(switch, "net.ipv4.ip_forward", "1").map_err(LabError::Netns)?;

    for vlan in &lab.switch.vlans {
        let bridge = Lab::bridge_of(vlan.id);
        let gateway = Ipv4Network::new(vlan.gateway, vlan.subnet.prefix()).expect("prefix checked by the resolver");

        state.add_link(switch.name(), &bridge, "bridge".into())?;
        link.add_bridge(&bridge).await.map_err(LabError::Netns)?;
        link.set_mac(&bridge, gateway_mac(vlan.id)).await.map_err(LabError::Netns)?;
        link.add_address(&bridge, gateway).await.map_err(LabError::Netns)?;
        link.set_up(&bridge).await.map_err(LabError::Netns)?;
    }
    Ok(())
}

/// Returns the fixed MAC of a VLAN's bridge, which is the gateway's MAC on that VLAN:
/// locally administered, `02:76:6c:00` and the VLAN id.
///
/// A bridge without a MAC of its own takes the lowest MAC of its ports, and changes it when
/// a port with a lower one joins. Nodes that had already resolved the gateway by ARP would
/// then send routed traffic to the old MAC, which the bridge drops. So attaching a node to
/// a running lab would cut the others off from every other VLAN.
fn gateway_mac(vlan: u16) -> MacAddr {
    let [high, low] = vlan.to_be_bytes();
    MacAddr::new([0x02, 0x76, 0x6c, 0x00, high, low])
}

fn attachments(lab: &Lab) -> Vec<Attachment<'_>> {
    let servers = lab.servers.iter().map(|server| Attachment { name: &server.name, vlan: server.vlan, mac: server.mac, address: Some(server.address) });
    let clients = lab.clients.iter().map(|client| Attachment { name: &client.name, vlan: client.vlan, mac: client.mac, address: None });
    servers.chain(clients).collect()
}

/// Connects one node to its VLAN's bridge and, for a server, sets its address and route.
/// Returns the node's netlink handle.
async fn attach(lab: &Lab, state: &LabState, switch_link: &Netlink, namespace: &Namespace, node: &Attachment<'_>) -> Result<Netlink, LabError> {
    let vlan = lab.vlan(node.vlan).expect("VLAN checked by the resolver");
    let bridge = Lab::bridge_of(node.vlan);

    state.add_link(switch_link.namespace(), node.name, format!("veth, peer {NODE_INTERFACE} in {}, port of {bridge}", namespace.name()))?;
    let pair = VethPair { name: node.name, mac: None, peer_name: NODE_INTERFACE, peer_namespace: namespace, peer_mac: Some(MacAddr::new(node.mac)) };
    switch_link.add_veth(&pair).await.map_err(LabError::Netns)?;
    switch_link.attach_to_bridge(node.name, &bridge).await.map_err(LabError::Netns)?;
    switch_link.set_up(node.name).await.map_err(LabError::Netns)?;

    let link = Netlink::connect(namespace).map_err(LabError::Netns)?;
    link.set_up("lo").await.map_err(LabError::Netns)?;
    link.set_up(NODE_INTERFACE).await.map_err(LabError::Netns)?;

    if let Some(address) = node.address {
        let network = Ipv4Network::new(address, vlan.subnet.prefix()).expect("prefix checked by the resolver");
        link.add_address(NODE_INTERFACE, network).await.map_err(LabError::Netns)?;
        link.add_default_route(vlan.gateway).await.map_err(LabError::Netns)?;
    }
    Ok(link)
}
