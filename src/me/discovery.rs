//! Discovery: the DNS suffix and the setup server's address, in the firmware's order.
//!
//! A setup server set in MEBx or by a USB setup file wins over DNS: an address is used
//! as it is, an FQDN is resolved. Otherwise the ME resolves `provisionserver.<suffix>`,
//! first with the PKI DNS suffix set in MEBx, then with the option 15 domain, and never
//! with a parent domain. Either way PKI setup needs a suffix, because the certificate's
//! domain rule compares it, so without one setup is impossible.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::emulator::Emulator;
use crate::amt::verdict::Reason;
use crate::dhcp::{self, Lease};
use crate::dns::{self, LookupError};
use crate::timeline::{ServerSource, Step, SuffixSource};
use crate::topology::{DomainName, SetupServerAddress};

const DNS_PORT: u16 = 53;
const DNS_TIMEOUT: Duration = Duration::from_secs(2);
const DNS_ATTEMPTS: u32 = 3;

/// Result of discovery: the DNS suffix, its source and the setup server's address.
pub(super) struct Discovery {
    pub suffix: DomainName,
    pub source: SuffixSource,
    pub server: Ipv4Addr,
}

impl Emulator {
    /// Finds the DNS suffix and the setup server, recording where each came from.
    pub(super) async fn discover(&mut self, lease: &Lease) -> Result<Discovery, Reason> {
        let candidates = suffix_candidates(self.config.pki_dns_suffix.as_ref(), lease.domain.as_deref())?;

        match self.config.setup_server.clone() {
            Some(server) => self.static_server(&server, candidates[0].clone(), lease).await,
            None => self.provisionserver(&candidates, lease).await,
        }
    }

    /// Uses the setup server set in MEBx, with the first suffix for the domain rule.
    async fn static_server(&mut self, server: &SetupServerAddress, (suffix, source): (DomainName, SuffixSource), lease: &Lease) -> Result<Discovery, Reason> {
        self.timeline.record(Step::Suffix { suffix: suffix.to_string(), source });

        let (address, server_source) = match server {
            SetupServerAddress::Address(address) => (*address, ServerSource::MebxAddress),
            SetupServerAddress::Fqdn(fqdn) => {
                let dns_server = *lease.dns_servers.first().ok_or(Reason::NoDnsServer)?;
                let resolution = self.resolve(fqdn.as_str(), dns_server).await?.map_err(|error| Reason::SetupServerNotFound {
                    fqdn: fqdn.to_string(),
                    server: dns_server,
                    error: error.to_string(),
                })?;
                (resolution, ServerSource::MebxFqdn)
            }
        };

        self.timeline.record(Step::SetupServer { address, source: server_source });
        Ok(Discovery { suffix, source, server: address })
    }

    /// Resolves `provisionserver.<suffix>` for each suffix in turn, and returns the first
    /// found, or the failure of the first suffix tried.
    async fn provisionserver(&mut self, candidates: &[(DomainName, SuffixSource)], lease: &Lease) -> Result<Discovery, Reason> {
        let dns_server = *lease.dns_servers.first().ok_or(Reason::NoDnsServer)?;
        let mut first_failure = None;

        for (suffix, source) in candidates {
            self.timeline.record(Step::Suffix { suffix: suffix.to_string(), source: *source });
            let qname = format!("provisionserver.{suffix}");

            match self.resolve(&qname, dns_server).await? {
                Ok(address) => {
                    self.timeline.record(Step::SetupServer { address, source: ServerSource::ProvisionServer });
                    return Ok(Discovery { suffix: suffix.clone(), source: *source, server: address });
                }
                Err(error) => {
                    let reason = lookup_reason(error, &qname, dns_server);
                    tracing::info!(%qname, code = reason.code(), %reason, "no setup server under this suffix");
                    first_failure.get_or_insert(reason);
                }
            }
        }
        Err(first_failure.expect("discovery has at least one suffix"))
    }

