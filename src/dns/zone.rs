//! Authoritative zones built from plain specs: SOA, NS, A, CNAME and PTR records.
//!
//! The lab converts its topology into [`ZoneSpec`] values; [`Zones::build`] checks them and
//! turns them into hickory-server in-memory zones, so that no half-valid zone reaches the
//! server.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_server::proto::rr::rdata::{A, CNAME, NS, PTR, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

use super::name::{NameError, display_name, parse_mailbox, parse_name};

/// Maximum TTL or SOA timer: RFC 2181 section 8 treats values with the top bit set as zero.
const MAX_TTL: u32 = i32::MAX as u32;

/// One zone the lab's DNS server is authoritative for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSpec {
    /// Zone apex, such as `jcert.info` or `90.168.192.in-addr.arpa`; a trailing dot is optional.
    pub origin: String,
    /// Host name of the primary name server: the SOA MNAME and the NS record at the apex.
    pub primary_ns: String,
    /// SOA RNAME, as a mailbox (`hostmaster@jcert.info`) or in DNS form (`hostmaster.jcert.info`).
    pub admin_mailbox: String,
    pub serial: u32,
    /// SOA REFRESH, in seconds.
    pub refresh: u32,
    /// SOA RETRY, in seconds.
    pub retry: u32,
    /// SOA EXPIRE, in seconds.
    pub expire: u32,
    /// SOA MINIMUM, in seconds: the TTL of negative answers (RFC 2308), and also the TTL of the
    /// SOA record and of the apex NS record built from `primary_ns`.
    pub minimum: u32,
    pub records: Vec<RecordSpec>,
}

impl ZoneSpec {
    /// Creates a zone with serial 1, timers of 3600/600/86400/300 seconds and no records.
    pub fn new(origin: &str, primary_ns: &str, admin_mailbox: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            primary_ns: primary_ns.to_owned(),
            admin_mailbox: admin_mailbox.to_owned(),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 300,
            records: Vec::new(),
        }
    }

    /// Adds a record and returns the zone, for building zones in one expression.
    pub fn with(mut self, name: &str, ttl: u32, data: RecordData) -> Self {
        self.records.push(RecordSpec { name: name.to_owned(), ttl, data });
        self
    }
}

/// One resource record of a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSpec {
    /// Owner name, fully qualified (`scs.jcert.info`); a trailing dot is optional.
    pub name: String,
    /// TTL in seconds.
    pub ttl: u32,
    pub data: RecordData,
}

/// Record data; every name in it is fully qualified, with an optional trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordData {
    A(Ipv4Addr),
    Cname(String),
    Ptr(String),
    Ns(String),
}

/// Returns the reverse zone that holds the PTR record of `address`: one zone per /24 block,
/// such as `90.168.192.in-addr.arpa` for 192.168.90.10.
pub fn reverse_zone_origin(address: Ipv4Addr) -> String {
    let [a, b, c, _] = address.octets();
    format!("{c}.{b}.{a}.in-addr.arpa")
}

/// Returns the owner name of the PTR record of `address`, such as
/// `10.90.168.192.in-addr.arpa` for 192.168.90.10.
pub fn ptr_name(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// Problem that keeps a set of zone specs from being served.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("invalid {field} {value:?} in zone {zone}: {source}")]
    InvalidName {
        zone: String,
        field: &'static str,
        value: String,
        #[source]
        source: NameError,
    },

    #[error("zone {zone} is listed twice; merge its records into one zone")]
    DuplicateZone { zone: String },

    #[error("SOA {field} of zone {zone} is {value} seconds, more than the {MAX_TTL} allowed")]
    SoaTimerTooLarge { zone: String, field: &'static str, value: u32 },

    #[error("TTL of {name} in zone {zone} is {ttl} seconds, more than the {MAX_TTL} allowed")]
    TtlTooLarge { zone: String, name: String, ttl: u32 },

    #[error("record {name} is outside zone {zone}; move it to the zone that contains it")]
    OutsideZone { zone: String, name: String },

    #[error(
        "{name} in zone {zone} has a CNAME and a {other} record, but a name with a CNAME can hold \
         no other data (RFC 1034 section 3.6.2); remove one of them"
    )]
    CnameAndOtherData { zone: String, name: String, other: RecordType },

    #[error(
        "{name} in zone {zone} has CNAME records to {first} and to {second}, but a name can have \
         only one CNAME (RFC 2181 section 10.1); keep one"
    )]
    MultipleCnames { zone: String, name: String, first: String, second: String },

    #[error(
        "record {name} in zone {zone} lies inside zone {inner}, which this server also serves, so \
         no query would reach it; move it to zone {inner}"
    )]
    ShadowedByZone { zone: String, name: String, inner: String },

    #[error("hickory-server rejected the {record_type} record of {name} in zone {zone}")]
    Rejected { zone: String, name: String, record_type: RecordType },
}

