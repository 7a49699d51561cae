//! Turns the raw file into the checked model in one pass that collects every problem.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::Problem;
use crate::amt::profile::FirmwareProfile;
use crate::amt::verdict::Reason;
use super::model::*;
use super::raw::*;

mod certificate;
mod mebx;
mod exec;
mod fleet;
mod records;

pub(super) use certificate::CHAIN_PARTS;
pub(super) use mebx::SCHEDULE_NAMES;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_LEASE_TIME: Duration = Duration::from_secs(8 * 3600);
const DEFAULT_HELLO_PORT: u16 = 9971;
/// Longest option 15 a DHCP option can carry (RFC 2132 2).
const MAX_OPTION15_LEN: usize = 255;

/// Run timeouts a lab accepts: a day is far beyond any provisioning exchange.
pub const TIMEOUT_RANGE: RangeInclusive<Duration> = Duration::from_millis(100)..=Duration::from_secs(24 * 3600);
/// Lease times option 51 can carry: 32-bit seconds, where 0xffffffff means infinite
/// (RFC 2132 9.2) and is not offered here.
const LEASE_TIME_RANGE: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(u32::MAX as u64 - 1);

pub(super) const KEY_NAMES: &[(&str, KeyKind)] = &[
    ("rsa-2048", KeyKind::Rsa2048),
    ("rsa-3072", KeyKind::Rsa3072),
    ("rsa-4096", KeyKind::Rsa4096),
    ("ecdsa-p256", KeyKind::EcdsaP256),
];

/// Resolves a parsed file into the model, or returns every problem found. Relative file
/// names in the topology start from `base`, the topology's folder.
pub fn resolve(raw: &RawLab, base: &Path) -> Result<Lab, Vec<Problem>> {
    let mut resolver = Resolver { base: base.to_owned(), ..Resolver::default() };
    let lab = resolver.lab(raw);

    match lab {
        Some(lab) if resolver.problems.is_empty() && resolver.suppressed == 0 => Ok(lab),
        _ => Err(resolver.problems),
    }
}

/// What resolving a client needs from the rest of the file.
struct ClientContext<'a> {
    /// The lab name, `None` when it is invalid.
    lab: Option<&'a str>,
    /// Whether clients may trust the setup server's root: false for `untrusted_root`.
    root_offered: bool,
}

/// The resolved DHCP parts a client check needs.
struct DhcpPlan<'a> {
    servers: &'a [Server],
    scopes: &'a [Scope],
    relays: &'a [Relay],
}

#[derive(Default)]
struct Resolver {
    problems: Vec<Problem>,
    /// Problems dropped because they sit on a placeholder of the schema check, which
    /// reported the missing or mistyped value already.
    suppressed: usize,
    /// Every node name seen so far, with the path that defined it.
    node_names: HashMap<String, String>,
    /// Every static address seen so far, with the path that defined it.
    addresses: HashMap<Ipv4Addr, String>,
    /// VLAN ids and server names written in the file, valid or not: a reference to one
    /// that failed its own checks is not reported again as unknown.
    declared_vlans: BTreeSet<String>,
    declared_servers: BTreeSet<String>,
    declared_addresses: BTreeSet<String>,
    /// VLAN keys of the scopes written, and VLANs a written relay may serve: its
    /// `listen_vlan` and its server's VLAN. `None` when the schema check found
    /// `dhcp.scopes` missing or invalid, so that nothing is known of scopes.
    declared_scope_vlans: Option<BTreeSet<String>>,
    declared_relay_vlans: BTreeSet<u16>,
    /// Servers whose roles hold a placeholder of the schema check, so that a missing
    /// role there is no problem of its own.
    servers_with_unknown_roles: BTreeSet<String>,
    /// Folder of the topology file.
    base: PathBuf,
    /// Every record resolved, with its place, for the checks across zones.
    record_sites: Vec<records::RecordSite>,
    /// Namespace of the switch, `<lab>-<switch>`, where the switch ports are.
    switch_namespace: String,
}

