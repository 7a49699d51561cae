//! The lab CA, provisioning certificates and the ME's own TLS identity, made with rcgen.
//!
//! The lab cannot hold a commercial CA's key, so it issues a chain of the same shape as
//! a purchased provisioning certificate: a self-signed root, an issuing intermediate and
//! the leaf. The emulated ME then trusts the lab root's hash as a real ME trusts a hash
//! added through MEBx or a USB setup file.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, RsaKeySize, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::amt::hello::{CertHash, HashAlgorithm};

mod load;
mod pfx;

pub use load::{load_pem_chain, load_pem_key};
pub use pfx::load_pkcs12_chain;

/// Key type and size of a generated certificate.
///
/// rcgen and aws-lc-rs generate RSA keys of 2048 bits and more only, so there is no
/// 1024-bit variant. tests/fixtures/pki contains an RSA 1024 chain made with openssl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
}

/// Contents of the provisioning (leaf) certificate of a lab chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSpec {
    pub cn: String,
    /// Subject OU; `Some("Intel(R) Client Setup Certificate")` marks a setup certificate
    /// without the EKU OID.
    pub ou: Option<String>,
    /// Whether the EKU lists the Intel AMT setup OID 2.16.840.1.113741.1.2.3.
    pub amt_setup_oid: bool,
    /// Whether the EKU lists serverAuth 1.3.6.1.5.5.7.3.1.
    pub server_auth: bool,
    pub key: KeySpec,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// SAN DNS names, in addition to the CN.
    pub san: Vec<String>,
}

/// Error from making, writing or loading a certificate or key.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("generating a {key} key failed: {source}")]
    KeyGeneration { key: KeySpec, source: rcgen::Error },

    #[error("invalid {field} {value:?} for a certificate: {source}")]
    InvalidName { field: &'static str, value: String, source: rcgen::Error },

    #[error("invalid validity for {cn:?}: not_before {not_before} is after not_after {not_after}")]
    InvalidValidity { cn: String, not_before: OffsetDateTime, not_after: OffsetDateTime },

    #[error("signing the {role} certificate failed: {source}")]
    Signing { role: &'static str, source: rcgen::Error },

    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },

    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("{path}: invalid PEM: {error}")]
    InvalidPem { path: PathBuf, error: String },

    #[error("{path} has no CERTIFICATE block{hint}")]
    NoCertificates { path: PathBuf, hint: &'static str },

    #[error("{path}: certificate {index} is not valid X.509: {error}")]
    InvalidCertificate { path: PathBuf, index: usize, error: String },

    #[error("{path} has no private key: expected a PEM block PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY")]
    NoPrivateKey { path: PathBuf },

    #[error("{path}: wrong PKCS#12 password: the file's integrity check failed")]
    Pkcs12Password { path: PathBuf },

    #[error("{path} is not a PKCS#12 file vprolab can read: {error}")]
    InvalidPkcs12 { path: PathBuf, error: String },

    #[error(
        "{path} contains an encrypted private key: decrypt it first, for example with `openssl pkey -in {path} -out key.pem`"
    )]
    EncryptedKey { path: PathBuf },
}

/// A generated certificate with its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert: CertificateDer<'static>,
    cert_pem: String,
    /// PKCS#8 DER of the private key.
    key_der: Vec<u8>,
    key_pem: String,
}

/// A lab CA: a self-signed root and an issuing intermediate.
pub struct LabPki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A provisioning certificate chain issued by a [`LabPki`], shaped like a purchased one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabChain {
    pub root: Issued,
    pub intermediate: Issued,
    pub leaf: Issued,
}

/// Paths written by [`LabChain::write`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainFiles {
    pub root: PathBuf,
    pub intermediate: PathBuf,
    pub leaf: PathBuf,
    /// Leaf, intermediate and root, in the order the setup server sends them.
    pub chain: PathBuf,
    pub root_key: PathBuf,
    pub intermediate_key: PathBuf,
    pub leaf_key: PathBuf,
}

const ROOT_CN: &str = "vprolab Lab Root CA";
const INTERMEDIATE_CN: &str = "vprolab Lab Issuing CA";
const LAB_ORGANIZATION: &str = "vprolab";
/// The Intel AMT setup OID 2.16.840.1.113741.1.2.3 as rcgen takes it.
const AMT_SETUP_OID_ARCS: [u64; 8] = [2, 16, 840, 1, 113741, 1, 2, 3];

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa2048 => "RSA 2048",
            Self::Rsa3072 => "RSA 3072",
            Self::Rsa4096 => "RSA 4096",
            Self::EcdsaP256 => "ECDSA P-256",
        })
    }
}

