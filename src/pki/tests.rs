use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, OnceLock};

use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;
use crate::amt::checks::AMT_SETUP_OID;

fn pki() -> &'static LabPki {
    static PKI: OnceLock<LabPki> = OnceLock::new();
    PKI.get_or_init(|| LabPki::new().unwrap())
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> X509Certificate<'a> {
    X509Certificate::from_der(der).unwrap().1
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Builds a rustls server config, which fails when the key does not belong to the
/// certificate.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
}

#[test]
fn lab_chain_has_starfield_shape() {
    let chain = pki().issue(&CertSpec::provisioning("scs.jcert.info")).unwrap();
    let [leaf, intermediate, root] = chain.chain_der().try_into().unwrap();
    let (leaf, intermediate, root) = (parse(&leaf), parse(&intermediate), parse(&root));

    assert_eq!(root.subject(), root.issuer());
    assert!(root.is_ca());
    assert_eq!(intermediate.issuer(), root.subject());
    assert!(intermediate.is_ca());
    assert_eq!(intermediate.basic_constraints().unwrap().unwrap().value.path_len_constraint, Some(0));
    assert_eq!(leaf.issuer(), intermediate.subject());
    assert!(!leaf.is_ca());
    assert_eq!(leaf.subject().iter_common_name().next().unwrap().as_str().unwrap(), "scs.jcert.info");
}

#[test]
fn lab_chain_leaf_usages_follow_spec() {
    let mut spec = CertSpec::provisioning("*.jcert.info");
    spec.ou = Some("Intel(R) Client Setup Certificate".to_owned());
    spec.san = vec!["scs.jcert.info".to_owned()];
    let chain = pki().issue(&spec).unwrap();
    let leaf = parse(&chain.leaf.cert);

    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth);
    assert_eq!(eku.other.iter().map(|oid| oid.to_id_string()).collect::<Vec<_>>(), [AMT_SETUP_OID]);
    let ou = leaf.subject().iter_organizational_unit().next().unwrap().as_str().unwrap();
    assert_eq!(ou, "Intel(R) Client Setup Certificate");
    let san = leaf.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(san.general_names.len(), 1);
}

#[test]
fn lab_chain_root_hash_is_root_der_hash() {
    let chain = pki().issue(&CertSpec::provisioning("scs.jcert.info")).unwrap();

    for algorithm in [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
        assert_eq!(chain.root_hash(algorithm), CertHash::of_der(algorithm, pki().root_der()));
    }
}

#[test]
fn lab_chain_leaf_key_matches_leaf() {
    for key in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::EcdsaP256] {
        let mut spec = CertSpec::provisioning("scs.jcert.info");
        spec.key = key;
        let chain = pki().issue(&spec).unwrap();

        assert!(server_config(chain.chain_der(), chain.leaf.key()).is_ok(), "{key}");
        assert!(server_config(chain.chain_der(), chain.root.key()).is_err(), "{key}: a wrong key must fail");
    }
}

#[test]
fn lab_pki_generate_makes_new_ca() {
    let chain = LabPki::generate(&CertSpec::provisioning("scs.jcert.info")).unwrap();

    assert_ne!(chain.root.cert, *pki().root_der());
}

#[test]
fn cert_spec_rejects_inverted_validity() {
    let mut spec = CertSpec::provisioning("scs.jcert.info");
    spec.not_after = spec.not_before - time::Duration::days(1);

    assert!(matches!(pki().issue(&spec), Err(PkiError::InvalidValidity { .. })));
}

#[test]
fn lab_chain_write_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let chain = pki().issue(&CertSpec::provisioning("scs.jcert.info")).unwrap();

    let files = chain.write(dir.path()).unwrap();

    assert_eq!(load_pem_chain(&files.chain).unwrap(), chain.chain_der());
    assert_eq!(load_pem_chain(&files.root).unwrap(), std::slice::from_ref(&chain.root.cert));
    assert_eq!(load_pem_chain(&files.intermediate).unwrap(), std::slice::from_ref(&chain.intermediate.cert));
    assert_eq!(load_pem_key(&files.leaf_key).unwrap(), chain.leaf.key());
    assert_eq!(load_pem_key(&files.root_key).unwrap(), chain.root.key());
}

