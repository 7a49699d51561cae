//! The operations on the ME's certificate store and TLS configuration that a setup
//! server uses to turn on TLS before CommitChanges, and the provisioning audit record.

use super::operations::{Outcome, Resource, action_not_supported, expect_object, schema_error, summarize_instance};
use super::state::AmtState;
use crate::amt::wsman::{
    AddCertificate, Body, CimObject, Fault, FaultSubcode, GenerateKeyPair, Header, ProvisioningAuditRecord,
    ReturnValue, TlsCredentialContext, TlsSettingData, action, method_output, service_instance, uri,
};

/// Lists the instances of the store's classes, for Get and Enumerate.
pub(super) fn instances(state: &AmtState, resource: Resource) -> Vec<CimObject> {
    let store = &state.store;
    match resource {
        Resource::PublicKeyManagement => vec![service_instance(
            "AMT_PublicKeyManagementService",
            uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE,
            "Intel(r) AMT Public Key Management Service",
        )],
        Resource::PublicKeyCertificate => store.certificate_instances().iter().map(|certificate| certificate.to_object()).collect(),
        Resource::PublicPrivateKeyPair => store.key_pair_instances().iter().map(|pair| pair.to_object()).collect(),
        Resource::TlsSettingData => store.tls_settings.iter().map(TlsSettingData::to_object).collect(),
        Resource::TlsCredentialContext => store.credential_context.iter().map(TlsCredentialContext::to_object).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn generate_key_pair(state: &mut AmtState, input: &CimObject) -> Result<CimObject, Fault> {
    let call = GenerateKeyPair::from_input(input).map_err(schema_error)?;
    match state.store.generate_key_pair(call.key_algorithm, call.key_length) {
        Ok(instance_id) => Ok(GenerateKeyPair::output(Some(&instance_id), ReturnValue::SUCCESS)),
        Err(value) => Ok(GenerateKeyPair::output(None, value)),
    }
}

pub(super) fn add_certificate(state: &mut AmtState, input: &CimObject) -> Result<CimObject, Fault> {
    let call = AddCertificate::from_input(input).map_err(schema_error)?;
    match state.store.add_certificate(&call.certificate_blob) {
        Ok(instance_id) => Ok(AddCertificate::output(Some(&instance_id), ReturnValue::SUCCESS)),
        Err(value) => Ok(AddCertificate::output(None, value)),
    }
}

/// Returns GetProvisioningAuditRecord's output; before any PKI setup the record is empty
/// and the SDK's PT_STATUS_DATA_MISSING is returned.
pub(super) fn audit_record(state: &mut AmtState) -> CimObject {
    match state.audit.to_output() {
        Some(record) => record.to_output(),
        None => method_output(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, ProvisioningAuditRecord::METHOD, ReturnValue::DATA_MISSING),
    }
}

/// Serves a WS-Transfer Create; the ME creates only `AMT_TLSCredentialContext`.
pub(super) fn create(state: &mut AmtState, resource: Resource, body: &Body) -> Outcome {
    if resource != Resource::TlsCredentialContext {
        return Err(action_not_supported(action::CREATE, resource));
    }
    let object = expect_object(body, TlsCredentialContext::CLASS, resource)?;
    let context = TlsCredentialContext::from_object(object).map_err(schema_error)?;

    let detail = format!("ElementInContext {}", context.certificate_instance().unwrap_or("(no InstanceID)"));
    let created = state.store.set_credential_context(context).map_err(|reason| Fault::new(FaultSubcode::InvalidRepresentation, reason))?;
    Ok((action::CREATE_RESPONSE.into(), Body::ResourceCreated(created), detail))
}

/// Serves a Put of one interface's `AMT_TLSSettingData`, chosen by the `InstanceID`
/// selector or, without one, by the body's `InstanceID`.
pub(super) fn put_tls_settings(state: &mut AmtState, header: &Header, body: &Body) -> Outcome {
    let object = expect_object(body, TlsSettingData::CLASS, Resource::TlsSettingData)?;
    let settings = TlsSettingData::from_object(object).map_err(schema_error)?;
    if let Some(selected) = header.selector("InstanceID")
        && selected != settings.instance_id
    {
        return Err(Fault::new(FaultSubcode::InvalidSelectors, format!("the selector names {selected:?} but the body is {:?}", settings.instance_id)));
    }

    let stored = state.store.put_tls_settings(settings).map_err(|reason| Fault::new(FaultSubcode::InvalidSelectors, reason))?;
    let object = stored.to_object();
    let detail = format!("{}, {}", summarize_instance(&object), describe_settings(&stored));
    Ok((action::PUT_RESPONSE.into(), Body::Object(object), detail))
}

fn describe_settings(settings: &TlsSettingData) -> String {
    format!(
        "{}: Enabled {}, MutualAuthentication {}, AcceptNonSecureConnections {}",
        settings.instance_id, settings.enabled, settings.mutual_authentication, settings.accept_non_secure_connections
    )
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use uuid::Uuid;

    use super::super::operations::{Enumerations, handle};
    use super::*;
    use crate::amt::wsman::{EndpointReference, Envelope, created_instance, method_input, return_value};

    fn state() -> AmtState {
        AmtState::new("11.8.50", Uuid::nil(), "pc90", "jcert.info")
    }

    fn serve(state: &mut AmtState, request: Envelope) -> Envelope {
        handle(state, &mut Enumerations::default(), &request).envelope
    }

    fn invoke(resource_uri: &str, method: &str, input: CimObject) -> Envelope {
        Envelope::invoke(resource_uri, method, input, "1")
    }

    fn fault_subcode(envelope: Envelope) -> FaultSubcode {
        match envelope.body {
            Body::Fault(fault) => fault.subcode,
            other => panic!("expected a fault, got {}", other.describe()),
        }
    }

    fn foreign_certificate() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["other.jcert.info".into()]).unwrap();
        base64::engine::general_purpose::STANDARD.encode(params.self_signed(&key).unwrap().der())
    }

    #[test]
    fn generate_key_pair_lists_der_key() {
        let mut state = state();
        let input = method_input(uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE, "GenerateKeyPair").with("KeyAlgorithm", 0).with("KeyLength", 2048);

        let output = serve(&mut state, invoke(uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE, "GenerateKeyPair", input)).into_object("GenerateKeyPair_OUTPUT").unwrap();

        let (value, instance) = created_instance(&output, "KeyPair").unwrap();
        assert_eq!(value, ReturnValue::SUCCESS);
        let pairs = instances(&state, Resource::PublicPrivateKeyPair);
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].property("InstanceID"), instance.as_deref());
        // A DER PKCS#1 RSAPublicKey of 2048 bits starts with SEQUENCE, length 0x010a.
        assert!(pairs[0].property("DERKey").unwrap().starts_with("MIIBCgKCAQEA"), "{:?}", pairs[0].property("DERKey"));
    }

    #[test]
    fn generate_key_pair_rejects_other_lengths() {
        let mut state = state();
        let input = method_input(uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE, "GenerateKeyPair").with("KeyAlgorithm", 0).with("KeyLength", 1024);

        let output = serve(&mut state, invoke(uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE, "GenerateKeyPair", input)).into_object("GenerateKeyPair_OUTPUT").unwrap();

        assert_eq!(created_instance(&output, "KeyPair").unwrap(), (ReturnValue::UNSUPPORTED, None));
        assert!(instances(&state, Resource::PublicPrivateKeyPair).is_empty());
    }

    #[test]
    fn create_context_needs_private_key() {
        let mut state = state();
        let input = method_input(uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE, "AddCertificate").with("CertificateBlob", foreign_certificate());
        let output = serve(&mut state, invoke(uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE, "AddCertificate", input)).into_object("AddCertificate_OUTPUT").unwrap();
        let (value, certificate) = created_instance(&output, "CreatedCertificate").unwrap();
        assert_eq!(value, ReturnValue::SUCCESS);
        let context = TlsCredentialContext {
            certificate: EndpointReference::instance(uri::AMT_PUBLIC_KEY_CERTIFICATE, &certificate.unwrap()),
            endpoints: EndpointReference::instance(uri::AMT_TLS_PROTOCOL_ENDPOINT_COLLECTION, "TLSProtocolEndpointInstances Collection"),
        };

        let reply = serve(&mut state, Envelope::create(context.to_object(), "2"));

        assert_eq!(fault_subcode(reply), FaultSubcode::InvalidRepresentation);
        assert!(state.store.credential_context.is_none());
    }

    #[test]
    fn create_other_class_is_unsupported() {
        let mut state = state();
        let settings = state.store.tls_settings[0].to_object();

        let reply = serve(&mut state, Envelope::create(settings, "1"));

        assert_eq!(fault_subcode(reply), FaultSubcode::ActionNotSupported);
    }

    #[test]
    fn put_tls_settings_by_selector() {
        let mut state = state();
        let mut remote = state.store.tls_settings[0].clone();
        remote.enabled = true;
        let put = Envelope::put(remote.to_object(), "1").with_selector("InstanceID", TlsSettingData::REMOTE);
        let mismatched = Envelope::put(remote.to_object(), "2").with_selector("InstanceID", TlsSettingData::LOCAL);

        let reply = serve(&mut state, put);
        let refused = serve(&mut state, mismatched);

        assert_eq!(reply.header.action, action::PUT_RESPONSE);
        assert!(state.store.tls_settings[0].enabled);
        assert!(!state.store.tls_settings[1].enabled);
        assert_eq!(fault_subcode(refused), FaultSubcode::InvalidSelectors);
    }

    #[test]
    fn audit_record_missing_before_setup() {
        let mut state = state();
        let input = method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, ProvisioningAuditRecord::METHOD);

        let output = serve(&mut state, invoke(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, ProvisioningAuditRecord::METHOD, input)).into_object("GetProvisioningAuditRecord_OUTPUT").unwrap();

        assert_eq!(return_value(&output).unwrap(), ReturnValue::DATA_MISSING);
    }
}
