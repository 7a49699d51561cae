//! Checks across the lab's DNS records, once every zone and server is resolved: a name
//! written twice in a zone, a CNAME beside other data at its name, and CNAME loops.

use std::collections::{HashMap, HashSet};

use super::Resolver;
use crate::topology::error::Problem;
use crate::topology::model::{DomainName, RecordData, Server};
use crate::topology::tree::Location;

/// A record as written, with its place in the file.
pub(super) struct RecordSite {
    pub zone: DomainName,
    pub owner: DomainName,
    pub data: RecordData,
    pub at: Location,
    pub path: String,
}

impl RecordSite {
    fn cname(&self) -> Option<&DomainName> {
        match &self.data {
            RecordData::Cname(target) => Some(target),
            RecordData::A(_) => None,
        }
    }
}

impl Resolver {
    /// Checks the records collected while resolving zones against each other and against
    /// the A records the lab adds for servers.
    pub(super) fn check_records(&mut self, servers: &[Server]) {
        let sites = std::mem::take(&mut self.record_sites);

        self.check_repeated_names(&sites);
        for site in sites.iter().filter(|site| site.cname().is_some()) {
            self.check_cname_beside_zone_data(site, servers);
        }
        self.check_cname_loops(&sites);
    }

    /// Reports a name that two entries of one zone spell differently, such as
    /// `provisionserver` and `ProvisionServer`.
    fn check_repeated_names(&mut self, sites: &[RecordSite]) {
        let mut first: HashMap<(&DomainName, &DomainName), &RecordSite> = HashMap::new();
        for site in sites {
            let Some(earlier) = first.get(&(&site.zone, &site.owner)).copied() else {
                first.insert((&site.zone, &site.owner), site);
                continue;
            };

            let problem = if earlier.cname().is_some() || site.cname().is_some() {
                Problem::at(&site.at, &site.path, format!("CNAME beside other data at {}: lines {} and {} both define it, and a CNAME must be the only record at its name", site.owner, earlier.at.line(), site.at.line()))
                    .help("remove one of them, or give the alias a name of its own")
            } else {
                Problem::at(&site.at, &site.path, format!("{} is defined twice in zone {}, at lines {} and {}", site.owner, site.zone, earlier.at.line(), site.at.line())).help("keep one entry per name")
            };
            self.report(problem);
        }
    }

    /// Reports a CNAME at the zone origin, beside the SOA and NS records, or at a server's
    /// FQDN, beside the A record the lab adds for it (RFC 1034 3.6.2).
    fn check_cname_beside_zone_data(&mut self, site: &RecordSite, servers: &[Server]) {
        if site.owner == site.zone {
            let problem = Problem::at(&site.at, &site.path, format!("CNAME at the zone origin {}, beside the zone's SOA and NS records", site.zone));
            self.report(problem.help("put the alias on a name below the origin, such as provisionserver"));
            return;
        }

        let Some(server) = servers.iter().find(|server| server.fqdn == site.owner) else { return };
        let problem = Problem::at(&site.at, &site.path, format!("CNAME at {} beside the A record of server {}, whose FQDN it is", site.owner, server.name));
        self.report(problem.help(format!("give the alias another name, or change servers.{}.fqdn", server.name)));
    }

    /// Follows every CNAME chain and reports each loop once, at its first record in file
    /// order, because a resolver that follows it never reaches an address.
    fn check_cname_loops(&mut self, sites: &[RecordSite]) {
        let mut targets: HashMap<&DomainName, &DomainName> = HashMap::new();
        for site in sites {
            if let Some(target) = site.cname() {
                targets.entry(&site.owner).or_insert(target);
            }
        }

        let in_loop = names_in_loops(sites, &targets);
        let mut reported: HashSet<&DomainName> = HashSet::new();
        for site in sites.iter().filter(|site| site.cname().is_some() && in_loop.contains(&site.owner)) {
            if reported.contains(&site.owner) {
                continue;
            }

            let chain = loop_from(&site.owner, &targets);
            reported.extend(chain.iter().copied());
            let problem = Problem::at(&site.at, &site.path, format!("CNAME loop: {}", describe_loop(&chain)));
            self.report(problem.help("point one of the aliases at a name with an A record, such as the setup server's FQDN"));
        }
    }
}

/// Finds every name on a CNAME loop in one pass over the chains: each name is walked
/// once, so that a long chain costs linear time.
fn names_in_loops<'a>(sites: &'a [RecordSite], targets: &HashMap<&'a DomainName, &'a DomainName>) -> HashSet<&'a DomainName> {
    let mut finished: HashSet<&DomainName> = HashSet::new();
    let mut in_loop = HashSet::new();

    for site in sites {
        let mut path: Vec<&DomainName> = Vec::new();
        let mut on_path: HashSet<&DomainName> = HashSet::new();
        let mut current = Some(&site.owner);

        while let Some(name) = current.filter(|name| !finished.contains(*name)) {
            if !on_path.insert(name) {
                let start = path.iter().position(|member| *member == name).unwrap_or_default();
                in_loop.extend(path[start..].iter().copied());
                break;
            }
            path.push(name);
            current = targets.get(name).copied();
        }
        finished.extend(path);
    }
    in_loop
}

/// Returns the names of the loop through `start`, beginning with it.
fn loop_from<'a>(start: &'a DomainName, targets: &HashMap<&'a DomainName, &'a DomainName>) -> Vec<&'a DomainName> {
    let mut chain = vec![start];
    let mut current = start;
    while let Some(next) = targets.get(current).copied().filter(|next| *next != start) {
        chain.push(next);
        current = next;
    }
    chain
}

/// Writes a loop as `a -> b -> a`, with the middle of a long one left out.
fn describe_loop(chain: &[&DomainName]) -> String {
    const SHOWN_AT_EACH_END: usize = 3;
    let mut names: Vec<String> = chain.iter().map(|name| name.to_string()).collect();
    if names.len() > 2 * SHOWN_AT_EACH_END {
        let left_out = names.len() - 2 * SHOWN_AT_EACH_END;
        names.splice(SHOWN_AT_EACH_END..names.len() - SHOWN_AT_EACH_END, [format!("({left_out} more)")]);
    }
    names.push(chain[0].to_string());
    names.join(" -> ")
}
