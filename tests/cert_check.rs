//! `vprolab cert check` on the lab's own chains, on every broken variant, and on a
//! PKCS#12 file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{VPROLAB, repo_path};
use time::{Duration, OffsetDateTime};
use vprolab::pki::{CertSpec, KeySpec, LabChain, LabPki};

/// Which certificates of a lab chain go into the checked file.
#[derive(Clone, Copy)]
enum Shape {
    Full,
    WithoutIntermediate,
    WithoutRoot,
}

/// Writes `chain` in `shape` to DIR/NAME.pem and its root to DIR/NAME-root.pem.
fn write_chain(dir: &Path, name: &str, chain: &LabChain, shape: Shape) -> (PathBuf, PathBuf) {
    let parts: Vec<&str> = match shape {
        Shape::Full => vec![chain.leaf.cert_pem(), chain.intermediate.cert_pem(), chain.root.cert_pem()],
        Shape::WithoutIntermediate => vec![chain.leaf.cert_pem(), chain.root.cert_pem()],
        Shape::WithoutRoot => vec![chain.leaf.cert_pem(), chain.intermediate.cert_pem()],
    };
    let chain_path = dir.join(format!("{name}.pem"));
    let root_path = dir.join(format!("{name}-root.pem"));
    std::fs::write(&chain_path, parts.concat()).unwrap();
    std::fs::write(&root_path, chain.root.cert_pem()).unwrap();
    (chain_path, root_path)
}

/// Runs `vprolab cert check` with stdin closed, so that no password prompt can wait.
fn cert_check(args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(VPROLAB);
    command.arg("cert").arg("check").args(args).stdin(Stdio::null()).env_remove("VPROLAB_PFX_PASSWORD");
    if let Some(password) = password {
        command.env("VPROLAB_PFX_PASSWORD", password);
    }
    command.output().expect("run vprolab")
}

