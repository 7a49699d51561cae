//! The checked lab model. A value of these types exists only after every check of the
//! resolver passed, so the lab builder never re-checks anything.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use serde::Serialize;
use uuid::Uuid;

use crate::amt::hello::CertHash;
use crate::amt::schedule::HelloSchedule;

/// Maximum length of a network interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Maximum length of a lab name. The lab name prefixes namespace names (`LAB-NODE`) and
/// names the state folder, neither of which has the interface name limit; 32 keeps
/// `ip netns list` readable.
pub const MAX_LAB_NAME_LEN: usize = 32;

/// Name of the interface every node has on its VLAN.
pub const NODE_INTERFACE: &str = "eth0";

#[derive(Clone, Debug, Serialize)]
pub struct Lab {
    pub name: String,
    pub description: Option<String>,
    /// How long `run` waits for every client to reach a verdict.
    #[serde(rename = "timeout_secs", with = "humantime_serde_secs")]
    pub timeout: Duration,
    pub switch: Switch,
    pub servers: Vec<Server>,
    pub zones: Vec<Zone>,
    pub scopes: Vec<Scope>,
    pub relays: Vec<Relay>,
    pub setup_server: SetupServer,
    pub clients: Vec<Client>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Switch {
    pub name: String,
    pub vlans: Vec<Vlan>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Vlan {
    pub id: u16,
    pub subnet: Ipv4Network,
    pub gateway: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    DomainController,
    Dns,
    DhcpServer,
    DhcpRelay,
    SetupServer,
}

#[derive(Clone, Debug, Serialize)]
pub struct Server {
    pub name: String,
    pub vlan: u16,
    pub address: Ipv4Addr,
    pub fqdn: DomainName,
    pub roles: BTreeSet<Role>,
    pub mac: [u8; 6],
    /// Commands that run in the server's namespace in place of built-in services.
    pub exec: Vec<ExecService>,
}

/// A command the lab runs inside a server's namespace in place of one or more built-in
/// services, such as dnsmasq for DNS and DHCP.
#[derive(Clone, Debug, Serialize)]
pub struct ExecService {
    /// Program and arguments, with `{state_dir}` replaced by the lab's state folder.
    pub command: Vec<String>,
    /// Roles of the server whose built-in services do not run.
    pub replaces: BTreeSet<Role>,
    pub ready: Readiness,
}

/// When an exec service counts as started, so that the lab can start its clients.
#[derive(Clone, Debug, Serialize)]
pub struct Readiness {
    pub check: ReadyCheck,
    /// Time the port check may take before the lab fails to start.
    #[serde(with = "humantime_serde_secs")]
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadyCheck {
    /// A socket in the server's namespace is bound to this UDP port.
    Udp(u16),
    /// A socket in the server's namespace listens on this TCP port.
    Tcp(u16),
    /// This much time has passed since the command started.
    #[serde(with = "humantime_serde_secs")]
    After(Duration),
}

#[derive(Clone, Debug, Serialize)]
pub struct Zone {
    pub origin: DomainName,
    /// Servers (with the DNS role) that answer for the zone.
    pub servers: Vec<String>,
    pub records: Vec<ZoneRecord>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ZoneRecord {
    /// Absolute owner name.
    pub name: DomainName,
    pub data: RecordData,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordData {
    Cname(DomainName),
    A(Ipv4Addr),
}

#[derive(Clone, Debug, Serialize)]
pub struct Scope {
    pub vlan: u16,
    pub subnet: Ipv4Network,
    /// The server (with the DHCP server role) that hands out this scope.
    pub server: String,
    pub range: (Ipv4Addr, Ipv4Addr),
    pub router: Option<Ipv4Addr>,
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15, the domain name clients of this scope get.
    pub domain: Option<DomainName>,
    /// Option 15 as exact bytes, sent in place of `domain`, which is then `None`.
    #[serde(serialize_with = "escaped_bytes")]
    pub option15_raw: Option<Vec<u8>>,
    #[serde(rename = "lease_time_secs", with = "humantime_serde_secs")]
    pub lease_time: Duration,
    /// Whether the DHCP server registers `<option 12>.<domain>` of each lease in the lab's
    /// DNS zones, an A and a PTR record, as Windows DHCP does with dynamic DNS.
    pub dynamic_dns: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Relay {
    /// The server (with the DHCP relay role) that runs the relay agent.
    pub server: String,
    pub listen_vlan: u16,
    /// giaddr: the relay's own address on the VLAN it listens on.
    pub giaddr: Ipv4Addr,
    /// Name and address of the DHCP server it forwards to.
    pub dhcp_server: String,
    pub dhcp_server_address: Ipv4Addr,
}

#[derive(Clone, Debug, Serialize)]
pub struct SetupServer {
    pub server: String,
    pub address: Ipv4Addr,
    pub fqdn: DomainName,
    /// TCP port of the hello listener.
    pub port: u16,
    pub certificate: Certificate,
}

/// The setup server's provisioning certificate chain and what the lab does with it.
#[derive(Clone, Debug, Serialize)]
pub struct Certificate {
    pub source: CertificateSource,
    /// Which certificates of the chain the setup server sends.
    pub send: ChainPart,
    /// Whether clients are kept from trusting the chain's root, so that its hash is in
    /// no client's trusted list.
    pub untrusted_root: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CertificateSource {
    /// A chain the lab CA issues: root, intermediate and this leaf.
    Issued(CertificateRequest),
    /// A user's chain, leaf first, and the leaf's private key, from PEM files.
    Files { chain: PathBuf, key: PathBuf },
}

/// Part of the chain the setup server sends as its TLS client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainPart {
    /// Leaf to root, root included, as the ME needs it.
    Full,
    /// Every certificate but the second, the intermediate that issued the leaf.
    WithoutIntermediate,
    /// Every certificate but the last, the root.
    WithoutRoot,
}

/// The provisioning certificate the lab CA issues to the setup server.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateRequest {
    /// Common name; `*.domain` for a wildcard certificate.
    pub cn: String,
    pub ou: Option<String>,
    /// Extended Key Usage 2.16.840.1.113741.1.2.3, the Intel AMT setup OID.
    pub amt_setup_oid: bool,
    /// Extended Key Usage serverAuth, 1.3.6.1.5.5.7.3.1.
    pub server_auth: bool,
    pub key: KeyKind,
    /// Start of the leaf's validity, in days from when the lab starts; negative is earlier.
    pub not_before_days: i64,
    /// End of the leaf's validity, in days from when the lab starts.
    pub not_after_days: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
}

#[derive(Clone, Debug, Serialize)]
pub struct Client {
    pub name: String,
    /// The client entry this PC was made from when the entry has a `count`.
    pub fleet: Option<String>,
    pub vlan: u16,
    /// Firmware version string, such as `4.1.1`.
    pub firmware: String,
    pub mac: [u8; 6],
    pub uuid: Uuid,
    pub mebx: Mebx,
    /// When the ME repeats its hello.
    pub hello: HelloSchedule,
    pub expect: Expectation,
}

/// A client's settings made in MEBx or by a USB setup file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Mebx {
    /// The PKI DNS suffix, tried before option 15; `None` when unset, blank or ".".
    pub pki_dns_suffix: Option<DomainName>,
    /// A static setup server, used in place of the DNS lookup of provisionserver.
    pub setup_server: Option<SetupServerAddress>,
    /// Hashes added to the trusted list beside the firmware's defaults.
    pub custom_hashes: Vec<CertHash>,
    /// Whether the lab also adds the hash of the setup server's root.
    pub trust_lab_root: bool,
}

/// A setup server address set in MEBx: an address, or an FQDN the ME resolves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetupServerAddress {
    Address(Ipv4Addr),
    Fqdn(DomainName),
}

impl fmt::Display for SetupServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(address) => write!(f, "{address}"),
            Self::Fqdn(fqdn) => write!(f, "{fqdn}"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Expectation {
    /// `provisioned`, or the code of the reason a real ME would give up with.
    pub outcome: String,
    /// The domain the client must be provisioned in.
    pub domain: Option<DomainName>,
}

/// A fully qualified domain name: lowercase, without the trailing dot, each label 1 to 63
/// letters, digits or hyphens not at either end, 253 characters at most (RFC 1035 2.3.1,
/// RFC 1123 2.1).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

/// Reason a string is not a domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainNameError {
    #[error("empty name")]
    Empty,
    #[error("longer than 253 characters")]
    TooLong,
    #[error("empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("label {label:?} is longer than 63 characters")]
    LabelTooLong { label: String },
    #[error("label {label:?} contains {character:?}: only letters, digits and '-' are allowed")]
    InvalidCharacter { label: String, character: char },
    #[error("label {label:?} starts or ends with '-'")]
    EdgeHyphen { label: String },
}

impl DomainName {
    /// Parses a name, ignoring one trailing dot and letter case.
    pub fn parse(text: &str) -> Result<Self, DomainNameError> {
        let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        if name.is_empty() {
            return Err(DomainNameError::Empty);
        }
        if name.len() > 253 {
            return Err(DomainNameError::TooLong);
        }

        name.split('.').try_for_each(check_label)?;
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks whether `self` is `zone` or a name under it.
    pub fn is_within(&self, zone: &DomainName) -> bool {
        self.0 == zone.0 || self.0.ends_with(&format!(".{}", zone.0))
    }

    /// Joins a relative name (or `@`) onto this one.
    pub fn join(&self, relative: &str) -> Result<Self, DomainNameError> {
        match relative {
            "@" => Ok(self.clone()),
            _ => Self::parse(&format!("{relative}.{}", self.0)),
        }
    }
}

fn check_label(label: &str) -> Result<(), DomainNameError> {
    if label.is_empty() {
        return Err(DomainNameError::EmptyLabel);
    }
    if label.len() > 63 {
        return Err(DomainNameError::LabelTooLong { label: label.to_owned() });
    }
    if let Some(character) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(DomainNameError::InvalidCharacter { label: label.to_owned(), character });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(DomainNameError::EdgeHyphen { label: label.to_owned() });
    }
    Ok(())
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Lab {
    pub fn vlan(&self, id: u16) -> Option<&Vlan> {
        self.switch.vlans.iter().find(|vlan| vlan.id == id)
    }

    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|server| server.name == name)
    }

    /// Namespace name of a node: `<lab>-<node>`.
    pub fn namespace_of(&self, node: &str) -> String {
        format!("{}-{}", self.name, node)
    }

    /// Bridge name of a VLAN in the switch namespace.
    pub fn bridge_of(vlan: u16) -> String {
        format!("vlan{vlan}")
    }
}

impl Role {
    /// Every role with the name topology files use for it.
    pub const NAMES: &'static [(&'static str, Role)] = &[
        ("domain-controller", Role::DomainController),
        ("dns", Role::Dns),
        ("dhcp-server", Role::DhcpServer),
        ("dhcp-relay", Role::DhcpRelay),
        ("setup-server", Role::SetupServer),
    ];

