//! The AMT classes of the ME's certificate store and TLS configuration, which a setup
//! server uses to give the ME a TLS certificate of its own: key pairs, certificates, the
//! TLS settings of the network and local interfaces, and the credential context that
//! binds a certificate to TLS. Property names are those of the AMT SDK class reference.

use super::envelope::CimObject;
use super::reference::EndpointReference;
use super::{ReturnValue, WsManError, method_output, return_value, uri};

/// `AMT_PublicPrivateKeyPair`: a key pair the ME generated and keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicPrivateKeyPair {
    pub instance_id: String,
    /// Base64 of the public key as a DER PKCS#1 RSAPublicKey, as AMT stores it.
    pub der_key: String,
}

/// `AMT_PublicKeyCertificate`: a certificate in the ME's store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyCertificate {
    pub instance_id: String,
    /// Base64 of the DER certificate.
    pub x509_certificate: String,
    /// Whether the certificate is a trusted root (`TrustedRootCertficate`, spelt so in
    /// the SDK).
    pub trusted_root: bool,
    /// Distinguished names as `C=..,O=..,CN=..`.
    pub issuer: String,
    pub subject: String,
}

/// `AMT_TLSSettingData`: TLS on the network interface (port 16993) or on the local one
/// (LMS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettingData {
    pub instance_id: String,
    pub enabled: bool,
    /// Whether a client must present a certificate.
    pub mutual_authentication: bool,
    /// Whether the non-TLS port stays open beside the TLS one.
    pub accept_non_secure_connections: bool,
}

/// `AMT_TLSCredentialContext`: the certificate TLS uses, linked to the TLS endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsCredentialContext {
    /// `ElementInContext`: the `AMT_PublicKeyCertificate` TLS presents.
    pub certificate: EndpointReference,
    /// `ElementProvidingContext`: the `AMT_TLSProtocolEndpointCollection`.
    pub endpoints: EndpointReference,
}

/// `AMT_PublicKeyManagementService.GenerateKeyPair` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateKeyPair {
    /// 0 is RSA, the only algorithm of the SDK.
    pub key_algorithm: u8,
    pub key_length: u32,
}

/// `AMT_PublicKeyManagementService.AddCertificate` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCertificate {
    /// Base64 of the DER certificate.
    pub certificate_blob: String,
}

impl PublicPrivateKeyPair {
    pub const CLASS: &'static str = "AMT_PublicPrivateKeyPair";

    pub fn to_object(&self) -> CimObject {
        CimObject::new(Self::CLASS, uri::AMT_PUBLIC_PRIVATE_KEY_PAIR)
            .with("DERKey", &self.der_key)
            .with("ElementName", "Intel(r) AMT Key")
            .with("InstanceID", &self.instance_id)
    }

    pub fn from_object(object: &CimObject) -> Result<Self, WsManError> {
        Ok(Self { instance_id: object.require("InstanceID")?.trim().into(), der_key: object.require("DERKey")?.trim().into() })
    }
}

impl PublicKeyCertificate {
    pub const CLASS: &'static str = "AMT_PublicKeyCertificate";

    pub fn to_object(&self) -> CimObject {
        CimObject::new(Self::CLASS, uri::AMT_PUBLIC_KEY_CERTIFICATE)
            .with("ElementName", "Intel(r) AMT Certificate")
            .with("InstanceID", &self.instance_id)
            .with("Issuer", &self.issuer)
            .with("ReadOnlyCertificate", false)
            .with("Subject", &self.subject)
            .with("TrustedRootCertficate", self.trusted_root)
            .with("X509Certificate", &self.x509_certificate)
    }

    pub fn from_object(object: &CimObject) -> Result<Self, WsManError> {
        Ok(Self {
            instance_id: object.require("InstanceID")?.trim().into(),
            x509_certificate: object.require("X509Certificate")?.trim().into(),
            trusted_root: object.bool_property("TrustedRootCertficate")?.unwrap_or(false),
            issuer: object.property("Issuer").unwrap_or_default().trim().into(),
            subject: object.property("Subject").unwrap_or_default().trim().into(),
        })
    }
}

impl TlsSettingData {
    pub const CLASS: &'static str = "AMT_TLSSettingData";
    /// `InstanceID` of the settings of the network interface, port 16993.
    pub const REMOTE: &'static str = "Intel(r) AMT 802.3 TLS Settings";
    /// `InstanceID` of the settings of the local interface, through LMS.
    pub const LOCAL: &'static str = "Intel(r) AMT LMS TLS Settings";

    pub fn to_object(&self) -> CimObject {
        let object = CimObject::new(Self::CLASS, uri::AMT_TLS_SETTING_DATA);
        // The SDK has AcceptNonSecureConnections on the network interface only.
        let object = if self.instance_id == Self::REMOTE {
            object.with("AcceptNonSecureConnections", self.accept_non_secure_connections)
        } else {
            object
        };
        object
            .with("ElementName", &self.instance_id)
            .with("Enabled", self.enabled)
            .with("InstanceID", &self.instance_id)
            .with("MutualAuthentication", self.mutual_authentication)
    }

    pub fn from_object(object: &CimObject) -> Result<Self, WsManError> {
        Ok(Self {
            instance_id: object.require("InstanceID")?.trim().into(),
            enabled: object.bool_property("Enabled")?.unwrap_or(false),
            mutual_authentication: object.bool_property("MutualAuthentication")?.unwrap_or(false),
            accept_non_secure_connections: object.bool_property("AcceptNonSecureConnections")?.unwrap_or(true),
        })
    }
}

impl TlsCredentialContext {
    pub const CLASS: &'static str = "AMT_TLSCredentialContext";