impl KeySpec {
    fn generate(self) -> Result<KeyPair, PkiError> {
        let rsa = |size| KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size);
        let generated = match self {
            Self::Rsa2048 => rsa(RsaKeySize::_2048),
            Self::Rsa3072 => rsa(RsaKeySize::_3072),
            Self::Rsa4096 => rsa(RsaKeySize::_4096),
            Self::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        };
        generated.map_err(|source| PkiError::KeyGeneration { key: self, source })
    }
}

impl CertSpec {
    /// Builds the spec of a valid provisioning certificate for `cn`: EKU serverAuth and
    /// the AMT setup OID, RSA 2048, valid from a day ago for a year.
    pub fn provisioning(cn: impl Into<String>) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            cn: cn.into(),
            ou: None,
            amt_setup_oid: true,
            server_auth: true,
            key: KeySpec::Rsa2048,
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            san: Vec::new(),
        }
    }

    fn params(&self) -> Result<CertificateParams, PkiError> {
        if self.not_before > self.not_after {
            return Err(PkiError::InvalidValidity {
                cn: self.cn.clone(),
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }

        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, self.cn.as_str());
        if let Some(ou) = &self.ou {
            params.distinguished_name.push(DnType::OrganizationalUnitName, ou.as_str());
        }
        params.subject_alt_names = self.san.iter().map(|name| dns_san(name)).collect::<Result<_, _>>()?;
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = self.extended_key_usages();
        params.use_authority_key_identifier_extension = true;
        Ok(params)
    }

    fn extended_key_usages(&self) -> Vec<ExtendedKeyUsagePurpose> {
        let mut usages = Vec::new();
        if self.server_auth {
            usages.push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if self.amt_setup_oid {
            usages.push(ExtendedKeyUsagePurpose::Other(AMT_SETUP_OID_ARCS.to_vec()));
        }
        usages
    }
}

fn dns_san(name: &str) -> Result<SanType, PkiError> {
    let invalid = |source| PkiError::InvalidName { field: "SAN DNS name", value: name.to_owned(), source };
    let ia5 = name.try_into().map_err(invalid)?;
    Ok(SanType::DnsName(ia5))
}

fn ca_params(cn: &str, path_len: Option<u8>, years: i64) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();

    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.distinguished_name.push(DnType::OrganizationName, LAB_ORGANIZATION);
    params.is_ca = IsCa::Ca(path_len.map_or(BasicConstraints::Unconstrained, BasicConstraints::Constrained));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365 * years);
    params.use_authority_key_identifier_extension = path_len.is_some();
    params
}

impl Issued {
    fn new(cert: &rcgen::Certificate, key: &KeyPair) -> Self {
        Self {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
}

/// Shows the certificate only: a key must never reach a log.
impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued").field("cert", &self.cert).field("key", &"[elided]").finish()
    }
}

impl LabPki {
    /// Generates a root (RSA 2048, valid 20 years) and an intermediate (RSA 2048, 10 years).
    pub fn new() -> Result<Self, PkiError> {
        Self::with_keys(KeySpec::Rsa2048.generate()?, KeySpec::Rsa2048.generate()?)
    }

    fn with_keys(root_key: KeyPair, intermediate_key: KeyPair) -> Result<Self, PkiError> {
        let root = CertifiedIssuer::self_signed(ca_params(ROOT_CN, None, 20), root_key)
            .map_err(|source| PkiError::Signing { role: "root", source })?;

        let intermediate = CertifiedIssuer::signed_by(ca_params(INTERMEDIATE_CN, Some(0), 10), intermediate_key, &root)
            .map_err(|source| PkiError::Signing { role: "intermediate", source })?;

        tracing::debug!(root = ROOT_CN, intermediate = INTERMEDIATE_CN, "lab CA generated");
        Ok(Self { root, intermediate })
    }

    /// Generates a new lab CA and issues one provisioning certificate from it.
    ///
    /// The three key pairs are generated on three threads at once, because an RSA key
    /// takes tens to hundreds of milliseconds and the lab waits for the chain.
    pub fn generate(spec: &CertSpec) -> Result<LabChain, PkiError> {
        let (root, intermediate, leaf) = std::thread::scope(|scope| {
            let root = scope.spawn(|| KeySpec::Rsa2048.generate());
            let intermediate = scope.spawn(|| KeySpec::Rsa2048.generate());
            let leaf = spec.key.generate();
            (root.join().expect("root key thread"), intermediate.join().expect("intermediate key thread"), leaf)
        });
        Self::with_keys(root?, intermediate?)?.issue_with_key(spec, leaf?)
    }

