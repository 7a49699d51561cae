//! The WS-Management operations the ME serves during setup, on parsed envelopes.

use std::collections::VecDeque;

use super::state::AmtState;
use super::tls_setup;
use crate::amt::wsman::{
    AddCertificate, Body, CimObject, Envelope, Fault, FaultSubcode, GeneralSettings, GenerateKeyPair, Header,
    HostBasedSetupService, LowAccuracyTime, ProvisioningAuditRecord, ReturnValue, SetAdminAclEntryEx,
    SetHighAccuracyTimeSynch, SetMebxPassword, SetupAndConfigurationService, SoftwareIdentity, action, method_output,
    service_instance, uri,
};
use crate::amt::wsman::{ControlMode, ProvisioningState};

/// Maximum enumerations a connection keeps open at once. A client pulls one to its end
/// before the next, so the oldest is dropped when more are opened.
const MAX_ENUMERATIONS: usize = 16;

/// Pull returns one item when the request names no maximum (WS-Enumeration 2004/09).
const DEFAULT_MAX_ELEMENTS: u32 = 1;

/// Maximum user name length SetAdminAclEntryEx accepts, per the AMT SDK.
const MAX_USERNAME_LEN: usize = 16;

/// The response to one request and a one-line account of it for the event stream.
#[derive(Debug)]
pub(super) struct Reply {
    pub envelope: Envelope,
    pub detail: String,
}

/// Open enumeration contexts of one connection and the items each still has to give.
#[derive(Debug, Default)]
pub(super) struct Enumerations {
    next_id: u64,
    open: VecDeque<(String, Vec<CimObject>)>,
}

/// The AMT classes this ME serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resource {
    GeneralSettings,
    SoftwareIdentity,
    SetupAndConfiguration,
    Authorization,
    TimeSynchronization,
    HostBasedSetup,
    PublicKeyManagement,
    PublicKeyCertificate,
    PublicPrivateKeyPair,
    TlsSettingData,
    TlsCredentialContext,
}

impl Resource {
    fn from_uri(resource_uri: &str) -> Option<Self> {
        match resource_uri {
            uri::AMT_GENERAL_SETTINGS => Some(Self::GeneralSettings),
            uri::CIM_SOFTWARE_IDENTITY => Some(Self::SoftwareIdentity),
            uri::AMT_SETUP_AND_CONFIGURATION_SERVICE => Some(Self::SetupAndConfiguration),
            uri::AMT_AUTHORIZATION_SERVICE => Some(Self::Authorization),
            uri::AMT_TIME_SYNCHRONIZATION_SERVICE => Some(Self::TimeSynchronization),
            // NOTE: real firmware has IPS_HostBasedSetupService only from AMT 6.2; the
            // emulator serves it on every version so the control mode can be read back.
            uri::IPS_HOST_BASED_SETUP_SERVICE => Some(Self::HostBasedSetup),
            uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE => Some(Self::PublicKeyManagement),
            uri::AMT_PUBLIC_KEY_CERTIFICATE => Some(Self::PublicKeyCertificate),
            uri::AMT_PUBLIC_PRIVATE_KEY_PAIR => Some(Self::PublicPrivateKeyPair),
            uri::AMT_TLS_SETTING_DATA => Some(Self::TlsSettingData),
            uri::AMT_TLS_CREDENTIAL_CONTEXT => Some(Self::TlsCredentialContext),
            _ => None,
        }
    }

    pub(super) fn uri(self) -> &'static str {
        match self {
            Self::GeneralSettings => uri::AMT_GENERAL_SETTINGS,
            Self::SoftwareIdentity => uri::CIM_SOFTWARE_IDENTITY,
            Self::SetupAndConfiguration => uri::AMT_SETUP_AND_CONFIGURATION_SERVICE,
            Self::Authorization => uri::AMT_AUTHORIZATION_SERVICE,
            Self::TimeSynchronization => uri::AMT_TIME_SYNCHRONIZATION_SERVICE,
            Self::HostBasedSetup => uri::IPS_HOST_BASED_SETUP_SERVICE,
            Self::PublicKeyManagement => uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE,
            Self::PublicKeyCertificate => uri::AMT_PUBLIC_KEY_CERTIFICATE,
            Self::PublicPrivateKeyPair => uri::AMT_PUBLIC_PRIVATE_KEY_PAIR,
            Self::TlsSettingData => uri::AMT_TLS_SETTING_DATA,
            Self::TlsCredentialContext => uri::AMT_TLS_CREDENTIAL_CONTEXT,
        }
    }
}