    /// Looks up an A record, following CNAMEs, and records the resolution. The outer error
    /// is the ME's deadline, and the inner one the lookup's failure.
    async fn resolve(&mut self, qname: &str, dns_server: Ipv4Addr) -> Result<Result<Ipv4Addr, LookupError>, Reason> {
        let lookup = dns::lookup_a(&self.net, SocketAddr::from((dns_server, DNS_PORT)), qname, DNS_TIMEOUT, DNS_ATTEMPTS);
        let resolution = self.before_deadline("DNS", lookup).await?;

        Ok(resolution.map(|resolution| {
            self.timeline.record(Step::Dns { qname: qname.to_owned(), server: dns_server, cnames: resolution.cnames.clone(), address: resolution.address });
            resolution.address
        }))
    }
}

/// Lists the suffixes the ME tries, in order: the PKI DNS suffix from MEBx, then the
/// option 15 domain. Option 15 decides the reason only when MEBx sets no suffix.
fn suffix_candidates(mebx: Option<&DomainName>, option15: Option<&[u8]>) -> Result<Vec<(DomainName, SuffixSource)>, Reason> {
    let from_option15 = suffix_from_option15(option15);
    let Some(mebx) = mebx else {
        return Ok(vec![(from_option15?, SuffixSource::Option15)]);
    };

    let mut candidates = vec![(mebx.clone(), SuffixSource::Mebx)];
    match from_option15 {
        Ok(domain) if domain != *mebx => candidates.push((domain, SuffixSource::Option15)),
        Ok(_) => {}
        Err(reason) => tracing::debug!(%reason, "option 15 unused: the PKI DNS suffix is set in MEBx"),
    }
    Ok(candidates)
}

/// The DNS suffix from option 15: trailing NUL bytes and one trailing dot are ignored,
/// as firmware does; what remains must be a domain name.
pub(super) fn suffix_from_option15(raw: Option<&[u8]>) -> Result<DomainName, Reason> {
    let raw = raw.ok_or(Reason::NoDnsSuffix)?;
    let trimmed = raw.iter().rposition(|byte| *byte != 0).map_or(&raw[..0], |last| &raw[..=last]);
    let escaped = dhcp::escape_option15(raw);

    let text = std::str::from_utf8(trimmed).map_err(|_| Reason::InvalidOption15 { value: escaped.clone(), why: "not ASCII text".into() })?;
    if text.is_empty() || text == "." {
        return Err(Reason::NoDnsSuffix);
    }
    DomainName::parse(text).map_err(|error| Reason::InvalidOption15 { value: escaped, why: error.to_string() })
}

