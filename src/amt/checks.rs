//! The checks an ME applies to the setup server's certificate chain during PKI setup.
//!
//! The setup server sends its provisioning certificate chain as the TLS client
//! certificate, leaf first and root included. [`check_chain`] applies every rule of the
//! firmware profile, records each one in the report whether it passed or failed, and
//! returns the first failure in the order below as the refusal:
//!
//! 1. every certificate parses;
//! 2. each certificate names the next as issuer, the next is a CA, and its key verifies
//!    the signature;
//! 3. the last certificate is a self-signed root;
//! 4. the root's hash, under an algorithm of the profile, is in the trusted list;
//! 5. key types and sizes, and SHA-1 signatures, per profile, on every certificate;
//! 6. the leaf is valid at the ME's clock;
//! 7. the leaf has the AMT setup OID with EKU serverAuth, or the setup OU;
//! 8. the domain rule.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::time::ASN1Time;

use crate::amt::domain::{DomainMatch, DomainRefusal};
use crate::amt::hello::CertHash;
use crate::amt::profile::FirmwareProfile;
use crate::amt::roots;

mod signature;

/// Extended Key Usage OID that marks an Intel AMT provisioning certificate.
pub const AMT_SETUP_OID: &str = "2.16.840.1.113741.1.2.3";

/// Extended Key Usage OID for TLS server authentication (RFC 5280 id-kp-serverAuth).
pub const SERVER_AUTH_OID: &str = "1.3.6.1.5.5.7.3.1";

/// Subject OU that replaces the setup OID. The ME compares it byte for byte.
pub const SETUP_OU: &str = "Intel(R) Client Setup Certificate";

/// Reason the ME rejected the setup server's certificate chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CertRefusal {
    #[error("the setup server sent no client certificate: configure it to send its provisioning certificate chain")]
    EmptyChain,

    #[error("certificate {index} of the chain is not valid DER X.509: {error}")]
    Malformed { index: usize, error: String },

    #[error("chain incomplete: certificate {index} ({subject}) was issued by {issuer}, but {next}: send the chain leaf to root with every intermediate", next = describe_next(.next_subject))]
    ChainIncomplete { index: usize, subject: String, issuer: String, next_subject: Option<String> },

    #[error("certificate {index} ({subject}) has an invalid {algorithm} signature from {issuer}: {error}")]
    BadSignature { index: usize, subject: String, issuer: String, algorithm: String, error: String },

    #[error("certificate {index} ({subject}) is signed with {algorithm}, which the ME cannot verify")]
    UnsupportedSignatureAlgorithm { index: usize, subject: String, algorithm: String },

    #[error("certificate {index} ({subject}) issues certificate {child} but is not a CA (no basicConstraints CA=true)")]
    IssuerNotCa { index: usize, child: usize, subject: String },

    #[error(
        "no root: the chain ends with {subject}, issued by {issuer}, not with a self-signed root: append the root certificate"
    )]
    NoRoot { subject: String, issuer: String },

    #[error("untrusted root {root_subject}: none of its hashes {root_hashes:?} is among the {trusted} trusted hashes the firmware compares{ignored}: add the root hash in MEBx or use a certificate from a default root", ignored = describe_ignored(.ignored))]
    UntrustedRoot { root_subject: String, root_hashes: Vec<String>, trusted: usize, ignored: Vec<String> },

    #[error("certificate {index} ({subject}) has a {bits}-bit RSA key, but {firmware} needs at least {min_bits} bits")]
    KeyTooSmall { index: usize, subject: String, bits: u32, min_bits: u32, firmware: String },

    #[error("certificate {index} ({subject}) has a {bits}-bit RSA key, but {firmware} accepts at most {max_bits} bits")]
    KeyTooLarge { index: usize, subject: String, bits: u32, max_bits: u32, firmware: String },

    #[error("certificate {index} ({subject}) has a {key} key, which {firmware} does not accept: use RSA")]
    KeyTypeUnsupported { index: usize, subject: String, key: String, firmware: String },

    #[error(
        "certificate {index} ({subject}) is signed with {algorithm}, but {firmware} rejects SHA-1 anywhere in the chain, root included: use a SHA-256 chain"
    )]
    Sha1Signature { index: usize, subject: String, algorithm: String, firmware: String },

    #[error(
        "leaf {subject} expired at {not_after}, and the ME clock reads {now}: renew the provisioning certificate or correct the clock"
    )]
    Expired { subject: String, not_after: String, now: String },

    #[error("leaf {subject} is not valid before {not_before}, and the ME clock reads {now}: correct the clock or wait")]
    NotYetValid { subject: String, not_before: String, now: String },

    #[error(
        "leaf {subject} lacks Extended Key Usage serverAuth ({SERVER_AUTH_OID}) among its EKUs {ekus:?}: reissue it with serverAuth"
    )]
    NoServerAuth { subject: String, ekus: Vec<String> },

    #[error(
        "leaf {subject} is not a setup certificate: no EKU {AMT_SETUP_OID} (EKUs {ekus:?}) and no OU {SETUP_OU:?} (OUs {ous:?})"
    )]
    NoSetupUsage { subject: String, ekus: Vec<String>, ous: Vec<String> },

    #[error(
        "leaf {subject} has OU {ou:?}, which differs from {SETUP_OU:?}: the ME compares it exactly, case and final period included"
    )]
    SetupOuMismatch { subject: String, ou: String },

    #[error("invalid DNS suffix {suffix:?}: {why}")]
    InvalidDnsSuffix { suffix: String, why: String },

    #[error(
        "DNS suffix {suffix:?} is an internal name, which no certificate from a public root matches (certificate names {names:?}): set a public domain in option 15 or MEBx"
    )]
    InternalName { suffix: String, names: Vec<String> },

    #[error("domain mismatch: no certificate name matches DNS suffix {suffix:?} (names {names:?}, rule: {rule})")]
    DomainMismatch { suffix: String, names: Vec<String>, rule: String },
}