/// Names a request briefly, such as `Get AMT_GeneralSettings` or
/// `AMT_SetupAndConfigurationService.CommitChanges`.
pub(super) fn describe_request(header: &Header) -> String {
    let resource_uri = header.resource_uri.as_deref().unwrap_or_default();
    let class = resource_uri.rsplit('/').next().unwrap_or_default();
    let operation = match header.action.as_str() {
        action::GET => "Get",
        action::PUT => "Put",
        action::CREATE => "Create",
        action::ENUMERATE => "Enumerate",
        action::PULL => "Pull",
        other => match other.strip_prefix(resource_uri).and_then(|rest| rest.strip_prefix('/')) {
            Some(method) if !resource_uri.is_empty() => return format!("{class}.{method}"),
            _ => return other.to_owned(),
        },
    };
    format!("{operation} {class}")
}

/// Serves one request.
pub(super) fn handle(state: &mut AmtState, enumerations: &mut Enumerations, request: &Envelope) -> Reply {
    let header = &request.header;
    let outcome = route(state, enumerations, request);

    match outcome {
        Ok((action, body, detail)) => Reply { envelope: Envelope::reply(Some(header), action, body), detail },
        Err(fault) => {
            let detail = format!("fault {fault}");
            Reply { envelope: Envelope::fault(Some(header), fault), detail }
        }
    }
}

pub(super) type Outcome = Result<(String, Body, String), Fault>;

fn route(state: &mut AmtState, enumerations: &mut Enumerations, request: &Envelope) -> Outcome {
    let header = &request.header;
    let resource_uri = header
        .resource_uri
        .as_deref()
        .ok_or_else(|| Fault::new(FaultSubcode::DestinationUnreachable, "the request has no wsman:ResourceURI"))?;
    let resource = Resource::from_uri(resource_uri)
        .ok_or_else(|| Fault::new(FaultSubcode::DestinationUnreachable, format!("no resource at {resource_uri}")))?;

    match header.action.as_str() {
        action::GET => get(state, resource, header),
        action::PUT => put(state, resource, header, &request.body),
        action::CREATE => tls_setup::create(state, resource, &request.body),
        action::ENUMERATE => Ok(enumerate(state, enumerations, resource)),
        action::PULL => pull(enumerations, &request.body),
        other => match other.strip_prefix(resource_uri).and_then(|rest| rest.strip_prefix('/')) {
            Some(method) => invoke(state, resource, method, &request.body),
            None => Err(action_not_supported(other, resource)),
        },
    }
}

pub(super) fn action_not_supported(action: &str, resource: Resource) -> Fault {
    Fault::new(FaultSubcode::ActionNotSupported, format!("{} does not support the action {action}", resource.uri()))
}

fn get(state: &AmtState, resource: Resource, header: &Header) -> Outcome {
    let instances = instances(state, resource);
    let instance = if instances.len() == 1 {
        instances.into_iter().next()
    } else {
        let requested = header.selector("InstanceID").ok_or_else(|| {
            Fault::new(
                FaultSubcode::InvalidSelectors,
                format!("{} has several instances: select one by InstanceID", resource.uri()),
            )
        })?;
        instances.into_iter().find(|instance| instance.property("InstanceID") == Some(requested))
    };
    let instance =
        instance.ok_or_else(|| Fault::new(FaultSubcode::InvalidSelectors, "no instance matches the selectors"))?;

    let detail = summarize_instance(&instance);
    Ok((action::GET_RESPONSE.into(), Body::Object(instance), detail))
}

fn put(state: &mut AmtState, resource: Resource, header: &Header, body: &Body) -> Outcome {
    if resource == Resource::TlsSettingData {
        return tls_setup::put_tls_settings(state, header, body);
    }
    if resource != Resource::GeneralSettings {
        return Err(action_not_supported(action::PUT, resource));
    }
    let object = expect_object(body, GeneralSettings::CLASS, resource)?;
    let settings = GeneralSettings::from_object(object).map_err(schema_error)?;

    // DigestRealm is read-only; the ME keeps its own whatever the client sent.
    state.host_name = settings.host_name;
    state.domain_name = settings.domain_name;
    let updated = general_settings(state).to_object();
    let detail = format!("HostName {:?}, DomainName {:?}", state.host_name, state.domain_name);
    Ok((action::PUT_RESPONSE.into(), Body::Object(updated), detail))
}

