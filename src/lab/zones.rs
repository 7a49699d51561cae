//! The zones each DNS server of a lab serves, derived from the topology.

use std::collections::BTreeMap;

use crate::dns::{RecordData, RecordSpec, ZoneSpec, ptr_name, reverse_zone_origin};
use crate::topology::{self, Lab, Role, Server};

const TTL: u32 = 3600;

/// Zones for the DNS server `server`: the forward zones listed for it, plus one reverse
/// zone per /24 block that holds a server address, with a PTR for each server there.
pub fn zones_for(lab: &Lab, server: &Server) -> Vec<ZoneSpec> {
    let mut zones: Vec<ZoneSpec> = lab.zones.iter().filter(|zone| zone.servers.contains(&server.name)).map(|zone| forward_zone(lab, zone)).collect();

    zones.extend(reverse_zones(lab));
    zones
}

fn forward_zone(lab: &Lab, zone: &topology::Zone) -> ZoneSpec {
    let name_servers = zone_name_servers(lab, &zone.servers);
    let mut records = secondary_ns_records(zone.origin.as_str(), &name_servers);

    for entry in &zone.records {
        let data = match &entry.data {
            topology::RecordData::A(address) => RecordData::A(*address),
            topology::RecordData::Cname(target) => RecordData::Cname(target.to_string()),
        };
        records.push(record(entry.name.as_str(), data));
    }

    soa_zone(zone.origin.as_str(), &name_servers, records)
}

fn reverse_zones(lab: &Lab) -> Vec<ZoneSpec> {
    let dns_servers: Vec<String> = lab.servers.iter().filter(|server| server.has_role(Role::Dns)).map(|server| server.name.clone()).collect();
    let name_servers = zone_name_servers(lab, &dns_servers);

    let mut blocks: BTreeMap<String, Vec<RecordSpec>> = BTreeMap::new();
    for server in &lab.servers {
        let data = RecordData::Ptr(server.fqdn.to_string());
        blocks.entry(reverse_zone_origin(server.address)).or_default().push(record(&ptr_name(server.address), data));
    }

    blocks
        .into_iter()
        .map(|(origin, mut ptrs)| {
            let mut records = secondary_ns_records(&origin, &name_servers);
            records.append(&mut ptrs);
            soa_zone(&origin, &name_servers, records)
        })
        .collect()
}

/// NS records for every name server after the first; the zone builder makes the apex NS
/// record of the primary from the SOA.
fn secondary_ns_records(origin: &str, name_servers: &[String]) -> Vec<RecordSpec> {
    name_servers.iter().skip(1).map(|ns| record(origin, RecordData::Ns(ns.clone()))).collect()
}

/// FQDNs of the named servers, in the order given.
fn zone_name_servers(lab: &Lab, servers: &[String]) -> Vec<String> {
    servers.iter().filter_map(|name| lab.server(name)).map(|server| server.fqdn.to_string()).collect()
}

fn soa_zone(origin: &str, name_servers: &[String], records: Vec<RecordSpec>) -> ZoneSpec {
    ZoneSpec {
        origin: origin.to_owned(),
        primary_ns: name_servers.first().cloned().unwrap_or_else(|| format!("ns.{origin}")),
        admin_mailbox: format!("hostmaster.{origin}"),
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: TTL,
        records,
    }
}

fn record(name: &str, data: RecordData) -> RecordSpec {
    RecordSpec { name: name.to_owned(), ttl: TTL, data }
}
