//! Pictures of a checked lab: Graphviz DOT and Mermaid flowcharts.
//!
//! Both show the same graph: the L3 switch in the middle, each VLAN as a segment with its
//! subnet, gateway and DHCP scope, the servers and clients on their segments, the DNS
//! zones with the servers that answer for them and the aliases (such as
//! `provisionserver`) that point at a server, and each DHCP relay with the server it
//! forwards to.

use std::fmt::Write as _;

use super::model::{Client, Lab, RecordData, Scope, Server, Vlan, Zone};

/// One node of the picture.
struct Vertex {
    id: String,
    lines: Vec<String>,
    kind: VertexKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VertexKind {
    Switch,
    Segment,
    Server,
    Client,
    Zone,
}

/// One line between two nodes.
struct Edge {
    from: String,
    to: String,
    label: Option<String>,
    kind: EdgeKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EdgeKind {
    /// A cable: a node's port or the switch's gateway on a segment.
    Cable,
    /// A DNS server answering for a zone.
    Serves,
    /// An alias in a zone pointing at a server's FQDN.
    Alias,
    /// A DHCP relay forwarding to its server.
    Relay,
}

/// The lab as nodes and edges, shared by both output formats.
struct Picture {
    title: String,
    vertices: Vec<Vertex>,
    edges: Vec<Edge>,
}

/// Renders the lab as a Graphviz DOT graph.
pub fn to_dot(lab: &Lab) -> String {
    let picture = picture(lab);
    let mut out = String::new();

    let _ = writeln!(out, "graph {} {{", dot_quote(&picture.title));
    let _ = writeln!(out, "  label={};\n  labelloc=t;\n  fontname=\"Helvetica\";", dot_quote(&format!("lab {}", picture.title)));
    let _ = writeln!(out, "  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];");
    for item in &picture.vertices {
        let _ = writeln!(out, "  {} [label={}, {}];", dot_quote(&item.id), dot_quote(&item.lines.join("\n")), dot_vertex_style(item.kind));
    }
    for edge in &picture.edges {
        let label = edge.label.as_ref().map(|label| format!("label={}, ", dot_quote(label))).unwrap_or_default();
        let _ = writeln!(out, "  {} -- {} [{label}{}];", dot_quote(&edge.from), dot_quote(&edge.to), dot_edge_style(edge.kind));
    }
    out.push_str("}\n");
    out
}

/// Renders the lab as a Mermaid flowchart.
pub fn to_mermaid(lab: &Lab) -> String {
    let picture = picture(lab);
    let mut out = String::new();

    let _ = writeln!(out, "---\ntitle: lab {}\n---\nflowchart TB", mermaid_text(&picture.title));
    for item in &picture.vertices {
        let text = mermaid_text(&item.lines.join("<br/>"));
        let _ = match item.kind {
            VertexKind::Switch => writeln!(out, "  {}{{{{\"{text}\"}}}}", mermaid_id(&item.id)),
            VertexKind::Segment => writeln!(out, "  {}[[\"{text}\"]]", mermaid_id(&item.id)),
            VertexKind::Server => writeln!(out, "  {}[\"{text}\"]", mermaid_id(&item.id)),
            VertexKind::Client => writeln!(out, "  {}(\"{text}\")", mermaid_id(&item.id)),
            VertexKind::Zone => writeln!(out, "  {}>\"{text}\"]", mermaid_id(&item.id)),
        };
    }
    for edge in &picture.edges {
        let arrow = match edge.kind {
            EdgeKind::Cable => "---",
            EdgeKind::Serves | EdgeKind::Alias | EdgeKind::Relay => "-.->",
        };
        let label = edge.label.as_ref().map(|label| format!("|\"{}\"|", mermaid_text(label))).unwrap_or_default();
        let _ = writeln!(out, "  {} {arrow}{label} {}", mermaid_id(&edge.from), mermaid_id(&edge.to));
    }
    out
}

fn picture(lab: &Lab) -> Picture {
    let mut picture = Picture { title: lab.name.clone(), vertices: Vec::new(), edges: Vec::new() };

    let switch_id = node_id(&lab.switch.name);
    picture.vertices.push(Vertex { id: switch_id.clone(), lines: vec![lab.switch.name.clone(), "L3 switch".to_owned()], kind: VertexKind::Switch });
    for vlan in &lab.switch.vlans {
        let scope = lab.scopes.iter().find(|scope| scope.vlan == vlan.id);
        picture.vertices.push(Vertex { id: segment_id(vlan.id), lines: segment_lines(vlan, scope), kind: VertexKind::Segment });
        picture.edges.push(Edge { from: switch_id.clone(), to: segment_id(vlan.id), label: Some(format!("gateway {}", vlan.gateway)), kind: EdgeKind::Cable });
    }

    for server in &lab.servers {
        picture.vertices.push(Vertex { id: node_id(&server.name), lines: server_lines(lab, server), kind: VertexKind::Server });
        picture.edges.push(Edge { from: segment_id(server.vlan), to: node_id(&server.name), label: None, kind: EdgeKind::Cable });
    }
    for (client, members) in client_entries(lab) {
        let id = match &client.fleet {
            Some(fleet) => format!("fleet:{fleet}"),
            None => node_id(&client.name),
        };
        picture.vertices.push(Vertex { id: id.clone(), lines: client_lines(client, members), kind: VertexKind::Client });
        picture.edges.push(Edge { from: segment_id(client.vlan), to: id, label: None, kind: EdgeKind::Cable });
    }

    for zone in &lab.zones {
        add_zone(&mut picture, lab, zone);
    }
    for relay in &lab.relays {
        let label = format!("DHCP relay, giaddr {} -> {}", relay.giaddr, relay.dhcp_server_address);
        picture.edges.push(Edge { from: node_id(&relay.server), to: node_id(&relay.dhcp_server), label: Some(label), kind: EdgeKind::Relay });
    }
    picture
}

fn segment_lines(vlan: &Vlan, scope: Option<&Scope>) -> Vec<String> {
    let mut lines = vec![format!("VLAN {}", vlan.id), vlan.subnet.to_string()];
    if let Some(scope) = scope {
        lines.push(format!("DHCP {}-{} from {}", scope.range.0, scope.range.1, scope.server));
        let option15 = match (&scope.domain, &scope.option15_raw) {
            (Some(domain), _) => domain.to_string(),
            (None, Some(raw)) => format!("{:?}", raw.escape_ascii().to_string()),
            (None, None) => "none".to_owned(),
        };
        lines.push(format!("option 15 {option15}"));
    }
    lines
}

fn server_lines(lab: &Lab, server: &Server) -> Vec<String> {
    let roles: Vec<&str> = server.roles.iter().map(|role| role.name()).collect();
    let mut lines = vec![server.name.clone(), server.address.to_string(), server.fqdn.to_string(), roles.join(", ")];
    if lab.setup_server.server == server.name {
        lines.push(format!("setup server, hello port {}", lab.setup_server.port));
    }
    for exec in &server.exec {
        lines.push(format!("exec {}", exec.command[0]));
    }
    lines
}

/// Pairs each client entry of the topology with its number of PCs: a fleet's PCs differ
/// only in name, MAC and UUID, so the picture draws the entry once.
fn client_entries(lab: &Lab) -> Vec<(&Client, usize)> {
    let mut entries: Vec<(&Client, usize)> = Vec::new();
    for client in &lab.clients {
        match entries.last_mut() {
            Some((first, members)) if client.fleet.is_some() && first.fleet == client.fleet => *members += 1,
            _ => entries.push((client, 1)),
        }
    }
    entries
}

fn client_lines(client: &Client, members: usize) -> Vec<String> {
    let name = match &client.fleet {
        Some(fleet) => format!("{fleet} x {members} PCs"),
        None => client.name.clone(),
    };
    vec![name, format!("AMT {}", client.firmware), format!("expect {}", client.expect.outcome)]
}

/// Adds a zone, edges from the servers that answer for it, and one edge per alias whose
/// target is a server's FQDN, labelled with the alias.
fn add_zone(picture: &mut Picture, lab: &Lab, zone: &Zone) {
    let id = format!("zone:{}", zone.origin);
    let mut lines = vec![format!("zone {}", zone.origin)];
    for record in &zone.records {
        if let RecordData::Cname(target) = &record.data {
            lines.push(format!("{} CNAME {target}", record.name));
        }
    }
    picture.vertices.push(Vertex { id: id.clone(), lines, kind: VertexKind::Zone });

    for server in &zone.servers {
        picture.edges.push(Edge { from: node_id(server), to: id.clone(), label: Some("DNS".to_owned()), kind: EdgeKind::Serves });
    }
    for record in &zone.records {
        let RecordData::Cname(target) = &record.data else { continue };
        if let Some(server) = lab.servers.iter().find(|server| server.fqdn == *target) {
            let alias = record.name.as_str().strip_suffix(&format!(".{}", zone.origin)).unwrap_or(record.name.as_str());
            picture.edges.push(Edge { from: id.clone(), to: node_id(&server.name), label: Some(alias.to_owned()), kind: EdgeKind::Alias });
        }
    }
}

fn node_id(name: &str) -> String {
    format!("node:{name}")
}

fn segment_id(vlan: u16) -> String {
    format!("vlan:{vlan}")
}

fn dot_vertex_style(kind: VertexKind) -> &'static str {
    match kind {
        VertexKind::Switch => "shape=box3d, style=filled, fillcolor=\"#dddddd\"",
        VertexKind::Segment => "shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fe\"",
        VertexKind::Server => "shape=box",
        VertexKind::Client => "shape=box, style=rounded",
        VertexKind::Zone => "shape=note",
    }
}

fn dot_edge_style(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Cable => "penwidth=2",
        EdgeKind::Serves => "style=dotted",
        EdgeKind::Alias => "style=dashed, dir=forward",
        EdgeKind::Relay => "style=dashed, dir=forward, color=\"#1a73e8\"",
    }
}

