use std::sync::OnceLock;
use std::time::{Duration as StdDuration, SystemTime};

use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::amt::hello::HashAlgorithm;
use crate::pki::{CertSpec, KeySpec, LabChain, LabPki, load_pem_chain};

/// Returns one lab CA shared by all tests, because RSA key generation dominates their run time.
fn pki() -> &'static LabPki {
    static PKI: OnceLock<LabPki> = OnceLock::new();
    PKI.get_or_init(|| LabPki::new().unwrap())
}

fn issue(spec: CertSpec) -> LabChain {
    pki().issue(&spec).unwrap()
}

fn profile(version: &str) -> FirmwareProfile {
    FirmwareProfile::parse(version).unwrap()
}

/// Builds the ME's trusted list: the release's defaults plus the lab root, as MEBx adds it.
fn trusting(profile: &FirmwareProfile, chain: &LabChain) -> Vec<CertHash> {
    let mut trusted = profile.default_hashes();
    trusted.push(chain.root_hash(HashAlgorithm::Sha1));
    trusted.push(chain.root_hash(HashAlgorithm::Sha256));
    trusted
}

fn check(version: &str, suffix: &str, chain: &LabChain) -> ChainReport {
    let profile = profile(version);
    check_chain(&profile, &trusting(&profile, chain), suffix, &chain.chain_der(), SystemTime::now())
}

fn refusal_code(report: &ChainReport) -> &'static str {
    match &report.result {
        Ok(accepted) => panic!("chain accepted: {accepted:?}; checks {:#?}", report.checks),
        Err(refusal) => refusal.code(),
    }
}

fn rule<'a>(report: &'a ChainReport, name: &str) -> Vec<&'a CheckResult> {
    report.checks.iter().filter(|check| check.rule == name).collect()
}

fn legacy_chain() -> Vec<CertificateDer<'static>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki/rsa1024-sha1-chain.pem");
    load_pem_chain(&path).unwrap()
}

#[test]
fn check_chain_reference_single_domain() {
    let chain = issue(CertSpec::provisioning("scs.jcert.info"));

    let report = check("4.1.1", "jcert.info", &chain);

    let accepted = report.result.as_ref().unwrap();
    assert_eq!(accepted.matched, chain.root_hash(HashAlgorithm::Sha1));
    assert!(accepted.leaf_subject.contains("scs.jcert.info"), "{accepted:?}");
    assert!(accepted.root_subject.contains("vprolab Lab Root CA"), "{accepted:?}");
    assert!(accepted.domain_rule.contains("label-boundary suffix"), "{accepted:?}");
    assert!(report.checks.iter().all(|check| check.passed), "{:#?}", report.checks);
}

#[test]
fn check_chain_reference_wildcard_subdomain() {
    let chain = issue(CertSpec::provisioning("*.jcert.info"));

    let subdomain = check("4.1.1", "mtkg.jcert.info", &chain);
    let parent = check("4.1.1", "jcert.info", &chain);

    let accepted = subdomain.result.as_ref().unwrap();
    assert!(accepted.domain_rule.contains("same second-level domain jcert.info"), "{accepted:?}");
    assert!(parent.result.is_ok(), "{:#?}", parent.checks);
}

#[test]
fn check_chain_wildcard_subdomain_before_4_1() {
    let chain = issue(CertSpec::provisioning("*.jcert.info"));

    let report = check("4.0", "mtkg.jcert.info", &chain);

    assert_eq!(refusal_code(&report), "domain-mismatch");
}

#[test]
fn check_chain_accepts_san_name() {
    let mut spec = CertSpec::provisioning("Setup Server");
    spec.san = vec!["scs.jcert.info".to_owned()];

    let report = check("11.8", "jcert.info", &issue(spec));

    assert!(report.result.is_ok(), "{:#?}", report.checks);
}

#[test]
fn check_chain_accepts_exact_setup_ou() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.amt_setup_oid = false;
    spec.ou = Some(SETUP_OU.to_owned());

    let report = check("4.1.1", "jcert.info", &issue(spec));

    assert!(report.result.is_ok(), "{:#?}", report.checks);
}

