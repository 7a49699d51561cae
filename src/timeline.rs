//! The timeline of one emulated PC, step by step, and its verdict.
//!
//! The ME emulator records these; the report prints them. Times are offsets from the
//! moment the lab started its clients, so that timelines of different PCs line up.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::amt::verdict::Reason;

/// Ordered events of one PC; serialized as the list of its events.
#[derive(Clone, Debug)]
pub struct Timeline {
    origin: Instant,
    events: Vec<Event>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Milliseconds since the lab started its clients.
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
    #[serde(flatten)]
    pub step: Step,
}

/// One step of provisioning, as observed by the ME.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// DHCPACK received and applied to the interface.
    Lease {
        address: Ipv4Addr,
        prefix_len: u8,
        router: Option<Ipv4Addr>,
        dns_servers: Vec<Ipv4Addr>,
        /// Option 15 as received, escaped for display; `None` when absent.
        option15: Option<String>,
        /// giaddr of the DHCPACK: the relay that carried the exchange, if any.
        relay: Option<Ipv4Addr>,
        server: Option<Ipv4Addr>,
        lease_secs: Option<u32>,
    },
    /// The DNS suffix discovery uses, and where it came from.
    Suffix { suffix: String, source: SuffixSource },
    /// Result of the provisionserver lookup.
    Dns { qname: String, server: Ipv4Addr, cnames: Vec<String>, address: Ipv4Addr },
    /// The setup server's address the hellos go to, and where it came from.
    SetupServer { address: Ipv4Addr, source: ServerSource },
    Hello { to: SocketAddr, retry_count: u32, hashes: usize },
    /// The setup server connected back and completed the TLS handshake.
    Tls { peer: SocketAddr, protocol: String, client_chain: Vec<String> },
    /// One firmware rule applied to the setup server's certificate chain.
    Check { rule: String, passed: bool, evidence: String },
    /// A WS-Management request the ME served.
    WsMan { action: String, detail: String },
    /// CommitChanges applied: the ME left setup mode.
    Provisioned { control_mode: String, provisioning_state: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuffixSource {
    /// PKI DNS suffix set in MEBx or by a USB setup file.
    Mebx,
    /// DHCP option 15.
    Option15,
}

/// Where the ME took the setup server's address from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerSource {
    /// The DNS lookup of `provisionserver.<suffix>`.
    ProvisionServer,
    /// An address set in MEBx or by a USB setup file.
    MebxAddress,
    /// An FQDN set in MEBx or by a USB setup file, resolved in DNS.
    MebxFqdn,
}

/// Final state of a PC.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    Provisioned {
        /// The DNS suffix the ME was provisioned under.
        domain: String,
        control_mode: String,
        /// The trusted root hash that matched the setup server's chain.
        matched_hash: String,
    },
    Refused { code: &'static str, reason: Reason },
}

impl Timeline {
    pub fn new(origin: Instant) -> Self {
        Self { origin, events: Vec::new() }
    }

    pub fn record(&mut self, step: Step) {
        let at = self.origin.elapsed();
        tracing::debug!(?step, at_ms = at.as_millis() as u64, "timeline");
        self.events.push(Event { at, step });
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Time from the origin to the last event.
    pub fn elapsed(&self) -> Duration {
        self.events.last().map_or(Duration::ZERO, |event| event.at)
    }
}

impl Verdict {
    pub fn refused(reason: Reason) -> Self {
        Self::Refused { code: reason.code(), reason }
    }

    /// Returns the reason code, or `provisioned`, as a topology's `expect.outcome` names it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Provisioned { .. } => "provisioned",
            Self::Refused { code, .. } => code,
        }
    }
}

impl Serialize for Timeline {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.events.serialize(serializer)
    }
}

fn millis<S: serde::Serializer>(at: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(at.as_micros() as f64 / 1000.0)
}
