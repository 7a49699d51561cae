//! The topology file as written: serde types that keep the source location of every value
//! a check can reject. Nothing here is checked beyond the schema (key names, required
//! keys, value types, number ranges and names from fixed lists); the resolver turns it
//! into the model.
//!
//! The JSON Schema of the format is generated from these types, and the structural check
//! reads it (see `schema`). To add a key: add the field here with `#[serde(default)]` when
//! it is optional, an `x-expected` phrase for messages (`"a number of days"`), a range or
//! a list of names where they apply, then resolve it in the resolver and run
//! `vprolab schema > docs/topology.schema.json`.

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::schema::{chain_part_names, key_kind_names, outcome_names, role_list, schedule_names};
pub use super::tree::Spanned;

/// A vprolab topology: one vPro provisioning network.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-expected" = "a topology, a mapping with the keys lab, switch, servers, dhcp, setup_server and clients"))]
pub struct RawLab {
    /// Lab name, the prefix of every namespace.
    #[schemars(extend("x-expected" = "a lab name such as single"))]
    pub lab: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// How long `vprolab run` waits for every client's verdict, such as 30s.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a duration such as 30s"))]
    pub timeout: Option<Spanned<String>>,
    /// The L3 switch and its VLANs.
    #[schemars(extend("x-expected" = "the switch's name and vlans"))]
    pub switch: RawSwitch,
    /// Servers by name.
    #[schemars(extend("x-expected" = "servers by name", "x-key" = "NAME"))]
    pub servers: Entries<RawServer>,
    /// DNS zones by origin.
    #[serde(default)]
    #[schemars(extend("x-expected" = "zones by origin", "x-key" = "ORIGIN"))]
    pub zones: Entries<RawZone>,
    /// DHCP scopes and relays.
    #[schemars(extend("x-expected" = "the DHCP scopes and relays"))]
    pub dhcp: RawDhcp,
    /// Which server is the setup server, and its certificate.
    #[schemars(extend("x-expected" = "the setup server's name and certificate"))]
    pub setup_server: Spanned<RawSetupServer>,
    /// The emulated vPro clients by name.
    #[schemars(extend("x-expected" = "clients by name", "x-key" = "NAME"))]
    pub clients: Spanned<Entries<RawClient>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSwitch {
    /// Node name of the switch.
    #[schemars(extend("x-expected" = "a node name such as l3sw"))]
    pub name: Spanned<String>,
    /// VLANs by id, 1 to 4094.
    #[schemars(extend("x-expected" = "VLANs by id", "x-key" = "VLAN"))]
    pub vlans: Spanned<Entries<RawVlan>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVlan {
    /// The VLAN's IPv4 prefix, such as 192.168.90.0/24.
    #[schemars(extend("x-expected" = "an IPv4 prefix such as 192.168.90.0/24"))]
    pub subnet: Spanned<String>,
    /// The switch's address on the VLAN.
    #[schemars(extend("x-expected" = "an IPv4 address such as 192.168.90.1"))]
    pub gateway: Spanned<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// The VLAN the server is attached to.
    #[schemars(range(min = 1, max = 4094), extend("x-expected" = "a VLAN id"))]
    pub vlan: Spanned<u16>,
    /// Static IPv4 address inside the VLAN's subnet.
    #[schemars(extend("x-expected" = "an IPv4 address such as 192.168.90.10"))]
    pub address: Spanned<String>,
    /// Fully qualified domain name.
    #[schemars(extend("x-expected" = "a domain name such as dc1.example.com"))]
    pub fqdn: Spanned<String>,
    /// Services the server runs.
    #[schemars(schema_with = "role_list")]
    pub roles: Spanned<Vec<Spanned<String>>>,
    /// Commands run in place of built-in services.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a list of commands"))]
    pub exec: Vec<Spanned<RawExec>>,
}

/// A command run in place of built-in services.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExec {
    /// The program and its arguments.
    #[schemars(extend("x-expected" = "a list of the program and its arguments, such as [dnsmasq, --no-daemon]"))]
    pub command: Spanned<Vec<String>>,
    /// Roles whose built-in services the command takes over.
    #[schemars(schema_with = "role_list")]
    pub replaces: Spanned<Vec<Spanned<String>>>,
    /// When the command counts as ready.
    #[serde(default)]
    pub ready: Option<Spanned<RawReady>>,
}

/// Readiness check; exactly one of `udp`, `tcp` and `after` must be set.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    /// Ready once a socket is bound to this UDP port.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535), extend("x-expected" = "a UDP port number"))]
    pub udp: Option<Spanned<u16>>,
    /// Ready once a socket listens on this TCP port.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535), extend("x-expected" = "a TCP port number"))]
    pub tcp: Option<Spanned<u16>>,
    /// Ready this long after the start, such as 1s.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a duration such as 1s"))]
    pub after: Option<Spanned<String>>,
    /// How long to wait for the port, such as 30s.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a duration such as 30s"))]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    /// Servers with the dns role that answer for the zone.
    #[schemars(extend("x-expected" = "a list of server names"))]
    pub servers: Spanned<Vec<Spanned<String>>>,
    /// Data by owner name, relative to the origin.
    #[serde(default)]
    #[schemars(extend("x-expected" = "records by owner name", "x-key" = "NAME"))]
    pub records: Entries<RawRecord>,
}

