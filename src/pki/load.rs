//! Loading a user's provisioning certificate chain and key from PEM files.

use std::fs;
use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::FromDer;

use super::PkiError;

/// Reads every CERTIFICATE block of a PEM file, in file order, and checks that each is
/// X.509. The setup server sends them in that order, so the file should go leaf to root.
pub fn load_pem_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let text = read(path)?;

    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid_pem(path, error))?;
    if certs.is_empty() {
        let hint = if contains(&text, b"PRIVATE KEY-----") {
            ": it holds a private key, give the certificate file"
        } else {
            ""
        };
        return Err(PkiError::NoCertificates { path: path.to_owned(), hint });
    }

    for (index, cert) in certs.iter().enumerate() {
        x509_parser::certificate::X509Certificate::from_der(cert).map_err(|error| PkiError::InvalidCertificate {
            path: path.to_owned(),
            index,
            error: error.to_string(),
        })?;
    }
    tracing::debug!(path = %path.display(), certificates = certs.len(), "certificate chain loaded");
    Ok(certs)
}

/// Reads the first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn load_pem_key(path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    let text = read(path)?;

    // Encrypted keys are skipped as unknown sections, which would read as "no key".
    if contains(&text, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(PkiError::EncryptedKey { path: path.to_owned() });
    }

    match PrivateKeyDer::from_pem_slice(&text) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(PkiError::NoPrivateKey { path: path.to_owned() }),
        Err(error) => Err(invalid_pem(path, error)),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|source| PkiError::Read { path: path.to_owned(), source })
}

fn invalid_pem(path: &Path, error: pem::Error) -> PkiError {
    PkiError::InvalidPem { path: path.to_owned(), error: error.to_string() }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}