#[test]
fn check_chain_setup_ou_without_server_auth() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.amt_setup_oid = false;
    spec.server_auth = false;
    spec.ou = Some(SETUP_OU.to_owned());
    let chain = issue(spec);
    let mut strict = profile("4.1.1");
    strict.ou_requires_server_auth = true;

    let default = check("4.1.1", "jcert.info", &chain);
    let report = check_chain(&strict, &trusting(&strict, &chain), "jcert.info", &chain.chain_der(), SystemTime::now());

    assert!(default.result.is_ok(), "{:#?}", default.checks);
    assert_eq!(refusal_code(&report), "no-server-auth");
}

#[test]
fn check_chain_no_oid_no_ou() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.amt_setup_oid = false;

    let report = check("4.1.1", "jcert.info", &issue(spec));

    assert_eq!(refusal_code(&report), "no-setup-usage");
}

#[test]
fn check_chain_ou_with_trailing_period() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.amt_setup_oid = false;
    spec.ou = Some("Intel(R) Client Setup Certificate.".to_owned());

    let report = check("4.1.1", "jcert.info", &issue(spec));

    assert_eq!(refusal_code(&report), "setup-ou-mismatch");
}

#[test]
fn check_chain_without_server_auth() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.server_auth = false;

    let report = check("4.1.1", "jcert.info", &issue(spec));

    assert_eq!(refusal_code(&report), "no-server-auth");
}

#[test]
fn check_chain_other_domain() {
    let chain = issue(CertSpec::provisioning("scs.other.info"));

    let report = check("4.1.1", "jcert.info", &chain);

    assert_eq!(refusal_code(&report), "domain-mismatch");
    let Err(CertRefusal::DomainMismatch { suffix, names, rule }) = &report.result else { unreachable!() };
    assert_eq!(suffix, "jcert.info");
    assert_eq!(names, &vec!["scs.other.info".to_owned()]);
    assert!(rule.contains("any TLD"), "{rule}");
}

#[test]
fn check_chain_expired() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.not_before = OffsetDateTime::now_utc() - Duration::days(400);
    spec.not_after = OffsetDateTime::now_utc() - Duration::days(35);

    let report = check("4.1.1", "jcert.info", &issue(spec));

    assert_eq!(refusal_code(&report), "expired");
}

#[test]
fn check_chain_not_yet_valid() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.not_before = OffsetDateTime::now_utc() + Duration::days(2);
    spec.not_after = OffsetDateTime::now_utc() + Duration::days(400);

    let report = check("4.1.1", "jcert.info", &issue(spec));

    assert_eq!(refusal_code(&report), "not-yet-valid");
}

#[test]
fn check_chain_follows_me_clock() {
    let chain = issue(CertSpec::provisioning("scs.jcert.info"));
    let profile = profile("4.1.1");
    let two_years = SystemTime::now() + StdDuration::from_secs(2 * 365 * 24 * 3600);

    let report = check_chain(&profile, &trusting(&profile, &chain), "jcert.info", &chain.chain_der(), two_years);

    assert_eq!(refusal_code(&report), "expired");
}

#[test]
fn check_chain_missing_intermediate() {
    let chain = issue(CertSpec::provisioning("scs.jcert.info"));
    let profile = profile("4.1.1");
    let broken = [chain.leaf.cert.clone(), chain.root.cert.clone()];

    let report = check_chain(&profile, &trusting(&profile, &chain), "jcert.info", &broken, SystemTime::now());

    assert_eq!(refusal_code(&report), "chain-incomplete");
}

#[test]
fn check_chain_missing_root() {
    let chain = issue(CertSpec::provisioning("scs.jcert.info"));
    let profile = profile("4.1.1");
    let broken = [chain.leaf.cert.clone(), chain.intermediate.cert.clone()];

    let report = check_chain(&profile, &trusting(&profile, &chain), "jcert.info", &broken, SystemTime::now());

    assert_eq!(refusal_code(&report), "no-root");
}

#[test]
fn check_chain_untrusted_root() {
    let chain = issue(CertSpec::provisioning("scs.jcert.info"));
    let profile = profile("4.1.1");

    let report = check_chain(&profile, &profile.default_hashes(), "jcert.info", &chain.chain_der(), SystemTime::now());

    assert_eq!(refusal_code(&report), "untrusted-root");
}

