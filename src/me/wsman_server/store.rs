//! The ME's certificate store and TLS configuration: key pairs it generates, certificates
//! a setup server adds, the TLS settings of its interfaces, and the credential context
//! that picks the certificate TLS presents once setup is committed.

use base64::Engine as _;
use rcgen::{KeyPair, RsaKeySize};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::amt::wsman::{
    EndpointReference, PublicKeyCertificate, PublicPrivateKeyPair, ReturnValue, TlsCredentialContext, TlsSettingData,
    uri,
};

/// Key length GenerateKeyPair accepts; the firmware of the profiles here generates RSA 2048.
const RSA_KEY_LENGTH: u32 = 2048;

/// Key pairs and certificates the store holds at most, as the firmware's store is small.
const MAX_ENTRIES: usize = 16;

/// The ME's key pairs, certificates and TLS configuration.
#[derive(Clone, Debug)]
pub struct CertificateStore {
    key_pairs: Vec<StoredKeyPair>,
    certificates: Vec<StoredCertificate>,
    /// The settings of the network interface and of the local one, in that order.
    pub tls_settings: [TlsSettingData; 2],
    pub credential_context: Option<TlsCredentialContext>,
    next_handle: u32,
}

#[derive(Clone)]
struct StoredKeyPair {
    instance_id: String,
    /// DER PKCS#1 RSAPublicKey.
    public_key: Vec<u8>,
    /// DER PKCS#8.
    private_key: Vec<u8>,
}

#[derive(Clone, Debug)]
struct StoredCertificate {
    instance_id: String,
    der: Vec<u8>,
    issuer: String,
    subject: String,
    /// The key pair whose public key the certificate carries, if the store has it.
    key_pair: Option<String>,
}

/// A certificate and its private key, for the TLS server.
pub struct TlsIdentity {
    pub certificate: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

impl Default for CertificateStore {
    /// An empty store with TLS off on both interfaces, as in setup mode.
    fn default() -> Self {
        let settings = |instance_id: &str| TlsSettingData {
            instance_id: instance_id.into(),
            enabled: false,
            mutual_authentication: false,
            accept_non_secure_connections: true,
        };
        Self {
            key_pairs: Vec::new(),
            certificates: Vec::new(),
            tls_settings: [settings(TlsSettingData::REMOTE), settings(TlsSettingData::LOCAL)],
            credential_context: None,
            next_handle: 0,
        }
    }
}

impl std::fmt::Debug for StoredKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKeyPair").field("instance_id", &self.instance_id).finish_non_exhaustive()
    }
}

impl CertificateStore {
    /// Generates an RSA key pair, as GenerateKeyPair does, and returns its `InstanceID`.
    pub fn generate_key_pair(&mut self, algorithm: u8, length: u32) -> Result<String, ReturnValue> {
        if algorithm != crate::amt::wsman::GenerateKeyPair::RSA || length != RSA_KEY_LENGTH {
            return Err(ReturnValue::UNSUPPORTED);
        }
        if self.key_pairs.len() >= MAX_ENTRIES {
            return Err(ReturnValue::MAX_LIMIT_REACHED);
        }
        let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(|error| {
            tracing::warn!(%error, "RSA key generation failed");
            ReturnValue::INTERNAL_ERROR
        })?;

        let instance_id = format!("Intel(r) AMT Key: Handle: {}", self.next_handle());
        let stored = StoredKeyPair { instance_id: instance_id.clone(), public_key: key.public_key_raw().to_vec(), private_key: key.serialize_der() };
        self.key_pairs.push(stored);
        Ok(instance_id)
    }

    /// Stores a certificate, as AddCertificate does, and returns its `InstanceID`.
    pub fn add_certificate(&mut self, blob: &str) -> Result<String, ReturnValue> {
        let der = base64::engine::general_purpose::STANDARD.decode(blob).map_err(|_| ReturnValue::INVALID_CERT)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).map_err(|_| ReturnValue::INVALID_CERT)?;
        if self.certificates.iter().any(|certificate| certificate.der == der) {
            return Err(ReturnValue::DUPLICATE);
        }
        if self.certificates.len() >= MAX_ENTRIES {
            return Err(ReturnValue::MAX_LIMIT_REACHED);
        }

