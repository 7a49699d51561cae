//! `validate`: check a topology file and describe it.

use vprolab::topology::{self, Certificate, CertificateSource, ChainPart, Lab};

use super::{CliError, ValidateArgs};
use super::write_stdout;
use crate::exit;

pub(crate) fn validate_file(args: &ValidateArgs) -> Result<u8, CliError> {
    let lab = topology::load(&args.file)?;
    if args.json {
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(&lab).expect("model serializes")));
    } else {
        write_stdout(&describe_lab(&lab));
    }
    Ok(exit::OK)
}

fn describe_lab(lab: &Lab) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();

    let _ = writeln!(out, "lab {}: valid", lab.name);
    for vlan in &lab.switch.vlans {
        let _ = writeln!(out, "  VLAN {}: {} gateway {} on switch {}", vlan.id, vlan.subnet, vlan.gateway, lab.switch.name);
    }
    for server in &lab.servers {
        let roles: Vec<&str> = server.roles.iter().map(|role| role.name()).collect();
        let _ = writeln!(out, "  server {}: VLAN {} {} {} [{}]", server.name, server.vlan, server.address, server.fqdn, roles.join(", "));
        for exec in &server.exec {
            let replaces: Vec<String> = exec.replaces.iter().map(|role| format!("{role:?}")).collect();
            let _ = writeln!(out, "    exec {} in place of [{}], ready on {:?}", exec.command[0], replaces.join(", "), exec.ready.check);
        }
    }
    for zone in &lab.zones {
        let _ = writeln!(out, "  zone {}: served by {}, {}", zone.origin, zone.servers.join(", "), vprolab::report::counted(zone.records.len(), "record"));
    }
    for scope in &lab.scopes {
        let domain = match (&scope.domain, &scope.option15_raw) {
            (Some(domain), _) => domain.to_string(),
            (None, Some(raw)) => format!("{:?} (raw bytes)", raw.escape_ascii().to_string()),
            (None, None) => "none".into(),
        };
        let _ = writeln!(out, "  DHCP scope VLAN {}: {}-{} from {}, option 15 {}", scope.vlan, scope.range.0, scope.range.1, scope.server, domain);
    }
    for relay in &lab.relays {
        let _ = writeln!(out, "  DHCP relay {} on VLAN {} (giaddr {}) -> {} ({})", relay.server, relay.listen_vlan, relay.giaddr, relay.dhcp_server, relay.dhcp_server_address);
    }
    let setup = &lab.setup_server;
    let _ = writeln!(out, "  setup server {} ({}) port {}, certificate {}", setup.server, setup.fqdn, setup.port, describe_certificate(&setup.certificate));
    describe_clients(lab, &mut out);
    out
}

/// Lists the clients, a fleet as one line: its PCs differ only in name, MAC and UUID.
fn describe_clients(lab: &Lab, out: &mut String) {
    use std::fmt::Write as _;
    let mut index = 0;
    while let Some(client) = lab.clients.get(index) {
        let members = match &client.fleet {
            Some(fleet) => lab.clients[index..].iter().take_while(|member| member.fleet.as_ref() == Some(fleet)).count(),
            None => 1,
        };
        let last = &lab.clients[index + members - 1];
        let name = match &client.fleet {
            Some(fleet) => format!("{fleet}, {members} PCs ({} to {})", client.name, last.name),
            None => client.name.clone(),
        };
        let _ = writeln!(out, "  client {name}: VLAN {} firmware {}, expected {}", client.vlan, client.firmware, client.expect.outcome);
        index += members;
    }
}

fn describe_certificate(certificate: &Certificate) -> String {
    let source = match &certificate.source {
        CertificateSource::Issued(request) => format!("CN={} issued by the lab CA", request.cn),
        CertificateSource::Files { chain, .. } => format!("from {}", chain.display()),
    };
    let send = match certificate.send {
        ChainPart::Full => "",
        ChainPart::WithoutIntermediate => ", sent without its intermediate",
        ChainPart::WithoutRoot => ", sent without its root",
    };
    let trust = if certificate.untrusted_root { ", root trusted by no client" } else { "" };
    format!("{source}{send}{trust}")
}
