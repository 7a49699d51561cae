//! Why an emulated ME did not end provisioned: one variant per cause, with the evidence a
//! user needs to fix the network or the certificate.

use std::net::{Ipv4Addr, SocketAddr};

use serde::Serialize;

use crate::amt::checks::CertRefusal;

/// The reason an ME stopped short of provisioning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    #[error("no DHCP lease after {attempts} DISCOVER attempts")]
    NoLease { attempts: u32 },

    #[error("no DNS suffix: the lease has no option 15 and no PKI DNS suffix is set in MEBx, so PKI setup is impossible")]
    NoDnsSuffix,

    #[error("option 15 {value:?} is not a domain name: {why}")]
    InvalidOption15 { value: String, why: String },

    #[error("no DNS server: the lease has no option 6")]
    NoDnsServer,

    #[error("no provisionserver record: {qname} returned {rcode} from {server}")]
    NoProvisionServerRecord { qname: String, server: Ipv4Addr, rcode: String },

    #[error("{qname} is an alias of {target}, which has no address: {why}")]
    ProvisionServerNoAddress { qname: String, target: String, why: String },

    #[error("setup server {fqdn} set in MEBx was not found by DNS server {server}: {error}")]
    SetupServerNotFound { fqdn: String, server: Ipv4Addr, error: String },

    #[error("DNS lookup of {qname} at {server} failed: {error}")]
    DnsFailed { qname: String, server: Ipv4Addr, error: String },

    #[error("hello to {addr} failed: {error}")]
    HelloFailed { addr: SocketAddr, error: String },

    #[error("the setup server never connected back to port 16993 within {waited_ms} ms of the last hello")]
    NoConnectBack { waited_ms: u64 },

    #[error("TLS handshake with the setup server failed: {error}")]
    TlsFailed { error: String },

    #[error("certificate rejected: {0}")]
    Certificate(CertRefusal),

    #[error("setup failed at {step}: {detail}")]
    SetupFailed { step: String, detail: String },

    #[error("timed out during {phase}")]
    Timeout { phase: String },
}

impl Reason {
    /// Codes of the reasons other than certificate refusals, whose codes are
    /// [`CertRefusal::CODES`].
    pub const CODES: &'static [&'static str] = &[
        "no-lease",
        "no-dns-suffix",
        "invalid-option15",
        "no-dns-server",
        "no-provisionserver-record",
        "provisionserver-no-address",
        "dns-failed",
        "hello-failed",
        "no-connect-back",
        "tls-failed",
        "setup-failed",
        "timeout",
    ];

    /// Every code a verdict can carry: `provisioned` and the code of each reason.
    pub fn all_codes() -> impl Iterator<Item = &'static str> {
        std::iter::once("provisioned").chain(Self::CODES.iter().copied()).chain(CertRefusal::CODES.iter().copied())
    }

    /// Stable kebab-case code, used by topology files in `expect.outcome`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoLease { .. } => "no-lease",
            Self::NoDnsSuffix => "no-dns-suffix",
            Self::InvalidOption15 { .. } => "invalid-option15",
            Self::NoDnsServer => "no-dns-server",
            Self::NoProvisionServerRecord { .. } => "no-provisionserver-record",
            Self::ProvisionServerNoAddress { .. } => "provisionserver-no-address",
            Self::SetupServerNotFound { .. } => "setup-server-not-found",
            Self::DnsFailed { .. } => "dns-failed",
            Self::HelloFailed { .. } => "hello-failed",
            Self::NoConnectBack { .. } => "no-connect-back",
            Self::TlsFailed { .. } => "tls-failed",
            Self::Certificate(refusal) => refusal.code(),
            Self::SetupFailed { .. } => "setup-failed",
            Self::Timeout { .. } => "timeout",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_list_every_reason() {
        let addr = SocketAddr::from(([192, 0, 2, 1], 9971));
        let server = Ipv4Addr::new(192, 0, 2, 1);
        let reasons = [
            Reason::NoLease { attempts: 1 },
            Reason::NoDnsSuffix,
            Reason::InvalidOption15 { value: String::new(), why: String::new() },
            Reason::NoDnsServer,
            Reason::NoProvisionServerRecord { qname: String::new(), server, rcode: String::new() },
            Reason::ProvisionServerNoAddress { qname: String::new(), target: String::new(), why: String::new() },
            Reason::DnsFailed { qname: String::new(), server, error: String::new() },
            Reason::HelloFailed { addr, error: String::new() },
            Reason::NoConnectBack { waited_ms: 0 },
            Reason::TlsFailed { error: String::new() },
            Reason::SetupFailed { step: String::new(), detail: String::new() },
            Reason::Timeout { phase: String::new() },
        ];

        let codes: HashSet<&str> = reasons.iter().map(Reason::code).collect();

        assert_eq!(codes.len(), reasons.len());
        assert_eq!(codes, Reason::CODES.iter().copied().collect());
    }

    #[test]
    fn all_codes_include_certificate_codes() {
        let codes: Vec<&str> = Reason::all_codes().collect();

        assert!(codes.contains(&"provisioned"));
        assert!(codes.contains(&"domain-mismatch"));
        assert!(codes.contains(&"no-dns-suffix"));
    }
}
