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

    #[error("{qname} is an alias of {target}, which has no address")]
    ProvisionServerNoAddress { qname: String, target: String },

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
