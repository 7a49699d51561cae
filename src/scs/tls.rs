//! The setup server's side of the connect-back TLS: its provisioning chain as the client
//! certificate, and acceptance of the ME's self-signed certificate.

use std::error::Error as StdError;
use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::{ScsConfig, ScsError};

/// Builds the TLS client configuration of every connect-back.
pub(super) fn client_config(config: &ScsConfig) -> Result<Arc<ClientConfig>, ScsError> {
    let provider = crate::me::tls::provider();
    let verifier = Arc::new(SelfSignedMe { algorithms: provider.signature_verification_algorithms });

    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|error| ScsError::Config { reason: error.to_string() })?
        .dangerous()
        .with_custom_certificate_verifier(verifier);

    let client = match &config.stand_in_key {
        None => builder.with_client_auth_cert(config.chain.clone(), config.key.clone_key()).map_err(|error| {
            ScsError::Config { reason: format!("the provisioning certificate and key do not fit together: {error}") }
        })?,
        Some(stand_in) => {
            let signing = provider.key_provider.load_private_key(stand_in.clone_key()).map_err(|error| {
                ScsError::Config { reason: format!("the stand-in signing key cannot be used: {error}") }
            })?;
            let certified = Arc::new(CertifiedKey::new(config.chain.clone(), signing));
            builder.with_client_cert_resolver(Arc::new(FixedClientCert(certified)))
        }
    };
    Ok(Arc::new(client))
}

/// Sends one chain whatever the ME requests, signing with a key that need not be the
/// leaf's: [`ScsConfig::stand_in_key`].
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Accepts whatever certificate the ME presents, because an ME in setup mode has only a
/// self-signed certificate for a key it generated moments ago. The session records the
/// certificate's SHA-256 fingerprint instead. The handshake signatures are still checked,
/// so the peer does hold the key of the certificate it showed.
#[derive(Debug)]
struct SelfSignedMe {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for SelfSignedMe {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Finds the rustls error in an error's chain. It looks inside `io::Error` wrappers too,
/// because their `source` skips the wrapped error itself.
pub(super) fn find_tls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && let Some(tls) = find_tls_error(inner)
        {
            return Some(tls);
        }
        current = error.source();
    }
    None
}

/// Converts a TLS failure into an ScsError, naming the ME's alert when it sent one.
pub(super) fn tls_failure(error: &rustls::Error) -> ScsError {
    match error {
        rustls::Error::AlertReceived(alert) => ScsError::TlsAlert { description: format!("{alert:?}") },
        other => ScsError::Tls { error: other.to_string() },
    }
}

/// Computes the SHA-256 fingerprint of a DER certificate, as lowercase hex.
pub(super) fn fingerprint(cert: &CertificateDer<'_>) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(cert.as_ref()))
}
