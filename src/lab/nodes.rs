//! The nodes of a built lab as the state file records them, and the resolver file of
//! each, which `vprolab exec` mounts on /etc/resolv.conf inside the node.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use super::state::{NodeKind, NodeRecord, RESOLVER_DIR};
use crate::report::ClientReport;
use crate::topology::Lab;

/// Lists every node of `lab`: the switch, the servers with their static addresses, and the
/// clients, whose addresses are filled in once they have a lease.
pub fn records(lab: &Lab) -> Vec<NodeRecord> {
    let gateways = lab.switch.vlans.iter().map(|vlan| format!("{}/{}", vlan.gateway, vlan.subnet.prefix())).collect();
    let mut nodes = vec![record(lab, &lab.switch.name, NodeKind::Switch, None, gateways)];

    for server in &lab.servers {
        let prefix = lab.vlan(server.vlan).map_or(32, |vlan| vlan.subnet.prefix());
        nodes.push(record(lab, &server.name, NodeKind::Server, Some(server.vlan), vec![format!("{}/{prefix}", server.address)]));
    }
    for client in &lab.clients {
        nodes.push(record(lab, &client.name, NodeKind::Client, Some(client.vlan), Vec::new()));
    }
    nodes
}

/// Builds the record of one node. The switch has no VLAN of its own, so it resolves like
/// the first VLAN.
fn record(lab: &Lab, name: &str, kind: NodeKind, vlan: Option<u16>, addresses: Vec<String>) -> NodeRecord {
    let vlan = vlan.or_else(|| lab.switch.vlans.first().map(|vlan| vlan.id));
    let scope = lab.scopes.iter().find(|scope| Some(scope.vlan) == vlan);

    NodeRecord {
        name: name.to_owned(),
        kind,
        namespace: lab.namespace_of(name),
        addresses,
        dns_servers: scope.map(|scope| scope.dns_servers.clone()).unwrap_or_default(),
        search: scope.and_then(|scope| scope.domain.as_ref()).map(|domain| domain.to_string()),
    }
}

/// Fills in the clients' leased addresses from the run's reports.
pub fn add_leases(nodes: &mut [NodeRecord], lab: &Lab, clients: &[ClientReport]) {
    for report in clients {
        let Some(address) = report.address else { continue };
        let prefix = lab.vlan(report.vlan).map_or(32, |vlan| vlan.subnet.prefix());
        if let Some(node) = nodes.iter_mut().find(|node| node.name == report.name) {
            node.addresses = vec![format!("{address}/{prefix}")];
        }
    }
}

/// Writes `resolv/NODE.conf` in the state folder for every node.
pub fn write_resolver_files(dir: &Path, nodes: &[NodeRecord]) -> io::Result<()> {
    let folder = dir.join(RESOLVER_DIR);
    fs::create_dir_all(&folder)?;
    for node in nodes {
        fs::write(folder.join(format!("{}.conf", node.name)), resolv_conf(&node.dns_servers, node.search.as_deref()))?;
    }
    Ok(())
}

/// resolv.conf(5) text; with no DNS server, 127.0.0.1, so that nothing queries a server
/// outside the lab.
pub fn resolv_conf(dns_servers: &[Ipv4Addr], search: Option<&str>) -> String {
    let mut text = String::from("# written by vprolab for `vprolab exec`\n");
    if let Some(search) = search {
        text.push_str(&format!("search {search}\n"));
    }
    if dns_servers.is_empty() {
        text.push_str("nameserver 127.0.0.1\n");
    }
    for server in dns_servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_lists_search_and_servers() {
        let text = resolv_conf(&["192.168.90.10".parse().unwrap()], Some("jcert.info"));

        assert!(text.contains("search jcert.info\n"), "{text}");
        assert!(text.contains("nameserver 192.168.90.10\n"), "{text}");
    }

    #[test]
    fn resolv_conf_without_servers_stays_local() {
        let text = resolv_conf(&[], None);

        assert!(text.contains("nameserver 127.0.0.1\n"), "{text}");
        assert!(!text.contains("search"), "{text}");
    }

    #[test]
    fn records_of_single_lab() {
        let lab = crate::topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/single.yaml")).unwrap();

        let nodes = records(&lab);

        let dc1 = nodes.iter().find(|node| node.name == "dc1").unwrap();
        assert_eq!(dc1.namespace, "single-dc1");
        assert_eq!(dc1.addresses, ["192.168.90.10/24"]);
        assert_eq!(dc1.search.as_deref(), Some("jcert.info"));
        let pc90 = nodes.iter().find(|node| node.name == "pc90").unwrap();
        assert_eq!(pc90.kind, NodeKind::Client);
        assert!(pc90.addresses.is_empty());
        assert_eq!(nodes[0].kind, NodeKind::Switch);
    }
}