        let public_key = parsed.public_key().subject_public_key.data.as_ref();
        let key_pair = self.key_pairs.iter().find(|pair| pair.public_key == public_key).map(|pair| pair.instance_id.clone());
        let instance_id = format!("Intel(r) AMT Certificate: Handle: {}", self.next_handle());
        let (issuer, subject) = (distinguished_name(parsed.issuer()), distinguished_name(parsed.subject()));
        self.certificates.push(StoredCertificate { instance_id: instance_id.clone(), der, issuer, subject, key_pair });
        Ok(instance_id)
    }

    /// Sets the credential context, as a Create of `AMT_TLSCredentialContext` does. The
    /// certificate must be in the store with its key pair, or TLS could not use it.
    pub fn set_credential_context(&mut self, context: TlsCredentialContext) -> Result<EndpointReference, String> {
        let instance = context.certificate_instance().ok_or("ElementInContext has no InstanceID selector")?;
        let certificate = self.certificates.iter().find(|certificate| certificate.instance_id == instance).ok_or_else(|| format!("no certificate {instance:?} in the store"))?;
        if certificate.key_pair.is_none() {
            return Err(format!("the store has no private key for certificate {instance:?}: generate the key pair on the ME first"));
        }

        let reference = EndpointReference::instance(uri::AMT_TLS_CREDENTIAL_CONTEXT, instance);
        self.credential_context = Some(context);
        Ok(reference)
    }

    /// Replaces the settings of one interface, as a Put of `AMT_TLSSettingData` does.
    pub fn put_tls_settings(&mut self, settings: TlsSettingData) -> Result<TlsSettingData, String> {
        let slot = self.tls_settings.iter_mut().find(|slot| slot.instance_id == settings.instance_id).ok_or_else(|| format!("no AMT_TLSSettingData {:?}", settings.instance_id))?;
        *slot = settings.clone();
        Ok(settings)
    }

    /// Returns the certificate and key TLS presents on the network interface: those of the
    /// credential context when TLS is enabled there.
    pub fn remote_tls_identity(&self) -> Option<TlsIdentity> {
        if !self.tls_settings[0].enabled {
            return None;
        }
        let instance = self.credential_context.as_ref()?.certificate_instance()?;
        let certificate = self.certificates.iter().find(|certificate| certificate.instance_id == instance)?;
        let key_pair = certificate.key_pair.as_ref()?;
        let key = self.key_pairs.iter().find(|pair| &pair.instance_id == key_pair)?;
        Some(TlsIdentity { certificate: CertificateDer::from(certificate.der.clone()), key: PrivateKeyDer::Pkcs8(key.private_key.clone().into()) })
    }

    /// Whether a client must present a certificate on the network interface.
    pub fn remote_mutual_authentication(&self) -> bool {
        self.tls_settings[0].mutual_authentication
    }

    pub fn key_pair_instances(&self) -> Vec<PublicPrivateKeyPair> {
        let encode = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        self.key_pairs.iter().map(|pair| PublicPrivateKeyPair { instance_id: pair.instance_id.clone(), der_key: encode(&pair.public_key) }).collect()
    }

    pub fn certificate_instances(&self) -> Vec<PublicKeyCertificate> {
        let encode = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        self.certificates
            .iter()
            .map(|certificate| PublicKeyCertificate {
                instance_id: certificate.instance_id.clone(),
                x509_certificate: encode(&certificate.der),
                trusted_root: false,
                issuer: certificate.issuer.clone(),
                subject: certificate.subject.clone(),
            })
            .collect()
    }

    fn next_handle(&mut self) -> u32 {
        let handle = self.next_handle;
        self.next_handle += 1;
        handle
    }
}

/// Formats a name as AMT does, `C=..,O=..,CN=..`, attributes in certificate order.
fn distinguished_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    let attributes = name.iter_attributes().map(|attribute| {
        let key = x509_parser::objects::oid2abbrev(attribute.attr_type(), x509_parser::objects::oid_registry()).map(String::from).unwrap_or_else(|_| attribute.attr_type().to_id_string());
        format!("{key}={}", attribute.as_str().unwrap_or_default())
    });
    attributes.collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signs a certificate for the store's key pair `key`, as a setup server does with
    /// the DERKey it read.
    fn certificate_for(store: &CertificateStore, key_pair: &str) -> String {
        let pair = store.key_pairs.iter().find(|pair| pair.instance_id == key_pair).unwrap();
        let key = KeyPair::try_from(pair.private_key.as_slice()).unwrap();
        let params = rcgen::CertificateParams::new(vec!["pc90.jcert.info".into()]).unwrap();
        base64::engine::general_purpose::STANDARD.encode(params.self_signed(&key).unwrap().der())
    }

    #[test]
    fn store_links_certificate_to_generated_key() {
        let mut store = CertificateStore::default();
        let key_pair = store.generate_key_pair(0, 2048).unwrap();
        let certificate = store.add_certificate(&certificate_for(&store, &key_pair)).unwrap();
        let context = TlsCredentialContext {
            certificate: EndpointReference::instance(uri::AMT_PUBLIC_KEY_CERTIFICATE, &certificate),
            endpoints: EndpointReference::instance(uri::AMT_TLS_PROTOCOL_ENDPOINT_COLLECTION, "x"),
        };

        store.set_credential_context(context).unwrap();
        assert!(store.remote_tls_identity().is_none(), "TLS is still off on the network interface");
        let mut remote = store.tls_settings[0].clone();
        remote.enabled = true;
        store.put_tls_settings(remote).unwrap();

        let identity = store.remote_tls_identity().unwrap();
        assert_eq!(identity.certificate.as_ref(), base64::engine::general_purpose::STANDARD.decode(&store.certificate_instances()[0].x509_certificate).unwrap());
    }

    #[test]
    fn store_rejects_bad_requests() {
        let mut store = CertificateStore::default();
        let foreign = {
            let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap();
            let der = rcgen::CertificateParams::new(vec!["other".into()]).unwrap().self_signed(&key).unwrap().der().to_vec();
            base64::engine::general_purpose::STANDARD.encode(der)
        };

        assert_eq!(store.generate_key_pair(0, 1024), Err(ReturnValue::UNSUPPORTED));
        assert_eq!(store.generate_key_pair(1, 2048), Err(ReturnValue::UNSUPPORTED));
        assert_eq!(store.add_certificate("not base64!"), Err(ReturnValue::INVALID_CERT));
        assert_eq!(store.add_certificate("AAAA"), Err(ReturnValue::INVALID_CERT));
        let stored = store.add_certificate(&foreign).unwrap();
        assert_eq!(store.add_certificate(&foreign), Err(ReturnValue::DUPLICATE));

        let context = TlsCredentialContext {
            certificate: EndpointReference::instance(uri::AMT_PUBLIC_KEY_CERTIFICATE, &stored),
            endpoints: EndpointReference::instance(uri::AMT_TLS_PROTOCOL_ENDPOINT_COLLECTION, "x"),
        };
        let error = store.set_credential_context(context).unwrap_err();
        assert!(error.contains("no private key"), "{error}");
        let unknown = TlsSettingData { instance_id: "nope".into(), enabled: true, mutual_authentication: false, accept_non_secure_connections: true };
        assert!(store.put_tls_settings(unknown).is_err());
    }
}