/// Checked zones, ready to be served.
#[derive(Clone)]
pub struct Zones {
    zones: Vec<ServedZone>,
}

#[derive(Clone)]
struct ServedZone {
    origin: Name,
    handler: Arc<InMemoryZoneHandler>,
    serial: u32,
    /// Names that hold a CNAME, which can hold no other data (RFC 1034 section 3.6.2).
    cname_owners: Arc<HashSet<LowerName>>,
}

impl Zones {
    /// Checks the specs and builds one in-memory zone per spec. Fails on the first problem.
    pub fn build(specs: impl IntoIterator<Item = ZoneSpec>) -> Result<Self, ZoneError> {
        let parsed = specs
            .into_iter()
            .map(|spec| ParsedZone::parse(&spec))
            .collect::<Result<Vec<_>, _>>()?;

        check_duplicate_zones(&parsed)?;
        check_shadowed_records(&parsed)?;

        let zones = parsed.into_iter().map(ParsedZone::into_served).collect::<Result<_, _>>()?;
        Ok(Self { zones })
    }

    /// Zone apexes, in the order of the specs.
    pub fn origins(&self) -> impl Iterator<Item = &Name> {
        self.zones.iter().map(|zone| &zone.origin)
    }

    /// Adds a record while the zones are served, as a DHCP server's dynamic update does,
    /// to the most specific zone that contains its name. Returns that zone's origin, or
    /// `None` when no zone here contains the name. The server answers with the record
    /// from the next query on, because it shares the zones.
    // NOTE: a record is added beside those of its name and type; an address registered
    // earlier for the name stays until the lab ends, where Windows DNS would replace it.
    pub async fn register(&self, spec: &RecordSpec) -> Result<Option<String>, ZoneError> {
        let name = parse_field(&spec.name, "record name", &spec.name)?;
        let Some(zone) = self.zones.iter().filter(|zone| zone.origin.zone_of(&name)).max_by_key(|zone| zone.origin.num_labels()) else {
            return Ok(None);
        };
        let label = display_name(&zone.origin);
        if zone.cname_owners.contains(&LowerName::new(&name)) {
            return Err(ZoneError::CnameAndOtherData { zone: label, name: spec.name.clone(), other: record_type(&spec.data) });
        }

        let record = parse_record(&label, &zone.origin, spec)?;
        let record_type = record.record_type();
        if !zone.handler.upsert(record, zone.serial).await {
            return Err(ZoneError::Rejected { zone: label, name: spec.name.clone(), record_type });
        }
        Ok(Some(label))
    }

    /// Returns the data of every record of `name`, as text: an address, or a name with
    /// its trailing dot. Empty when no zone here contains the name.
    pub async fn records_of(&self, name: &str) -> Vec<String> {
        let Ok(name) = parse_name(name) else { return Vec::new() };
        let Some(zone) = self.zones.iter().filter(|zone| zone.origin.zone_of(&name)).max_by_key(|zone| zone.origin.num_labels()) else {
            return Vec::new();
        };
        let wanted = LowerName::new(&name);
        let records = zone.handler.records().await;
        records
            .iter()
            .filter(|(key, _)| key.name == wanted)
            .flat_map(|(_, set)| set.records_without_rrsigs().map(|record| record.data.to_string()).collect::<Vec<_>>())
            .collect()
    }

