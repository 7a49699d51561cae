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

    /// A CNAME at the zone origin sits beside the SOA and NS records, and one at a
    /// server's FQDN beside the A record the lab adds for it (RFC 1034 3.6.2).
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

        let mut in_reported_loop: HashSet<&DomainName> = HashSet::new();
        for site in sites.iter().filter(|site| site.cname().is_some()) {
            if in_reported_loop.contains(&site.owner) {
                continue;
            }
            let Some(chain) = cname_loop(&site.owner, &targets) else { continue };

            in_reported_loop.extend(chain.iter().copied());
            let names: Vec<&str> = chain.iter().map(|name| name.as_str()).chain([site.owner.as_str()]).collect();
            let problem = Problem::at(&site.at, &site.path, format!("CNAME loop: {}", names.join(" -> ")));
            self.report(problem.help("point one of the aliases at a name with an A record, such as the setup server's FQDN"));
        }
    }
}

/// Returns the names of the loop that starts at `start`, if the chain from `start` comes
/// back to it.
fn cname_loop<'a>(start: &'a DomainName, targets: &HashMap<&'a DomainName, &'a DomainName>) -> Option<Vec<&'a DomainName>> {
    let mut chain = vec![start];
    let mut current = start;
    while let Some(next) = targets.get(current).copied() {
        if next == start {
            return Some(chain);
        }
        if chain.contains(&next) {
            // A loop further down the chain, reported from its own first record.
            return None;
        }
        chain.push(next);
        current = next;
    }
    None
}