/// Data at one owner name; exactly one of the keys must be set.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    /// Alias target.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a domain name"))]
    pub cname: Option<Spanned<String>>,
    /// IPv4 address.
    #[serde(default)]
    #[schemars(extend("x-expected" = "an IPv4 address"))]
    pub a: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDhcp {
    /// Scopes by the id of the VLAN they serve.
    #[schemars(extend("x-expected" = "scopes by VLAN id", "x-key" = "VLAN"))]
    pub scopes: Spanned<Entries<RawScope>>,
    /// Relay agents by the name of the server that runs them.
    #[serde(default)]
    #[schemars(extend("x-expected" = "relays by server name", "x-key" = "SERVER"))]
    pub relays: Entries<RawRelay>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScope {
    /// The server with the dhcp-server role that hands out the scope.
    #[schemars(extend("x-expected" = "a server name"))]
    pub server: Spanned<String>,
    /// FIRST-LAST, such as 192.168.90.100-192.168.90.199.
    #[schemars(extend("x-expected" = "an address range such as 192.168.90.100-192.168.90.199"))]
    pub range: Spanned<String>,
    /// Option 3.
    #[serde(default)]
    #[schemars(extend("x-expected" = "an IPv4 address"))]
    pub router: Option<Spanned<String>>,
    /// Option 6, in order.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a list of IPv4 addresses"))]
    pub dns_servers: Vec<Spanned<String>>,
    /// Option 15, the domain name.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a domain name"))]
    pub domain: Option<Spanned<String>>,
    /// Option 15 as exact bytes, for values that are not domain names.
    #[serde(default)]
    pub option15_raw: Option<Spanned<String>>,
    /// Option 51, such as 8h.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a duration such as 8h"))]
    pub lease_time: Option<Spanned<String>>,
    /// Whether the server registers each lease's name in DNS (A and PTR).
    #[serde(default)]
    pub dynamic_dns: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRelay {
    /// The VLAN the relay listens on: its server's own.
    #[schemars(range(min = 1, max = 4094), extend("x-expected" = "a VLAN id"))]
    pub listen_vlan: Spanned<u16>,
    /// The DHCP server it forwards to.
    #[schemars(extend("x-expected" = "a server name"))]
    pub server: Spanned<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetupServer {
    /// The server with the setup-server role.
    #[schemars(extend("x-expected" = "a server name"))]
    pub server: Spanned<String>,
    /// TCP port of the hello listener; 9971 by default.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535), extend("x-expected" = "a TCP port number"))]
    pub port: Option<Spanned<u16>>,
    /// The provisioning certificate.
    #[schemars(extend("x-expected" = "the certificate's cn, or its chain_file and key_file"))]
    pub certificate: Spanned<RawCertificate>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    /// Common name; *.domain for a wildcard certificate.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a domain name such as scs.example.com"))]
    pub cn: Option<Spanned<String>>,
    /// Subject OU, such as Intel(R) Client Setup Certificate.
    #[serde(default)]
    pub ou: Option<Spanned<String>>,
    /// Whether the EKU holds the Intel AMT setup OID.
    #[serde(default)]
    pub amt_setup_oid: Option<bool>,
    /// Whether the EKU holds serverAuth.
    #[serde(default)]
    pub server_auth: Option<bool>,
    /// Key type of the leaf.
    #[serde(default)]
    #[schemars(schema_with = "key_kind_names")]
    pub key: Option<Spanned<String>>,
    /// Validity of the leaf, in days from when the lab starts.
    #[serde(default)]
    #[schemars(range(min = 1, max = 36500), extend("x-expected" = "a number of days"))]
    pub valid_days: Option<Spanned<u32>>,
    /// Start of the leaf's validity, in days from now; negative is in the past.
    #[serde(default)]
    #[schemars(range(min = -36500, max = 36500), extend("x-expected" = "a number of days"))]
    pub not_before_days: Option<Spanned<i64>>,
    /// End of the leaf's validity, in days from now; replaces `valid_days`.
    #[serde(default)]
    #[schemars(range(min = -36500, max = 36500), extend("x-expected" = "a number of days"))]
    pub not_after_days: Option<Spanned<i64>>,
    /// Which certificates of the chain the setup server sends.
    #[serde(default)]
    #[schemars(schema_with = "chain_part_names")]
    pub send: Option<Spanned<String>>,
    /// Whether no client trusts the chain's root.
    #[serde(default)]
    pub untrusted_root: Option<bool>,
    /// A user's chain in PEM, leaf first, in place of one the lab issues.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a file name"))]
    pub chain_file: Option<Spanned<String>>,
    /// The PEM private key of the chain_file leaf.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a file name"))]
    pub key_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// How many PCs this entry is, each with its own name, MAC, UUID and lease.
    // At most the hosts of a /16: each PC is a namespace with a veth pair, so a larger
    // number is more likely a typo than a plan, and a larger fleet takes several entries.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65534), extend("x-expected" = "a number of PCs"))]
    pub count: Option<Spanned<u32>>,
    /// The VLAN the client is attached to.
    #[schemars(range(min = 1, max = 4094), extend("x-expected" = "a VLAN id"))]
    pub vlan: Spanned<u16>,
    /// AMT firmware version, such as 4.1.1.
    #[schemars(extend("x-expected" = "an AMT version such as 4.1.1"))]
    pub firmware: Spanned<String>,
    /// MAC address; derived from the names by default.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a MAC address such as 02:00:00:00:00:01"))]
    pub mac: Option<Spanned<String>>,
    /// The ME's UUID; derived from the names by default.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a UUID"))]
    pub uuid: Option<Spanned<String>>,
    /// Settings made in MEBx or by a USB setup file.
    #[serde(default)]
    pub mebx: Option<Spanned<RawMebx>>,
    /// When the ME repeats its hello.
    #[serde(default)]
    pub hello: Option<Spanned<RawHello>>,
    /// The outcome the client must reach.
    #[schemars(extend("x-expected" = "the expected outcome"))]
    pub expect: RawExpect,
}

/// Settings made in MEBx or by a USB setup file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMebx {
    /// The PKI DNS suffix.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a domain name"))]
    pub pki_dns_suffix: Option<Spanned<String>>,
    /// A static setup server: an IPv4 address or an FQDN.
    #[serde(default)]
    #[schemars(extend("x-expected" = "an IPv4 address or an FQDN"))]
    pub setup_server: Option<Spanned<String>>,
    /// Hashes added to the trusted list.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a list of hashes"))]
    pub custom_hashes: Vec<Spanned<RawCustomHash>>,
    /// Whether the client also trusts the lab root.
    #[serde(default)]
    pub trust_lab_root: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCustomHash {
    /// sha-1, sha-256 or sha-384.
    #[schemars(extend("x-expected" = "a hash algorithm: sha-1, sha-256 or sha-384"))]
    pub algorithm: Spanned<String>,
    /// The hash in hex; ':' and spaces between pairs are allowed.
    #[schemars(extend("x-expected" = "a hash in hex"))]
    pub hash: Spanned<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHello {
    /// lab-fast or firmware.
    #[schemars(schema_with = "schedule_names")]
    pub schedule: Spanned<String>,
    /// With the firmware schedule, how long the ME keeps sending hellos, 6h to 255h.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a duration such as 24h"))]
    pub window: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// provisioned, or the code of the reason the client must fail with.
    #[schemars(schema_with = "outcome_names")]
    pub outcome: Spanned<String>,
    /// The DNS suffix the client must be provisioned under.
    #[serde(default)]
    #[schemars(extend("x-expected" = "a domain name"))]
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

impl<V: JsonSchema> JsonSchema for Entries<V> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Entries_of_{}", V::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "object", "additionalProperties": generator.subschema_for::<V>() })
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
