//! Dynamic DNS: registers the name of each lease a lab DHCP server grants in the zones of
//! the lab's DNS servers, an A and a PTR record, as Windows DHCP does for its clients. A
//! real setup server looks up the ME's name from its address before it connects back.

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::dhcp::LeaseEvent;
use crate::dns::{self, RecordData, RecordSpec};
use crate::topology::Scope;

/// TTL of a registered record: Windows DHCP registers with 20 minutes.
const REGISTERED_TTL: u32 = 1200;

/// The zones of one DNS server, by that server's name.
pub type ServedZones = Vec<(String, dns::Zones)>;

/// Registers each lease from `leases` whose scope asks for dynamic DNS, until `shutdown`
/// or until the DHCP server stops.
pub async fn follow_leases(scopes: Vec<Scope>, mut leases: UnboundedReceiver<LeaseEvent>, zones: ServedZones, shutdown: CancellationToken) -> Result<(), String> {
    loop {
        let lease = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            lease = leases.recv() => match lease {
                Some(lease) => lease,
                None => return Ok(()),
            },
        };
        register_lease(&scopes, &lease, &zones).await;
    }
}

async fn register_lease(scopes: &[Scope], lease: &LeaseEvent, zones: &ServedZones) {
    let Some(scope) = scopes.iter().find(|scope| scope.subnet == lease.subnet && scope.dynamic_dns) else { return };
    let Some(domain) = &scope.domain else { return };
    let Some(host) = &lease.host_name else {
        tracing::info!(address = %lease.address, "lease not registered in DNS: the client sent no valid host name (option 12)");
        return;
    };

    let fqdn = format!("{host}.{domain}");
    register(zones, &fqdn, RecordData::A(lease.address)).await;
    register(zones, &dns::ptr_name(lease.address), RecordData::Ptr(fqdn.clone())).await;
}

/// Adds one record on every DNS server that serves a zone containing its name.
async fn register(zones: &ServedZones, name: &str, data: RecordData) {
    let spec = RecordSpec { name: name.to_owned(), ttl: REGISTERED_TTL, data: data.clone() };
    let mut registered = false;

    for (server, served) in zones {
        match served.register(&spec).await {
            Ok(Some(zone)) => {
                tracing::info!(dns_server = %server, %zone, name, data = %describe(&data), "lease registered in DNS");
                registered = true;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(dns_server = %server, name, %error, "lease not registered in DNS"),
        }
    }
    if !registered {
        tracing::warn!(name, "lease not registered in DNS: no lab DNS server serves a zone that contains the name");
    }
}

fn describe(data: &RecordData) -> String {
    match data {
        RecordData::A(address) => format!("A {address}"),
        RecordData::Ptr(target) => format!("PTR {target}"),
        RecordData::Cname(target) => format!("CNAME {target}"),
        RecordData::Ns(target) => format!("NS {target}"),
    }
}

/// Returns whether any scope a DHCP server hands out asks for dynamic DNS.
pub fn any_scope_registers(scopes: &[Scope]) -> bool {
    scopes.iter().any(|scope| scope.dynamic_dns)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use ipnetwork::Ipv4Network;

    use super::*;
    use crate::dns::{ZoneSpec, Zones};
    use crate::topology::DomainName;

    fn scope(dynamic_dns: bool) -> Scope {
        Scope {
            vlan: 90,
            subnet: "192.168.90.0/24".parse().unwrap(),
            server: "dc1".into(),
            range: (Ipv4Addr::new(192, 168, 90, 100), Ipv4Addr::new(192, 168, 90, 199)),
            router: None,
            dns_servers: vec![Ipv4Addr::new(192, 168, 90, 10)],
            domain: Some(DomainName::parse("jcert.info").unwrap()),
            option15_raw: None,
            lease_time: Duration::from_secs(3600),
            dynamic_dns,
        }
    }

    fn zones() -> ServedZones {
        let forward = ZoneSpec::new("jcert.info", "dc1.jcert.info", "hostmaster.jcert.info");
        let reverse = ZoneSpec::new("90.168.192.in-addr.arpa", "dc1.jcert.info", "hostmaster.jcert.info");
        vec![("dc1".into(), Zones::build([forward, reverse]).unwrap())]
    }

    fn lease(host_name: Option<&str>) -> LeaseEvent {
        LeaseEvent {
            address: Ipv4Addr::new(192, 168, 90, 100),
            subnet: Ipv4Network::new(Ipv4Addr::new(192, 168, 90, 0), 24).unwrap(),
            host_name: host_name.map(String::from),
            lease_time: Duration::from_secs(3600),
        }
    }

    #[tokio::test]
    async fn lease_registers_a_and_ptr() {
        let zones = zones();

        register_lease(&[scope(true)], &lease(Some("pc90")), &zones).await;

        assert_eq!(zones[0].1.records_of("pc90.jcert.info").await, vec!["192.168.90.100".to_owned()]);
        assert_eq!(zones[0].1.records_of("100.90.168.192.in-addr.arpa").await, vec!["pc90.jcert.info.".to_owned()]);
    }

    #[tokio::test]
    async fn register_rejects_cname_owner_and_foreign_name() {
        let forward = ZoneSpec::new("jcert.info", "dc1.jcert.info", "hostmaster.jcert.info").with("provisionserver.jcert.info", 60, RecordData::Cname("scs.jcert.info".into()));
        let zones = Zones::build([forward]).unwrap();
        let alias = RecordSpec { name: "provisionserver.jcert.info".into(), ttl: 60, data: RecordData::A(Ipv4Addr::new(192, 168, 90, 100)) };
        let foreign = RecordSpec { name: "pc90.example.com".into(), ttl: 60, data: RecordData::A(Ipv4Addr::new(192, 168, 90, 100)) };

        assert!(zones.register(&alias).await.is_err(), "a CNAME owner takes no A record");
        assert_eq!(zones.register(&foreign).await.unwrap(), None);
        assert_eq!(zones.records_of("provisionserver.jcert.info").await, vec!["scs.jcert.info.".to_owned()]);
    }

    #[tokio::test]
    async fn lease_skipped_without_flag_or_name() {
        let zones = zones();

        register_lease(&[scope(false)], &lease(Some("pc90")), &zones).await;
        register_lease(&[scope(true)], &lease(None), &zones).await;

        assert!(zones[0].1.records_of("pc90.jcert.info").await.is_empty());
        assert!(zones[0].1.records_of("100.90.168.192.in-addr.arpa").await.is_empty());
    }
}