    /// Returns the name topology files use for the role.
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, role)| *role == self).map(|(name, _)| *name).expect("every role is named")
    }
}

impl Server {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Checks whether the lab runs its own service for `role` on this server: the server
    /// has the role and no exec service replaces it.
    pub fn runs_builtin(&self, role: Role) -> bool {
        self.has_role(role) && !self.exec.iter().any(|exec| exec.replaces.contains(&role))
    }
}

/// Serializes raw option 15 bytes as text with non-printable bytes escaped (`\0`, `\x07`).
fn escaped_bytes<S: serde::Serializer>(bytes: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(bytes) => serializer.serialize_some(&bytes.escape_ascii().to_string()),
        None => serializer.serialize_none(),
    }
}

/// Serializes durations as whole seconds, the unit JSON consumers expect.
mod humantime_serde_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_name_normalises_case_and_dot() {
        assert_eq!(DomainName::parse("JCert.Info.").unwrap().as_str(), "jcert.info");
    }

    #[test]
    fn domain_name_rejects_malformed() {
        assert_eq!(DomainName::parse(""), Err(DomainNameError::Empty));
        assert_eq!(DomainName::parse("a..b"), Err(DomainNameError::EmptyLabel));
        assert!(matches!(DomainName::parse("jcert info"), Err(DomainNameError::InvalidCharacter { character: ' ', .. })));
        assert!(matches!(DomainName::parse("-a.b"), Err(DomainNameError::EdgeHyphen { .. })));
        assert!(matches!(DomainName::parse(&"a".repeat(64)), Err(DomainNameError::LabelTooLong { .. })));
    }

    #[test]
    fn domain_name_within_zone() {
        let zone = DomainName::parse("jcert.info").unwrap();

        assert!(DomainName::parse("scs.jcert.info").unwrap().is_within(&zone));
        assert!(zone.is_within(&zone));
        assert!(!DomainName::parse("xjcert.info").unwrap().is_within(&zone));
    }
}