/// Quotes a DOT ID or label: backslashes and double quotes escaped, newlines as `\n`.
fn dot_quote(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// Mermaid IDs take letters, digits and `_`; node names never contain `_`, so the
/// mapping keeps IDs apart.
fn mermaid_id(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// Mermaid text in double quotes, where `"` must be written as an entity.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn wildcard() -> Lab {
        crate::topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/wildcard.yaml")).unwrap()
    }

    #[test]
    fn dot_quote_escapes() {
        assert_eq!(dot_quote("a \"b\"\nc\\"), "\"a \\\"b\\\"\\nc\\\\\"");
    }

    #[test]
    fn mermaid_ids_distinct() {
        assert_ne!(mermaid_id("node:dc-1"), mermaid_id("zone:dc-1"));
        assert_eq!(mermaid_id("zone:mtkg.jcert.info"), "zone_mtkg_jcert_info");
    }

    #[test]
    fn picture_joins_relay_to_server() {
        let picture = picture(&wildcard());

        let relay = picture.edges.iter().find(|edge| edge.kind == EdgeKind::Relay).unwrap();
        assert_eq!((relay.from.as_str(), relay.to.as_str()), ("node:dc2", "node:dc1"));
        assert_eq!(relay.label.as_deref(), Some("DHCP relay, giaddr 192.168.91.10 -> 192.168.90.10"));
    }

    #[test]
    fn picture_draws_fleet_once() {
        let floor = crate::topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/examples/floor.yaml")).unwrap();
        let picture = picture(&floor);

        let clients: Vec<&Vertex> = picture.vertices.iter().filter(|vertex| vertex.kind == VertexKind::Client).collect();
        assert_eq!(clients.len(), 3, "one vertex per client entry");
        assert_eq!(clients[0].id, "fleet:floor90");
        assert_eq!(clients[0].lines[0], "floor90 x 60 PCs");
        assert!(picture.edges.iter().any(|edge| edge.from == "vlan:90" && edge.to == "fleet:floor90"), "fleet cabled to its VLAN");
    }

    #[test]
    fn picture_joins_aliases_to_setup_server() {
        let picture = picture(&wildcard());

        let aliases: Vec<(&str, &str)> = picture.edges.iter().filter(|edge| edge.kind == EdgeKind::Alias).map(|edge| (edge.from.as_str(), edge.label.as_deref().unwrap())).collect();
        assert_eq!(aliases, [("zone:jcert.info", "provisionserver"), ("zone:mtkg.jcert.info", "provisionserver")]);
        assert!(picture.edges.iter().filter(|edge| edge.kind == EdgeKind::Alias).all(|edge| edge.to == "node:scs"));
    }
}