impl Resolver {
    fn lab(&mut self, raw: &RawLab) -> Option<Lab> {
        self.declared_vlans = raw.switch.vlans.value.0.iter().map(|(id, _)| id.value.clone()).collect();
        self.declared_servers = raw.servers.0.iter().map(|(name, _)| name.value.clone()).collect();
        self.declared_addresses = raw.servers.0.iter().map(|(_, server)| server.value.address.value.trim().to_owned()).collect();
        self.declared_scope_vlans = (!raw.dhcp.scopes.referenced.is_placeholder()).then(|| raw.dhcp.scopes.value.0.iter().map(|(key, _)| key.value.clone()).collect());
        self.declared_relay_vlans = declared_relay_vlans(raw);

        let name = self.lab_name(&raw.lab);
        self.switch_namespace = format!("{}-{}", raw.lab.value, raw.switch.name.value);
        let timeout = self.duration(raw.timeout.as_ref(), "timeout", DEFAULT_TIMEOUT, TIMEOUT_RANGE);
        let switch = self.switch(&raw.switch);
        let servers = self.servers(&raw.servers, &switch, name.as_deref());
        let zones = self.zones(&raw.zones, &servers);
        self.check_records(&servers);
        let scopes = self.scopes(&raw.dhcp.scopes.value, &switch, &servers);
        let relays = self.relays(&raw.dhcp.relays, &servers, &scopes);
        let setup_server = self.setup_server(&raw.setup_server, &servers);
        let dhcp = DhcpPlan { servers: &servers, scopes: &scopes, relays: &relays };
        let root_offered = setup_server.as_ref().is_some_and(|setup| !setup.certificate.untrusted_root);
        let clients = self.clients(&raw.clients, &switch, &dhcp, ClientContext { lab: name.as_deref(), root_offered });

        Some(Lab {
            name: name?,
            description: raw.description.clone(),
            timeout,
            switch,
            servers,
            zones: with_server_records(zones, &raw.servers, &self.problems),
            scopes,
            relays,
            setup_server: setup_server?,
            clients,
        })
    }

    fn report(&mut self, problem: Problem) {
        if problem.on_placeholder() {
            self.suppressed += 1;
        } else {
            self.problems.push(problem);
        }
    }

    fn lab_name(&mut self, name: &Spanned<String>) -> Option<String> {
        match check_name(&name.value, MAX_LAB_NAME_LEN) {
            Ok(()) => Some(name.value.clone()),
            Err(why) => {
                self.report(Problem::on(name, "lab", format!("invalid lab name {:?}: {why}", name.value)));
                None
            }
        }
    }

    /// Checks a node name and that it is unused. Switch ports are named after their node,
    /// so the name must fit a Linux interface name.
    fn node_name(&mut self, name: &Spanned<String>, path: &str) -> bool {
        // The switch has no port of its own; servers and clients do.
        if name.value.len() > MAX_IFNAME_LEN && path != "switch.name" {
            let message = format!(
                "node name {:?} is too long: the lab names the node's switch port after it, and the interface {:?} in namespace {:?} would have {} characters, where Linux allows at most {MAX_IFNAME_LEN}",
                name.value,
                name.value,
                self.switch_namespace,
                name.value.len()
            );
            self.report(Problem::on(name, path, message).help(format!("use at most {MAX_IFNAME_LEN} characters, such as {:?}", shortened(&name.value))));
            return false;
        }
        if let Err(why) = check_node_name(&name.value) {
            self.report(Problem::on(name, path, format!("invalid node name {:?}: {why}", name.value)));
            return false;
        }
        if let Some(first) = self.node_names.get(&name.value) {
            let problem = Problem::on(name, path, format!("node name {:?} is already used by {first}", name.value));
            self.report(problem.help("give every switch, server and client its own name"));
            return false;
        }

        self.node_names.insert(name.value.clone(), path.to_owned());
        true
    }

    fn switch(&mut self, raw: &RawSwitch) -> Switch {
        self.node_name(&raw.name, "switch.name");

        let mut vlans: Vec<Vlan> = Vec::new();
        for (key, vlan) in &raw.vlans.value.0 {
            let path = format!("switch.vlans.{}", key.value);
            if let Some(vlan) = self.vlan(key, vlan, &path) {
                self.check_overlap(&vlans, &vlan, key, &path);
                vlans.push(vlan);
            }
        }

        if raw.vlans.value.0.is_empty() {
            self.report(Problem::on(&raw.vlans, "switch.vlans", "the switch has no VLANs").help("add at least one VLAN with its subnet and gateway"));
        }
        Switch { name: raw.name.value.clone(), vlans }
    }

    fn vlan(&mut self, key: &Spanned<String>, raw: &Spanned<RawVlan>, path: &str) -> Option<Vlan> {
        let id = match key.value.parse::<u16>() {
            Ok(id @ 1..=4094) => Some(id),
            _ => {
                self.report(Problem::on(key, path, format!("invalid VLAN id {:?}: must be a number from 1 to 4094", key.value)));
                None
            }
        };
        let subnet = self.subnet(&raw.value.subnet, &format!("{path}.subnet"));
        let gateway = self.address(&raw.value.gateway, &format!("{path}.gateway"));

        let (id, subnet, gateway) = (id?, subnet?, gateway?);
        if !self.host_address_in(subnet, &raw.value.gateway, gateway, &format!("{path}.gateway")) {
            return None;
        }

        self.claim_address(gateway, &raw.value.gateway, &format!("{path}.gateway"));
        Some(Vlan { id, subnet, gateway })
    }

    fn check_overlap(&mut self, vlans: &[Vlan], vlan: &Vlan, key: &Spanned<String>, path: &str) {
        if let Some(other) = vlans.iter().find(|other| other.id == vlan.id) {
            self.report(Problem::on(key, path, format!("VLAN {} is defined twice", other.id)));
        } else if let Some(other) = vlans.iter().find(|other| other.subnet.overlaps(vlan.subnet)) {
            let message = format!("subnet {} overlaps {} of VLAN {}", vlan.subnet, other.subnet, other.id);
            self.report(Problem::on(key, path, message));
        }
    }

