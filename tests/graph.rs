//! `vprolab graph` on both reference labs: the DOT and Mermaid text name every segment,
//! node, zone, alias and relay; SVG comes from Graphviz's dot.

mod common;

use common::vprolab;

fn graph(format: &str, file: &str) -> String {
    let output = vprolab(&["graph", "--format", format, file]);
    assert!(output.status.success(), "{format} {file}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Lines of the DOT text that declare an edge, without their attributes.
fn dot_edges(dot: &str) -> Vec<String> {
    dot.lines().filter(|line| line.contains(" -- ")).map(|line| line.trim().split(" [").next().unwrap().to_owned()).collect()
}

#[test]
fn graph_dot_single_lab() {
    let dot = graph("dot", "topologies/single.yaml");

    assert!(dot.starts_with("graph \"single\" {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    assert!(dot.contains("\"node:l3sw\" [label=\"l3sw\\nL3 switch\""), "{dot}");
    assert!(dot.contains("\"vlan:90\" [label=\"VLAN 90\\n192.168.90.0/24\\nDHCP 192.168.90.100-192.168.90.199 from dc1\\noption 15 jcert.info\""), "{dot}");
    assert!(dot.contains("\"node:dc1\" [label=\"dc1\\n192.168.90.10\\ndc1.jcert.info\\ndomain-controller, dns, dhcp-server\""), "{dot}");
    assert!(dot.contains("\"node:pc90\" [label=\"pc90\\nAMT 4.1.1\\nexpect provisioned\""), "{dot}");

    let edges = dot_edges(&dot);
    for edge in ["\"node:l3sw\" -- \"vlan:90\"", "\"vlan:90\" -- \"node:dc1\"", "\"vlan:90\" -- \"node:scs\"", "\"vlan:90\" -- \"node:pc90\"", "\"node:dc1\" -- \"zone:jcert.info\"", "\"zone:jcert.info\" -- \"node:scs\""] {
        assert!(edges.contains(&edge.to_owned()), "{edge} missing from {edges:#?}");
    }
    assert_eq!(edges.len(), 6, "{edges:#?}");
    assert!(dot.contains("\"zone:jcert.info\" -- \"node:scs\" [label=\"provisionserver\""), "{dot}");
}

#[test]
fn graph_dot_wildcard_lab() {
    let dot = graph("dot", "topologies/wildcard.yaml");

    assert!(dot.contains("\"vlan:91\" [label=\"VLAN 91\\n192.168.91.0/24\\nDHCP 192.168.91.100-192.168.91.199 from dc1\\noption 15 mtkg.jcert.info\""), "{dot}");
    assert!(dot.contains("\"zone:mtkg.jcert.info\" [label=\"zone mtkg.jcert.info\\nprovisionserver.mtkg.jcert.info CNAME scs.jcert.info\""), "{dot}");
    assert!(dot.contains("\"node:dc2\" -- \"node:dc1\" [label=\"DHCP relay, giaddr 192.168.91.10 -> 192.168.90.10\""), "{dot}");

    let edges = dot_edges(&dot);
    assert!(edges.contains(&"\"zone:mtkg.jcert.info\" -- \"node:scs\"".to_owned()), "{edges:#?}");
    assert!(edges.contains(&"\"vlan:91\" -- \"node:pc91\"".to_owned()), "{edges:#?}");
    assert_eq!(edges.len(), 14, "{edges:#?}");
}

#[test]
fn graph_mermaid_both_labs() {
    let single = graph("mermaid", "topologies/single.yaml");
    let wildcard = graph("mermaid", "topologies/wildcard.yaml");

    assert!(single.starts_with("---\ntitle: lab single\n---\nflowchart TB\n"), "{single}");
    assert!(single.contains("  node_l3sw{{\"l3sw<br/>L3 switch\"}}\n"), "{single}");
    assert!(single.contains("  vlan_90[[\"VLAN 90<br/>192.168.90.0/24<br/>"), "{single}");
    assert!(single.contains("  zone_jcert_info -.->|\"provisionserver\"| node_scs\n"), "{single}");
    assert!(single.contains("  vlan_90 --- node_pc90\n"), "{single}");
    assert!(wildcard.contains("  node_dc2 -.->|\"DHCP relay, giaddr 192.168.91.10 -> 192.168.90.10\"| node_dc1\n"), "{wildcard}");
    assert!(wildcard.contains("  zone_mtkg_jcert_info -.->|\"provisionserver\"| node_scs\n"), "{wildcard}");
}

/// Checks whether Graphviz's dot is installed. CI installs it, so there a missing one fails.
fn dot_installed() -> bool {
    let found = std::process::Command::new("dot").arg("-V").output().is_ok();
    assert!(found || std::env::var_os("CI").is_none(), "Graphviz's dot is missing: install the Debian package graphviz");
    found
}

#[test]
fn graph_svg_both_labs() {
    if !dot_installed() {
        eprintln!("skipped: Graphviz's dot is not installed (Debian package graphviz)");
        return;
    }

    for (file, node) in [("topologies/single.yaml", "pc90"), ("topologies/wildcard.yaml", "pc91")] {
        let svg = graph("svg", file);

        assert!(svg.contains("<svg"), "{file}: {svg}");
        assert!(svg.contains(&format!(">{node}</text>")), "{file}: {svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{file}");
    }
}

#[test]
fn graph_svg_without_dot_names_package() {
    let output = std::process::Command::new(common::VPROLAB)
        .args(["graph", "--format", "svg", "topologies/single.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("install the Debian package graphviz"), "{stderr}");
}

#[test]
fn graph_invalid_topology_is_input_error() {
    let output = vprolab(&["graph", "tests/errors/cname-loop.yaml"]);

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("CNAME loop"));
}