/// One rule applied to the chain, with what was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub rule: &'static str,
    pub passed: bool,
    pub evidence: String,
}

/// Outcome of an accepted chain: the trusted hash that matched and the domain match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub matched: CertHash,
    pub root_subject: String,
    pub leaf_subject: String,
    pub domain_rule: String,
}

/// Every rule applied, in order, and the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub checks: Vec<CheckResult>,
    pub result: Result<Accepted, CertRefusal>,
}

impl CertRefusal {
    /// Stable kebab-case code, used by topology files in `expect.outcome`.
    /// Every code [`CertRefusal::code`] returns.
    pub const CODES: &'static [&'static str] = &[
        "empty-chain",
        "malformed-certificate",
        "chain-incomplete",
        "bad-signature",
        "unsupported-signature-algorithm",
        "issuer-not-ca",
        "no-root",
        "untrusted-root",
        "key-too-small",
        "key-too-large",
        "key-type-unsupported",
        "sha1-signature",
        "expired",
        "not-yet-valid",
        "no-server-auth",
        "no-setup-usage",
        "setup-ou-mismatch",
        "invalid-dns-suffix",
        "internal-name",
        "domain-mismatch",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyChain => "empty-chain",
            Self::Malformed { .. } => "malformed-certificate",
            Self::ChainIncomplete { .. } => "chain-incomplete",
            Self::BadSignature { .. } => "bad-signature",
            Self::UnsupportedSignatureAlgorithm { .. } => "unsupported-signature-algorithm",
            Self::IssuerNotCa { .. } => "issuer-not-ca",
            Self::NoRoot { .. } => "no-root",
            Self::UntrustedRoot { .. } => "untrusted-root",
            Self::KeyTooSmall { .. } => "key-too-small",
            Self::KeyTooLarge { .. } => "key-too-large",
            Self::KeyTypeUnsupported { .. } => "key-type-unsupported",
            Self::Sha1Signature { .. } => "sha1-signature",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not-yet-valid",
            Self::NoServerAuth { .. } => "no-server-auth",
            Self::NoSetupUsage { .. } => "no-setup-usage",
            Self::SetupOuMismatch { .. } => "setup-ou-mismatch",
            Self::InvalidDnsSuffix { .. } => "invalid-dns-suffix",
            Self::InternalName { .. } => "internal-name",
            Self::DomainMismatch { .. } => "domain-mismatch",
        }
    }
}