    pub(super) fn catalog(&self) -> Catalog {
        let mut catalog = Catalog::new();
        for zone in &self.zones {
            let handler: Arc<dyn ZoneHandler> = zone.handler.clone();
            catalog.upsert(LowerName::new(&zone.origin), vec![handler]);
        }
        catalog
    }
}

/// A zone whose names and records are parsed and checked on their own; the checks across
/// zones come after.
struct ParsedZone {
    /// The origin as the spec wrote it, for error messages.
    label: String,
    origin: Name,
    serial: u32,
    records: Vec<Record>,
}

impl ParsedZone {
    fn parse(spec: &ZoneSpec) -> Result<Self, ZoneError> {
        let label = spec.origin.clone();
        let origin = parse_field(&label, "origin", &spec.origin)?;

        let mut records =
            vec![soa_record(&label, &origin, spec)?, apex_ns_record(&label, &origin, spec)?];
        for record in &spec.records {
            records.push(parse_record(&label, &origin, record)?);
        }

        check_cnames(&label, &records)?;
        Ok(Self { label, origin, serial: spec.serial, records })
    }

    fn into_served(self) -> Result<ServedZone, ZoneError> {
        let mut handler: InMemoryZoneHandler =
            InMemoryZoneHandler::empty(self.origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let cname_owners = self
            .records
            .iter()
            .filter(|record| record.record_type() == RecordType::CNAME)
            .map(|record| LowerName::new(&record.name))
            .collect();

        for record in self.records {
            let name = display_name(&record.name);
            let record_type = record.record_type();
            if !handler.upsert_mut(record, self.serial) {
                return Err(ZoneError::Rejected { zone: self.label, name, record_type });
            }
        }

        Ok(ServedZone { origin: self.origin, handler: Arc::new(handler), serial: self.serial, cname_owners: Arc::new(cname_owners) })
    }
}

fn soa_record(zone: &str, origin: &Name, spec: &ZoneSpec) -> Result<Record, ZoneError> {
    let mname = parse_field(zone, "primary_ns", &spec.primary_ns)?;
    let rname = parse_mailbox(&spec.admin_mailbox).map_err(|source| ZoneError::InvalidName {
        zone: zone.to_owned(),
        field: "admin_mailbox",
        value: spec.admin_mailbox.clone(),
        source,
    })?;

    let timer = |field: &'static str, value: u32| {
        i32::try_from(value).map_err(|_| ZoneError::SoaTimerTooLarge {
            zone: zone.to_owned(),
            field,
            value,
        })
    };
    timer("minimum", spec.minimum)?;
    let soa = SOA::new(
        mname,
        rname,
        spec.serial,
        timer("refresh", spec.refresh)?,
        timer("retry", spec.retry)?,
        timer("expire", spec.expire)?,
        spec.minimum,
    );

    Ok(Record::from_rdata(origin.clone(), spec.minimum, RData::SOA(soa)))
}

fn apex_ns_record(zone: &str, origin: &Name, spec: &ZoneSpec) -> Result<Record, ZoneError> {
    let target = parse_field(zone, "primary_ns", &spec.primary_ns)?;
    Ok(Record::from_rdata(origin.clone(), spec.minimum, RData::NS(NS(target))))
}

fn parse_record(zone: &str, origin: &Name, spec: &RecordSpec) -> Result<Record, ZoneError> {
    let name = parse_field(zone, "record name", &spec.name)?;
    if !origin.zone_of(&name) {
        return Err(ZoneError::OutsideZone { zone: zone.to_owned(), name: spec.name.clone() });
    }
    if spec.ttl > MAX_TTL {
        return Err(ZoneError::TtlTooLarge {
            zone: zone.to_owned(),
            name: spec.name.clone(),
            ttl: spec.ttl,
        });
    }

    let data = match &spec.data {
        RecordData::A(address) => RData::A(A(*address)),
        RecordData::Cname(target) => {
            RData::CNAME(CNAME(parse_field(zone, "CNAME target", target)?))
        }
        RecordData::Ptr(target) => RData::PTR(PTR(parse_field(zone, "PTR target", target)?)),
        RecordData::Ns(target) => RData::NS(NS(parse_field(zone, "NS target", target)?)),
    };
    Ok(Record::from_rdata(name, spec.ttl, data))
}