#[test]
fn check_chain_ignores_sha1_hash_on_me_16() {
    let chain = issue(CertSpec::provisioning("scs.jcert.info"));
    let profile = profile("16.1");
    let trusted = [chain.root_hash(HashAlgorithm::Sha1)];

    let report = check_chain(&profile, &trusted, "jcert.info", &chain.chain_der(), SystemTime::now());

    let Err(CertRefusal::UntrustedRoot { ignored, trusted, .. }) = &report.result else {
        panic!("{:?}", report.result)
    };
    assert_eq!(*trusted, 0);
    assert_eq!(ignored.len(), 1);
}

#[test]
fn check_chain_sha384_custom_hash() {
    let chain = issue(CertSpec::provisioning("scs.jcert.info"));
    let profile = profile("16.1");
    let trusted = [chain.root_hash(HashAlgorithm::Sha384)];

    let report = check_chain(&profile, &trusted, "jcert.info", &chain.chain_der(), SystemTime::now());

    assert_eq!(report.result.unwrap().matched, chain.root_hash(HashAlgorithm::Sha384));
}

#[test]
fn check_chain_rsa4096_leaf_by_release() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.key = KeySpec::Rsa4096;
    let chain = issue(spec);

    assert_eq!(refusal_code(&check("5.2", "jcert.info", &chain)), "key-too-large");
    assert!(check("6.0", "jcert.info", &chain).result.is_ok());
}

#[test]
fn check_chain_ecdsa_leaf_by_release() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.key = KeySpec::EcdsaP256;
    let chain = issue(spec);

    assert_eq!(refusal_code(&check("4.1.1", "jcert.info", &chain)), "key-type-unsupported");
    assert!(check("11.8", "jcert.info", &chain).result.is_ok());
}

#[test]
fn check_chain_legacy_rsa1024_sha1_by_release() {
    let chain = legacy_chain();
    let root = chain.last().unwrap();
    let trusted = [CertHash::of_der(HashAlgorithm::Sha1, root), CertHash::of_der(HashAlgorithm::Sha256, root)];
    let run = |version: &str| check_chain(&profile(version), &trusted, "jcert.info", &chain, SystemTime::now());

    let amt_4 = run("4.1.1");
    assert!(amt_4.result.is_ok(), "{:#?}", amt_4.checks);
    assert!(run("15.0").result.is_ok());

    let me_16 = run("16.1");
    assert_eq!(refusal_code(&me_16), "key-too-small");
    assert_eq!(rule(&me_16, "signature-hash").iter().filter(|check| !check.passed).count(), 3);
    assert!(rule(&me_16, "signature").iter().all(|check| check.passed), "SHA-1 signatures must still verify");
}

#[test]
fn check_chain_tampered_signature() {
    let chain = issue(CertSpec::provisioning("scs.jcert.info"));
    let profile = profile("4.1.1");
    let mut leaf = chain.leaf.cert.to_vec();
    let last = leaf.len() - 1;
    leaf[last] ^= 0x01;
    let broken = [CertificateDer::from(leaf), chain.intermediate.cert.clone(), chain.root.cert.clone()];

    let report = check_chain(&profile, &trusting(&profile, &chain), "jcert.info", &broken, SystemTime::now());

    assert_eq!(refusal_code(&report), "bad-signature");
}

#[test]
fn check_chain_malformed_and_empty() {
    let profile = profile("11.8");
    let garbage = [CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01])];

    let malformed = check_chain(&profile, &[], "jcert.info", &garbage, SystemTime::now());
    let empty = check_chain(&profile, &[], "jcert.info", &[], SystemTime::now());

    assert_eq!(refusal_code(&malformed), "malformed-certificate");
    assert_eq!(refusal_code(&empty), "empty-chain");
}

#[test]
fn check_chain_records_rules_after_failure() {
    let mut spec = CertSpec::provisioning("scs.other.info");
    spec.not_after = OffsetDateTime::now_utc() - Duration::hours(1);
    spec.not_before = OffsetDateTime::now_utc() - Duration::days(30);

    let report = check("4.1.1", "jcert.info", &issue(spec));

    assert_eq!(refusal_code(&report), "expired");
    let failed: Vec<&str> = report.checks.iter().filter(|check| !check.passed).map(|check| check.rule).collect();
    assert_eq!(failed, ["validity", "domain"]);
    for name in [
        "parse",
        "chain-order",
        "issuer-is-ca",
        "signature",
        "self-signed-root",
        "trusted-root",
        "key",
        "signature-hash",
        "server-auth",
        "setup-oid-or-ou",
    ] {
        assert!(!rule(&report, name).is_empty(), "rule {name} not recorded");
    }
}