fn describe_next(next_subject: &Option<String>) -> String {
    match next_subject {
        Some(subject) => format!("the next certificate is {subject}"),
        None => "no certificate follows".to_owned(),
    }
}

fn describe_ignored(ignored: &[String]) -> String {
    if ignored.is_empty() {
        return String::new();
    }
    format!(" ({} entries ignored: {})", ignored.len(), ignored.join(", "))
}

/// Applies the ME's certificate rules to `chain` (leaf first) and reports each rule.
///
/// `trusted` is the ME's whole trusted list, default and custom hashes together.
/// `suffix` is the DNS suffix the ME used to find the setup server.
pub fn check_chain(
    profile: &FirmwareProfile,
    trusted: &[CertHash],
    suffix: &str,
    chain: &[CertificateDer<'_>],
    now: SystemTime,
) -> ChainReport {
    let mut recorder = Recorder::default();
    let certs = match parse_chain(&mut recorder, chain) {
        Some(certs) => certs,
        None => return recorder.finish(None),
    };

    let accepted = check_parsed(&mut recorder, profile, trusted, suffix, &certs, now);
    let report = recorder.finish(accepted);
    log_result(profile, suffix, &report);
    report
}

fn check_parsed(
    recorder: &mut Recorder,
    profile: &FirmwareProfile,
    trusted: &[CertHash],
    suffix: &str,
    certs: &[Parsed<'_>],
    now: SystemTime,
) -> Option<Accepted> {
    let root = certs.last().expect("parse_chain returns at least one certificate");
    let leaf = &certs[0];

    check_links(recorder, certs);
    let matched = check_root(recorder, profile, trusted, certs.len() - 1, root);
    check_keys(recorder, profile, certs);
    check_signature_hashes(recorder, profile, certs);
    check_validity(recorder, leaf, now);
    check_setup_usage(recorder, profile, leaf);
    let public_root = root.hashes(profile).iter().any(|hash| roots::find(hash).is_some());
    let domain = check_domain(recorder, profile, suffix, leaf, public_root);

    let domain = domain?;
    Some(Accepted {
        matched: matched?,
        root_subject: root.subject(),
        leaf_subject: leaf.subject(),
        domain_rule: format!("{} by {}; rule: {}", domain.name, domain_kind(&domain), profile.domain),
    })
}

/// Collects check results and keeps the first failure as the refusal.
#[derive(Default)]
struct Recorder {
    checks: Vec<CheckResult>,
    refusal: Option<CertRefusal>,
}

impl Recorder {
    fn record(&mut self, rule: &'static str, outcome: Result<String, CertRefusal>) -> bool {
        let passed = outcome.is_ok();
        let evidence = match outcome {
            Ok(evidence) => evidence,
            Err(refusal) => {
                let message = refusal.to_string();
                self.refusal.get_or_insert(refusal);
                message
            }
        };

        tracing::debug!(rule, passed, evidence = %evidence, "certificate check");
        self.checks.push(CheckResult { rule, passed, evidence });
        passed
    }

    fn finish(self, accepted: Option<Accepted>) -> ChainReport {
        let result = match (self.refusal, accepted) {
            (Some(refusal), _) => Err(refusal),
            (None, Some(accepted)) => Ok(accepted),
            (None, None) => unreachable!("every rule that fails records a refusal"),
        };
        ChainReport { checks: self.checks, result }
    }
}

fn log_result(profile: &FirmwareProfile, suffix: &str, report: &ChainReport) {
    match &report.result {
        Ok(accepted) => {
            tracing::info!(firmware = %profile, suffix, matched = %accepted.matched, "certificate chain accepted")
        }
        Err(refusal) => {
            tracing::info!(firmware = %profile, suffix, code = refusal.code(), reason = %refusal, "certificate chain rejected")
        }
    }
}

/// A parsed certificate with its DER, which the root hash is computed over.
struct Parsed<'a> {
    der: &'a [u8],
    cert: X509Certificate<'a>,
}

impl Parsed<'_> {
    fn subject(&self) -> String {
        self.cert.subject().to_string()
    }

    fn issuer(&self) -> String {
        self.cert.issuer().to_string()
    }

    fn is_self_issued(&self) -> bool {
        self.cert.subject().as_raw() == self.cert.issuer().as_raw()
    }

    /// Computes the certificate's hashes under every algorithm the profile compares.
    fn hashes(&self, profile: &FirmwareProfile) -> Vec<CertHash> {
        profile.trusted_algorithms.iter().map(|&algorithm| CertHash::of_der(algorithm, self.der)).collect()
    }
}

