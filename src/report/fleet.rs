//! Summaries of fleets, the client entries with a `count`: how many PCs ended as
//! expected, failures grouped by reason code, and percentiles of the time to ACM.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::{ClientReport, format_ms, millis};
use crate::timeline::{Step, Verdict};

/// One fleet of a run.
#[derive(Debug, Serialize)]
pub struct FleetSummary {
    /// The client entry's name. Its PCs are named `NAME-1` to `NAME-COUNT`.
    pub name: String,
    pub vlan: u16,
    pub firmware: String,
    pub pcs: usize,
    pub provisioned: usize,
    pub as_expected: usize,
    /// Refusals by reason code, with how many PCs gave each and one PC's reason text.
    pub failures: Vec<FailureGroup>,
    /// Time from the start of the clients to the commit that put the PC in ACM, over the
    /// PCs that got there.
    pub time_to_acm: Option<Percentiles>,
    /// How many pre-generated ME key pairs the fleet's PCs share, an emulation shortcut;
    /// `None` when each PC's ME has a key pair of its own.
    pub shared_me_keys: Option<usize>,
    /// Whether the lab set permanent neighbour (ARP) entries for the fleet's PCs in
    /// place of ARP resolution, an emulation shortcut.
    pub static_neighbours: bool,
}

#[derive(Debug, Serialize)]
pub struct FailureGroup {
    pub code: &'static str,
    pub count: usize,
    /// The first such PC, by report order, and its reason.
    pub example_pc: String,
    pub example_reason: String,
}

/// Percentiles by the nearest-rank method, so each is a time one PC really took.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    #[serde(rename = "p50_ms", serialize_with = "millis")]
    pub p50: Duration,
    #[serde(rename = "p90_ms", serialize_with = "millis")]
    pub p90: Duration,
    #[serde(rename = "p99_ms", serialize_with = "millis")]
    pub p99: Duration,
    #[serde(rename = "max_ms", serialize_with = "millis")]
    pub max: Duration,
}

impl FleetSummary {
    /// Summarises every fleet among `clients`, in the order their first PC appears.
    /// `shared_keys` gives, by fleet name, how many ME key pairs its PCs share.
    /// `static_neighbours` is whether the lab set neighbour entries in place of ARP.
    pub fn of_clients(clients: &[ClientReport], shared_keys: &HashMap<String, usize>, static_neighbours: bool) -> Vec<FleetSummary> {
        let mut fleets = summarise(clients);
        for fleet in &mut fleets {
            fleet.shared_me_keys = shared_keys.get(&fleet.name).copied();
            fleet.static_neighbours = static_neighbours;
        }
        fleets
    }
}

fn summarise(clients: &[ClientReport]) -> Vec<FleetSummary> {
    let mut order: Vec<&str> = Vec::new();
    for fleet in clients.iter().filter_map(|client| client.fleet.as_deref()) {
        if !order.contains(&fleet) {
            order.push(fleet);
        }
    }
    order.into_iter().map(|fleet| summarise_one(fleet, clients)).collect()
}

fn summarise_one(fleet: &str, clients: &[ClientReport]) -> FleetSummary {
    let members: Vec<&ClientReport> = clients.iter().filter(|client| client.fleet.as_deref() == Some(fleet)).collect();
    let first = members[0];
    let times: Vec<Duration> = members.iter().filter_map(|client| time_to_acm(client)).collect();

    FleetSummary {
        name: fleet.to_owned(),
        vlan: first.vlan,
        firmware: first.firmware.clone(),
        pcs: members.len(),
        provisioned: members.iter().filter(|client| matches!(client.verdict, Verdict::Provisioned { .. })).count(),
        as_expected: members.iter().filter(|client| client.as_expected).count(),
        failures: failure_groups(&members),
        time_to_acm: Percentiles::of(times),
        shared_me_keys: None,
        static_neighbours: false,
    }
}

/// Returns when the PC's ME committed its configuration, if it did.
pub fn time_to_acm(client: &ClientReport) -> Option<Duration> {
    client.timeline.events().iter().find(|event| matches!(event.step, Step::Provisioned { .. })).map(|event| event.at)
}

fn failure_groups(members: &[&ClientReport]) -> Vec<FailureGroup> {
    let mut groups: BTreeMap<&'static str, FailureGroup> = BTreeMap::new();
    for client in members {
        let Verdict::Refused { code, reason } = &client.verdict else { continue };
        let group = groups.entry(code).or_insert_with(|| FailureGroup { code, count: 0, example_pc: client.name.clone(), example_reason: reason.to_string() });
        group.count += 1;
    }

    let mut groups: Vec<FailureGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(b.code)));
    groups
}

impl Percentiles {
    /// Computes the percentiles of `times`, or `None` when it is empty.
    pub fn of(mut times: Vec<Duration>) -> Option<Self> {
        if times.is_empty() {
            return None;
        }
        times.sort_unstable();

        let rank = |percent: usize| times[(percent * times.len()).div_ceil(100).max(1) - 1];
        Some(Self { p50: rank(50), p90: rank(90), p99: rank(99), max: times[times.len() - 1] })
    }
}

