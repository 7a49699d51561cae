//! The run report: per client, the timeline of what happened and one verdict line, as
//! text for people and as JSON for scripts.

mod fleet;

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use crate::timeline::{ServerSource, Step, SuffixSource, Timeline, Verdict};
use crate::topology::{Client, Expectation};

pub use fleet::{FailureGroup, FleetSummary, Percentiles, time_to_acm};

/// Everything a run found out.
#[derive(Debug, Serialize)]
pub struct LabReport {
    pub lab: String,
    pub topology: String,
    #[serde(serialize_with = "millis")]
    pub build_ms: Duration,
    #[serde(serialize_with = "millis")]
    pub total_ms: Duration,
    pub clients: Vec<ClientReport>,
    /// Sessions of the setup server, one per ME it tried to set up.
    pub setup_sessions: Vec<SessionReport>,
    /// One summary per client entry with a `count`; its PCs are in `clients` too.
    pub fleets: Vec<FleetSummary>,
}

/// One setup-server session, from the server's side.
#[derive(Debug, Serialize)]
pub struct SessionReport {
    /// Source address of the hello.
    pub peer: String,
    pub uuid: String,
    pub hello_version: u16,
    pub retry_count: u32,
    /// SHA-256 of the ME's self-signed TLS certificate, once the handshake got that far.
    pub me_certificate_sha256: Option<String>,
    /// `activated in ACM`, or why the session failed.
    pub result: String,
    pub activated: bool,
}

