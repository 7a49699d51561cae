//! The setup server's provisioning chain: issued by the lab CA or loaded from a user's
//! PEM files, and the part of it the setup server sends.

use std::path::Path;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::LabError;
use crate::amt::hello::{CertHash, HashAlgorithm};
use crate::pki::{self, CertSpec, KeySpec, LabPki};
use crate::topology::{Certificate, CertificateRequest, CertificateSource, ChainPart, KeyKind};

/// A provisioning chain ready for the setup server.
#[derive(Debug)]
pub struct ProvisioningChain {
    /// Leaf first, as complete as its source has it.
    pub full: Vec<CertificateDer<'static>>,
    /// What the setup server sends as its TLS client certificate.
    pub sent: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Signs the handshake in place of `key` when the TLS library cannot use `key`.
    pub stand_in_key: Option<PrivateKeyDer<'static>>,
}

/// A chain made or loaded, with the issued certificates and keys not yet written.
pub struct Prepared {
    chain: ProvisioningChain,
    issued: Option<pki::LabChain>,
}

impl ProvisioningChain {
    /// Issues or loads the chain the topology asks for. Key generation is slow, so this
    /// runs on a blocking thread; the files are written by [`Prepared::write`].
    pub fn prepare(certificate: &Certificate) -> Result<Prepared, LabError> {
        let (full, key, issued) = match &certificate.source {
            CertificateSource::Issued(request) => {
                let chain = LabPki::generate(&cert_spec(request)).map_err(LabError::Pki)?;
                (chain.chain_der(), chain.leaf.key(), Some(chain))
            }
            CertificateSource::Files { chain, key } => {
                (pki::load_pem_chain(chain).map_err(LabError::Pki)?, pki::load_pem_key(key).map_err(LabError::Pki)?, None)
            }
        };

        let stand_in_key = stand_in_for(&key)?;
        let chain = Self { sent: part(&full, certificate.send), full, key, stand_in_key };
        Ok(Prepared { chain, issued })
    }

    /// Hashes the chain's last certificate, its root, as an ME's trusted list stores it.
    pub fn root_hash(&self, algorithm: HashAlgorithm) -> Option<CertHash> {
        self.full.last().map(|root| CertHash::of_der(algorithm, root))
    }
}

impl Prepared {
    /// Writes an issued chain and its keys under `dir/pki`, and returns the chain.
    pub fn write(self, dir: &Path) -> Result<ProvisioningChain, LabError> {
        if let Some(issued) = &self.issued {
            issued.write(&dir.join("pki")).map_err(LabError::Pki)?;
        }
        Ok(self.chain)
    }
}

/// Builds the provisioning certificate the topology requests, its validity counted in
/// days from now.
fn cert_spec(request: &CertificateRequest) -> CertSpec {
    let now = time::OffsetDateTime::now_utc();
    let key = match request.key {
        KeyKind::Rsa2048 => KeySpec::Rsa2048,
        KeyKind::Rsa3072 => KeySpec::Rsa3072,
        KeyKind::Rsa4096 => KeySpec::Rsa4096,
        KeyKind::EcdsaP256 => KeySpec::EcdsaP256,
    };

    CertSpec {
        cn: request.cn.clone(),
        ou: request.ou.clone(),
        amt_setup_oid: request.amt_setup_oid,
        server_auth: request.server_auth,
        key,
        not_before: now + time::Duration::days(request.not_before_days),
        not_after: now + time::Duration::days(request.not_after_days),
        san: Vec::new(),
    }
}

/// Picks the certificates the setup server sends. The resolver made sure a chain that
/// drops its intermediate has one.
fn part(full: &[CertificateDer<'static>], send: ChainPart) -> Vec<CertificateDer<'static>> {
    let skip = match send {
        ChainPart::Full => None,
        ChainPart::WithoutIntermediate => Some(1),
        ChainPart::WithoutRoot => Some(full.len() - 1),
    };
    full.iter().enumerate().filter(|(index, _)| Some(*index) != skip).map(|(_, cert)| cert.clone()).collect()
}

/// Generates a stand-in signing key when aws-lc-rs rejects the leaf's own, as it does
/// for RSA keys under 2048 bits.
fn stand_in_for(key: &PrivateKeyDer<'static>) -> Result<Option<PrivateKeyDer<'static>>, LabError> {
    let Err(error) = rustls::crypto::aws_lc_rs::sign::any_supported_type(key) else { return Ok(None) };

    tracing::warn!(%error, "the TLS library cannot sign with the provisioning key; the setup server signs with a stand-in RSA 2048 key");
    pki::generate_key(KeySpec::Rsa2048).map(Some).map_err(LabError::Pki)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain_of(count: u8) -> Vec<CertificateDer<'static>> {
        (0..count).map(|index| CertificateDer::from(vec![index])).collect()
    }

    #[test]
    fn part_drops_the_named_certificate() {
        let full = chain_of(3);

        assert_eq!(part(&full, ChainPart::Full), full);
        assert_eq!(part(&full, ChainPart::WithoutIntermediate), vec![full[0].clone(), full[2].clone()]);
        assert_eq!(part(&full, ChainPart::WithoutRoot), vec![full[0].clone(), full[1].clone()]);
    }

    #[test]
    fn stand_in_only_for_small_rsa_key() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki");
        let small = pki::load_pem_key(&fixtures.join("rsa1024-leaf/leaf.key")).unwrap();
        let usable = pki::load_pem_key(&fixtures.join("sha1-rsa2048/leaf.key")).unwrap();

        assert!(stand_in_for(&small).unwrap().is_some());
        assert!(stand_in_for(&usable).unwrap().is_none());
    }
}