#[test]
fn lab_chain_write_keys_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let chain = pki().issue(&CertSpec::provisioning("scs.jcert.info")).unwrap();
    // A key file left world-readable by someone else must not keep its mode.
    fs::write(dir.path().join("leaf.key"), "old").unwrap();
    fs::set_permissions(dir.path().join("leaf.key"), fs::Permissions::from_mode(0o644)).unwrap();

    let files = chain.write(dir.path()).unwrap();
    chain.write(dir.path()).unwrap();

    for key in [&files.root_key, &files.intermediate_key, &files.leaf_key] {
        assert_eq!(mode(key), 0o600, "{}", key.display());
    }
    assert_eq!(load_pem_key(&files.leaf_key).unwrap(), chain.leaf.key());
}

#[test]
fn me_identity_is_self_signed_rsa_2048() {
    let uuid = Uuid::from_u128(0x939b524b_13d4_1d18_e487_1c697a6b7a2b);

    let (cert, key) = me_identity(uuid).unwrap();

    let parsed = parse(&cert);
    assert_eq!(parsed.subject(), parsed.issuer());
    assert!(parsed.subject().to_string().contains(&uuid.to_string()));
    assert_eq!(parsed.public_key().parsed().unwrap().key_size(), 2048);
    assert!(server_config(vec![cert.clone()], key).is_ok());
}

#[test]
fn me_identity_generates_new_key_each_time() {
    let uuid = Uuid::nil();

    let (first, _) = me_identity(uuid).unwrap();
    let (second, _) = me_identity(uuid).unwrap();

    assert_ne!(parse(&first).public_key().raw, parse(&second).public_key().raw);
}

#[test]
fn load_pem_chain_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, contents: &str| {
        let path = dir.path().join(name);
        fs::write(&path, contents).unwrap();
        path
    };
    let key_pem = pki().issue(&CertSpec::provisioning("scs.jcert.info")).unwrap().leaf.key_pem;

    let missing = load_pem_chain(&dir.path().join("missing.pem"));
    let bad_base64 =
        load_pem_chain(&write("bad.pem", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"));
    let unterminated = load_pem_chain(&write("open.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n"));
    let key_only = load_pem_chain(&write("key.pem", &key_pem));
    let empty = load_pem_chain(&write("empty.pem", ""));
    let not_x509 =
        load_pem_chain(&write("junk.pem", "-----BEGIN CERTIFICATE-----\nAQIDBA==\n-----END CERTIFICATE-----\n"));

    assert!(matches!(missing, Err(PkiError::Read { .. })), "{missing:?}");
    assert!(matches!(bad_base64, Err(PkiError::InvalidPem { .. })), "{bad_base64:?}");
    assert!(matches!(unterminated, Err(PkiError::InvalidPem { .. })), "{unterminated:?}");
    assert!(matches!(key_only, Err(PkiError::NoCertificates { hint, .. }) if hint.contains("private key")));
    assert!(matches!(empty, Err(PkiError::NoCertificates { hint: "", .. })), "{empty:?}");
    assert!(matches!(not_x509, Err(PkiError::InvalidCertificate { index: 0, .. })), "{not_x509:?}");
}

#[test]
fn load_pem_key_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, contents: &str| {
        let path = dir.path().join(name);
        fs::write(&path, contents).unwrap();
        path
    };
    let cert_pem = pki().issue(&CertSpec::provisioning("scs.jcert.info")).unwrap().leaf.cert_pem;

    let missing = load_pem_key(&dir.path().join("missing.key"));
    let cert_only = load_pem_key(&write("cert.pem", &cert_pem));
    let encrypted = load_pem_key(&write(
        "enc.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAQID\n-----END ENCRYPTED PRIVATE KEY-----\n",
    ));
    let bad_base64 = load_pem_key(&write("bad.key", "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"));

    assert!(matches!(missing, Err(PkiError::Read { .. })), "{missing:?}");
    assert!(matches!(cert_only, Err(PkiError::NoPrivateKey { .. })), "{cert_only:?}");
    assert!(matches!(encrypted, Err(PkiError::EncryptedKey { .. })), "{encrypted:?}");
    assert!(matches!(bad_base64, Err(PkiError::InvalidPem { .. })), "{bad_base64:?}");
}

#[test]
fn pki_error_messages_name_the_path() {
    let path = PathBuf::from("/nonexistent/vprolab/chain.pem");

    let message = load_pem_chain(&path).unwrap_err().to_string();

    assert!(message.starts_with("cannot read /nonexistent/vprolab/chain.pem"), "{message}");
}
