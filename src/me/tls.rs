//! The ME's TLS server on port 16993: a self-signed certificate for a freshly generated
//! key pair, and mandatory client authentication whose chain the firmware rules judge.
//!
//! NOTE: real AMT 4.x firmware speaks only TLS 1.0, which rustls does not implement. The
//! lab offers TLS 1.2 and 1.3, so its packet captures differ from real hardware there.

use std::fmt::Debug;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, ServerConfig, SignatureScheme};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a failed handshake keeps reading the peer's leftovers after its alert, so the
/// peer reads the alert instead of a TCP reset.
const LINGER_AFTER_ALERT: Duration = Duration::from_secs(1);

/// The firmware's verdict on the setup server's certificate chain.
pub trait ChainJudge: Send + Sync + Debug {
    /// Judges `chain` as presented: the end-entity certificate first, then the others in
    /// the order the setup server sent them. `Err` carries the reason, for the report.
    fn judge(&self, chain: &[CertificateDer<'_>], now: UnixTime) -> Result<(), String>;
}

/// Why the ME's TLS server could not be set up or a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the ME's key pair and self-signed certificate failed: {0}")]
    Identity(#[from] rcgen::Error),

    #[error("invalid TLS server configuration: {0}")]
    Config(rustls::Error),

    #[error("the ME rejected the setup server's certificate chain: {reason}")]
    ChainRejected { reason: String },

    #[error("TLS handshake with the setup server failed: {0}")]
    Handshake(rustls::Error),

    #[error("TLS handshake with the setup server failed on the socket: {0}")]
    Io(io::Error),

    #[error("TLS handshake with the setup server timed out after {} ms", .after.as_millis())]
    Timeout { after: Duration },
}

/// The ME's judge refusal, carried through rustls inside `CertificateError::Other`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ChainRejection(String);

/// Builds the ME's TLS server configuration: TLS 1.2 and 1.3, the given certificate, and a
/// required client certificate whose chain is passed to `judge`.
pub fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    judge: Arc<dyn ChainJudge>,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with_versions(cert, key, judge, &[&rustls::version::TLS12, &rustls::version::TLS13])
}

pub(crate) fn server_config_with_versions(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    judge: Arc<dyn ChainJudge>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(JudgedClientChain { judge, algorithms: provider.signature_verification_algorithms });

    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(TlsError::Config)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .map_err(TlsError::Config)?;
    Ok(Arc::new(config))
}

/// Builds the TLS server configuration of a provisioned ME: TLS 1.2 and 1.3, the given
/// certificate, and no client certificate asked for.
pub fn server_config_without_client_auth(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(TlsError::Config)?;
    Ok(Arc::new(config))
}

/// Returns the DNS name a certificate is issued to: its subject CN, or else its first DNS
/// subject alternative name. The ME records it as the setup server's FQDN.
pub fn certificate_dns_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let common_name = parsed.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(String::from);
    common_name.or_else(|| {
        let names = parsed.subject_alternative_name().ok().flatten()?;
        names.value.general_names.iter().find_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            _ => None,
        })
    })
}

/// Runs the server side of the handshake on an accepted connection.
///
/// When the handshake fails, the alert has been sent and the connection is closed
/// gracefully. The ME stops writing and reads what the setup server already sent, because
/// closing a socket with unread data sends a TCP reset that can overtake the alert.
pub async fn accept(
    config: Arc<ServerConfig>,
    stream: TcpStream,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let handshake = TlsAcceptor::from(config).accept(stream).into_fallible();
    let (error, mut stream) = match tokio::time::timeout(timeout, handshake).await {
        Err(_) => return Err(TlsError::Timeout { after: timeout }),
        Ok(Ok(tls)) => return Ok(tls),
        Ok(Err(failure)) => failure,
    };

    linger(&mut stream).await;
    Err(classify_handshake_error(error))
}

async fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {} };
    let _ = tokio::time::timeout(LINGER_AFTER_ALERT, drain).await;
}

fn classify_handshake_error(error: io::Error) -> TlsError {
    let Some(tls) = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        return TlsError::Io(error);
    };
    if let rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other))) = tls
        && let Some(rejection) = other.downcast_ref::<ChainRejection>()
    {
        return TlsError::ChainRejected { reason: rejection.0.clone() };
    }
    TlsError::Handshake(tls.clone())
}

/// Client certificate verification that hands the whole chain to the firmware rules and
/// checks the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct JudgedClientChain {
    judge: Arc<dyn ChainJudge>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for JudgedClientChain {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    /// No CA names: the setup server sends its provisioning chain whatever the ME trusts.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let chain: Vec<CertificateDer<'_>> =
            std::iter::once(end_entity.clone()).chain(intermediates.iter().cloned()).collect();

        match self.judge.judge(&chain, now) {
            Ok(()) => Ok(ClientCertVerified::assertion()),
            // certificate_unknown: the chain is well formed but unacceptable to the ME, for
            // a reason the judge states and the alert cannot carry.
            Err(reason) => Err(CertificateError::Other(OtherError(Arc::new(ChainRejection(reason)))).into()),
        }
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

/// Returns the crypto provider every TLS endpoint of the lab uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

#[cfg(test)]
mod tests;