fn enumerate(state: &AmtState, enumerations: &mut Enumerations, resource: Resource) -> (String, Body, String) {
    enumerations.next_id += 1;
    let context = format!("enumeration-{}", enumerations.next_id);
    let items = instances(state, resource);
    let detail = format!("context {context}, {} instances", items.len());

    if enumerations.open.len() == MAX_ENUMERATIONS {
        enumerations.open.pop_front();
    }
    enumerations.open.push_back((context.clone(), items));
    (action::ENUMERATE_RESPONSE.into(), Body::EnumerateResponse { context }, detail)
}

fn pull(enumerations: &mut Enumerations, body: &Body) -> Outcome {
    let Body::Pull { context, max_elements } = body else {
        return Err(Fault::new(
            FaultSubcode::SchemaValidationError,
            format!("expected a Pull body, found {}", body.describe()),
        ));
    };
    let position = enumerations.open.iter().position(|(open, _)| open == context).ok_or_else(|| {
        Fault::new(FaultSubcode::InvalidEnumerationContext, format!("no open enumeration {context:?}"))
    })?;

    let max = max_elements.unwrap_or(DEFAULT_MAX_ELEMENTS).max(1) as usize;
    let remaining = &mut enumerations.open[position].1;
    let items: Vec<CimObject> = remaining.drain(..max.min(remaining.len())).collect();
    let end_of_sequence = remaining.is_empty();
    if end_of_sequence {
        enumerations.open.remove(position);
    }

    let detail = format!("{} items{}", items.len(), if end_of_sequence { ", end of sequence" } else { "" });
    Ok((action::PULL_RESPONSE.into(), Body::PullResponse { items, end_of_sequence }, detail))
}

/// A method's implementation: the ME state and the `<method>_INPUT` element in, the
/// `<method>_OUTPUT` element out.
type MethodHandler = fn(&mut AmtState, &CimObject) -> Result<CimObject, Fault>;

fn invoke(state: &mut AmtState, resource: Resource, method: &str, body: &Body) -> Outcome {
    let handler: MethodHandler = match (resource, method) {
        (Resource::SetupAndConfiguration, SetupAndConfigurationService::SET_MEBX_PASSWORD) => set_mebx_password,
        (Resource::SetupAndConfiguration, SetupAndConfigurationService::COMMIT_CHANGES) => {
            |state, _| Ok(commit_changes(state))
        }
        (Resource::Authorization, SetAdminAclEntryEx::METHOD) => set_admin_acl_entry,
        (Resource::TimeSynchronization, SetHighAccuracyTimeSynch::GET_LOW_ACCURACY) => {
            |state, _| Ok(get_low_accuracy_time(state))
        }
        (Resource::TimeSynchronization, SetHighAccuracyTimeSynch::METHOD) => set_high_accuracy_time,
        (Resource::SetupAndConfiguration, ProvisioningAuditRecord::METHOD) => |state, _| Ok(tls_setup::audit_record(state)),
        (Resource::PublicKeyManagement, GenerateKeyPair::METHOD) => tls_setup::generate_key_pair,
        (Resource::PublicKeyManagement, AddCertificate::METHOD) => tls_setup::add_certificate,
        _ => return Err(action_not_supported(&action::invoke(resource.uri(), method), resource)),
    };
    let input = expect_object(body, &format!("{method}_INPUT"), resource)?;
    let output = handler(state, input)?;

    let detail = summarize_instance(&output);
    Ok((action::invoke_response(resource.uri(), method), Body::Object(output), detail))
}