fn record_type(data: &RecordData) -> RecordType {
    match data {
        RecordData::A(_) => RecordType::A,
        RecordData::Cname(_) => RecordType::CNAME,
        RecordData::Ptr(_) => RecordType::PTR,
        RecordData::Ns(_) => RecordType::NS,
    }
}

fn parse_field(zone: &str, field: &'static str, value: &str) -> Result<Name, ZoneError> {
    parse_name(value).map_err(|source| ZoneError::InvalidName {
        zone: zone.to_owned(),
        field,
        value: value.to_owned(),
        source,
    })
}

/// Rejects a CNAME that shares its name with other data or with a second, different CNAME.
fn check_cnames(zone: &str, records: &[Record]) -> Result<(), ZoneError> {
    let mut by_name: BTreeMap<LowerName, Vec<&Record>> = BTreeMap::new();
    for record in records {
        by_name.entry(LowerName::new(&record.name)).or_default().push(record);
    }

    for group in by_name.values() {
        let name = display_name(&group[0].name);
        let mut targets = group.iter().filter_map(|record| match &record.data {
            RData::CNAME(CNAME(target)) => Some(target),
            _ => None,
        });
        let Some(first) = targets.next() else { continue };

        if let Some(second) = targets.find(|target| *target != first) {
            return Err(ZoneError::MultipleCnames {
                zone: zone.to_owned(),
                name,
                first: display_name(first),
                second: display_name(second),
            });
        }
        if let Some(other) = group.iter().find(|record| record.record_type() != RecordType::CNAME) {
            return Err(ZoneError::CnameAndOtherData {
                zone: zone.to_owned(),
                name,
                other: other.record_type(),
            });
        }
    }
    Ok(())
}

fn check_duplicate_zones(zones: &[ParsedZone]) -> Result<(), ZoneError> {
    let mut seen = HashSet::new();
    for zone in zones {
        if !seen.insert(LowerName::new(&zone.origin)) {
            return Err(ZoneError::DuplicateZone { zone: zone.label.clone() });
        }
    }
    Ok(())
}

/// Rejects records that lie inside another served zone below their own: the server answers
/// those names from the inner zone, so the records would never be seen. The delegation NS
/// records at the inner zone's apex, and the A records of the name servers they name (glue),
/// are allowed because they belong in the parent zone.
fn check_shadowed_records(zones: &[ParsedZone]) -> Result<(), ZoneError> {
    for zone in zones {
        for inner in zones.iter().filter(|inner| is_below(&inner.origin, &zone.origin)) {
            check_shadowed_by(zone, inner)?;
        }
    }
    Ok(())
}

fn check_shadowed_by(zone: &ParsedZone, inner: &ParsedZone) -> Result<(), ZoneError> {
    let delegation: Vec<&Name> = zone
        .records
        .iter()
        .filter(|record| record.name == inner.origin)
        .filter_map(|record| match &record.data {
            RData::NS(NS(target)) => Some(target),
            _ => None,
        })
        .collect();

    for record in zone.records.iter().filter(|record| inner.origin.zone_of(&record.name)) {
        let is_delegation = record.name == inner.origin && record.record_type() == RecordType::NS;
        let is_glue = record.record_type() == RecordType::A && delegation.contains(&&record.name);
        if !is_delegation && !is_glue {
            return Err(ZoneError::ShadowedByZone {
                zone: zone.label.clone(),
                name: display_name(&record.name),
                inner: inner.label.clone(),
            });
        }
    }
    Ok(())
}