    fn subnet(&mut self, raw: &Spanned<String>, path: &str) -> Option<Ipv4Network> {
        let subnet = match Ipv4Network::from_str(&raw.value) {
            Ok(subnet) if raw.value.contains('/') => subnet,
            _ => {
                let message = format!("invalid subnet {:?}: expected an IPv4 prefix such as 192.168.90.0/24", raw.value);
                self.report(Problem::on(raw, path, message));
                return None;
            }
        };

        if subnet.network() != subnet.ip() {
            let fixed = Ipv4Network::new(subnet.network(), subnet.prefix()).expect("same prefix length");
            let problem = Problem::on(raw, path, format!("subnet {} has host bits set", raw.value));
            self.report(problem.help(format!("did you mean {fixed}?")));
            return None;
        }
        if let Some(kind) = special_range(subnet) {
            self.report(Problem::on(raw, path, format!("subnet {subnet} is in the {kind} range, which hosts cannot use on a segment")).help("use a private range such as 192.168.90.0/24 or 10.0.0.0/16"));
            return None;
        }
        if subnet.prefix() > 30 {
            self.report(Problem::on(raw, path, format!("subnet {subnet} is too small: a VLAN needs at least a /30")));
            return None;
        }
        Some(subnet)
    }

    fn address(&mut self, raw: &Spanned<String>, path: &str) -> Option<Ipv4Addr> {
        match raw.value.parse::<Ipv4Addr>() {
            Ok(address) => Some(address),
            Err(_) => {
                self.report(Problem::on(raw, path, format!("invalid IPv4 address {:?}", raw.value)));
                None
            }
        }
    }

    /// Checks that `address` is a usable host address of `subnet`.
    fn host_address_in(&mut self, subnet: Ipv4Network, raw: &Spanned<String>, address: Ipv4Addr, path: &str) -> bool {
        let message = if !subnet.contains(address) {
            format!("address {address} is outside the subnet {subnet}")
        } else if address == subnet.network() {
            format!("address {address} is the network address of {subnet}")
        } else if address == subnet.broadcast() {
            format!("address {address} is the broadcast address of {subnet}")
        } else {
            return true;
        };

        self.report(Problem::on(raw, path, message));
        false
    }

    fn claim_address(&mut self, address: Ipv4Addr, raw: &Spanned<String>, path: &str) {
        if let Some(first) = self.addresses.get(&address) {
            self.report(Problem::on(raw, path, format!("address {address} is already used by {first}")));
        } else {
            self.addresses.insert(address, path.to_owned());
        }
    }

    fn servers(&mut self, raw: &Entries<RawServer>, switch: &Switch, lab: Option<&str>) -> Vec<Server> {
        raw.0.iter().filter_map(|(name, server)| self.server(name, server, switch, lab)).collect()
    }

    fn server(&mut self, name: &Spanned<String>, raw: &Spanned<RawServer>, switch: &Switch, lab: Option<&str>) -> Option<Server> {
        let path = format!("servers.{}", name.value);
        let named = self.node_name(name, &path);
        let vlan = self.vlan_ref(&raw.value.vlan, switch, &format!("{path}.vlan"));
        let address = self.address(&raw.value.address, &format!("{path}.address"));
        let fqdn = self.domain_name(&raw.value.fqdn, &format!("{path}.fqdn"));
        let roles = self.roles(&raw.value.roles, &format!("{path}.roles"));
        let roles_unknown = raw.value.roles.referenced.is_placeholder() || raw.value.roles.value.iter().any(|role| role.referenced.is_placeholder());
        if roles_unknown {
            self.servers_with_unknown_roles.insert(name.value.clone());
        }

        let (vlan, address) = (vlan?, address?);
        if !self.host_address_in(vlan.subnet, &raw.value.address, address, &format!("{path}.address")) {
            return None;
        }
        self.claim_address(address, &raw.value.address, &format!("{path}.address"));

        let exec = self.exec_services(&raw.value.exec, &roles, &path);
        named.then_some(())?;
        Some(Server {
            name: name.value.clone(),
            vlan: vlan.id,
            address,
            fqdn: fqdn?,
            roles,
            mac: derived_mac(lab.unwrap_or_default(), &name.value),
            exec,
        })
    }