fn set_mebx_password(state: &mut AmtState, input: &CimObject) -> Result<CimObject, Fault> {
    let call = SetMebxPassword::from_input(input).map_err(schema_error)?;
    let value = if state.provisioning_state == ProvisioningState::Post {
        // The emulator applies the SDK's "During Setup and Configuration" MEBx password
        // policy, which allows the change only before provisioning ends.
        ReturnValue::NOT_PERMITTED
    } else if !is_strong_mebx_password(&call.password) {
        ReturnValue::INVALID_PASSWORD
    } else {
        state.mebx_password_set = true;
        ReturnValue::SUCCESS
    };
    Ok(method_output(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, SetupAndConfigurationService::SET_MEBX_PASSWORD, value))
}

/// Checks the SDK's strong-password rule for the MEBx password: 8 to 32 characters with
/// an upper-case letter, a lower-case letter, a digit and a non-alphanumeric character.
// NOTE: characters the firmware forbids inside passwords are not modelled.
fn is_strong_mebx_password(password: &str) -> bool {
    let length = password.chars().count();
    (8..=32).contains(&length)
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| c.is_ascii_punctuation())
}

fn set_admin_acl_entry(state: &mut AmtState, input: &CimObject) -> Result<CimObject, Fault> {
    let call = SetAdminAclEntryEx::from_input(input).map_err(schema_error)?;
    let output = |value| method_output(uri::AMT_AUTHORIZATION_SERVICE, SetAdminAclEntryEx::METHOD, value);
    if call.username.is_empty() || call.username.chars().count() > MAX_USERNAME_LEN {
        return Ok(output(ReturnValue::INVALID_NAME));
    }
    let Ok(ha1) = call.ha1() else {
        return Ok(output(ReturnValue::INVALID_PASSWORD));
    };

    let credentials = super::state::AdminCredentials { username: call.username, ha1 };
    match state.provisioning_state {
        ProvisioningState::Post => state.admin = credentials,
        ProvisioningState::Pre | ProvisioningState::In => state.pending_admin = Some(credentials),
    }
    Ok(output(ReturnValue::SUCCESS))
}

fn commit_changes(state: &mut AmtState) -> CimObject {
    let value = if state.provisioning_state == ProvisioningState::Post {
        ReturnValue::SUCCESS
    } else if state.pending_admin.is_none() {
        // The administrator password is the essential data PT_STATUS_DATA_MISSING refers to
        // here: without it the ME would stay open to `admin` with an empty password.
        ReturnValue::DATA_MISSING
    } else {
        state.commit();
        ReturnValue::SUCCESS
    };
    method_output(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, SetupAndConfigurationService::COMMIT_CHANGES, value)
}

fn get_low_accuracy_time(state: &AmtState) -> CimObject {
    LowAccuracyTime { ta0: state.now().unix_timestamp(), return_value: ReturnValue::SUCCESS }.to_output()
}

/// Sets the ME clock from the server's: the ME read `ta0` at the moment the server read
/// `tm1`, so the clock is off by `tm1 - ta0`.
fn set_high_accuracy_time(state: &mut AmtState, input: &CimObject) -> Result<CimObject, Fault> {
    let call = SetHighAccuracyTimeSynch::from_input(input).map_err(schema_error)?;
    let value = if call.ta0 > state.now().unix_timestamp() || call.tm2 < call.tm1 {
        ReturnValue::INVALID_PARAMETER
    } else {
        state.clock_offset_secs += call.tm1 - call.ta0;
        ReturnValue::SUCCESS
    };
    Ok(method_output(uri::AMT_TIME_SYNCHRONIZATION_SERVICE, SetHighAccuracyTimeSynch::METHOD, value))
}

pub(super) fn expect_object<'a>(body: &'a Body, name: &str, resource: Resource) -> Result<&'a CimObject, Fault> {
    match body {
        Body::Object(object) if object.name == name && object.namespace == resource.uri() => Ok(object),
        other => Err(Fault::new(
            FaultSubcode::SchemaValidationError,
            format!("expected {name} in namespace {}, found {}", resource.uri(), other.describe()),
        )),
    }
}

pub(super) fn schema_error(error: crate::amt::wsman::WsManError) -> Fault {
    Fault::new(FaultSubcode::SchemaValidationError, error.to_string())
}