/// Returns whether `name` is strictly below `ancestor`.
fn is_below(name: &Name, ancestor: &Name) -> bool {
    ancestor.zone_of(name) && name != ancestor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jcert() -> ZoneSpec {
        ZoneSpec::new("jcert.info", "dc1.jcert.info", "hostmaster@jcert.info")
            .with("dc1.jcert.info", 3600, RecordData::A(Ipv4Addr::new(192, 168, 90, 10)))
            .with("scs.jcert.info", 3600, RecordData::A(Ipv4Addr::new(192, 168, 90, 20)))
            .with("provisionserver.jcert.info", 3600, RecordData::Cname("scs.jcert.info".into()))
    }

    fn mtkg() -> ZoneSpec {
        ZoneSpec::new("mtkg.jcert.info", "dc3.mtkg.jcert.info", "hostmaster.mtkg.jcert.info").with(
            "dc3.mtkg.jcert.info",
            3600,
            RecordData::A(Ipv4Addr::new(192, 168, 91, 10)),
        )
    }

    fn build_error(specs: Vec<ZoneSpec>) -> ZoneError {
        match Zones::build(specs) {
            Ok(_) => panic!("zones built, but an error was expected"),
            Err(error) => error,
        }
    }

    #[test]
    fn reverse_zone_origin_is_per_24_block() {
        assert_eq!(reverse_zone_origin(Ipv4Addr::new(192, 168, 90, 10)), "90.168.192.in-addr.arpa");
        assert_eq!(
            reverse_zone_origin(Ipv4Addr::new(192, 168, 90, 254)),
            "90.168.192.in-addr.arpa"
        );
        assert_eq!(reverse_zone_origin(Ipv4Addr::new(10, 0, 1, 2)), "1.0.10.in-addr.arpa");
    }

    #[test]
    fn ptr_name_reverses_all_octets() {
        assert_eq!(ptr_name(Ipv4Addr::new(192, 168, 90, 10)), "10.90.168.192.in-addr.arpa");
    }

    #[test]
    fn ptr_name_lies_in_reverse_zone() {
        let address = Ipv4Addr::new(192, 168, 91, 33);
        let zone = parse_name(&reverse_zone_origin(address)).unwrap();
        let name = parse_name(&ptr_name(address)).unwrap();

        assert!(is_below(&name, &zone));
    }

    #[test]
    fn build_accepts_lab_zones() {
        let reverse =
            ZoneSpec::new("90.168.192.in-addr.arpa", "dc1.jcert.info", "hostmaster@jcert.info")
                .with("10.90.168.192.in-addr.arpa", 3600, RecordData::Ptr("dc1.jcert.info".into()));
        let mtkg = mtkg().with(
            "provisionserver.mtkg.jcert.info",
            3600,
            RecordData::Cname("scs.jcert.info".into()),
        );

        let zones = Zones::build(vec![jcert(), mtkg, reverse]).unwrap();
        let origins: Vec<String> = zones.origins().map(|origin| origin.to_ascii()).collect();

        assert_eq!(origins, ["jcert.info.", "mtkg.jcert.info.", "90.168.192.in-addr.arpa."]);
    }

    #[test]
    fn build_rejects_record_outside_zone() {
        let spec = jcert().with("scs.example.org", 60, RecordData::A(Ipv4Addr::LOCALHOST));

        let error = build_error(vec![spec]);

        assert!(matches!(&error, ZoneError::OutsideZone { name, .. } if name == "scs.example.org"));
    }

    #[test]
    fn build_rejects_suffix_that_is_not_label_boundary() {
        let spec = jcert().with("xjcert.info", 60, RecordData::A(Ipv4Addr::LOCALHOST));

        assert!(matches!(build_error(vec![spec]), ZoneError::OutsideZone { .. }));
    }

    #[test]
    fn build_rejects_cname_beside_a_record() {
        let spec = jcert().with("scs.jcert.info", 60, RecordData::Cname("dc1.jcert.info".into()));

        let error = build_error(vec![spec]);

        assert!(matches!(
            &error,
            ZoneError::CnameAndOtherData { name, other: RecordType::A, .. }
                if name == "scs.jcert.info"
        ));
    }

    #[test]
    fn build_rejects_cname_at_apex() {
        let spec = jcert().with("jcert.info", 60, RecordData::Cname("scs.jcert.info".into()));

        let error = build_error(vec![spec]);

        assert!(matches!(error, ZoneError::CnameAndOtherData { .. }));
    }

    #[test]
    fn build_rejects_cname_conflict_ignoring_case() {
        let spec = jcert().with("SCS.jcert.info", 60, RecordData::Cname("dc1.jcert.info".into()));

        assert!(matches!(build_error(vec![spec]), ZoneError::CnameAndOtherData { .. }));
    }

    #[test]
    fn build_rejects_two_different_cnames() {
        let spec = jcert().with(
            "provisionserver.jcert.info",
            60,
            RecordData::Cname("dc1.jcert.info".into()),
        );

        let error = build_error(vec![spec]);

        assert!(matches!(error, ZoneError::MultipleCnames { .. }));
    }

    #[test]
    fn build_accepts_repeated_identical_cname() {
        let spec = jcert().with(
            "provisionserver.jcert.info",
            60,
            RecordData::Cname("SCS.jcert.info.".into()),
        );

        assert!(Zones::build(vec![spec]).is_ok());
    }

    #[test]
    fn build_rejects_invalid_names_with_field() {
        let bad_target =
            jcert().with("alias.jcert.info", 60, RecordData::Cname("scs jcert.info".into()));
        let bad_origin = ZoneSpec::new("jcert..info", "dc1.jcert.info", "hostmaster@jcert.info");
        let bad_mailbox = ZoneSpec::new("jcert.info", "dc1.jcert.info", "@jcert.info");

        let target_error = build_error(vec![bad_target]);
        let origin_error = build_error(vec![bad_origin]);
        let mailbox_error = build_error(vec![bad_mailbox]);

        assert!(matches!(target_error, ZoneError::InvalidName { field: "CNAME target", .. }));
        assert!(matches!(origin_error, ZoneError::InvalidName { field: "origin", .. }));
        assert!(matches!(mailbox_error, ZoneError::InvalidName { field: "admin_mailbox", .. }));
    }

    #[test]
    fn build_rejects_root_origin() {
        let spec = ZoneSpec::new(".", "dc1.jcert.info", "hostmaster@jcert.info");

        let error = build_error(vec![spec]);

        assert!(matches!(error, ZoneError::InvalidName { source: NameError::Root, .. }));
    }

    #[test]
    fn build_rejects_duplicate_zone_in_other_case() {
        let upper = ZoneSpec::new("JCERT.info.", "dc1.jcert.info", "hostmaster@jcert.info");

        let error = build_error(vec![jcert(), upper]);

        assert!(matches!(&error, ZoneError::DuplicateZone { zone } if zone == "JCERT.info."));
    }

    #[test]
    fn build_rejects_large_ttl_and_timer() {
        let ttl = jcert().with("big.jcert.info", 1 << 31, RecordData::A(Ipv4Addr::LOCALHOST));
        let mut timer = jcert();
        timer.expire = u32::MAX;

        assert!(matches!(build_error(vec![ttl]), ZoneError::TtlTooLarge { ttl: 2147483648, .. }));
        assert!(matches!(
            build_error(vec![timer]),
            ZoneError::SoaTimerTooLarge { field: "expire", .. }
        ));
    }

    #[test]
    fn build_rejects_record_shadowed_by_inner_zone() {
        let parent = jcert().with("dc3.mtkg.jcert.info", 60, RecordData::A(Ipv4Addr::LOCALHOST));

        let error = build_error(vec![parent, mtkg()]);

        assert!(matches!(
            &error,
            ZoneError::ShadowedByZone { zone, inner, .. }
                if zone == "jcert.info" && inner == "mtkg.jcert.info"
        ));
    }

    #[test]
    fn build_accepts_delegation_and_glue_for_inner_zone() {
        let parent = jcert()
            .with("mtkg.jcert.info", 3600, RecordData::Ns("dc3.mtkg.jcert.info".into()))
            .with("dc3.mtkg.jcert.info", 3600, RecordData::A(Ipv4Addr::new(192, 168, 91, 10)));

        assert!(Zones::build(vec![parent, mtkg()]).is_ok());
    }
}