impl SessionReport {
    pub fn new(session: &crate::scs::ScsSession) -> Self {
        let (result, activated) = match &session.result {
            Ok(activation) => (format!("activated in {}, AMT {}", activation.control_mode.short_name(), activation.amt_version), true),
            Err(error) => (error.to_string(), false),
        };
        Self {
            peer: session.peer.to_string(),
            uuid: session.uuid.to_string(),
            hello_version: session.hello_version,
            retry_count: session.retry_count,
            me_certificate_sha256: session.me_certificate_sha256.clone(),
            result,
            activated,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ClientReport {
    pub name: String,
    /// The client entry this PC was made from, when the entry has a `count`.
    pub fleet: Option<String>,
    pub vlan: u16,
    pub firmware: String,
    pub mac: String,
    pub uuid: String,
    /// Address from the DHCP lease, when one was acquired.
    pub address: Option<Ipv4Addr>,
    /// The DNS suffix the ME used for discovery.
    pub domain: Option<String>,
    pub expected: Expectation,
    pub verdict: Verdict,
    pub as_expected: bool,
    pub timeline: Timeline,
}

impl ClientReport {
    /// Fills the fields derived from the timeline and compares with the expectation.
    pub fn new(client: &Client, verdict: Verdict, timeline: Timeline) -> Self {
        let address = timeline.events().iter().find_map(|event| match &event.step {
            Step::Lease { address, .. } => Some(*address),
            _ => None,
        });
        let domain = timeline.events().iter().rev().find_map(|event| match &event.step {
            Step::Suffix { suffix, .. } => Some(suffix.clone()),
            _ => None,
        });
        let as_expected = matches_expectation(&client.expect, &verdict);
        let mac = client.mac.iter().map(|byte| format!("{byte:02x}")).collect::<Vec<_>>().join(":");

        Self {
            name: client.name.clone(),
            fleet: client.fleet.clone(),
            vlan: client.vlan,
            firmware: client.firmware.clone(),
            mac,
            uuid: client.uuid.to_string(),
            address,
            domain,
            expected: client.expect.clone(),
            verdict,
            as_expected,
            timeline,
        }
    }
}

fn matches_expectation(expected: &Expectation, verdict: &Verdict) -> bool {
    if verdict.code() != expected.outcome {
        return false;
    }
    match (verdict, &expected.domain) {
        (Verdict::Provisioned { domain, .. }, Some(want)) => domain == want.as_str(),
        _ => true,
    }
}

impl LabReport {
    pub fn all_as_expected(&self) -> bool {
        self.clients.iter().all(|client| client.as_expected)
    }

    /// Renders the report for a terminal, with each PC of a fleet summarised in its
    /// fleet. [`Self::to_text_listing_fleets`] lists them one by one.
    pub fn to_text(&self) -> String {
        self.render(false)
    }

    /// Renders the report for a terminal with every PC's timeline, fleets included.
    pub fn to_text_listing_fleets(&self) -> String {
        self.render(true)
    }

    fn render(&self, list_fleets: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "lab {} ({}), built in {}", self.lab, self.topology, format_ms(self.build_ms));

        for client in self.clients.iter().filter(|client| list_fleets || client.fleet.is_none()) {
            out.push('\n');
            render_client(&mut out, client);
        }
        for fleet in &self.fleets {
            out.push('\n');
            fleet::render(&mut out, fleet);
        }
        self.render_sessions(&mut out, list_fleets || self.fleets.is_empty());

        let matched = self.clients.iter().filter(|client| client.as_expected).count();
        let _ = writeln!(out, "\n{matched} of {} clients ended as expected, in {}", self.clients.len(), format_ms(self.total_ms));
        out
    }

    /// Lists the setup server's sessions, or with `list` false counts them, as a fleet's
    /// list would run to a line per PC.
    fn render_sessions(&self, out: &mut String, list: bool) {
        if self.setup_sessions.is_empty() {
            return;
        }
        if !list {
            let activated = self.setup_sessions.iter().filter(|session| session.activated).count();
            let _ = writeln!(out, "\nsetup server: {} sessions, {activated} activated in ACM (-v lists them)", self.setup_sessions.len());
            return;
        }

        let _ = writeln!(out, "\nsetup server sessions");
        for session in &self.setup_sessions {
            let _ = writeln!(out, "  hello v{} from {} (UUID {}, retry {}): {}", session.hello_version, session.peer, session.uuid, session.retry_count, session.result);
        }
    }
}

fn render_client(out: &mut String, client: &ClientReport) {
    let _ = writeln!(out, "{}  VLAN {}  firmware {}  MAC {}  UUID {}", client.name, client.vlan, client.firmware, client.mac, client.uuid);
    for event in client.timeline.events() {
        let _ = writeln!(out, "  {:>9}  {}", format_ms(event.at), describe(&event.step));
    }

    let verdict = match &client.verdict {
        Verdict::Provisioned { domain, control_mode, matched_hash } => {
            format!("PROVISIONED in {control_mode} as {}, domain {domain}, root hash {matched_hash}", client.address.map_or("?".into(), |a| a.to_string()))
        }
        Verdict::Refused { code, reason } => format!("REFUSED {code}: {reason}"),
    };
    let expectation = if client.as_expected { "as expected".to_owned() } else { format!("NOT AS EXPECTED: expected {}", describe_expectation(&client.expected)) };
    let _ = writeln!(out, "  verdict: {verdict} ({expectation})");
}

fn describe_expectation(expected: &Expectation) -> String {
    match &expected.domain {
        Some(domain) => format!("{} in {domain}", expected.outcome),
        None => expected.outcome.clone(),
    }
}

/// Describes a timeline step in one line.
fn describe(step: &Step) -> String {
    match step {
        Step::Lease { address, prefix_len, router, dns_servers, option15, relay, server, lease_secs } => {
            let via = relay.map_or(String::from("on the local segment"), |relay| format!("through relay {relay} (giaddr)"));
            format!(
                "lease {address}/{prefix_len} from {} {via}, router {}, DNS {}, option 15 {}, lease {}s",
                server.map_or("?".into(), |s| s.to_string()),
                router.map_or("none".into(), |r| r.to_string()),
                join(dns_servers),
                option15.as_deref().map_or("absent".into(), |value| format!("{value:?}")),
                lease_secs.map_or("?".into(), |s| s.to_string()),
            )
        }
        Step::Suffix { suffix, source } => {
            let source = match source {
                SuffixSource::Mebx => "PKI DNS suffix set in MEBx",
                SuffixSource::Option15 => "option 15",
            };
            format!("DNS suffix {suffix} from {source}")
        }
        Step::Dns { qname, server, cnames, address } => {
            let chain: String = cnames.iter().map(|cname| format!(" -> CNAME {cname}")).collect();
            format!("DNS {qname}{chain} -> A {address} (server {server})")
        }
        Step::SetupServer { address, source } => {
            let source = match source {
                ServerSource::ProvisionServer => "the provisionserver record",
                ServerSource::MebxAddress => "the address set in MEBx",
                ServerSource::MebxFqdn => "the FQDN set in MEBx",
            };
            format!("setup server {address} from {source}")
        }
        Step::Hello { to, retry_count, hashes } => format!("hello to {to}, retry count {retry_count}, {hashes} trusted root hashes"),
        Step::Tls { peer, protocol, client_chain } => format!("TLS on port {} from {peer} ({protocol}), client chain: {}", crate::me::AMT_TLS_PORT, client_chain.join(" <- ")),
        Step::Check { rule, passed, evidence } => format!("check {rule}: {} ({evidence})", if *passed { "pass" } else { "FAIL" }),
        Step::WsMan { action, detail } if detail.is_empty() => format!("WS-Man {action}"),
        Step::WsMan { action, detail } => format!("WS-Man {action}: {detail}"),
        Step::Provisioned { control_mode, provisioning_state } => format!("committed: provisioning state {provisioning_state}, control mode {control_mode}"),
    }
}

fn join(addresses: &[Ipv4Addr]) -> String {
    if addresses.is_empty() {
        return "none".into();
    }
    addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Writes `count` and `noun`, with an `s` unless the count is one: `1 VLAN`, `2 VLANs`.
pub fn counted(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}

fn format_ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_micros() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::amt::verdict::Reason;
    use crate::topology::DomainName;

    fn expectation(outcome: &str, domain: Option<&str>) -> Expectation {
        Expectation { outcome: outcome.into(), domain: domain.map(|d| DomainName::parse(d).unwrap()) }
    }

    fn provisioned(domain: &str) -> Verdict {
        Verdict::Provisioned { domain: domain.into(), control_mode: "ACM".into(), matched_hash: "SHA-1 00".into() }
    }

    #[test]
    fn expectation_checks_domain() {
        assert!(matches_expectation(&expectation("provisioned", Some("jcert.info")), &provisioned("jcert.info")));
        assert!(!matches_expectation(&expectation("provisioned", Some("mtkg.jcert.info")), &provisioned("jcert.info")));
        assert!(matches_expectation(&expectation("provisioned", None), &provisioned("jcert.info")));
    }

    #[test]
    fn expectation_checks_reason_code() {
        let verdict = Verdict::refused(Reason::NoDnsSuffix);

        assert!(matches_expectation(&expectation("no-dns-suffix", None), &verdict));
        assert!(!matches_expectation(&expectation("provisioned", None), &verdict));
    }

    #[test]
    fn text_names_client_and_verdict() {
        let mut timeline = Timeline::new(Instant::now());
        timeline.record(Step::Suffix { suffix: "jcert.info".into(), source: SuffixSource::Option15 });
        let pc90 = Client { name: "pc90".into(), fleet: None, vlan: 90, firmware: "4.1.1".into(), mac: [2, 0, 0, 0, 0, 1], uuid: uuid::Uuid::nil(), mebx: Default::default(), hello: crate::amt::schedule::HelloSchedule::LAB_FAST, expect: expectation("provisioned", None) };
        let client = ClientReport::new(&pc90, provisioned("jcert.info"), timeline);
        let report = LabReport { lab: "single".into(), topology: "single.yaml".into(), build_ms: Duration::ZERO, total_ms: Duration::ZERO, clients: vec![client], setup_sessions: Vec::new(), fleets: Vec::new() };

        let text = report.to_text();

        assert!(text.contains("pc90  VLAN 90"), "{text}");
        assert!(text.contains("DNS suffix jcert.info from option 15"), "{text}");
        assert!(text.contains("PROVISIONED in ACM"), "{text}");
        assert!(text.contains("1 of 1 clients ended as expected"), "{text}");
        assert!(report.all_as_expected());
    }
}