fn instances(state: &AmtState, resource: Resource) -> Vec<CimObject> {
    match resource {
        Resource::GeneralSettings => vec![general_settings(state).to_object()],
        Resource::SoftwareIdentity => ["Flash", SoftwareIdentity::AMT_INSTANCE]
            .into_iter()
            .map(|id| {
                SoftwareIdentity { instance_id: id.into(), version_string: state.amt_version.clone(), is_entity: true }
                    .to_object()
            })
            .collect(),
        Resource::SetupAndConfiguration => vec![setup_service(state).to_object()],
        Resource::HostBasedSetup => vec![host_based_setup(state).to_object()],
        Resource::Authorization => {
            vec![service_instance(
                "AMT_AuthorizationService",
                uri::AMT_AUTHORIZATION_SERVICE,
                "Intel(r) AMT Authorization Service",
            )]
        }
        Resource::TimeSynchronization => vec![service_instance(
            "AMT_TimeSynchronizationService",
            uri::AMT_TIME_SYNCHRONIZATION_SERVICE,
            "Intel(r) AMT Time Synchronization Service",
        )],
        Resource::PublicKeyManagement
        | Resource::PublicKeyCertificate
        | Resource::PublicPrivateKeyPair
        | Resource::TlsSettingData
        | Resource::TlsCredentialContext => tls_setup::instances(state, resource),
    }
}

fn general_settings(state: &AmtState) -> GeneralSettings {
    GeneralSettings {
        digest_realm: state.digest_realm.clone(),
        host_name: state.host_name.clone(),
        domain_name: state.domain_name.clone(),
        network_interface_enabled: true,
        ping_response_enabled: true,
        shared_fqdn: true,
    }
}

fn setup_service(state: &AmtState) -> SetupAndConfigurationService {
    // 1 is admin control mode. The emulator omits the property before provisioning.
    let provisioning_mode = (state.control_mode == ControlMode::Admin).then_some(1);
    SetupAndConfigurationService {
        provisioning_state: state.provisioning_state,
        provisioning_mode,
        zero_touch_configuration_enabled: true,
    }
}

fn host_based_setup(state: &AmtState) -> HostBasedSetupService {
    HostBasedSetupService { current_control_mode: state.control_mode, allowed_control_modes: vec![ControlMode::Admin] }
}

