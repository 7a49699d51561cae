//! Runs one ME emulator per client and collects what each one reports.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::build::Built;
use crate::amt::hello::{CertHash, HashAlgorithm};
use crate::amt::profile::FirmwareProfile;
use crate::amt::verdict::Reason;
use crate::me::{self, LeaseHook, MeConfig, MeKey};
use super::me_keys::MeKeys;
use super::chain::ProvisioningChain;
use crate::report::ClientReport;
use crate::timeline::{Timeline, Verdict};
use crate::topology::{Client, Lab, NODE_INTERFACE};

/// Time after the deadline before a client task that has not returned is abandoned.
const GRACE: Duration = Duration::from_secs(2);

/// Starts every client at once and waits for all verdicts, giving up on a client after
/// `timeout`. A provisioned ME goes on serving WS-Management until `shutdown`.
pub async fn run_all(lab: &Lab, built: &Built, chain: &ProvisioningChain, keys: &MeKeys, timeout: Duration, shutdown: &CancellationToken) -> Vec<ClientReport> {
    let origin = Instant::now();
    let mut tasks = JoinSet::new();

    let deadline = tokio::time::Instant::now() + timeout;
    let static_neighbours = uses_static_neighbours(lab);
    for (index, client) in lab.clients.iter().enumerate() {
        let mut config = MeConfig { shutdown: shutdown.clone(), ..me_config(client, built, chain, origin, deadline) };
        config.key = keys.for_client(&client.name);
        if static_neighbours {
            config.neighbours = neighbours_of(lab, client.vlan);
            config.on_lease = Some(lease_neighbours(lab, built, client));
        }
        let span = super::services::service_span(&client.name, "me");
        // The ME keeps its own deadline and returns its timeline when it passes; this
        // outer limit only guards against a task that stops making progress.
        tasks.spawn(
            async move {
                let outcome = tokio::time::timeout(timeout + GRACE, me::run(config)).await;
                (index, outcome)
            }
            .instrument(span),
        );
    }

    let mut reports: Vec<Option<ClientReport>> = (0..lab.clients.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, outcome) = joined.expect("client task panicked");
        let client = &lab.clients[index];
        let (timeline, verdict) = match outcome {
            Ok(outcome) => (outcome.timeline, outcome.verdict),
            Err(_) => (Timeline::new(origin), Verdict::refused(Reason::Timeout { phase: format!("the whole run ({} s)", timeout.as_secs()) })),
        };
        reports[index] = Some(report(client, timeline, verdict));
    }

    reports.into_iter().map(|report| report.expect("every client reported")).collect()
}

fn me_config(client: &Client, built: &Built, chain: &ProvisioningChain, origin: Instant, deadline: tokio::time::Instant) -> MeConfig {
    let profile = FirmwareProfile::parse(&client.firmware).expect("firmware version checked by the resolver");
    MeConfig {
        name: client.name.clone(),
        namespace: built.nodes[&client.name].clone(),
        mac: client.mac,
        uuid: client.uuid,
        key: MeKey::Generate,
        neighbours: Vec::new(),
        on_lease: None,
        custom_hashes: trusted_custom_hashes(client, chain, &profile),
        pki_dns_suffix: client.mebx.pki_dns_suffix.clone(),
        setup_server: client.mebx.setup_server.clone(),
        hello_schedule: client.hello,
        profile,
        origin,
        deadline,
        shutdown: CancellationToken::new(),
    }
}

/// Checks whether the lab replaces ARP with permanent neighbour entries: in labs with a
/// fleet.
///
/// The kernel keeps the neighbour entries of every network namespace in one table, and
/// refuses new ones past `net.ipv4.neigh.default.gc_thresh3` (1024 by default) unless
/// older ones can go. Entries younger than 5 seconds cannot, so a fleet that leases
/// hundreds of addresses at once overflows it and its PCs fail with "No route to host".
/// Permanent entries do not count against that limit. This is an emulation shortcut,
/// named in the fleet summary: real PCs resolve each other by ARP.
pub fn uses_static_neighbours(lab: &Lab) -> bool {
    lab.clients.iter().any(|client| client.fleet.is_some())
}

/// Lists the addresses a client on `vlan` talks to, with their MACs: every server on
/// the VLAN and the VLAN's gateway.
fn neighbours_of(lab: &Lab, vlan: u16) -> Vec<(Ipv4Addr, [u8; 6])> {
    let mut neighbours: Vec<(Ipv4Addr, [u8; 6])> = lab.servers.iter().filter(|server| server.vlan == vlan).map(|server| (server.address, server.mac)).collect();
    if let Some(gateway) = lab.vlan(vlan) {
        neighbours.push((gateway.gateway, super::build::gateway_mac(vlan).octets()));
    }
    neighbours
}

/// Returns the hook that sets, once a client has its lease, a permanent neighbour entry
/// for it in every server on its VLAN and on the VLAN's bridge in the switch.
fn lease_neighbours(lab: &Lab, built: &Built, client: &Client) -> LeaseHook {
    let mut links: Vec<(Arc<netns::Netlink>, String)> = lab.servers.iter().filter(|server| server.vlan == client.vlan).map(|server| (built.server_links[&server.name].clone(), NODE_INTERFACE.to_owned())).collect();
    links.push((built.switch_link.clone(), Lab::bridge_of(client.vlan)));
    let mac = netns::MacAddr::new(client.mac);

    Arc::new(move |address: Ipv4Addr| {
        let links = links.clone();
        async move {
            let added = links.iter().map(|(link, device)| async move { (link.namespace().to_owned(), link.add_neighbour(device, address, mac).await) });
            for (namespace, result) in futures::future::join_all(added).await {
                if let Err(error) = result {
                    tracing::warn!(%namespace, %address, %error, "cannot set the neighbour entry of a leased address; ARP resolves it instead");
                }
            }
        }
        .boxed()
    })
}

/// Lists the hashes added in MEBx, and the chain's root hash unless the topology keeps
/// the client from trusting it.
fn trusted_custom_hashes(client: &Client, chain: &ProvisioningChain, profile: &FirmwareProfile) -> Vec<CertHash> {
    let mut hashes = client.mebx.custom_hashes.clone();
    if client.mebx.trust_lab_root {
        hashes.extend(chain.root_hash(custom_hash_algorithm(profile)));
    }
    hashes
}

/// Picks the algorithm a custom root hash is entered with: SHA-256 where the firmware
/// compares SHA-256, else SHA-1, the only one older firmware supports.
fn custom_hash_algorithm(profile: &FirmwareProfile) -> HashAlgorithm {
    if profile.trusts_algorithm(HashAlgorithm::Sha256) { HashAlgorithm::Sha256 } else { HashAlgorithm::Sha1 }
}

fn report(client: &Client, timeline: Timeline, verdict: Verdict) -> ClientReport {
    ClientReport::new(client, verdict, timeline)
}
