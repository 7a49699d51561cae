//! A provisioning chain made on the spot for tests that run the setup server and the ME
//! against each other, so these tests do not depend on the lab PKI.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The Intel AMT setup OID 2.16.840.1.113741.1.2.3.
const AMT_SETUP_OID: [u64; 8] = [2, 16, 840, 1, 113741, 1, 2, 3];

/// A root, an intermediate and a leaf for `fqdn`, leaf first, and the leaf's key.
pub(crate) struct TestChain {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl TestChain {
    pub fn new(fqdn: &str) -> Self {
        let root = CertifiedIssuer::self_signed(ca_params("Lab Root CA"), KeyPair::generate().unwrap()).unwrap();
        let intermediate =
            CertifiedIssuer::signed_by(ca_params("Lab Intermediate CA"), KeyPair::generate().unwrap(), &root).unwrap();

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec![fqdn.to_owned()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, fqdn);
        leaf.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::Other(AMT_SETUP_OID.to_vec())];
        let leaf = leaf.signed_by(&leaf_key, &intermediate).unwrap();

        Self {
            chain: vec![leaf.der().clone(), intermediate.der().clone(), root.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        }
    }

    /// Writes the chain and key as PEM files for `openssl s_client` and returns their
    /// paths: the leaf, the two other certificates, and the key.
    pub fn write_pem(&self, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
        let pem = |label: &str, der: &[u8]| {
            use base64::Engine as _;
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            let lines: Vec<&str> = body.as_bytes().chunks(64).map(|line| std::str::from_utf8(line).unwrap()).collect();
            format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
        };
        let leaf = dir.join("leaf.pem");
        let others = dir.join("chain.pem");
        let key = dir.join("key.pem");
        std::fs::write(&leaf, pem("CERTIFICATE", &self.chain[0])).unwrap();
        std::fs::write(&others, self.chain[1..].iter().map(|cert| pem("CERTIFICATE", cert)).collect::<String>())
            .unwrap();
        std::fs::write(&key, pem("PRIVATE KEY", self.key.secret_der())).unwrap();
        (leaf, others, key)
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}
