//! The AMT classes and methods used during setup, with the property names of the AMT SDK.

use base64::Engine as _;
use md5::{Digest as _, Md5};

use super::envelope::CimObject;
use super::{ReturnValue, WsManError, uri};

/// `AMT_SetupAndConfigurationService.ProvisioningState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProvisioningState {
    /// Setup has not started: the ME accepts `admin` with an empty password.
    Pre = 0,
    In = 1,
    /// CommitChanges succeeded: AMT is configured.
    Post = 2,
}

/// Control mode, as `IPS_HostBasedSetupService.CurrentControlMode` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlMode {
    NotProvisioned = 0,
    /// Client control mode (CCM), from host-based setup.
    Client = 1,
    /// Admin control mode (ACM), the result of PKI remote setup.
    Admin = 2,
}

impl ProvisioningState {
    pub fn from_value(value: u8) -> Option<Self> {
        [Self::Pre, Self::In, Self::Post].into_iter().find(|state| *state as u8 == value)
    }
}

impl ControlMode {
    pub fn from_value(value: u8) -> Option<Self> {
        [Self::NotProvisioned, Self::Client, Self::Admin].into_iter().find(|mode| *mode as u8 == value)
    }

    /// Returns the abbreviation used in AMT documentation: ACM, CCM, or none.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::NotProvisioned => "none",
            Self::Client => "CCM",
            Self::Admin => "ACM",
        }
    }
}

/// `AMT_GeneralSettings`, of which setup reads `DigestRealm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneralSettings {
    /// Realm of HTTP digest authentication: `Digest:` and 32 hex digits on real firmware.
    pub digest_realm: String,
    pub host_name: String,
    pub domain_name: String,
    pub network_interface_enabled: bool,
    pub ping_response_enabled: bool,
    pub shared_fqdn: bool,
}

/// One `CIM_SoftwareIdentity` instance; `InstanceID` `AMT` carries the AMT version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoftwareIdentity {
    pub instance_id: String,
    pub version_string: String,
    pub is_entity: bool,
}

/// `AMT_SetupAndConfigurationService`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupAndConfigurationService {
    pub provisioning_state: ProvisioningState,
    /// 1 is admin control mode (Enterprise before AMT 7.0), 4 client control mode.
    pub provisioning_mode: Option<u16>,
    pub zero_touch_configuration_enabled: bool,
}

/// `IPS_HostBasedSetupService`, whose `CurrentControlMode` distinguishes ACM from CCM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBasedSetupService {
    pub current_control_mode: ControlMode,
    pub allowed_control_modes: Vec<ControlMode>,
}

/// `AMT_SetupAndConfigurationService.SetMEBxPassword`.
#[derive(Clone, PartialEq, Eq)]
pub struct SetMebxPassword {
    pub password: String,
}

/// `AMT_AuthorizationService.SetAdminAclEntryEx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAdminAclEntryEx {
    pub username: String,
    /// Base64 of MD5(`username:realm:password`), the digest HA1, so the password itself is
    /// never sent to the ME.
    pub digest_password: String,
}

/// `AMT_TimeSynchronizationService.SetHighAccuracyTimeSynch`; times are seconds since
/// the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetHighAccuracyTimeSynch {
    /// The ME's time as `GetLowAccuracyTimeSynch` returned it.
    pub ta0: i64,
    /// The server's time when that response arrived.
    pub tm1: i64,
    /// The server's time just before this call.
    pub tm2: i64,
}

/// `AMT_SetupAndConfigurationService.GetProvisioningAuditRecord` output: the record the
/// firmware keeps of its last PKI setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisioningAuditRecord {
    /// 1 for PKI, 2 for PSK, 0 before any setup.
    pub provisioning_tls_mode: u8,
    /// Whether the DNS suffix came from MEBx (`SecureDNS`), not from DHCP option 15.
    pub secure_dns: bool,
    pub host_initiated: bool,
    /// The setup server's FQDN from its certificate.
    pub prov_server_fqdn: String,
    /// Algorithm of the matched root hash: 1 SHA-1, 2 SHA-256, 3 SHA-384.
    pub selected_hash_type: u8,
    /// The matched root hash, base64 as the SDK types it.
    pub selected_hash_data: String,
    /// Serial numbers of the chain's CA certificates, intermediate first, in hex.
    pub ca_certificate_serials: Vec<String>,
    /// Whether the matched hash is one of the firmware's default hashes.
    pub is_oem_default: bool,
    pub prov_server_ip: String,
    /// When the TLS session of the setup started, as xs:dateTime.
    pub tls_start_time: String,
    pub return_value: ReturnValue,
}

