//! Runs one ME emulator per client and collects what each one reports.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::build::Built;
use crate::amt::hello::{CertHash, HashAlgorithm};
use crate::amt::profile::FirmwareProfile;
use crate::amt::verdict::Reason;
use crate::me::{self, MeConfig};
use super::chain::ProvisioningChain;
use crate::report::ClientReport;
use crate::timeline::{Timeline, Verdict};
use crate::topology::{Client, Lab};

/// Time after the deadline before a client task that has not returned is abandoned.
const GRACE: Duration = Duration::from_secs(2);

/// Starts every client at once and waits for all verdicts, giving up on a client after
/// `timeout`. A provisioned ME goes on serving WS-Management until `shutdown`.
pub async fn run_all(lab: &Lab, built: &Built, chain: &ProvisioningChain, timeout: Duration, shutdown: &CancellationToken) -> Vec<ClientReport> {
    let origin = Instant::now();
    let mut tasks = JoinSet::new();

    let deadline = tokio::time::Instant::now() + timeout;
    for (index, client) in lab.clients.iter().enumerate() {
        let config = MeConfig { shutdown: shutdown.clone(), ..me_config(client, built, chain, origin, deadline) };
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