fn check_file(chain: &Path, root: Option<&Path>, suffix: &str, firmware: &str) -> Output {
    let mut args = vec![chain.to_str().unwrap(), "--suffix", suffix, "--firmware", firmware];
    if let Some(root) = root {
        args.extend(["--trust-root", root.to_str().unwrap()]);
    }
    cert_check(&args, None)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn spec(cn: &str) -> CertSpec {
    CertSpec::provisioning(cn)
}

#[test]
fn lab_chains_accepted_for_their_domains() {
    let dir = tempfile::tempdir().unwrap();
    let pki = LabPki::new().unwrap();
    let single = pki.issue(&CertSpec { ou: Some("Intel(R) Client Setup Certificate".into()), ..spec("scs.jcert.info") }).unwrap();
    let wildcard = pki.issue(&spec("*.jcert.info")).unwrap();
    let (single_chain, root) = write_chain(dir.path(), "single", &single, Shape::Full);
    let (wildcard_chain, _) = write_chain(dir.path(), "wildcard", &wildcard, Shape::Full);

    let cases = [
        (&single_chain, "jcert.info", "4.1.1"),
        (&single_chain, "jcert.info", "16.1"),
        (&wildcard_chain, "jcert.info", "4.1.1"),
        (&wildcard_chain, "mtkg.jcert.info", "4.1.1"),
        (&wildcard_chain, "mtkg.jcert.info", "11.8"),
    ];
    for (chain, suffix, firmware) in cases {
        let output = check_file(chain, Some(&root), suffix, firmware);
        let text = stdout(&output);

        assert_eq!(output.status.code(), Some(0), "{firmware} {suffix}: {text}{}", String::from_utf8_lossy(&output.stderr));
        assert!(text.contains(&format!("ACCEPTED by AMT {firmware}")), "{text}");
        assert!(text.contains("a custom hash in the trusted list"), "{text}");
        assert!(!text.contains("FAIL"), "{text}");
    }
}

#[test]
fn trust_hash_replaces_trust_root() {
    let dir = tempfile::tempdir().unwrap();
    let chain = LabPki::generate(&spec("scs.jcert.info")).unwrap();
    let (chain_path, _) = write_chain(dir.path(), "chain", &chain, Shape::Full);
    let hash = format!("sha256:{}", chain.root_hash(vprolab::amt::hello::HashAlgorithm::Sha256).to_hex());

    let accepted = cert_check(&[chain_path.to_str().unwrap(), "--suffix", "jcert.info", "--trust-hash", &hash], None);
    assert_eq!(accepted.status.code(), Some(0), "{}", stdout(&accepted));

    let bad = cert_check(&[chain_path.to_str().unwrap(), "--suffix", "jcert.info", "--trust-hash", "sha256:abcd"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SHA-256 needs 32 bytes"), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// A broken variant: how to make it, and the code the firmware rejects it with.
struct Variant {
    name: &'static str,
    spec: CertSpec,
    shape: Shape,
    trusted: bool,
    suffix: &'static str,
    firmware: &'static str,
    code: &'static str,
}

fn variants() -> Vec<Variant> {
    let now = OffsetDateTime::now_utc();
    let variant = |name, spec, code| Variant { name, spec, shape: Shape::Full, trusted: true, suffix: "jcert.info", firmware: "11.8", code };

    vec![
        Variant { trusted: false, ..variant("untrusted", spec("scs.jcert.info"), "untrusted-root") },
        variant("no-oid-no-ou", CertSpec { amt_setup_oid: false, ..spec("scs.jcert.info") }, "no-setup-usage"),
        variant("ou-case", CertSpec { amt_setup_oid: false, ou: Some("Intel(r) client setup certificate".into()), ..spec("scs.jcert.info") }, "setup-ou-mismatch"),
        variant("ou-period", CertSpec { amt_setup_oid: false, ou: Some("Intel(R) Client Setup Certificate.".into()), ..spec("scs.jcert.info") }, "setup-ou-mismatch"),
        variant("no-server-auth", CertSpec { server_auth: false, ..spec("scs.jcert.info") }, "no-server-auth"),
        variant("other-domain", spec("scs.example.com"), "domain-mismatch"),
        variant("expired", CertSpec { not_before: now - Duration::days(400), not_after: now - Duration::days(35), ..spec("scs.jcert.info") }, "expired"),
        variant("future", CertSpec { not_before: now + Duration::days(30), not_after: now + Duration::days(395), ..spec("scs.jcert.info") }, "not-yet-valid"),
        Variant { shape: Shape::WithoutIntermediate, ..variant("no-intermediate", spec("scs.jcert.info"), "chain-incomplete") },
        Variant { shape: Shape::WithoutRoot, ..variant("no-root", spec("scs.jcert.info"), "no-root") },
        Variant { firmware: "4.1.1", ..variant("rsa4096", CertSpec { key: KeySpec::Rsa4096, ..spec("scs.jcert.info") }, "key-too-large") },
        Variant { firmware: "4.1.1", ..variant("ecdsa", CertSpec { key: KeySpec::EcdsaP256, ..spec("scs.jcert.info") }, "key-type-unsupported") },
        Variant { firmware: "4.0", suffix: "mtkg.jcert.info", ..variant("subdomain-4-0", spec("scs.jcert.info"), "domain-mismatch") },
        Variant { suffix: "com", ..variant("bare-tld-suffix", spec("scs.jcert.info"), "invalid-dns-suffix") },
    ]
}

#[test]
fn broken_variants_rejected_with_their_code() {
    let dir = tempfile::tempdir().unwrap();
    let pki = LabPki::new().unwrap();

    for variant in variants() {
        let chain = pki.issue(&variant.spec).unwrap();
        let (chain_path, root) = write_chain(dir.path(), variant.name, &chain, variant.shape);
        let output = check_file(&chain_path, variant.trusted.then_some(root.as_path()), variant.suffix, variant.firmware);
        let text = stdout(&output);

        assert_eq!(output.status.code(), Some(1), "{}: {text}", variant.name);
        assert!(text.contains(&format!("REJECTED by AMT {} ({})", variant.firmware, variant.code)), "{}: {text}", variant.name);
        assert!(text.contains("  FAIL  "), "{}: {text}", variant.name);
    }
}

/// Writes the last certificate of a PEM chain file, its root, to `out`.
fn write_root_of(chain: &Path, out: &Path) {
    let text = std::fs::read_to_string(chain).unwrap();
    let start = text.rfind("-----BEGIN CERTIFICATE-----").unwrap();
    std::fs::write(out, &text[start..]).unwrap();
}

#[test]
fn user_fixture_chains_by_firmware() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("sha1-rsa2048", "11.8", 0, "ACCEPTED by AMT 11.8"),
        ("sha1-rsa2048", "16.1", 1, "REJECTED by AMT 16.1 (sha1-signature)"),
        ("rsa1024-leaf", "11.8", 0, "ACCEPTED by AMT 11.8"),
        ("rsa1024-leaf", "16.1", 1, "REJECTED by AMT 16.1 (key-too-small)"),
    ];

    for (fixture, firmware, code, verdict) in cases {
        let chain = repo_path(&format!("tests/fixtures/pki/{fixture}/chain.pem"));
        let root = dir.path().join(format!("{fixture}-root.pem"));
        write_root_of(&chain, &root);

        let output = check_file(&chain, Some(&root), "jcert.info", firmware);
        let text = stdout(&output);

        assert_eq!(output.status.code(), Some(code), "{fixture} on {firmware}: {text}");
        assert!(text.contains(verdict), "{fixture} on {firmware}: {text}");
    }
}

#[test]
fn default_root_is_named() {
    let root = Path::new("/usr/share/ca-certificates/mozilla/Starfield_Class_2_CA.crt");
    if !root.exists() {
        eprintln!("skipped: {} is missing (Debian package ca-certificates)", root.display());
        return;
    }

    let output = check_file(root, None, "jcert.info", "4.1.1");
    let text = stdout(&output);

    assert!(text.contains("pass  trusted-root"), "{text}");
    assert!(text.contains("default root \"Starfield Class 2 CA\""), "{text}");
    assert_eq!(output.status.code(), Some(1), "a root alone is no setup certificate: {text}");
}

/// Packs a chain and its leaf key into a PKCS#12 file with openssl, or returns `None`
/// when openssl is missing.
fn make_pkcs12(dir: &Path, chain: &Path, key: &Path, password: &str) -> Option<PathBuf> {
    let out = dir.join("chain.p12");
    let status = Command::new("openssl")
        .args(["pkcs12", "-export", "-in"])
        .arg(chain)
        .arg("-inkey")
        .arg(key)
        .arg("-out")
        .arg(&out)
        .args(["-passout", &format!("pass:{password}")])
        .status();
    match status {
        Ok(status) if status.success() => Some(out),
        _ => None,
    }
}

#[test]
fn pkcs12_read_with_environment_password() {
    let dir = tempfile::tempdir().unwrap();
    let chain = LabPki::generate(&spec("scs.jcert.info")).unwrap();
    let files = chain.write(dir.path()).unwrap();
    let Some(pfx) = make_pkcs12(dir.path(), &files.chain, &files.leaf_key, "s3cret pass") else {
        eprintln!("skipped: openssl is missing (Debian package openssl)");
        return;
    };
    let args = [pfx.to_str().unwrap(), "--suffix", "jcert.info", "--trust-root", files.root.to_str().unwrap()];

    let accepted = cert_check(&args, Some("s3cret pass"));
    assert_eq!(accepted.status.code(), Some(0), "{}{}", stdout(&accepted), String::from_utf8_lossy(&accepted.stderr));
    assert!(stdout(&accepted).contains("(3 certificates)"), "chain rebuilt leaf to root: {}", stdout(&accepted));

    let wrong = cert_check(&args, Some("wrong"));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong PKCS#12 password"), "{}", String::from_utf8_lossy(&wrong.stderr));

    let without = cert_check(&args, None);
    assert_eq!(without.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without.stderr).contains("VPROLAB_PFX_PASSWORD"), "{}", String::from_utf8_lossy(&without.stderr));
}

#[test]
fn password_is_never_an_argument() {
    let output = common::vprolab(&["cert", "check", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);

    assert!(help.contains("VPROLAB_PFX_PASSWORD"), "{help}");
    assert!(!help.contains("--password"), "{help}");
}

#[test]
fn non_certificate_file_rejected_without_password() {
    let hello = repo_path("../shared/fixtures/hello/pki-v3-23-hashes.bin");
    let output = cert_check(&["--suffix", "jcert.info", hello.to_str().unwrap()], None);

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is neither a PEM certificate chain nor a PKCS#12 file"), "{stderr}");
    assert!(!stderr.contains("VPROLAB_PFX_PASSWORD"), "asked for a password: {stderr}");
}