    fn vlan_ref<'s>(&mut self, raw: &Spanned<u16>, switch: &'s Switch, path: &str) -> Option<&'s Vlan> {
        let found = switch.vlans.iter().find(|vlan| vlan.id == raw.value);
        if found.is_none() && !self.declared_vlans.contains(&raw.value.to_string()) {
            let known: Vec<String> = switch.vlans.iter().map(|vlan| vlan.id.to_string()).collect();
            let problem = Problem::on(raw, path, format!("unknown VLAN {}", raw.value));
            let help = if known.is_empty() { "define the VLAN under switch.vlans".to_owned() } else { format!("the switch defines VLANs {}", known.join(", ")) };
            self.report(problem.help(help));
        }
        found
    }

    fn roles(&mut self, raw: &Spanned<Vec<Spanned<String>>>, path: &str) -> BTreeSet<Role> {
        let mut roles = BTreeSet::new();
        for (index, role) in raw.value.iter().enumerate() {
            match Role::NAMES.iter().find(|(name, _)| *name == role.value) {
                Some((_, role)) => {
                    roles.insert(*role);
                }
                None => {
                    let names: Vec<&str> = Role::NAMES.iter().map(|(name, _)| *name).collect();
                    let problem = Problem::on(role, format!("{path}[{index}]"), format!("unknown role {:?}", role.value));
                    self.report(problem.help(suggest(&role.value, &names)));
                }
            }
        }
        roles
    }

    fn domain_name(&mut self, raw: &Spanned<String>, path: &str) -> Option<DomainName> {
        match DomainName::parse(&raw.value) {
            Ok(name) => Some(name),
            Err(why) => {
                self.report(Problem::on(raw, path, format!("invalid domain name {:?}: {why}", raw.value)));
                None
            }
        }
    }

    /// Looks up a server by name and checks that it has `role`.
    fn server_with_role<'s>(&mut self, raw: &Spanned<String>, role: Role, servers: &'s [Server], path: &str) -> Option<&'s Server> {
        let Some(server) = servers.iter().find(|server| server.name == raw.value) else {
            if self.declared_servers.contains(&raw.value) {
                return None;
            }
            let names: Vec<&str> = servers.iter().map(|server| server.name.as_str()).collect();
            let problem = Problem::on(raw, path, format!("unknown server {:?}", raw.value));
            let help = if names.is_empty() { format!("define {} under servers", raw.value) } else { suggest(&raw.value, &names) };
            self.report(problem.help(help));
            return None;
        };

        if !server.has_role(role) {
            if self.servers_with_unknown_roles.contains(&server.name) {
                return None;
            }
            let role_name = role.name();
            let problem = Problem::on(raw, path, format!("server {:?} does not have the {role_name} role", raw.value));
            self.report(problem.help(format!("add {role_name} to servers.{}.roles", raw.value)));
            return None;
        }
        Some(server)
    }

    fn zones(&mut self, raw: &Entries<RawZone>, servers: &[Server]) -> Vec<Zone> {
        let mut zones: Vec<Zone> = Vec::new();
        for (origin, zone) in &raw.0 {
            let path = format!("zones.{}", origin.value);
            let Some(zone) = self.zone(origin, zone, servers, &path) else { continue };

            if zones.iter().any(|other| other.origin == zone.origin) {
                self.report(Problem::on(origin, &path, format!("zone {} is defined twice", zone.origin)));
                continue;
            }
            zones.push(zone);
        }
        zones
    }

    fn zone(&mut self, origin: &Spanned<String>, raw: &Spanned<RawZone>, servers: &[Server], path: &str) -> Option<Zone> {
        let origin_name = self.domain_name(origin, path);
        let zone_servers: Vec<String> = raw
            .value
            .servers
            .value
            .iter()
            .enumerate()
            .filter_map(|(index, name)| self.server_with_role(name, Role::Dns, servers, &format!("{path}.servers[{index}]")))
            .map(|server| server.name.clone())
            .collect();

        if raw.value.servers.value.is_empty() {
            self.report(Problem::on(&raw.value.servers, format!("{path}.servers"), "the zone has no DNS server").help("list at least one server with the dns role"));
        }

        let origin_name = origin_name?;
        let records = raw
            .value
            .records
            .0
            .iter()
            .filter_map(|(name, record)| self.record(&origin_name, name, record, &format!("{path}.records.{}", name.value)))
            .collect();
        Some(Zone { origin: origin_name, servers: zone_servers, records })
    }

    fn record(&mut self, origin: &DomainName, name: &Spanned<String>, raw: &Spanned<RawRecord>, path: &str) -> Option<ZoneRecord> {
        let owner = match origin.join(&name.value) {
            Ok(owner) => owner,
            Err(why) => {
                self.report(Problem::on(name, path, format!("invalid record name {:?}: {why}", name.value)).help("write the name relative to the zone, or @ for the zone itself"));
                return None;
            }
        };

        let data = match (&raw.value.cname, &raw.value.a) {
            (Some(target), None) => RecordData::Cname(self.domain_name(target, &format!("{path}.cname"))?),
            (None, Some(address)) => RecordData::A(self.address(address, &format!("{path}.a"))?),
            _ => {
                self.report(Problem::on(raw, path, "a record needs exactly one of cname or a"));
                return None;
            }
        };
        self.record_sites.push(records::RecordSite { zone: origin.clone(), owner: owner.clone(), data: data.clone(), at: name.referenced, path: path.to_owned() });
        Some(ZoneRecord { name: owner, data })
    }

    fn scopes(&mut self, raw: &Entries<RawScope>, switch: &Switch, servers: &[Server]) -> Vec<Scope> {
        raw.0.iter().filter_map(|(key, scope)| self.scope(key, scope, switch, servers)).collect()
    }

    fn scope(&mut self, key: &Spanned<String>, raw: &Spanned<RawScope>, switch: &Switch, servers: &[Server]) -> Option<Scope> {
        let path = format!("dhcp.scopes.{}", key.value);
        let vlan = key.value.parse::<u16>().ok().and_then(|id| switch.vlans.iter().find(|vlan| vlan.id == id));
        if vlan.is_none() && !self.declared_vlans.contains(&key.value) {
            let problem = Problem::on(key, &path, format!("no VLAN {:?} on the switch", key.value));
            self.report(problem.help("scopes are keyed by the VLAN id they serve"));
        }

        let server = self.server_with_role(&raw.value.server, Role::DhcpServer, servers, &format!("{path}.server"));
        let range = self.range(&raw.value.range, vlan, &format!("{path}.range"));
        let router = raw.value.router.as_ref().and_then(|router| self.address_in_vlan(router, vlan, &format!("{path}.router")));
        let dns_servers = raw
            .value
            .dns_servers
            .iter()
            .enumerate()
            .filter_map(|(index, address)| self.dns_server_address(address, servers, &format!("{path}.dns_servers[{index}]")))
            .collect();
        let domain = raw.value.domain.as_ref().and_then(|domain| self.domain_name(domain, &format!("{path}.domain")));
        let option15_raw = raw.value.option15_raw.as_ref().and_then(|value| self.option15_raw(value, raw.value.domain.is_some(), &format!("{path}.option15_raw")));
        let lease_time = self.duration(raw.value.lease_time.as_ref(), &format!("{path}.lease_time"), DEFAULT_LEASE_TIME, LEASE_TIME_RANGE);
        let dynamic_dns = raw.value.dynamic_dns.as_ref().is_some_and(|flag| flag.value);
        if let Some(flag) = raw.value.dynamic_dns.as_ref().filter(|flag| flag.value && raw.value.domain.is_none()) {
            let problem = Problem::on(flag, format!("{path}.dynamic_dns"), "dynamic_dns needs domain: a lease is registered as <option 12>.<domain>");
            self.report(problem.help("set domain, or remove dynamic_dns"));
        }

        let vlan = vlan?;
        Some(Scope {
            vlan: vlan.id,
            subnet: vlan.subnet,
            server: server?.name.clone(),
            range: range?,
            router,
            dns_servers,
            domain,
            option15_raw,
            lease_time,
            dynamic_dns,
        })
    }

    /// Parses an option 6 address and checks that a server with the dns role has it.
    fn dns_server_address(&mut self, raw: &Spanned<String>, servers: &[Server], path: &str) -> Option<Ipv4Addr> {
        let address = self.address(raw, path)?;
        match servers.iter().find(|server| server.address == address) {
            Some(server) if server.has_role(Role::Dns) => return Some(address),
            None if self.declared_addresses.contains(&address.to_string()) => return None,
            _ => {}
        }

        let dns: Vec<String> = servers.iter().filter(|server| server.has_role(Role::Dns)).map(|server| format!("{} ({})", server.address, server.name)).collect();
        let problem = Problem::on(raw, path, format!("no server with the dns role has the address {address}"));
        let help = if dns.is_empty() { "give a server the dns role and list its address here".to_owned() } else { format!("DNS servers in this lab: {}", dns.join(", ")) };
        self.report(problem.help(help));
        None
    }

    /// Turns `option15_raw` into bytes: each character, escapes such as "\0" included,
    /// is one byte, so the value must stay within U+0000 to U+00FF.
    fn option15_raw(&mut self, raw: &Spanned<String>, domain_set: bool, path: &str) -> Option<Vec<u8>> {
        if domain_set {
            let problem = Problem::on(raw, path, "option15_raw and domain both set option 15");
            self.report(problem.help("keep domain for a domain name, or option15_raw for exact bytes"));
            return None;
        }

        let bytes: Result<Vec<u8>, char> = raw.value.chars().map(|c| u8::try_from(u32::from(c)).map_err(|_| c)).collect();
        let message = match bytes {
            Err(character) => format!("option15_raw contains {character:?}, which is not one byte"),
            Ok(bytes) if bytes.is_empty() => "option15_raw is empty, and a DHCP option carries at least one byte".to_owned(),
            Ok(bytes) if bytes.len() > MAX_OPTION15_LEN => format!("option15_raw has {} bytes, at most {MAX_OPTION15_LEN} fit a DHCP option", bytes.len()),
            Ok(bytes) => return Some(bytes),
        };
        self.report(Problem::on(raw, path, message).help("write bytes as characters or YAML escapes such as \"jcert.info\\0\" or \"\\xE9\""));
        None
    }

    fn address_in_vlan(&mut self, raw: &Spanned<String>, vlan: Option<&Vlan>, path: &str) -> Option<Ipv4Addr> {
        let address = self.address(raw, path)?;
        let vlan = vlan?;
        self.host_address_in(vlan.subnet, raw, address, path).then_some(address)
    }

    /// Parses `first-last` and checks that it lies in the VLAN and contains no static address.
    fn range(&mut self, raw: &Spanned<String>, vlan: Option<&Vlan>, path: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let parsed = raw.value.split_once('-').and_then(|(first, last)| Some((first.trim().parse::<Ipv4Addr>().ok()?, last.trim().parse::<Ipv4Addr>().ok()?)));
        let Some((first, last)) = parsed else {
            self.report(Problem::on(raw, path, format!("invalid range {:?}: expected FIRST-LAST, such as 192.168.90.100-192.168.90.199", raw.value)));
            return None;
        };

        if first > last {
            let problem = Problem::on(raw, path, format!("range {first}-{last} is reversed"));
            self.report(problem.help(format!("did you mean {last}-{first}?")));
            return None;
        }

        let vlan = vlan?;
        let ok_first = self.host_address_in(vlan.subnet, raw, first, path);
        let ok_last = self.host_address_in(vlan.subnet, raw, last, path);
        if !(ok_first && ok_last) {
            return None;
        }

        let mut static_in_range: Vec<(Ipv4Addr, String)> = self.addresses.iter().filter(|(address, _)| (first..=last).contains(*address)).map(|(address, owner)| (*address, owner.clone())).collect();
        static_in_range.sort();
        for (address, owner) in static_in_range {
            let problem = Problem::on(raw, path, format!("range {first}-{last} contains {address}, the static address of {owner}"));
            self.report(problem.help("start or end the range so that it leaves out every static address"));
        }
        Some((first, last))
    }

    /// Parses a duration such as `30s` or `8h` and checks that it lies in `range`.
    fn duration(&mut self, raw: Option<&Spanned<String>>, path: &str, default: Duration, range: RangeInclusive<Duration>) -> Duration {
        let Some(raw) = raw else { return default };

        let message = match humantime::parse_duration(&raw.value) {
            Ok(duration) if range.contains(&duration) => return duration,
            Ok(_) => format!("duration {:?} is out of range: it must be from {} to {}", raw.value, humantime::format_duration(*range.start()), humantime::format_duration(*range.end())),
            Err(_) => format!("invalid duration {:?}: expected a number and a unit, such as 30s, 5m or 8h", raw.value),
        };
        self.report(Problem::on(raw, path, message));
        default
    }

    fn relays(&mut self, raw: &Entries<RawRelay>, servers: &[Server], scopes: &[Scope]) -> Vec<Relay> {
        raw.0.iter().filter_map(|(name, relay)| self.relay(name, relay, servers, scopes)).collect()
    }

    fn relay(&mut self, name: &Spanned<String>, raw: &Spanned<RawRelay>, servers: &[Server], scopes: &[Scope]) -> Option<Relay> {
        let path = format!("dhcp.relays.{}", name.value);
        let relay = self.server_with_role(name, Role::DhcpRelay, servers, &path);
        let target = self.server_with_role(&raw.value.server, Role::DhcpServer, servers, &format!("{path}.server"));
        let (relay, target) = (relay?, target?);

        let listen_vlan = raw.value.listen_vlan.value;
        if relay.vlan != listen_vlan {
            let problem = Problem::on(&raw.value.listen_vlan, format!("{path}.listen_vlan"), format!("server {} is attached to VLAN {}, not VLAN {listen_vlan}", relay.name, relay.vlan));
            self.report(problem.help(format!("a relay listens on its own VLAN: set listen_vlan to {}", relay.vlan)));
            return None;
        }
        let scope_declared = self.declared_scope_vlans.as_ref().is_none_or(|declared| declared.contains(&listen_vlan.to_string()));
        let scope_built = scopes.iter().any(|scope| scope.vlan == listen_vlan);
        if !scopes.iter().any(|scope| scope.vlan == listen_vlan && scope.server == target.name) && (scope_built || !scope_declared) {
            let problem = Problem::on(&raw.value.server, format!("{path}.server"), format!("server {} has no scope for VLAN {listen_vlan}", target.name));
            self.report(problem.help(format!("add dhcp.scopes.{listen_vlan} with server: {}", target.name)));
            return None;
        }

        Some(Relay {
            server: relay.name.clone(),
            listen_vlan,
            giaddr: relay.address,
            dhcp_server: target.name.clone(),
            dhcp_server_address: target.address,
        })
    }

    fn setup_server(&mut self, raw: &Spanned<RawSetupServer>, servers: &[Server]) -> Option<SetupServer> {
        let server = self.server_with_role(&raw.value.server, Role::SetupServer, servers, "setup_server.server");
        // The schema limits the port to 1..=65535.
        let port = raw.value.port.as_ref().map_or(DEFAULT_HELLO_PORT, |port| port.value);
        let base = self.base.clone();
        let certificate = self.certificate(&raw.value.certificate, &base);

        let server = server?;
        Some(SetupServer {
            server: server.name.clone(),
            address: server.address,
            fqdn: server.fqdn.clone(),
            port,
            certificate: certificate?,
        })
    }

    fn clients(&mut self, raw: &Spanned<Entries<RawClient>>, switch: &Switch, dhcp: &DhcpPlan, context: ClientContext) -> Vec<Client> {
        if raw.value.0.is_empty() {
            self.report(Problem::on(raw, "clients", "the lab has no vPro clients").help("add at least one client under clients"));
        }
        let mut clients = Vec::new();
        for (name, client) in &raw.value.0 {
            clients.extend(self.client_entry(name, client, switch, dhcp, &context));
        }
        self.check_pool_sizes(&raw.value.0, &clients, dhcp);
        clients
    }

    fn client(&mut self, name: &Spanned<String>, raw: &Spanned<RawClient>, switch: &Switch, dhcp: &DhcpPlan, context: &ClientContext) -> Option<Client> {
        let lab = context.lab;
        let path = format!("clients.{}", name.value);
        let named = self.node_name(name, &path);
        let vlan = self.vlan_ref(&raw.value.vlan, switch, &format!("{path}.vlan"));
        if let Some(vlan) = vlan {
            self.check_dhcp_reach(vlan, &raw.value.vlan, dhcp, &format!("{path}.vlan"));
        }

        let mac = match &raw.value.mac {
            None => Some(derived_mac(lab.unwrap_or_default(), &name.value)),
            Some(mac) => self.mac(mac, &format!("{path}.mac")),
        };
        let uuid = match &raw.value.uuid {
            None => Some(derived_uuid(lab.unwrap_or_default(), &name.value)),
            Some(uuid) => self.uuid(uuid, &format!("{path}.uuid")),
        };
        let expect = self.expectation(&raw.value.expect, &format!("{path}.expect"));

        let firmware = raw.value.firmware.value.trim().to_owned();
        let profile = FirmwareProfile::parse(&firmware).map_err(|why| {
            self.report(Problem::on(&raw.value.firmware, format!("{path}.firmware"), why.to_string()).help("write the AMT version, such as 4.1.1 or 11.8"));
        });
        let mebx = self.mebx(raw.value.mebx.as_ref(), profile.as_ref().ok(), context.root_offered, &path);
        let hello = self.hello(raw.value.hello.as_ref(), profile.as_ref().ok(), &path);

        named.then_some(())?;
        Some(Client { name: name.value.clone(), fleet: None, vlan: vlan?.id, firmware, mac: mac?, uuid: uuid?, mebx: mebx?, hello: hello?, expect: expect? })
    }

    /// Checks that a client's VLAN has a scope, served from that VLAN or through a relay on
    /// it, because DHCP broadcasts do not cross the L3 switch.
    fn check_dhcp_reach(&mut self, vlan: &Vlan, raw: &Spanned<u16>, dhcp: &DhcpPlan, path: &str) {
        let vlan_key = vlan.id.to_string();
        let Some(scope) = dhcp.scopes.iter().find(|scope| scope.vlan == vlan.id) else {
            // A scope that failed its own checks, or scopes the schema check found
            // missing, were reported already.
            if self.declared_scope_vlans.as_ref().is_none_or(|declared| declared.contains(&vlan_key)) {
                return;
            }
            let problem = Problem::on(raw, path, format!("VLAN {} has no DHCP scope, so the client gets no address", vlan.id));
            self.report(problem.help(format!("add dhcp.scopes.{}", vlan.id)));
            return;
        };

        let local = dhcp.servers.iter().any(|server| server.name == scope.server && server.vlan == vlan.id);
        let relayed = dhcp.relays.iter().any(|relay| relay.listen_vlan == vlan.id && relay.dhcp_server == scope.server);
        if !(local || relayed || self.declared_relay_vlans.contains(&vlan.id)) {
            let problem = Problem::on(raw, path, format!("DHCP server {} is not on VLAN {} and no relay on VLAN {} forwards to it", scope.server, vlan.id, vlan.id));
            self.report(problem.help(format!("add a server with the dhcp-relay role on VLAN {} and list it under dhcp.relays", vlan.id)));
        }
    }

    fn mac(&mut self, raw: &Spanned<String>, path: &str) -> Option<[u8; 6]> {
        let bytes: Vec<u8> = raw.value.split(':').filter_map(|part| (part.len() == 2).then(|| u8::from_str_radix(part, 16).ok()).flatten()).collect();
        match <[u8; 6]>::try_from(bytes) {
            Ok(mac) if mac[0] & 1 == 0 => Some(mac),
            _ => {
                self.report(Problem::on(raw, path, format!("invalid MAC address {:?}: expected six hex pairs such as 02:00:00:00:00:01, unicast", raw.value)));
                None
            }
        }
    }

    fn uuid(&mut self, raw: &Spanned<String>, path: &str) -> Option<Uuid> {
        match Uuid::parse_str(&raw.value) {
            Ok(uuid) => Some(uuid),
            Err(why) => {
                self.report(Problem::on(raw, path, format!("invalid UUID {:?}: {why}", raw.value)));
                None
            }
        }
    }

    fn expectation(&mut self, raw: &RawExpect, path: &str) -> Option<Expectation> {
        let outcome = raw.outcome.value.trim().to_owned();
        let valid = Reason::all_codes().any(|code| code == outcome);
        if !valid {
            let codes: Vec<&str> = Reason::all_codes().collect();
            let problem = Problem::on(&raw.outcome, format!("{path}.outcome"), format!("unknown outcome {:?}", raw.outcome.value));
            self.report(problem.help(suggest(&outcome, &codes)));
        }

        let domain = match &raw.domain {
            None => None,
            Some(domain) => Some(self.domain_name(domain, &format!("{path}.domain"))?),
        };
        valid.then_some(Expectation { outcome, domain })
    }
}

