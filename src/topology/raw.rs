//! The topology file as written: serde types that keep the source location of every value
//! a check can reject. Nothing here is checked beyond YAML syntax and key names; the
//! resolver turns it into the model.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLab {
    pub lab: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    pub switch: RawSwitch,
    pub servers: Entries<RawServer>,
    #[serde(default)]
    pub zones: Entries<RawZone>,
    pub dhcp: RawDhcp,
    pub setup_server: Spanned<RawSetupServer>,
    pub clients: Entries<RawClient>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwitch {
    pub name: Spanned<String>,
    pub vlans: Entries<RawVlan>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVlan {
    pub subnet: Spanned<String>,
    pub gateway: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub vlan: Spanned<u16>,
    pub address: Spanned<String>,
    pub fqdn: Spanned<String>,
    pub roles: Vec<Spanned<String>>,
    #[serde(default)]
    pub exec: Vec<Spanned<RawExec>>,
}

/// A command run in place of built-in services.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExec {
    pub command: Spanned<Vec<String>>,
    pub replaces: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub ready: Option<Spanned<RawReady>>,
}

/// Readiness check; exactly one of `udp`, `tcp` and `after` must be set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    #[serde(default)]
    pub udp: Option<Spanned<u32>>,
    #[serde(default)]
    pub tcp: Option<Spanned<u32>>,
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    pub servers: Vec<Spanned<String>>,
    #[serde(default)]
    pub records: Entries<RawRecord>,
}

/// Data at one owner name; exactly one of the keys must be set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    #[serde(default)]
    pub cname: Option<Spanned<String>>,
    #[serde(default)]
    pub a: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDhcp {
    pub scopes: Entries<RawScope>,
    #[serde(default)]
    pub relays: Entries<RawRelay>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScope {
    pub server: Spanned<String>,
    pub range: Spanned<String>,
    #[serde(default)]
    pub router: Option<Spanned<String>>,
    #[serde(default)]
    pub dns_servers: Vec<Spanned<String>>,
    #[serde(default)]
    pub domain: Option<Spanned<String>>,
    /// Option 15 as exact bytes, for values that are not domain names.
    #[serde(default)]
    pub option15_raw: Option<Spanned<String>>,
    #[serde(default)]
    pub lease_time: Option<Spanned<String>>,
    /// Whether the server registers each lease's name in DNS (A and PTR).
    #[serde(default)]
    pub dynamic_dns: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelay {
    pub listen_vlan: Spanned<u16>,
    pub server: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSetupServer {
    pub server: Spanned<String>,
    #[serde(default)]
    pub port: Option<Spanned<u32>>,
    pub certificate: RawCertificate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    #[serde(default)]
    pub cn: Option<Spanned<String>>,
    #[serde(default)]
    pub ou: Option<Spanned<String>>,
    #[serde(default)]
    pub amt_setup_oid: Option<bool>,
    #[serde(default)]
    pub server_auth: Option<bool>,
    #[serde(default)]
    pub key: Option<Spanned<String>>,
    #[serde(default)]
    pub valid_days: Option<Spanned<u32>>,
    /// Start of the leaf's validity, in days from now; negative is in the past.
    #[serde(default)]
    pub not_before_days: Option<Spanned<i64>>,
    /// End of the leaf's validity, in days from now; replaces `valid_days`.
    #[serde(default)]
    pub not_after_days: Option<Spanned<i64>>,
    /// Which certificates of the chain the setup server sends.
    #[serde(default)]
    pub send: Option<Spanned<String>>,
    #[serde(default)]
    pub untrusted_root: Option<bool>,
    /// A user's chain (leaf first) and leaf key, in place of a chain the lab issues.
    #[serde(default)]
    pub chain_file: Option<Spanned<String>>,
    #[serde(default)]
    pub key_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub vlan: Spanned<u16>,
    pub firmware: Spanned<String>,
    #[serde(default)]
    pub mac: Option<Spanned<String>>,
    #[serde(default)]
    pub uuid: Option<Spanned<String>>,
    #[serde(default)]
    pub mebx: Option<Spanned<RawMebx>>,
    #[serde(default)]
    pub hello: Option<Spanned<RawHello>>,
    pub expect: RawExpect,
}

/// Settings made in MEBx or by a USB setup file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMebx {
    #[serde(default)]
    pub pki_dns_suffix: Option<Spanned<String>>,
    /// An IPv4 address or an FQDN.
    #[serde(default)]
    pub setup_server: Option<Spanned<String>>,
    #[serde(default)]
    pub custom_hashes: Vec<Spanned<RawCustomHash>>,
    #[serde(default)]
    pub trust_lab_root: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomHash {
    pub algorithm: Spanned<String>,
    pub hash: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHello {
    pub schedule: Spanned<String>,
    #[serde(default)]
    pub window: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub outcome: Spanned<String>,
    #[serde(default)]
    pub domain: Option<Spanned<String>>,
}

/// A YAML mapping kept in file order, with the location of every key.
///
/// serde's map types lose key locations and order; a topology wants both, to point at a
/// duplicate or unknown name and to build nodes in the order the user wrote them.
#[derive(Debug)]
pub struct Entries<V>(pub Vec<(Spanned<String>, Spanned<V>)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

struct EntriesVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
    type Value = Entries<V>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a mapping of names to entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<V>>()?;
            entries.push((key, value));
        }
        Ok(Entries(entries))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Entries(Vec::new()))
    }
}
