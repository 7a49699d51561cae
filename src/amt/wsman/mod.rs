//! WS-Management messages as Intel AMT speaks them: SOAP 1.2 envelopes with WS-Addressing
//! (2004/08) headers, WS-Transfer Get and Put, WS-Enumeration Enumerate and Pull, method
//! invocations on AMT classes, SOAP faults, and the HTTP digest authentication that
//! carries them.
//!
//! This module has no transport. The setup server's client and the ME's server both build
//! and read these values and move the bytes over their own HTTP connection.

mod class;
pub mod digest;
mod envelope;
mod fault;
mod reference;
mod security;
mod status;
mod xml;

pub use class::{
    ControlMode, GeneralSettings, HostBasedSetupService, LowAccuracyTime, ProvisioningAuditRecord, ProvisioningState,
    SetAdminAclEntryEx,
    SetHighAccuracyTimeSynch, SetMebxPassword, SetupAndConfigurationService, SoftwareIdentity, admin_digest_password,
    method_input, method_output, return_value, service_instance,
};
pub use envelope::{Body, CimObject, Envelope, Header, Selector};
pub use fault::{Fault, FaultCode, FaultSubcode};
pub use reference::EndpointReference;
pub use security::{
    AddCertificate, GenerateKeyPair, PublicKeyCertificate, PublicPrivateKeyPair, TlsCredentialContext, TlsSettingData,
    created_instance,
};
pub use status::ReturnValue;

/// Path of the WS-Management endpoint on the ME's HTTP server.
pub const WSMAN_PATH: &str = "/wsman";

/// `Content-Type` of every request and response body.
pub const CONTENT_TYPE: &str = "application/soap+xml;charset=UTF-8";

/// The `wsa:To` and `wsa:ReplyTo` address meaning "reply on this connection".
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// XML namespaces of the protocols in an AMT envelope.
pub mod ns {
    pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
    pub const ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
    pub const ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
    pub const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
    pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
}

/// `wsa:Action` URIs of the operations and of their responses.
pub mod action {
    pub const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
    pub const GET_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse";
    pub const PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
    pub const PUT_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse";
    pub const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
    pub const CREATE_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse";
    pub const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    pub const ENUMERATE_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse";
    pub const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    pub const PULL_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse";
    pub const ADDRESSING_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
    pub const WSMAN_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
    pub const ENUMERATION_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";
    pub const TRANSFER_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/fault";

    /// Action of a method invocation: the class's resource URI, a slash and the method.
    pub fn invoke(resource_uri: &str, method: &str) -> String {
        format!("{resource_uri}/{method}")
    }

    /// Action of a method's response.
    pub fn invoke_response(resource_uri: &str, method: &str) -> String {
        format!("{resource_uri}/{method}Response")
    }
}

/// Resource URIs of the classes used during setup.
pub mod uri {
    pub const AMT_GENERAL_SETTINGS: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings";
    pub const AMT_SETUP_AND_CONFIGURATION_SERVICE: &str =
        "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService";
    pub const AMT_AUTHORIZATION_SERVICE: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService";
    pub const AMT_TIME_SYNCHRONIZATION_SERVICE: &str =
        "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TimeSynchronizationService";
    pub const CIM_SOFTWARE_IDENTITY: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_SoftwareIdentity";
    pub const IPS_HOST_BASED_SETUP_SERVICE: &str =
        "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService";
    pub const AMT_PUBLIC_KEY_MANAGEMENT_SERVICE: &str =
        "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService";
    pub const AMT_PUBLIC_KEY_CERTIFICATE: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate";
    pub const AMT_PUBLIC_PRIVATE_KEY_PAIR: &str =
        "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicPrivateKeyPair";
    pub const AMT_TLS_SETTING_DATA: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSSettingData";
    pub const AMT_TLS_CREDENTIAL_CONTEXT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext";
    pub const AMT_TLS_PROTOCOL_ENDPOINT_COLLECTION: &str =
        "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSProtocolEndpointCollection";
}

/// Error of bytes that are not a WS-Management message this module can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WsManError {
    #[error("invalid XML at byte {position}: {reason}")]
    Xml { position: u64, reason: String },

    #[error("XML nested deeper than {max} elements")]
    TooDeep { max: usize },

    #[error("root element {found} is not a SOAP 1.2 Envelope")]
    NotAnEnvelope { found: String },

    #[error("missing {element} in the envelope")]
    MissingElement { element: &'static str },

    #[error("invalid {field} {value:?}: expected {expected}")]
    InvalidValue { field: String, value: String, expected: &'static str },

    #[error("{class} has no {property} property")]
    MissingProperty { class: String, property: &'static str },

    #[error("unexpected body {found}: expected {expected}")]
    UnexpectedBody { expected: String, found: String },
}