/// Adds an A record for every server whose FQDN falls in a zone, to the most specific
/// such zone, unless the zone already has data at that name.
fn with_server_records(mut zones: Vec<Zone>, servers: &Entries<RawServer>, problems: &[Problem]) -> Vec<Zone> {
    if !problems.is_empty() {
        return zones;
    }

    for (_, server) in &servers.0 {
        let (Ok(fqdn), Ok(address)) = (DomainName::parse(&server.value.fqdn.value), server.value.address.value.parse::<Ipv4Addr>()) else { continue };
        let zone = zones.iter_mut().filter(|zone| fqdn.is_within(&zone.origin)).max_by_key(|zone| zone.origin.as_str().len());
        if let Some(zone) = zone
            && !zone.records.iter().any(|record| record.name == fqdn)
        {
            zone.records.push(ZoneRecord { name: fqdn, data: RecordData::A(address) });
        }
    }
    zones
}

/// Names the special-purpose block `subnet` overlaps, if any (RFC 6890): such addresses
/// are not routed between hosts, so a lab built on them cannot work.
fn special_range(subnet: Ipv4Network) -> Option<&'static str> {
    const BLOCKS: &[([u8; 4], u8, &str)] = &[
        ([0, 0, 0, 0], 8, "\"this network\" 0.0.0.0/8"),
        ([127, 0, 0, 0], 8, "loopback 127.0.0.0/8"),
        ([224, 0, 0, 0], 4, "multicast 224.0.0.0/4"),
        ([240, 0, 0, 0], 4, "reserved 240.0.0.0/4"),
    ];
    BLOCKS.iter().find(|(network, prefix, _)| subnet.overlaps(Ipv4Network::new((*network).into(), *prefix).expect("valid block"))).map(|(_, _, kind)| *kind)
}