/// `GetLowAccuracyTimeSynch_OUTPUT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowAccuracyTime {
    pub ta0: i64,
    pub return_value: ReturnValue,
}

impl GeneralSettings {
    pub const CLASS: &'static str = "AMT_GeneralSettings";
    /// `InstanceID` and `ElementName` of the only instance.
    const INSTANCE_ID: &'static str = "Intel(r) AMT: General Settings";

    pub fn to_object(&self) -> CimObject {
        CimObject::new(Self::CLASS, uri::AMT_GENERAL_SETTINGS)
            .with("DigestRealm", &self.digest_realm)
            .with("DomainName", &self.domain_name)
            .with("ElementName", Self::INSTANCE_ID)
            .with("HostName", &self.host_name)
            .with("InstanceID", Self::INSTANCE_ID)
            .with("NetworkInterfaceEnabled", self.network_interface_enabled)
            .with("PingResponseEnabled", self.ping_response_enabled)
            .with("SharedFQDN", self.shared_fqdn)
    }

    pub fn from_object(object: &CimObject) -> Result<Self, WsManError> {
        Ok(Self {
            digest_realm: object.require("DigestRealm")?.trim().to_owned(),
            host_name: object.property("HostName").unwrap_or_default().trim().to_owned(),
            domain_name: object.property("DomainName").unwrap_or_default().trim().to_owned(),
            network_interface_enabled: object.bool_property("NetworkInterfaceEnabled")?.unwrap_or(true),
            ping_response_enabled: object.bool_property("PingResponseEnabled")?.unwrap_or(true),
            shared_fqdn: object.bool_property("SharedFQDN")?.unwrap_or(true),
        })
    }
}

impl SoftwareIdentity {
    pub const CLASS: &'static str = "CIM_SoftwareIdentity";
    /// `InstanceID` of the instance whose `VersionString` is the AMT version.
    pub const AMT_INSTANCE: &'static str = "AMT";

    pub fn to_object(&self) -> CimObject {
        CimObject::new(Self::CLASS, uri::CIM_SOFTWARE_IDENTITY)
            .with("InstanceID", &self.instance_id)
            .with("IsEntity", self.is_entity)
            .with("VersionString", &self.version_string)
    }

    pub fn from_object(object: &CimObject) -> Result<Self, WsManError> {
        Ok(Self {
            instance_id: object.require("InstanceID")?.trim().to_owned(),
            version_string: object.require("VersionString")?.trim().to_owned(),
            is_entity: object.bool_property("IsEntity")?.unwrap_or(true),
        })
    }
}

impl SetupAndConfigurationService {
    pub const CLASS: &'static str = "AMT_SetupAndConfigurationService";
    pub const SET_MEBX_PASSWORD: &'static str = "SetMEBxPassword";
    pub const COMMIT_CHANGES: &'static str = "CommitChanges";
    const NAME: &'static str = "Intel(r) AMT Setup and Configuration Service";

    pub fn to_object(&self) -> CimObject {
        let mut object = service_instance(Self::CLASS, uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, Self::NAME);
        if let Some(mode) = self.provisioning_mode {
            object = object.with("ProvisioningMode", mode);
        }
        object
            .with("ProvisioningState", self.provisioning_state as u8)
            .with("ZeroTouchConfigurationEnabled", self.zero_touch_configuration_enabled)
    }

    pub fn from_object(object: &CimObject) -> Result<Self, WsManError> {
        let state: u8 = object.parse_property("ProvisioningState", "0, 1 or 2")?;
        let provisioning_state = ProvisioningState::from_value(state).ok_or_else(|| WsManError::InvalidValue {
            field: "AMT_SetupAndConfigurationService.ProvisioningState".into(),
            value: state.to_string(),
            expected: "0 (pre), 1 (in) or 2 (post)",
        })?;
        let provisioning_mode = match object.property("ProvisioningMode") {
            Some(_) => Some(object.parse_property("ProvisioningMode", "an integer")?),
            None => None,
        };
        let zero_touch_configuration_enabled = object.bool_property("ZeroTouchConfigurationEnabled")?.unwrap_or(false);
        Ok(Self { provisioning_state, provisioning_mode, zero_touch_configuration_enabled })
    }
}

impl HostBasedSetupService {
    pub const CLASS: &'static str = "IPS_HostBasedSetupService";
    const NAME: &'static str = "Intel(r) AMT Host Based Setup Service";