    pub fn to_object(&self) -> CimObject {
        CimObject::new(Self::CLASS, uri::AMT_TLS_CREDENTIAL_CONTEXT)
            .with_reference("ElementInContext", self.certificate.clone())
            .with_reference("ElementProvidingContext", self.endpoints.clone())
    }

    pub fn from_object(object: &CimObject) -> Result<Self, WsManError> {
        let reference = |property: &'static str| {
            object.reference(property).cloned().ok_or(WsManError::MissingProperty { class: object.name.clone(), property })
        };
        Ok(Self { certificate: reference("ElementInContext")?, endpoints: reference("ElementProvidingContext")? })
    }

    /// `InstanceID` of the certificate this context binds to TLS.
    pub fn certificate_instance(&self) -> Option<&str> {
        self.certificate.selector("InstanceID")
    }
}

impl GenerateKeyPair {
    pub const METHOD: &'static str = "GenerateKeyPair";
    pub const RSA: u8 = 0;

    pub fn from_input(input: &CimObject) -> Result<Self, WsManError> {
        Ok(Self {
            key_algorithm: input.parse_property("KeyAlgorithm", "0 (RSA)")?,
            key_length: input.parse_property("KeyLength", "a key length in bits")?,
        })
    }

    /// Builds the output that points at the generated key pair.
    pub fn output(key_pair: Option<&str>, value: ReturnValue) -> CimObject {
        let output = method_output(uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE, Self::METHOD, value);
        match key_pair {
            Some(instance_id) => output.with_reference("KeyPair", EndpointReference::instance(uri::AMT_PUBLIC_PRIVATE_KEY_PAIR, instance_id)),
            None => output,
        }
    }
}

impl AddCertificate {
    pub const METHOD: &'static str = "AddCertificate";

    pub fn from_input(input: &CimObject) -> Result<Self, WsManError> {
        Ok(Self { certificate_blob: input.require("CertificateBlob")?.trim().into() })
    }

    /// Builds the output that points at the stored certificate.
    pub fn output(certificate: Option<&str>, value: ReturnValue) -> CimObject {
        let output = method_output(uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE, Self::METHOD, value);
        match certificate {
            Some(instance_id) => output.with_reference("CreatedCertificate", EndpointReference::instance(uri::AMT_PUBLIC_KEY_CERTIFICATE, instance_id)),
            None => output,
        }
    }
}

/// Reads the `ReturnValue` and the referenced `InstanceID` of a GenerateKeyPair or
/// AddCertificate output, such as `KeyPair` or `CreatedCertificate`.
pub fn created_instance(output: &CimObject, property: &'static str) -> Result<(ReturnValue, Option<String>), WsManError> {
    let instance = output.reference(property).and_then(|reference| reference.selector("InstanceID")).map(String::from);
    Ok((return_value(output)?, instance))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amt::wsman::Envelope;

    fn through_xml(object: CimObject) -> CimObject {
        let name = object.name.clone();
        Envelope::parse(&Envelope::put(object, "1").to_xml()).unwrap().into_object(&name).unwrap()
    }

    #[test]
    fn store_classes_round_trip() {
        let key = PublicPrivateKeyPair { instance_id: "Intel(r) AMT Key: Handle: 0".into(), der_key: "MIIBCgKCAQEA".into() };
        let certificate = PublicKeyCertificate {
            instance_id: "Intel(r) AMT Certificate: Handle: 0".into(),
            x509_certificate: "MIIC".into(),
            trusted_root: false,
            issuer: "CN=MeshCentralRoot-123456".into(),
            subject: "C=MC,ST=MC,O=MeshCentral,CN=IntelAMT-0a1b2c3d4e5f".into(),
        };

        assert_eq!(PublicPrivateKeyPair::from_object(&through_xml(key.to_object())).unwrap(), key);
        assert_eq!(PublicKeyCertificate::from_object(&through_xml(certificate.to_object())).unwrap(), certificate);
    }

    #[test]
    fn tls_classes_round_trip() {
        let remote = TlsSettingData { instance_id: TlsSettingData::REMOTE.into(), enabled: true, mutual_authentication: false, accept_non_secure_connections: true };
        let local = TlsSettingData { instance_id: TlsSettingData::LOCAL.into(), enabled: false, mutual_authentication: false, accept_non_secure_connections: true };
        let context = TlsCredentialContext {
            certificate: EndpointReference::instance(uri::AMT_PUBLIC_KEY_CERTIFICATE, "Intel(r) AMT Certificate: Handle: 1"),
            endpoints: EndpointReference::instance(uri::AMT_TLS_PROTOCOL_ENDPOINT_COLLECTION, "x"),
        };

        assert_eq!(TlsSettingData::from_object(&through_xml(remote.to_object())).unwrap(), remote);
        assert_eq!(TlsSettingData::from_object(&through_xml(local.to_object())).unwrap(), local);
        assert_eq!(local.to_object().property("AcceptNonSecureConnections"), None);
        let parsed = TlsCredentialContext::from_object(&through_xml(context.to_object())).unwrap();
        assert_eq!(parsed.certificate_instance(), Some("Intel(r) AMT Certificate: Handle: 1"));
    }

    #[test]
    fn method_outputs_point_at_instances() {
        let generated = through_xml(GenerateKeyPair::output(Some("Intel(r) AMT Key: Handle: 2"), ReturnValue::SUCCESS));
        let refused = through_xml(AddCertificate::output(None, ReturnValue::INVALID_CERT));

        assert_eq!(created_instance(&generated, "KeyPair").unwrap(), (ReturnValue::SUCCESS, Some("Intel(r) AMT Key: Handle: 2".into())));
        assert_eq!(created_instance(&refused, "CreatedCertificate").unwrap(), (ReturnValue::INVALID_CERT, None));
    }
}