/// Renders one fleet's summary for a terminal.
pub fn render(out: &mut String, fleet: &FleetSummary) {
    let _ = writeln!(out, "fleet {}  VLAN {}  firmware {}  {} ({}-1 to {}-{})", fleet.name, fleet.vlan, fleet.firmware, super::counted(fleet.pcs, "PC"), fleet.name, fleet.name, fleet.pcs);
    let _ = writeln!(out, "  provisioned in ACM: {} of {}; as expected: {} of {}", fleet.provisioned, fleet.pcs, fleet.as_expected, fleet.pcs);

    for group in &fleet.failures {
        let _ = writeln!(out, "  {} x {}: e.g. {}: {}", group.count, group.code, group.example_pc, group.example_reason);
    }
    if let Some(times) = &fleet.time_to_acm {
        let _ = writeln!(out, "  time to ACM: p50 {}, p90 {}, p99 {}, max {}", format_ms(times.p50), format_ms(times.p90), format_ms(times.p99), format_ms(times.max));
    }
    if let Some(keys) = fleet.shared_me_keys {
        let _ = writeln!(out, "  ME keys: the PCs share {}, an emulation shortcut; each real ME generates its own", super::counted(keys, "pre-generated RSA 2048 key pair"));
    }
    if fleet.static_neighbours {
        let _ = writeln!(out, "  ARP: the lab set permanent neighbour entries for the PCs and their servers, an emulation shortcut past the kernel's shared table of 1024 dynamic entries");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::amt::schedule::HelloSchedule;
    use crate::amt::verdict::Reason;
    use crate::report::LabReport;
    use crate::timeline::Timeline;
    use crate::topology::{Client, Expectation};

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|value| Duration::from_millis(*value)).collect()
    }

    #[test]
    fn percentiles_of_nothing_is_none() {
        assert!(Percentiles::of(Vec::new()).is_none());
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let times: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();

        let percentiles = Percentiles::of(times).unwrap();

        assert_eq!(percentiles.p50, Duration::from_millis(50));
        assert_eq!(percentiles.p90, Duration::from_millis(90));
        assert_eq!(percentiles.p99, Duration::from_millis(99));
        assert_eq!(percentiles.max, Duration::from_millis(100));
    }

    fn fleet_pc(index: u32, verdict: Verdict) -> ClientReport {
        let expect = Expectation { outcome: "provisioned".into(), domain: None };
        let client = Client { name: format!("pc-{index}"), fleet: Some("pc".into()), vlan: 90, firmware: "4.1.1".into(), mac: [2, 0, 0, 0, 0, index as u8], uuid: uuid::Uuid::nil(), mebx: Default::default(), hello: HelloSchedule::LAB_FAST, expect };
        let mut timeline = Timeline::new(Instant::now());
        if matches!(verdict, Verdict::Provisioned { .. }) {
            timeline.record(Step::Provisioned { control_mode: "ACM".into(), provisioning_state: "post".into() });
        }
        ClientReport::new(&client, verdict, timeline)
    }

    fn provisioned() -> Verdict {
        Verdict::Provisioned { domain: "jcert.info".into(), control_mode: "ACM".into(), matched_hash: "SHA-1 00".into() }
    }

    fn fleet_report() -> LabReport {
        let mut clients: Vec<ClientReport> = (1..=3).map(|index| fleet_pc(index, provisioned())).collect();
        clients.push(fleet_pc(4, Verdict::refused(Reason::NoDnsSuffix)));
        clients.push(fleet_pc(5, Verdict::refused(Reason::NoDnsSuffix)));
        let fleets = FleetSummary::of_clients(&clients, &HashMap::from([("pc".to_owned(), 2)]), true);
        LabReport { lab: "floor".into(), topology: "floor.yaml".into(), build_ms: Duration::ZERO, total_ms: Duration::ZERO, clients, setup_sessions: Vec::new(), fleets }
    }

    #[test]
    fn summary_counts_and_groups_failures() {
        let report = fleet_report();

        let fleet = &report.fleets[0];
        assert_eq!((fleet.pcs, fleet.provisioned, fleet.as_expected), (5, 3, 3));
        assert_eq!(fleet.failures.len(), 1);
        assert_eq!((fleet.failures[0].code, fleet.failures[0].count), ("no-dns-suffix", 2));
        assert_eq!(fleet.failures[0].example_pc, "pc-4");
        assert!(fleet.time_to_acm.is_some());
    }

    #[test]
    fn text_summarises_fleet_unless_listing() {
        let report = fleet_report();

        let summary = report.to_text();
        let listing = report.to_text_listing_fleets();

        assert!(summary.contains("fleet pc  VLAN 90  firmware 4.1.1  5 PCs"), "{summary}");
        assert!(summary.contains("2 x no-dns-suffix: e.g. pc-4"), "{summary}");
        assert!(summary.contains("share 2 pre-generated RSA 2048 key pairs"), "{summary}");
        assert!(summary.contains("permanent neighbour entries"), "{summary}");
        assert!(!summary.contains("pc-1  VLAN 90"), "{summary}");
        assert!(listing.contains("pc-1  VLAN 90"), "{listing}");
        assert!(listing.contains("pc-5  VLAN 90"), "{listing}");
    }

    #[test]
    fn percentiles_of_one_time_are_that_time() {
        let percentiles = Percentiles::of(ms(&[7])).unwrap();

        assert_eq!(percentiles.p50, Duration::from_millis(7));
        assert_eq!(percentiles.p99, Duration::from_millis(7));
    }
}