    pub fn to_object(&self) -> CimObject {
        let mut object = service_instance(Self::CLASS, uri::IPS_HOST_BASED_SETUP_SERVICE, Self::NAME)
            .with("CurrentControlMode", self.current_control_mode as u8);
        for mode in &self.allowed_control_modes {
            object = object.with("AllowedControlModes", *mode as u8);
        }
        object
    }

    pub fn from_object(object: &CimObject) -> Result<Self, WsManError> {
        let control_mode = |value: &str| {
            value.trim().parse().ok().and_then(ControlMode::from_value).ok_or_else(|| WsManError::InvalidValue {
                field: "IPS_HostBasedSetupService.CurrentControlMode".into(),
                value: value.into(),
                expected: "0 (not provisioned), 1 (client) or 2 (admin)",
            })
        };
        let current_control_mode = control_mode(object.require("CurrentControlMode")?)?;
        let allowed_control_modes = object
            .properties
            .iter()
            .filter(|(name, _)| name == "AllowedControlModes")
            .map(|(_, value)| control_mode(value))
            .collect::<Result<_, _>>()?;
        Ok(Self { current_control_mode, allowed_control_modes })
    }
}

/// Creates an AMT service instance with the key properties every one carries.
pub fn service_instance(class: &str, resource_uri: &str, name: &str) -> CimObject {
    CimObject::new(class, resource_uri)
        .with("CreationClassName", class)
        .with("ElementName", name)
        .with("Name", name)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

impl SetMebxPassword {
    pub fn to_input(&self) -> CimObject {
        method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, SetupAndConfigurationService::SET_MEBX_PASSWORD)
            .with("Password", &self.password)
    }

    pub fn from_input(input: &CimObject) -> Result<Self, WsManError> {
        Ok(Self { password: input.require("Password")?.to_owned() })
    }
}

impl std::fmt::Debug for SetMebxPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetMebxPassword").field("password", &"<hidden>").finish()
    }
}

impl SetAdminAclEntryEx {
    pub const METHOD: &'static str = "SetAdminAclEntryEx";

    /// Creates the call that sets `username`'s password under the ME's digest realm.
    pub fn new(username: &str, realm: &str, password: &str) -> Self {
        Self { username: username.into(), digest_password: admin_digest_password(username, realm, password) }
    }

    pub fn to_input(&self) -> CimObject {
        method_input(uri::AMT_AUTHORIZATION_SERVICE, Self::METHOD)
            .with("Username", &self.username)
            .with("DigestPassword", &self.digest_password)
    }

    pub fn from_input(input: &CimObject) -> Result<Self, WsManError> {
        Ok(Self {
            username: input.require("Username")?.trim().to_owned(),
            digest_password: input.require("DigestPassword")?.trim().to_owned(),
        })
    }

    /// Decodes the 16-byte HA1 carried in `DigestPassword`: base64 as the SDK types the
    /// field, or 32 hex digits.
    ///
    /// MeshCentral 1.1.55 sends the hex form and then logs in with the password, which
    /// works on real firmware, so firmware reads that form too. The two cannot be
    /// confused: base64 of 16 bytes has 24 characters, hex has 32.
    pub fn ha1(&self) -> Result<[u8; 16], WsManError> {
        let invalid = || WsManError::InvalidValue {
            field: "SetAdminAclEntryEx_INPUT.DigestPassword".into(),
            value: self.digest_password.clone(),
            expected: "base64 of a 16-byte MD5 digest, or its 32 hex digits",
        };
        let value = &self.digest_password;
        let bytes = if value.len() == 32 && value.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            hex::decode(value).map_err(|_| invalid())?
        } else {
            base64::engine::general_purpose::STANDARD.decode(value).map_err(|_| invalid())?
        };
        bytes.try_into().map_err(|_| invalid())
    }
}

/// `DigestPassword` for SetAdminAclEntryEx: base64 of MD5(`username:realm:password`).
pub fn admin_digest_password(username: &str, realm: &str, password: &str) -> String {
    let ha1 = Md5::digest(format!("{username}:{realm}:{password}"));
    base64::engine::general_purpose::STANDARD.encode(ha1)
}

impl SetHighAccuracyTimeSynch {
    pub const GET_LOW_ACCURACY: &'static str = "GetLowAccuracyTimeSynch";
    pub const METHOD: &'static str = "SetHighAccuracyTimeSynch";

    pub fn to_input(&self) -> CimObject {
        method_input(uri::AMT_TIME_SYNCHRONIZATION_SERVICE, Self::METHOD)
            .with("Ta0", self.ta0)
            .with("Tm1", self.tm1)
            .with("Tm2", self.tm2)
    }