fn check_node_name(name: &str) -> Result<(), String> {
    check_name(name, MAX_IFNAME_LEN)
}

/// Checks a lab or node name: 1 to `max` lowercase letters, digits and '-', not '-' first.
fn check_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.len() > max {
        return Err(format!("{} characters, at most {max} allowed", name.len()));
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') || name.starts_with('-') {
        return Err("use lowercase letters, digits and '-', not at the start".into());
    }
    Ok(())
}

/// VLANs that the relays written in the file may serve, valid or not: each relay's
/// `listen_vlan` and the VLAN of its server.
fn declared_relay_vlans(raw: &RawLab) -> BTreeSet<u16> {
    let server_vlan = |name: &str| raw.servers.0.iter().find(|(key, _)| key.value == name).map(|(_, server)| server.value.vlan.value);
    raw.dhcp.relays.0.iter().flat_map(|(name, relay)| [Some(relay.value.listen_vlan.value), server_vlan(&name.value)]).flatten().collect()
}

/// Suggests a node name that fits an interface name: the first characters, without a
/// trailing '-'.
fn shortened(name: &str) -> String {
    name.chars().take(MAX_IFNAME_LEN).collect::<String>().trim_end_matches('-').to_owned()
}

/// Derives a locally administered unicast MAC from the lab and node names, so that a lab
/// gets the same addresses every run.
pub(super) fn derived_mac(lab: &str, node: &str) -> [u8; 6] {
    let digest = Sha256::digest(format!("mac/{lab}/{node}"));
    [0x02, digest[0], digest[1], digest[2], digest[3], digest[4]]
}

pub(super) fn derived_uuid(lab: &str, node: &str) -> Uuid {
    let digest = Sha256::digest(format!("uuid/{lab}/{node}"));
    let bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes of a SHA-256 digest");
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Names the closest valid choice, or lists them all.
pub(super) fn suggest(value: &str, choices: &[&str]) -> String {
    let closest = choices.iter().map(|choice| (strsim::levenshtein(value, choice), *choice)).min();
    match closest {
        Some((distance, choice)) if distance <= 3 => format!("did you mean {choice:?}?"),
        _ => format!("valid values are {}", choices.join(", ")),
    }
}