/// Summarizes the key properties of an instance or output, for the event stream.
pub(super) fn summarize_instance(object: &CimObject) -> String {
    const KEY_PROPERTIES: [&str; 5] =
        ["ReturnValue", "DigestRealm", "VersionString", "ProvisioningState", "CurrentControlMode"];
    let mut parts: Vec<String> = KEY_PROPERTIES
        .iter()
        .filter_map(|name| object.property(name).map(|value| (name, value)))
        .map(|(name, value)| match (*name, value.parse().map(ReturnValue)) {
            ("ReturnValue", Ok(value)) => format!("ReturnValue {value}"),
            _ => format!("{name} {value}"),
        })
        .collect();
    if parts.is_empty() {
        parts.push(object.name.clone());
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amt::wsman::{FaultCode, method_input};
    use crate::me::wsman_server::state::AdminCredentials;
    use uuid::Uuid;

    fn state() -> AmtState {
        AmtState::new("4.1.1", Uuid::nil(), "vpro-1", "jcert.info")
    }

    fn serve(state: &mut AmtState, request: Envelope) -> Envelope {
        let mut enumerations = Enumerations::default();
        handle(state, &mut enumerations, &request).envelope
    }

    fn fault_of(envelope: Envelope) -> Fault {
        match envelope.body {
            Body::Fault(fault) => fault,
            other => panic!("expected a fault, got {}", other.describe()),
        }
    }

    fn return_value_of(envelope: Envelope, name: &str) -> ReturnValue {
        crate::amt::wsman::return_value(&envelope.into_object(name).unwrap()).unwrap()
    }

    #[test]
    fn get_general_settings_reports_realm() {
        let mut state = state();

        let reply = serve(&mut state, Envelope::get(uri::AMT_GENERAL_SETTINGS, "1"));

        assert_eq!(reply.header.action, action::GET_RESPONSE);
        assert_eq!(reply.header.relates_to.as_deref(), Some("1"));
        let settings = GeneralSettings::from_object(&reply.into_object("AMT_GeneralSettings").unwrap()).unwrap();
        assert_eq!(settings.digest_realm, state.digest_realm);
    }

    #[test]
    fn get_software_identity_needs_selector() {
        let mut state = state();

        let without = serve(&mut state, Envelope::get(uri::CIM_SOFTWARE_IDENTITY, "1"));
        let with = serve(&mut state, Envelope::get(uri::CIM_SOFTWARE_IDENTITY, "2").with_selector("InstanceID", "AMT"));

        assert_eq!(fault_of(without).subcode, FaultSubcode::InvalidSelectors);
        let identity = SoftwareIdentity::from_object(&with.into_object("CIM_SoftwareIdentity").unwrap()).unwrap();
        assert_eq!(identity.version_string, "4.1.1");
    }

    #[test]
    fn unknown_resource_and_method_are_faults() {
        let mut state = state();
        let unknown_uri = Envelope::get("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_Nothing", "1");
        let input = method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "Unprovision");
        let unknown_method = Envelope::invoke(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "Unprovision", input, "2");

        let unreachable = fault_of(serve(&mut state, unknown_uri));
        let unsupported = fault_of(serve(&mut state, unknown_method));

        assert_eq!(unreachable.subcode, FaultSubcode::DestinationUnreachable);
        assert_eq!(unsupported.subcode, FaultSubcode::ActionNotSupported);
        assert_eq!(unsupported.code, FaultCode::Sender);
    }

    #[test]
    fn wrong_input_element_is_schema_error() {
        let mut state = state();
        let wrong = method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "SetMEBxPassword").with("Passwort", "x");
        let misnamed = method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "CommitChanges");

        let missing_field = serve(
            &mut state,
            Envelope::invoke(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "SetMEBxPassword", wrong, "1"),
        );
        let wrong_name = serve(
            &mut state,
            Envelope::invoke(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "SetMEBxPassword", misnamed, "2"),
        );

        assert_eq!(fault_of(missing_field).subcode, FaultSubcode::SchemaValidationError);
        assert_eq!(fault_of(wrong_name).subcode, FaultSubcode::SchemaValidationError);
    }

    #[test]
    fn mebx_password_policy() {
        let mut state = state();
        let call = |password: &str| {
            let input = SetMebxPassword { password: password.into() }.to_input();
            Envelope::invoke(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "SetMEBxPassword", input, "1")
        };

        assert_eq!(
            return_value_of(serve(&mut state, call("short1!A")), "SetMEBxPassword_OUTPUT"),
            ReturnValue::SUCCESS
        );
        assert!(state.mebx_password_set);
        for weak in ["Sh0rt!", "alllower1!", "ALLUPPER1!", "NoDigits!!", "NoSpecial12", &"Aa1!".repeat(9)] {
            assert_eq!(
                return_value_of(serve(&mut state, call(weak)), "SetMEBxPassword_OUTPUT"),
                ReturnValue::INVALID_PASSWORD,
                "{weak}"
            );
        }
    }

    #[test]
    fn commit_needs_admin_password_then_provisions() {
        let mut state = state();
        let commit = || {
            let input = method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "CommitChanges");
            Envelope::invoke(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "CommitChanges", input, "1")
        };
        let acl = SetAdminAclEntryEx::new("admin", &state.digest_realm, "N3w-Admin");

        assert_eq!(return_value_of(serve(&mut state, commit()), "CommitChanges_OUTPUT"), ReturnValue::DATA_MISSING);
        let set = serve(
            &mut state,
            Envelope::invoke(uri::AMT_AUTHORIZATION_SERVICE, "SetAdminAclEntryEx", acl.to_input(), "2"),
        );
        assert_eq!(return_value_of(set, "SetAdminAclEntryEx_OUTPUT"), ReturnValue::SUCCESS);
        assert_eq!(state.provisioning_state, ProvisioningState::Pre);
        assert_eq!(return_value_of(serve(&mut state, commit()), "CommitChanges_OUTPUT"), ReturnValue::SUCCESS);

        assert_eq!(state.provisioning_state, ProvisioningState::Post);
        assert_eq!(state.control_mode, ControlMode::Admin);
        assert_eq!(state.admin, AdminCredentials::from_password("admin", &state.digest_realm, "N3w-Admin"));
    }

    #[test]
    fn admin_acl_rejects_bad_input() {
        let mut state = state();
        let long_name = SetAdminAclEntryEx::new(&"a".repeat(17), &state.digest_realm, "x");
        let bad_digest = SetAdminAclEntryEx { username: "admin".into(), digest_password: "c2hvcnQ=".into() };

        let call = |acl: &SetAdminAclEntryEx| {
            Envelope::invoke(uri::AMT_AUTHORIZATION_SERVICE, "SetAdminAclEntryEx", acl.to_input(), "1")
        };

        assert_eq!(
            return_value_of(serve(&mut state, call(&long_name)), "SetAdminAclEntryEx_OUTPUT"),
            ReturnValue::INVALID_NAME
        );
        assert_eq!(
            return_value_of(serve(&mut state, call(&bad_digest)), "SetAdminAclEntryEx_OUTPUT"),
            ReturnValue::INVALID_PASSWORD
        );
        assert_eq!(state.pending_admin, None);
    }

    #[test]
    fn time_synchronization_moves_clock() {
        let mut state = state();
        let get = method_input(uri::AMT_TIME_SYNCHRONIZATION_SERVICE, "GetLowAccuracyTimeSynch");
        let reply = serve(
            &mut state,
            Envelope::invoke(uri::AMT_TIME_SYNCHRONIZATION_SERVICE, "GetLowAccuracyTimeSynch", get, "1"),
        );
        let low = LowAccuracyTime::from_output(&reply.into_object("GetLowAccuracyTimeSynch_OUTPUT").unwrap()).unwrap();
        let set = SetHighAccuracyTimeSynch { ta0: low.ta0, tm1: low.ta0 + 3600, tm2: low.ta0 + 3600 };

        let reply = serve(
            &mut state,
            Envelope::invoke(uri::AMT_TIME_SYNCHRONIZATION_SERVICE, "SetHighAccuracyTimeSynch", set.to_input(), "2"),
        );

        assert_eq!(return_value_of(reply, "SetHighAccuracyTimeSynch_OUTPUT"), ReturnValue::SUCCESS);
        assert_eq!(state.clock_offset_secs, 3600);
    }

    #[test]
    fn enumerate_and_pull_software_identity() {
        let mut state = state();
        let mut enumerations = Enumerations::default();
        let enumerate =
            handle(&mut state, &mut enumerations, &Envelope::enumerate(uri::CIM_SOFTWARE_IDENTITY, "1")).envelope;
        let Body::EnumerateResponse { context } = enumerate.body else { panic!("no context") };

        let first =
            handle(&mut state, &mut enumerations, &Envelope::pull(uri::CIM_SOFTWARE_IDENTITY, &context, None, "2"))
                .envelope;
        let rest =
            handle(&mut state, &mut enumerations, &Envelope::pull(uri::CIM_SOFTWARE_IDENTITY, &context, Some(10), "3"))
                .envelope;
        let closed =
            handle(&mut state, &mut enumerations, &Envelope::pull(uri::CIM_SOFTWARE_IDENTITY, &context, Some(10), "4"))
                .envelope;

        assert!(matches!(first.body, Body::PullResponse { ref items, end_of_sequence: false } if items.len() == 1));
        assert!(matches!(rest.body, Body::PullResponse { ref items, end_of_sequence: true } if items.len() == 1));
        assert_eq!(fault_of(closed).subcode, FaultSubcode::InvalidEnumerationContext);
    }

    #[test]
    fn put_general_settings_keeps_realm() {
        let mut state = state();
        let realm = state.digest_realm.clone();
        let mut settings = general_settings(&state);
        settings.host_name = "renamed".into();
        settings.digest_realm = "Digest:FORGED".into();

        let reply = serve(&mut state, Envelope::put(settings.to_object(), "1"));

        assert_eq!(reply.header.action, action::PUT_RESPONSE);
        assert_eq!(state.host_name, "renamed");
        assert_eq!(state.digest_realm, realm);
    }

    #[test]
    fn describe_request_names_operation_and_class() {
        let commit = Envelope::invoke(
            uri::AMT_SETUP_AND_CONFIGURATION_SERVICE,
            "CommitChanges",
            method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "CommitChanges"),
            "1",
        );

        assert_eq!(describe_request(&Envelope::get(uri::AMT_GENERAL_SETTINGS, "1").header), "Get AMT_GeneralSettings");
        assert_eq!(describe_request(&commit.header), "AMT_SetupAndConfigurationService.CommitChanges");
    }
}