fn parse_chain<'a>(recorder: &mut Recorder, chain: &'a [CertificateDer<'_>]) -> Option<Vec<Parsed<'a>>> {
    if chain.is_empty() {
        recorder.record("parse", Err(CertRefusal::EmptyChain));
        return None;
    }

    let mut certs = Vec::with_capacity(chain.len());
    for (index, der) in chain.iter().enumerate() {
        match X509Certificate::from_der(der) {
            Ok((_, cert)) => certs.push(Parsed { der: der.as_ref(), cert }),
            Err(error) => {
                recorder.record("parse", Err(CertRefusal::Malformed { index, error: error.to_string() }));
                return None;
            }
        }
    }

    recorder.record("parse", Ok(format!("{} certificates, leaf {}", certs.len(), certs[0].subject())));
    Some(certs)
}

/// Checks that each certificate was issued by the next one: names, CA flag, signature.
fn check_links(recorder: &mut Recorder, certs: &[Parsed<'_>]) {
    for (index, cert) in certs.iter().enumerate() {
        let Some(issuer) = certs.get(index + 1) else { break };

        let named = recorder.record("chain-order", link_names(index, cert, issuer));
        if named {
            recorder.record("issuer-is-ca", issuer_is_ca(index + 1, index, issuer));
            recorder.record("signature", signature::verify(index, cert, issuer));
        }
    }
}

fn link_names(index: usize, cert: &Parsed<'_>, issuer: &Parsed<'_>) -> Result<String, CertRefusal> {
    if cert.cert.issuer().as_raw() != issuer.cert.subject().as_raw() {
        return Err(CertRefusal::ChainIncomplete {
            index,
            subject: cert.subject(),
            issuer: cert.issuer(),
            next_subject: Some(issuer.subject()),
        });
    }
    Ok(format!("certificate {index} ({}) names the next certificate as issuer", cert.subject()))
}

fn issuer_is_ca(index: usize, child: usize, issuer: &Parsed<'_>) -> Result<String, CertRefusal> {
    if !issuer.cert.is_ca() {
        return Err(CertRefusal::IssuerNotCa { index, child, subject: issuer.subject() });
    }
    Ok(format!("certificate {index} ({}) is a CA", issuer.subject()))
}

/// Checks that the chain ends with a self-signed root whose hash is trusted.
fn check_root(
    recorder: &mut Recorder,
    profile: &FirmwareProfile,
    trusted: &[CertHash],
    index: usize,
    root: &Parsed<'_>,
) -> Option<CertHash> {
    if !root.is_self_issued() {
        let refusal = CertRefusal::NoRoot { subject: root.subject(), issuer: root.issuer() };
        recorder.record("self-signed-root", Err(refusal));
        return None;
    }

    let self_signed = signature::verify(index, root, root)
        .map(|_| format!("the chain ends with the self-signed root {}", root.subject()));
    recorder.record("self-signed-root", self_signed);

    let matched = trusted_match(profile, trusted, root);
    recorder.record("trusted-root", matched.clone().map(|hash| describe_match(&hash, root)));
    matched.ok()
}

fn trusted_match(profile: &FirmwareProfile, trusted: &[CertHash], root: &Parsed<'_>) -> Result<CertHash, CertRefusal> {
    let (compared, ignored): (Vec<&CertHash>, Vec<&CertHash>) =
        trusted.iter().partition(|hash| profile.trusts_algorithm(hash.algorithm()));
    let root_hashes = root.hashes(profile);

    if let Some(hash) = root_hashes.iter().find(|hash| compared.contains(hash)) {
        return Ok(hash.clone());
    }
    Err(CertRefusal::UntrustedRoot {
        root_subject: root.subject(),
        root_hashes: root_hashes.iter().map(CertHash::to_string).collect(),
        trusted: compared.len(),
        ignored: ignored
            .iter()
            .map(|hash| format!("{hash} ({} not compared by {profile})", hash.algorithm().name()))
            .collect(),
    })
}

fn describe_match(hash: &CertHash, root: &Parsed<'_>) -> String {
    let origin = match roots::find(hash) {
        Some(default_root) => format!("default root {:?}", default_root.name),
        None => "a custom hash".to_owned(),
    };
    format!("root {} has {hash}, {origin} in the trusted list", root.subject())
}

/// Checks the key of every certificate against the profile's limits.
fn check_keys(recorder: &mut Recorder, profile: &FirmwareProfile, certs: &[Parsed<'_>]) {
    for (index, cert) in certs.iter().enumerate() {
        recorder.record("key", key_within_limits(profile, index, cert));
    }
}

fn key_within_limits(profile: &FirmwareProfile, index: usize, cert: &Parsed<'_>) -> Result<String, CertRefusal> {
    let subject = cert.subject();
    let firmware = profile.to_string();

    match cert.cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa_modulus_bits(rsa.modulus);
            if bits < profile.min_rsa_bits {
                return Err(CertRefusal::KeyTooSmall {
                    index,
                    subject,
                    bits,
                    min_bits: profile.min_rsa_bits,
                    firmware,
                });
            }
            if bits > profile.max_rsa_bits {
                return Err(CertRefusal::KeyTooLarge {
                    index,
                    subject,
                    bits,
                    max_bits: profile.max_rsa_bits,
                    firmware,
                });
            }
            Ok(format!(
                "certificate {index} ({subject}): RSA {bits} bits, within {}..={}",
                profile.min_rsa_bits, profile.max_rsa_bits
            ))
        }
        Ok(PublicKey::EC(point)) if profile.ecdsa_accepted => {
            Ok(format!("certificate {index} ({subject}): ECDSA {} bits", point.key_size()))
        }
        _ => Err(CertRefusal::KeyTypeUnsupported { index, subject, key: key_name(cert), firmware }),
    }
}

/// Counts the significant bits of a DER INTEGER modulus. x509-parser's `key_size`
/// assumes one leading zero byte and returns 0 for other encodings, so this counts
/// them directly.
fn rsa_modulus_bits(modulus: &[u8]) -> u32 {
    let significant = modulus.iter().position(|&byte| byte != 0).map_or(&[][..], |start| &modulus[start..]);
    match significant.first() {
        Some(first) => (significant.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
        None => 0,
    }
}

fn key_name(cert: &Parsed<'_>) -> String {
    let algorithm = cert.cert.public_key().algorithm.algorithm.to_id_string();
    match algorithm.as_str() {
        "1.2.840.10045.2.1" => "ECDSA".to_owned(),
        "1.2.840.10040.4.1" => "DSA".to_owned(),
        "1.3.101.112" => "Ed25519".to_owned(),
        other => format!("unknown ({other})"),
    }
}

/// Checks every signature's hash algorithm, the root's self-signature included.
fn check_signature_hashes(recorder: &mut Recorder, profile: &FirmwareProfile, certs: &[Parsed<'_>]) {
    for (index, cert) in certs.iter().enumerate() {
        let algorithm = signature::algorithm_name(&cert.cert.signature_algorithm.algorithm);
        let outcome = if profile.sha1_signatures_rejected
            && signature::is_sha1(&cert.cert.signature_algorithm.algorithm)
        {
            Err(CertRefusal::Sha1Signature { index, subject: cert.subject(), algorithm, firmware: profile.to_string() })
        } else {
            Ok(format!("certificate {index} ({}): {algorithm}", cert.subject()))
        };
        recorder.record("signature-hash", outcome);
    }
}

fn check_validity(recorder: &mut Recorder, leaf: &Parsed<'_>, now: SystemTime) {
    let validity = leaf.cert.validity();
    let clock = asn1_time(now);
    let subject = leaf.subject();
    let now = clock.to_string();

    let outcome = if clock < validity.not_before {
        Err(CertRefusal::NotYetValid { subject, not_before: validity.not_before.to_string(), now })
    } else if clock > validity.not_after {
        Err(CertRefusal::Expired { subject, not_after: validity.not_after.to_string(), now })
    } else {
        Ok(format!("leaf valid from {} to {}, ME clock {now}", validity.not_before, validity.not_after))
    };
    recorder.record("validity", outcome);
}

/// Converts the ME clock to ASN.1 time, clamping values that X.509 cannot express.
fn asn1_time(now: SystemTime) -> ASN1Time {
    let seconds = match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    };
    // X.509 times end with the year 9999; a clock outside 1970..=9999 is clamped.
    let clamped = seconds.clamp(0, 253_402_300_799);
    ASN1Time::from_timestamp(clamped).unwrap_or_else(|_| unreachable!("{clamped} is inside the X.509 time range"))
}

/// Checks the setup marker, then serverAuth. Intel lists serverAuth as required beside
/// the setup OID, and the setup OU as the alternative to both, so a leaf marked by its
/// OU needs serverAuth only when the profile's `ou_requires_server_auth` is set.
fn check_setup_usage(recorder: &mut Recorder, profile: &FirmwareProfile, leaf: &Parsed<'_>) {
    let ekus = leaf_ekus(leaf);
    let ous: Vec<String> =
        leaf.cert.subject().iter_organizational_unit().filter_map(|ou| ou.as_str().ok()).map(str::to_owned).collect();
    let subject = leaf.subject();

    let marker = setup_marker(&subject, &ekus, &ous);
    let by_ou_only = matches!(marker, Ok(SetupMarker::Ou));
    recorder.record("setup-oid-or-ou", marker.map(|marker| marker.evidence()));

    let server_auth = if ekus.iter().any(|eku| eku == SERVER_AUTH_OID) {
        Ok(format!("leaf EKUs {ekus:?} include serverAuth"))
    } else if by_ou_only && !profile.ou_requires_server_auth {
        Ok(format!("leaf EKUs {ekus:?} lack serverAuth, which the setup OU does not require"))
    } else {
        Err(CertRefusal::NoServerAuth { subject, ekus })
    };
    recorder.record("server-auth", server_auth);
}

/// Marker that makes the leaf a setup certificate.
enum SetupMarker {
    Oid,
    Ou,
}

impl SetupMarker {
    fn evidence(self) -> String {
        match self {
            Self::Oid => format!("leaf EKUs include the AMT setup OID {AMT_SETUP_OID}"),
            Self::Ou => format!("leaf subject has OU {SETUP_OU:?}"),
        }
    }
}

fn setup_marker(subject: &str, ekus: &[String], ous: &[String]) -> Result<SetupMarker, CertRefusal> {
    if ekus.iter().any(|eku| eku == AMT_SETUP_OID) {
        return Ok(SetupMarker::Oid);
    }
    if ous.iter().any(|ou| ou == SETUP_OU) {
        return Ok(SetupMarker::Ou);
    }
    if let Some(near) = ous.iter().find(|ou| is_near_setup_ou(ou)) {
        return Err(CertRefusal::SetupOuMismatch { subject: subject.to_owned(), ou: near.clone() });
    }
    Err(CertRefusal::NoSetupUsage { subject: subject.to_owned(), ekus: ekus.to_vec(), ous: ous.to_vec() })
}

/// Checks whether an OU is the setup OU written with another case, spaces or a final period.
fn is_near_setup_ou(ou: &str) -> bool {
    let trimmed = ou.trim().trim_end_matches('.').trim();
    trimmed.eq_ignore_ascii_case(SETUP_OU)
}

/// Lists the leaf's Extended Key Usage OIDs in dotted form, none without the extension.
fn leaf_ekus(leaf: &Parsed<'_>) -> Vec<String> {
    let Ok(Some(extension)) = leaf.cert.extended_key_usage() else { return Vec::new() };
    let eku = extension.value;

    let named = [
        (eku.server_auth, SERVER_AUTH_OID),
        (eku.client_auth, "1.3.6.1.5.5.7.3.2"),
        (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
        (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
        (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
        (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
        (eku.any, "2.5.29.37.0"),
    ];
    let mut oids: Vec<String> =
        named.iter().filter(|(present, _)| *present).map(|(_, oid)| (*oid).to_owned()).collect();
    oids.extend(eku.other.iter().map(Oid::to_id_string));
    oids
}

fn check_domain(
    recorder: &mut Recorder,
    profile: &FirmwareProfile,
    suffix: &str,
    leaf: &Parsed<'_>,
    public_root: bool,
) -> Option<DomainMatch> {
    let names = leaf_names(leaf);
    let outcome = profile.domain.check(suffix, &names, public_root);

    let evidence = match &outcome {
        Ok(matched) => Ok(format!("{} matches DNS suffix {suffix:?} by {}", matched.name, domain_kind(matched))),
        Err(refusal) => Err(domain_refusal(refusal.clone())),
    };
    recorder.record("domain", evidence);
    outcome.ok()
}

fn domain_kind(matched: &DomainMatch) -> String {
    use crate::amt::domain::MatchKind;

    match &matched.kind {
        MatchKind::Exact => "equality".to_owned(),
        MatchKind::Suffix => "label-boundary suffix".to_owned(),
        MatchKind::SecondLevel { domain } => format!("same second-level domain {domain}"),
    }
}

fn domain_refusal(refusal: DomainRefusal) -> CertRefusal {
    match refusal {
        DomainRefusal::InvalidSuffix { suffix, why } => CertRefusal::InvalidDnsSuffix { suffix, why: why.to_owned() },
        DomainRefusal::InternalName { suffix, names } => CertRefusal::InternalName { suffix, names },
        DomainRefusal::Mismatch { suffix, names, rule } => CertRefusal::DomainMismatch { suffix, names, rule },
    }
}

/// Lists the leaf's common names, then its SAN DNS names.
fn leaf_names(leaf: &Parsed<'_>) -> Vec<String> {
    let mut names: Vec<String> =
        leaf.cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_owned).collect();

    for extension in leaf.cert.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = extension.parsed_extension() {
            names.extend(san.general_names.iter().filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                _ => None,
            }));
        }
    }
    names
}

#[cfg(test)]
mod tests;