    pub fn from_input(input: &CimObject) -> Result<Self, WsManError> {
        Ok(Self {
            ta0: input.parse_property("Ta0", "seconds since 1970")?,
            tm1: input.parse_property("Tm1", "seconds since 1970")?,
            tm2: input.parse_property("Tm2", "seconds since 1970")?,
        })
    }
}

impl ProvisioningAuditRecord {
    pub const METHOD: &'static str = "GetProvisioningAuditRecord";

    pub fn to_output(&self) -> CimObject {
        let mut output = method_output(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, Self::METHOD, self.return_value);
        for serial in &self.ca_certificate_serials {
            output = output.with("CaCertificateSerials", serial);
        }
        output
            .with("HostInitiated", self.host_initiated)
            .with("IsOemDefault", self.is_oem_default)
            .with("IsTimeValid", true)
            .with("ProvServerFQDN", &self.prov_server_fqdn)
            .with("ProvServerIP", &self.prov_server_ip)
            .with("ProvisioningTLSMode", self.provisioning_tls_mode)
            .with("SecureDNS", self.secure_dns)
            .with("SelectedHashData", &self.selected_hash_data)
            .with("SelectedHashType", self.selected_hash_type)
            .with("TlsStartTime", &self.tls_start_time)
    }

    pub fn from_output(output: &CimObject) -> Result<Self, WsManError> {
        let text = |name| output.property(name).unwrap_or_default().trim().to_owned();
        Ok(Self {
            provisioning_tls_mode: output.parse_property("ProvisioningTLSMode", "0, 1 (PKI) or 2 (PSK)")?,
            secure_dns: output.bool_property("SecureDNS")?.unwrap_or(false),
            host_initiated: output.bool_property("HostInitiated")?.unwrap_or(false),
            prov_server_fqdn: text("ProvServerFQDN"),
            selected_hash_type: output.parse_property("SelectedHashType", "1, 2 or 3")?,
            selected_hash_data: text("SelectedHashData"),
            ca_certificate_serials: output.properties.iter().filter(|(name, _)| name == "CaCertificateSerials").map(|(_, value)| value.trim().to_owned()).collect(),
            is_oem_default: output.bool_property("IsOemDefault")?.unwrap_or(false),
            prov_server_ip: text("ProvServerIP"),
            tls_start_time: text("TlsStartTime"),
            return_value: return_value(output)?,
        })
    }
}

impl LowAccuracyTime {
    pub fn to_output(&self) -> CimObject {
        method_output(
            uri::AMT_TIME_SYNCHRONIZATION_SERVICE,
            SetHighAccuracyTimeSynch::GET_LOW_ACCURACY,
            self.return_value,
        )
        .with("Ta0", self.ta0)
    }

    pub fn from_output(output: &CimObject) -> Result<Self, WsManError> {
        Ok(Self { ta0: output.parse_property("Ta0", "seconds since 1970")?, return_value: return_value(output)? })
    }
}

/// Creates the `<method>_INPUT` element of a method, to which parameters can be added.
pub fn method_input(resource_uri: &str, method: &str) -> CimObject {
    CimObject::new(format!("{method}_INPUT"), resource_uri)
}

/// Creates the `<method>_OUTPUT` element carrying a `ReturnValue`.
pub fn method_output(resource_uri: &str, method: &str, value: ReturnValue) -> CimObject {
    CimObject::new(format!("{method}_OUTPUT"), resource_uri).with("ReturnValue", value.0)
}

