//! Client entries with a `count`: fleets of PCs, each with its own name, MAC and UUID,
//! and the check that every VLAN's DHCP pool has an address for each of its clients.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::{ClientContext, DhcpPlan, Resolver, derived_mac, derived_uuid};
use crate::topology::error::Problem;
use crate::topology::model::{Client, MAX_IFNAME_LEN, Scope, Switch};
use crate::topology::raw::{RawClient, Spanned};

impl Resolver {
    /// Resolves one client entry: one client, or with `count`, that many clients named
    /// `NAME-1` to `NAME-COUNT`.
    ///
    /// A fleet's settings are resolved once, on its first PC, so that a mistake in them
    /// is reported once and not once per PC.
    pub(super) fn client_entry(&mut self, name: &Spanned<String>, raw: &Spanned<RawClient>, switch: &Switch, dhcp: &DhcpPlan, context: &ClientContext) -> Vec<Client> {
        let Some(count) = &raw.value.count else {
            return self.client(name, raw, switch, dhcp, context).into_iter().collect();
        };
        let path = format!("clients.{}", name.value);
        if !self.fleet_count_valid(name, raw, count, &path) {
            return Vec::new();
        }

        let member = |index: u32| Spanned { value: format!("{}-{index}", name.value), referenced: name.referenced };
        let reported = self.problems.len();
        let first = self.client(&member(1), raw, switch, dhcp, context);
        self.rename_paths(reported, &format!("{path}-1"), &path);
        let Some(mut first) = first else { return Vec::new() };
        first.fleet = Some(name.value.clone());

        let lab = context.lab.unwrap_or_default();
        let mut fleet = vec![first.clone()];
        for index in 2..=count.value {
            let member_name = member(index);
            if !self.node_name(&member_name, &path) {
                continue;
            }
            let mac = derived_mac(lab, &member_name.value);
            let uuid = derived_uuid(lab, &member_name.value);
            fleet.push(Client { name: member_name.value, mac, uuid, ..first.clone() });
        }
        fleet
    }

    /// Points the problems reported since `from` at the entry's YAML path, `clients.pc`,
    /// instead of its first PC's name, which the file does not contain.
    fn rename_paths(&mut self, from: usize, member_path: &str, entry_path: &str) {
        for problem in &mut self.problems[from..] {
            if let Some(rest) = problem.path.strip_prefix(member_path) {
                problem.path = format!("{entry_path}{rest}");
            }
        }
    }

    /// Checks the names a fleet's `count` makes and the keys that cannot be shared by many
    /// PCs.
    fn fleet_count_valid(&mut self, name: &Spanned<String>, raw: &Spanned<RawClient>, count: &Spanned<u32>, path: &str) -> bool {
        // The schema check has kept `count` within 1 to 65534 (see `RawClient::count`).
        let last = format!("{}-{}", name.value, count.value);
        let mut valid = true;
        if last.len() > MAX_IFNAME_LEN {
            let message = format!("the fleet's last PC would be named {last:?}, {} characters, but at most {MAX_IFNAME_LEN} fit a Linux interface name, which switch ports are named after", last.len());
            self.report(Problem::on(name, path, message).help(format!("shorten the entry name to at most {} characters", MAX_IFNAME_LEN - 1 - count.value.to_string().len())));
            valid = false;
        }
        for (key, value) in [("mac", raw.value.mac.as_ref()), ("uuid", raw.value.uuid.as_ref())] {
            if let Some(value) = value.filter(|_| count.value > 1) {
                let problem = Problem::on(value, format!("{path}.{key}"), format!("{key} is set on a fleet of {} PCs, which cannot share one", count.value));
                self.report(problem.help(format!("remove {key}: each PC of a fleet gets its own, derived from its name")));
                valid = false;
            }
        }
        valid
    }

    /// Checks that the DHCP scope of every VLAN has an address for each client on it,
    /// and reports the client entry that takes the VLAN past its pool.
    pub(super) fn check_pool_sizes(&mut self, entries: &[(Spanned<String>, Spanned<RawClient>)], clients: &[Client], dhcp: &DhcpPlan) {
        let mut demand: BTreeMap<u16, u64> = BTreeMap::new();
        let mut reported = Vec::new();

        for (name, raw) in entries {
            let vlan = raw.value.vlan.value;
            let members = clients.iter().filter(|client| client_of_entry(client, &name.value)).count() as u64;
            let total = demand.entry(vlan).or_default();
            *total += members;

            let Some(scope) = dhcp.scopes.iter().find(|scope| scope.vlan == vlan) else { continue };
            let capacity = pool_capacity(scope);
            if *total > capacity && !reported.contains(&vlan) {
                reported.push(vlan);
                self.report_pool_too_small(name, raw, scope, capacity, *total);
            }
        }
    }

    fn report_pool_too_small(&mut self, name: &Spanned<String>, raw: &Spanned<RawClient>, scope: &Scope, capacity: u64, demand: u64) {
        let (first, last) = scope.range;
        let message = format!("VLAN {} has {demand} clients up to this entry, but the pool {first}-{last} of its DHCP scope leases at most {capacity} addresses", scope.vlan);
        let problem = match &raw.value.count {
            Some(count) => Problem::on(count, format!("clients.{}.count", name.value), message),
            None => Problem::on(&raw.value.vlan, format!("clients.{}.vlan", name.value), message),
        };
        self.report(problem.help(format!("widen dhcp.scopes.{}.range, or put fewer clients on VLAN {}", scope.vlan, scope.vlan)));
    }
}

/// Checks whether `client` was made from the client entry `entry`.
fn client_of_entry(client: &Client, entry: &str) -> bool {
    match &client.fleet {
        Some(fleet) => fleet == entry,
        None => client.name == entry,
    }
}