/// Maps a failed lookup of `qname` to the reason the ME gives. A response code about a
/// CNAME target, not about `qname` itself, means the alias exists but leads nowhere.
fn lookup_reason(error: LookupError, qname: &str, server: Ipv4Addr) -> Reason {
    let is_qname = |name: &str| name.trim_end_matches('.').eq_ignore_ascii_case(qname);

    match error {
        LookupError::Rcode { qname: name, rcode } if !is_qname(&name) => {
            Reason::ProvisionServerNoAddress { qname: qname.to_owned(), target: name, why: format!("{} from {server}", dns::rcode_name(rcode)) }
        }
        LookupError::Rcode { rcode, .. } => Reason::NoProvisionServerRecord { qname: qname.to_owned(), server, rcode: dns::rcode_name(rcode) },
        LookupError::NoData { .. } => Reason::NoProvisionServerRecord { qname: qname.to_owned(), server, rcode: "NOERROR without an address (NODATA)".into() },
        LookupError::NoAddress { target, rcode, .. } => {
            Reason::ProvisionServerNoAddress { qname: qname.to_owned(), target, why: format!("{} from {server}", dns::rcode_name(rcode)) }
        }
        other => Reason::DnsFailed { qname: qname.to_owned(), server, error: other.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str) -> DomainName {
        DomainName::parse(name).unwrap()
    }

    #[test]
    fn option15_plain_domain() {
        assert_eq!(suffix_from_option15(Some(b"jcert.info")).unwrap().as_str(), "jcert.info");
    }

    #[test]
    fn option15_trailing_dot_and_nul_ignored() {
        assert_eq!(suffix_from_option15(Some(b"jcert.info.")).unwrap().as_str(), "jcert.info");
        assert_eq!(suffix_from_option15(Some(b"jcert.info\0")).unwrap().as_str(), "jcert.info");
        assert_eq!(suffix_from_option15(Some(b"Mtkg.JCert.info.\0\0")).unwrap().as_str(), "mtkg.jcert.info");
    }

    #[test]
    fn option15_absent_or_empty_is_no_suffix() {
        assert_eq!(suffix_from_option15(None), Err(Reason::NoDnsSuffix));
        assert_eq!(suffix_from_option15(Some(b"")), Err(Reason::NoDnsSuffix));
        assert_eq!(suffix_from_option15(Some(b"\0")), Err(Reason::NoDnsSuffix));
    }

    #[test]
    fn option15_with_space_is_not_a_domain() {
        assert!(matches!(suffix_from_option15(Some(b"jcert info")), Err(Reason::InvalidOption15 { .. })));
        assert!(matches!(suffix_from_option15(Some(b"a..b")), Err(Reason::InvalidOption15 { .. })));
    }

    #[test]
    fn candidates_mebx_suffix_first() {
        let candidates = suffix_candidates(Some(&domain("jcert.info")), Some(b"corp.local")).unwrap();

        assert_eq!(candidates, vec![(domain("jcert.info"), SuffixSource::Mebx), (domain("corp.local"), SuffixSource::Option15)]);
    }

    #[test]
    fn candidates_same_suffix_tried_once() {
        let candidates = suffix_candidates(Some(&domain("jcert.info")), Some(b"JCert.info.")).unwrap();

        assert_eq!(candidates, vec![(domain("jcert.info"), SuffixSource::Mebx)]);
    }

    #[test]
    fn candidates_mebx_suffix_hides_bad_option15() {
        let candidates = suffix_candidates(Some(&domain("jcert.info")), Some(b"jcert info")).unwrap();
        assert_eq!(candidates, vec![(domain("jcert.info"), SuffixSource::Mebx)]);

        let candidates = suffix_candidates(Some(&domain("jcert.info")), None).unwrap();
        assert_eq!(candidates, vec![(domain("jcert.info"), SuffixSource::Mebx)]);
    }

    #[test]
    fn candidates_without_any_suffix() {
        assert_eq!(suffix_candidates(None, None), Err(Reason::NoDnsSuffix));
        assert!(matches!(suffix_candidates(None, Some(b"jcert info")), Err(Reason::InvalidOption15 { .. })));
    }
}

#[cfg(test)]
mod lookup_tests {
    use hickory_proto::op::ResponseCode;

    use super::*;

    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 90, 10);

    #[test]
    fn refused_target_is_alias_without_address() {
        let error = LookupError::Rcode { qname: "scs.jcert.infoo".into(), rcode: ResponseCode::Refused };

        let reason = lookup_reason(error, "provisionserver.jcert.info", SERVER);

        assert_eq!(reason.code(), "provisionserver-no-address");
        assert!(reason.to_string().contains("scs.jcert.infoo"), "{reason}");
        assert!(reason.to_string().contains("REFUSED"), "{reason}");
    }

    #[test]
    fn nxdomain_for_qname_is_no_record() {
        let error = LookupError::Rcode { qname: "provisionserver.jcert.info".into(), rcode: ResponseCode::NXDomain };

        let reason = lookup_reason(error, "provisionserver.jcert.info", SERVER);

        assert_eq!(reason.code(), "no-provisionserver-record");
    }
}