    /// Issues a provisioning certificate from this CA.
    pub fn issue(&self, spec: &CertSpec) -> Result<LabChain, PkiError> {
        self.issue_with_key(spec, spec.key.generate()?)
    }

    fn issue_with_key(&self, spec: &CertSpec, key: KeyPair) -> Result<LabChain, PkiError> {
        let leaf = spec
            .params()?
            .signed_by(&key, &self.intermediate)
            .map_err(|source| PkiError::Signing { role: "leaf", source })?;

        tracing::debug!(cn = %spec.cn, key = %spec.key, "provisioning certificate issued");
        Ok(LabChain {
            root: Issued::new(self.root.as_ref(), self.root.key()),
            intermediate: Issued::new(self.intermediate.as_ref(), self.intermediate.key()),
            leaf: Issued::new(&leaf, &key),
        })
    }

    pub fn root_der(&self) -> &CertificateDer<'static> {
        self.root.der()
    }
}

impl LabChain {
    /// The chain as the setup server sends it: leaf, intermediate, root.
    pub fn chain_der(&self) -> Vec<CertificateDer<'static>> {
        vec![self.leaf.cert.clone(), self.intermediate.cert.clone(), self.root.cert.clone()]
    }

    /// The root's hash, as an ME's trusted list stores it.
    pub fn root_hash(&self, algorithm: HashAlgorithm) -> CertHash {
        CertHash::of_der(algorithm, &self.root.cert)
    }

    /// Writes the certificates and the chain as PEM, and the private keys as PKCS#8 PEM
    /// readable by the owner only.
    pub fn write(&self, dir: &Path) -> Result<ChainFiles, PkiError> {
        fs::create_dir_all(dir).map_err(|source| PkiError::Write { path: dir.to_owned(), source })?;
        let files = ChainFiles::in_dir(dir);

        write_public(&files.root, self.root.cert_pem())?;
        write_public(&files.intermediate, self.intermediate.cert_pem())?;
        write_public(&files.leaf, self.leaf.cert_pem())?;
        let chain = [self.leaf.cert_pem(), self.intermediate.cert_pem(), self.root.cert_pem()].concat();
        write_public(&files.chain, &chain)?;

        write_private(&files.root_key, &self.root.key_pem)?;
        write_private(&files.intermediate_key, &self.intermediate.key_pem)?;
        write_private(&files.leaf_key, &self.leaf.key_pem)?;
        Ok(files)
    }
}

impl ChainFiles {
    fn in_dir(dir: &Path) -> Self {
        Self {
            root: dir.join("root.pem"),
            intermediate: dir.join("intermediate.pem"),
            leaf: dir.join("leaf.pem"),
            chain: dir.join("chain.pem"),
            root_key: dir.join("root.key"),
            intermediate_key: dir.join("intermediate.key"),
            leaf_key: dir.join("leaf.key"),
        }
    }
}

fn write_public(path: &Path, contents: &str) -> Result<(), PkiError> {
    fs::write(path, contents).map_err(|source| PkiError::Write { path: path.to_owned(), source })
}

/// Creates the key file with mode 0600 from the start, so the key is never readable by
/// others, not even between a create and a chmod.
fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    let failed = |source| PkiError::Write { path: path.to_owned(), source };

    // An existing file keeps its old mode when opened, so it is replaced instead.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(failed(error)),
    }

    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(failed)?;
    file.write_all(contents.as_bytes()).map_err(failed)
}

/// Generates a private key alone, as PKCS#8.
pub fn generate_key(spec: KeySpec) -> Result<PrivateKeyDer<'static>, PkiError> {
    let key = spec.generate()?;
    Ok(PrivateKeyDer::Pkcs8(key.serialize_der().into()))
}

/// Generates the ME's TLS server identity: a self-signed certificate for an RSA 2048 key
/// generated now, as real firmware does at each connect-back.
pub fn me_identity(uuid: Uuid) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), PkiError> {
    me_certificate(uuid, &me_key()?)
}

/// Generates an RSA 2048 key pair of the kind an ME makes for its TLS server.
pub fn me_key() -> Result<KeyPair, PkiError> {
    KeySpec::Rsa2048.generate()
}

/// Signs the ME's self-signed TLS server certificate, `CN=AMT <uuid>`, for `key`.
pub fn me_certificate(uuid: Uuid, key: &KeyPair) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), PkiError> {
    let now = OffsetDateTime::now_utc();

    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, format!("AMT {uuid}"));
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

    let cert = params.self_signed(key).map_err(|source| PkiError::Signing { role: "ME identity", source })?;
    Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(key.serialize_der().into())))
}

#[cfg(test)]
mod tests;