#[test]
fn cert_refusal_codes_are_distinct() {
    let refusals = [
        CertRefusal::EmptyChain,
        CertRefusal::Malformed { index: 0, error: String::new() },
        CertRefusal::ChainIncomplete { index: 0, subject: String::new(), issuer: String::new(), next_subject: None },
        CertRefusal::BadSignature {
            index: 0,
            subject: String::new(),
            issuer: String::new(),
            algorithm: String::new(),
            error: String::new(),
        },
        CertRefusal::UnsupportedSignatureAlgorithm { index: 0, subject: String::new(), algorithm: String::new() },
        CertRefusal::IssuerNotCa { index: 1, child: 0, subject: String::new() },
        CertRefusal::NoRoot { subject: String::new(), issuer: String::new() },
        CertRefusal::UntrustedRoot { root_subject: String::new(), root_hashes: vec![], trusted: 0, ignored: vec![] },
        CertRefusal::KeyTooSmall { index: 0, subject: String::new(), bits: 0, min_bits: 0, firmware: String::new() },
        CertRefusal::KeyTooLarge { index: 0, subject: String::new(), bits: 0, max_bits: 0, firmware: String::new() },
        CertRefusal::KeyTypeUnsupported {
            index: 0,
            subject: String::new(),
            key: String::new(),
            firmware: String::new(),
        },
        CertRefusal::Sha1Signature {
            index: 0,
            subject: String::new(),
            algorithm: String::new(),
            firmware: String::new(),
        },
        CertRefusal::Expired { subject: String::new(), not_after: String::new(), now: String::new() },
        CertRefusal::NotYetValid { subject: String::new(), not_before: String::new(), now: String::new() },
        CertRefusal::NoServerAuth { subject: String::new(), ekus: vec![] },
        CertRefusal::NoSetupUsage { subject: String::new(), ekus: vec![], ous: vec![] },
        CertRefusal::SetupOuMismatch { subject: String::new(), ou: String::new() },
        CertRefusal::InvalidDnsSuffix { suffix: String::new(), why: String::new() },
        CertRefusal::InternalName { suffix: String::new(), names: vec![] },
        CertRefusal::DomainMismatch { suffix: String::new(), names: vec![], rule: String::new() },
    ];

    let codes: std::collections::HashSet<&str> = refusals.iter().map(CertRefusal::code).collect();
    assert_eq!(codes.len(), refusals.len());
    assert_eq!(codes, CertRefusal::CODES.iter().copied().collect(), "CertRefusal::CODES lists every code once");
}

#[test]
fn rsa_modulus_bits_counts_significant_bits() {
    assert_eq!(rsa_modulus_bits(&[0x00, 0x80, 0x00]), 16);
    assert_eq!(rsa_modulus_bits(&[0x7f, 0xff]), 15);
    assert_eq!(rsa_modulus_bits(&[0x00, 0x00]), 0);
    assert_eq!(rsa_modulus_bits(&[]), 0);
}

#[test]
fn check_chain_internal_suffix_under_public_root() {
    let path = std::path::Path::new(crate::amt::roots::DEBIAN_CA_DIR).join("Starfield_Class_2_CA.crt");
    if !path.exists() {
        eprintln!("skipping: {} is missing, install Debian's ca-certificates", path.display());
        return;
    }
    let starfield = load_pem_chain(&path).unwrap().remove(0);
    let chain = issue(CertSpec::provisioning("scs.corp.local"));
    let profile = profile("11.8");
    // The lab leaf is not signed by Starfield, but the domain rule still runs on it.
    let spliced = [chain.leaf.cert.clone(), starfield];

    let report = check_chain(&profile, &profile.default_hashes(), "corp.local", &spliced, SystemTime::now());

    assert_eq!(refusal_code(&report), "chain-incomplete");
    assert!(rule(&report, "trusted-root")[0].passed, "{:#?}", report.checks);
    let domain = rule(&report, "domain")[0];
    assert!(!domain.passed);
    assert!(domain.evidence.contains("internal name"), "{}", domain.evidence);
}
