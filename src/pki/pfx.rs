//! Loading a provisioning certificate chain from a PKCS#12 (PFX) file, the format
//! certificate vendors and Windows exports deliver it in.

use std::path::Path;

use p12_keystore::{CertificateBag, Pkcs12Archive};
use rustls_pki_types::CertificateDer;

use super::PkiError;

/// Reads the certificates of a PKCS#12 file and orders them leaf to root.
///
/// The leaf is the certificate that belongs to the file's private key (same local key
/// ID), or without a key the one that issued no other certificate. Its issuers follow
/// by name; certificates outside that path are left out.
pub fn load_pkcs12_chain(path: &Path, password: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let data = std::fs::read(path).map_err(|source| PkiError::Read { path: path.to_owned(), source })?;
    let archive = Pkcs12Archive::from_pkcs12(&data, password).map_err(|error| pkcs12_error(path, error))?;

    let Some(leaf) = leaf_index(&archive) else {
        return Err(PkiError::NoCertificates { path: path.to_owned(), hint: ": the PKCS#12 file contains no certificate" });
    };
    let chain = order_from(leaf, &archive.certs);
    tracing::debug!(path = %path.display(), certificates = chain.len(), "PKCS#12 chain loaded");
    Ok(chain)
}

fn pkcs12_error(path: &Path, error: p12_keystore::error::Error) -> PkiError {
    match error {
        p12_keystore::error::Error::MacError(_) => PkiError::Pkcs12Password { path: path.to_owned() },
        other => PkiError::InvalidPkcs12 { path: path.to_owned(), error: other.to_string() },
    }
}

fn leaf_index(archive: &Pkcs12Archive) -> Option<usize> {
    let key_ids: Vec<&[u8]> = archive.keys.iter().filter_map(|key| key.local_key_id.as_ref()).map(|id| id.0.as_slice()).collect();
    let with_key = archive.certs.iter().position(|bag| bag.local_key_id.as_deref().is_some_and(|id| key_ids.contains(&id)));

    with_key.or_else(|| {
        let certs = &archive.certs;
        certs.iter().position(|bag| !certs.iter().any(|other| other.cert.issuer() == bag.cert.subject() && other.cert != bag.cert))
    })
}

/// Follows issuers by name from `leaf`, stopping at a self-issued certificate, a
/// missing issuer or a loop.
fn order_from(leaf: usize, certs: &[CertificateBag]) -> Vec<CertificateDer<'static>> {
    let mut path = vec![leaf];
    let mut current = &certs[leaf].cert;

    while current.subject() != current.issuer() {
        let next = certs.iter().position(|bag| bag.cert.subject() == current.issuer());
        match next {
            Some(index) if !path.contains(&index) => {
                path.push(index);
                current = &certs[index].cert;
            }
            _ => break,
        }
    }
    path.into_iter().map(|index| CertificateDer::from(certs[index].cert.as_der().to_vec())).collect()
}