/// Reads the `ReturnValue` of a method's output.
pub fn return_value(output: &CimObject) -> Result<ReturnValue, WsManError> {
    output.parse_property("ReturnValue", "an unsigned integer").map(ReturnValue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amt::wsman::Envelope;

    fn through_xml(object: CimObject) -> CimObject {
        let name = object.name.clone();
        let envelope = Envelope::put(object, "1");
        Envelope::parse(&envelope.to_xml()).unwrap().into_object(&name).unwrap()
    }

    #[test]
    fn general_settings_round_trip() {
        let settings = GeneralSettings {
            digest_realm: "Digest:0123456789ABCDEF0123456789ABCDEF".into(),
            host_name: "vpro-1".into(),
            domain_name: "jcert.info".into(),
            network_interface_enabled: true,
            ping_response_enabled: false,
            shared_fqdn: true,
        };

        let object = through_xml(settings.to_object());

        assert_eq!(object.property("InstanceID"), Some("Intel(r) AMT: General Settings"));
        assert_eq!(GeneralSettings::from_object(&object).unwrap(), settings);
    }

    #[test]
    fn services_round_trip() {
        let setup = SetupAndConfigurationService {
            provisioning_state: ProvisioningState::Post,
            provisioning_mode: Some(1),
            zero_touch_configuration_enabled: true,
        };
        let host_based = HostBasedSetupService {
            current_control_mode: ControlMode::Admin,
            allowed_control_modes: vec![ControlMode::Client, ControlMode::Admin],
        };
        let identity = SoftwareIdentity { instance_id: "AMT".into(), version_string: "4.1.1".into(), is_entity: true };

        assert_eq!(SetupAndConfigurationService::from_object(&through_xml(setup.to_object())).unwrap(), setup);
        assert_eq!(HostBasedSetupService::from_object(&through_xml(host_based.to_object())).unwrap(), host_based);
        assert_eq!(SoftwareIdentity::from_object(&through_xml(identity.to_object())).unwrap(), identity);
    }

    #[test]
    fn methods_round_trip() {
        let mebx = SetMebxPassword { password: "P@ssw0rd!".into() };
        let acl = SetAdminAclEntryEx::new("admin", "Digest:ABC", "secret");
        let time = SetHighAccuracyTimeSynch { ta0: 1_644_240_911, tm1: 1_644_240_943, tm2: 1_644_240_943 };
        let low = LowAccuracyTime { ta0: 1_704_586_865, return_value: ReturnValue::SUCCESS };

        assert_eq!(SetMebxPassword::from_input(&through_xml(mebx.to_input())).unwrap(), mebx);
        assert_eq!(SetAdminAclEntryEx::from_input(&through_xml(acl.to_input())).unwrap(), acl);
        assert_eq!(SetHighAccuracyTimeSynch::from_input(&through_xml(time.to_input())).unwrap(), time);
        assert_eq!(LowAccuracyTime::from_output(&through_xml(low.to_output())).unwrap(), low);
    }

    #[test]
    fn admin_acl_reads_hex_digest_password() {
        // MeshCentral's form: MD5("admin:Digest:ABC:secret") in hex.
        let acl = SetAdminAclEntryEx { username: "admin".into(), digest_password: "c9f2d1f3cda6844057d3d95e6ae21c29".into() };

        assert_eq!(acl.ha1().unwrap(), SetAdminAclEntryEx::new("admin", "Digest:ABC", "secret").ha1().unwrap());
    }

    #[test]
    fn audit_record_round_trip() {
        let record = ProvisioningAuditRecord {
            provisioning_tls_mode: 1,
            secure_dns: false,
            host_initiated: false,
            prov_server_fqdn: "scs.jcert.info".into(),
            selected_hash_type: 2,
            selected_hash_data: "FGX6IFOXuHb6pvCplY5VkOQPzH+qT7fCyGd1Iftftlg=".into(),
            ca_certificate_serials: vec!["0a1b".into(), "2c3d".into()],
            is_oem_default: false,
            prov_server_ip: "192.168.90.20".into(),
            tls_start_time: "2024-01-01T00:00:00Z".into(),
            return_value: ReturnValue::SUCCESS,
        };

        assert_eq!(ProvisioningAuditRecord::from_output(&through_xml(record.to_output())).unwrap(), record);
    }

    #[test]
    fn admin_digest_password_is_base64_md5() {
        // MD5("admin:Digest:ABC:secret") computed independently with md5sum.
        let expected_hex = "c9f2d1f3cda6844057d3d95e6ae21c29";
        let acl = SetAdminAclEntryEx::new("admin", "Digest:ABC", "secret");

        assert_eq!(hex::encode(acl.ha1().unwrap()), expected_hex);
    }

    #[test]
    fn return_value_of_output() {
        let output =
            method_output(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "CommitChanges", ReturnValue::DATA_MISSING);

        assert_eq!(output.name, "CommitChanges_OUTPUT");
        assert_eq!(return_value(&through_xml(output)).unwrap(), ReturnValue(2057));
    }

    #[test]
    fn bad_values_are_named() {
        let state = CimObject::new("AMT_SetupAndConfigurationService", uri::AMT_SETUP_AND_CONFIGURATION_SERVICE)
            .with("ProvisioningState", "7");
        let acl = SetAdminAclEntryEx { username: "admin".into(), digest_password: "bm90IDE2IGJ5dGVz".into() };

        assert!(
            matches!(SetupAndConfigurationService::from_object(&state), Err(WsManError::InvalidValue { ref value, .. }) if value == "7")
        );
        assert!(matches!(acl.ha1(), Err(WsManError::InvalidValue { .. })));
        assert!(matches!(
            GeneralSettings::from_object(&CimObject::new("AMT_GeneralSettings", "")),
            Err(WsManError::MissingProperty { property: "DigestRealm", .. })
        ));
    }
}