/// Counts the addresses a scope's server can lease: its range, less the subnet's network
/// and broadcast addresses and the router, which the server never offers. The resolver
/// already keeps static addresses out of the range.
pub fn pool_capacity(scope: &Scope) -> u64 {
    let (first, last) = (u32::from(scope.range.0), u32::from(scope.range.1));
    let in_range = |address: Ipv4Addr| (first..=last).contains(&u32::from(address));
    let reserved = [Some(scope.subnet.network()), Some(scope.subnet.broadcast()), scope.router];

    let size = u64::from(last - first) + 1;
    size - reserved.into_iter().flatten().filter(|address| in_range(*address)).count() as u64
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::topology::{LoadError, Problem, parse};

    const SINGLE: &str = include_str!("../../../topologies/single.yaml");

    /// The single-domain lab with its client replaced by `clients`, a YAML mapping.
    fn single_with_clients(clients: &str) -> String {
        let head = &SINGLE[..SINGLE.find("clients:").expect("single.yaml lists clients")];
        format!("{head}clients:\n{clients}")
    }

    fn problems(text: &str) -> Vec<Problem> {
        match parse(Path::new("test.yaml"), text.as_bytes()) {
            Err(LoadError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    const FLEET_OF_3: &str = "  pc:\n    count: 3\n    vlan: 90\n    firmware: 4.1.1\n    expect: { outcome: provisioned }\n";

    #[test]
    fn fleet_expands_into_named_pcs() {
        let lab = parse(Path::new("test.yaml"), single_with_clients(FLEET_OF_3).as_bytes()).unwrap();

        let names: Vec<&str> = lab.clients.iter().map(|client| client.name.as_str()).collect();
        assert_eq!(names, ["pc-1", "pc-2", "pc-3"]);
        assert!(lab.clients.iter().all(|client| client.fleet.as_deref() == Some("pc")));
        assert_eq!(lab.clients.iter().filter(|client| client.firmware == "4.1.1").count(), 3);
    }

    #[test]
    fn fleet_pcs_get_distinct_mac_and_uuid() {
        let lab = parse(Path::new("test.yaml"), single_with_clients(FLEET_OF_3).as_bytes()).unwrap();

        let (a, b) = (&lab.clients[0], &lab.clients[1]);
        assert_ne!(a.mac, b.mac);
        assert_ne!(a.uuid, b.uuid);
        assert_eq!(a.mac[0], 0x02, "locally administered unicast");
    }

    #[test]
    fn fleet_without_count_is_one_client() {
        let lab = parse(Path::new("test.yaml"), SINGLE.as_bytes()).unwrap();

        assert_eq!(lab.clients.len(), 1);
        assert_eq!(lab.clients[0].fleet, None);
    }

    #[test]
    fn fleet_count_zero_rejected() {
        let found = problems(&single_with_clients(&FLEET_OF_3.replace("count: 3", "count: 0")));

        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "clients.pc.count");
        assert!(found[0].message.contains("from 1 to 65534, found 0"), "{}", found[0].message);
    }

    #[test]
    fn fleet_names_must_fit_interface_names() {
        let clients = FLEET_OF_3.replace("  pc:", "  floor-three-pc:").replace("count: 3", "count: 10");

        let found = problems(&single_with_clients(&clients));

        let names = found.iter().find(|problem| problem.message.contains("floor-three-pc-10")).expect("a problem names the last PC");
        assert_eq!(names.path, "clients.floor-three-pc");
        assert!(names.help.as_deref().unwrap().contains("at most 12 characters"), "{:?}", names.help);
    }

    #[test]
    fn fleet_rejects_shared_mac() {
        let clients = FLEET_OF_3.replace("    vlan: 90\n", "    vlan: 90\n    mac: 02:00:00:00:00:01\n");

        let found = problems(&single_with_clients(&clients));

        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "clients.pc.mac");
    }

    #[test]
    fn fleet_name_clash_reported_once() {
        let clients = format!("{FLEET_OF_3}  pc-2:\n    vlan: 90\n    firmware: 4.1.1\n    expect: {{ outcome: provisioned }}\n");

        let found = problems(&single_with_clients(&clients));

        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("\"pc-2\" is already used by clients.pc"), "{}", found[0].message);
    }

    #[test]
    fn fleet_setting_problem_points_at_entry() {
        let found = problems(&single_with_clients(&FLEET_OF_3.replace("firmware: 4.1.1", "firmware: banana")));

        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "clients.pc.firmware");
    }

    #[test]
    fn fleet_larger_than_pool_is_located() {
        // The single lab's pool is 192.168.90.100-192.168.90.199: 100 addresses.
        let found = problems(&single_with_clients(&FLEET_OF_3.replace("count: 3", "count: 101")));

        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "clients.pc.count");
        assert!(found[0].message.contains("101 clients"), "{}", found[0].message);
        assert!(found[0].message.contains("at most 100 addresses"), "{}", found[0].message);
    }

    #[test]
    fn fleet_filling_pool_exactly_accepted() {
        let lab = parse(Path::new("test.yaml"), single_with_clients(&FLEET_OF_3.replace("count: 3", "count: 100")).as_bytes()).unwrap();

        assert_eq!(lab.clients.len(), 100);
    }

    #[test]
    fn pool_overflow_counts_every_entry_of_vlan() {
        let single = "  solo:\n    vlan: 90\n    firmware: 4.1.1\n    expect: { outcome: provisioned }\n";
        let clients = format!("{}{single}", FLEET_OF_3.replace("count: 3", "count: 100"));

        let found = problems(&single_with_clients(&clients));

        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "clients.solo.vlan");
    }
}
