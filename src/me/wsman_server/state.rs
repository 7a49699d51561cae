//! The state of an emulated ME and of its provisioning, which WS-Management reads and
//! changes.

use std::net::IpAddr;

use base64::Engine as _;
use rand::RngExt as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::store::CertificateStore;
use crate::amt::hello::CertHash;
use crate::amt::wsman::digest;
use crate::amt::wsman::{ControlMode, ProvisioningAuditRecord, ProvisioningState, ReturnValue};

/// The user name of the built-in administrator account.
pub const ADMIN_USERNAME: &str = "admin";

/// The state one ME's WS-Management server works on.
#[derive(Clone, Debug)]
pub struct AmtState {
    /// Firmware version reported as `CIM_SoftwareIdentity` `AMT`, such as `4.1.1`.
    pub amt_version: String,
    pub uuid: Uuid,
    pub host_name: String,
    pub domain_name: String,
    /// `Digest:` and 32 hex digits, drawn once per ME like real firmware does.
    pub digest_realm: String,
    /// The account digest authentication checks: `admin` with an empty password in setup
    /// mode, the one SetAdminAclEntryEx set once CommitChanges ran.
    pub admin: AdminCredentials,
    /// Set by SetAdminAclEntryEx before provisioning, applied by CommitChanges.
    pub pending_admin: Option<AdminCredentials>,
    pub mebx_password_set: bool,
    pub provisioning_state: ProvisioningState,
    pub control_mode: ControlMode,
    /// ME clock minus the host clock, in seconds; time synchronization changes it.
    pub clock_offset_secs: i64,
    pub audit: AuditRecord,
    /// Key pairs, certificates and TLS settings a setup server configured.
    pub store: CertificateStore,
}

/// A user name and its digest HA1, MD5(`user:realm:password`), which is all the ME
/// stores of a password.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    pub username: String,
    pub ha1: [u8; 16],
}

/// The provisioning audit record the firmware keeps.
///
/// The orchestrator fills the fields it learns around the TLS handshake; CommitChanges
/// stamps `time` with the ME clock if it is still empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditRecord {
    /// The trusted root hash that matched the setup server's chain.
    pub matched_root_hash: Option<CertHash>,
    pub setup_server_ip: Option<IpAddr>,
    /// The FQDN in the setup server's certificate.
    pub setup_server_fqdn: Option<String>,
    /// Whether the DNS suffix came from the PKI DNS suffix set in MEBx, not option 15.
    pub dns_suffix_from_mebx: bool,
    /// Whether the matched hash is one of the firmware's default hashes.
    pub matched_default_hash: bool,
    /// Serial numbers, in hex, of the CA certificates of the setup server's chain,
    /// intermediate first.
    pub ca_certificate_serials: Vec<String>,
    /// SHA-256 of the setup server's certificate, in hex.
    pub setup_server_certificate_sha256: Option<String>,
    /// When the TLS session of the setup began.
    pub tls_start_time: Option<OffsetDateTime>,
    /// When CommitChanges provisioned the ME.
    pub time: Option<OffsetDateTime>,
}

impl AmtState {
    /// Creates an unprovisioned ME in setup mode with a freshly drawn digest realm.
    pub fn new(
        amt_version: impl Into<String>,
        uuid: Uuid,
        host_name: impl Into<String>,
        domain_name: impl Into<String>,
    ) -> Self {
        let digest_realm = random_realm();
        let admin = AdminCredentials::from_password(ADMIN_USERNAME, &digest_realm, "");
        Self {
            amt_version: amt_version.into(),
            uuid,
            host_name: host_name.into(),
            domain_name: domain_name.into(),
            digest_realm,
            admin,
            pending_admin: None,
            mebx_password_set: false,
            provisioning_state: ProvisioningState::Pre,
            control_mode: ControlMode::NotProvisioned,
            clock_offset_secs: 0,
            audit: AuditRecord::default(),
            store: CertificateStore::default(),
        }
    }

    /// Returns the ME clock's current time.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.clock_offset_secs)
    }

    /// Leaves setup mode: the pending administrator becomes the one authentication
    /// checks, and the ME is provisioned in admin control mode.
    pub fn commit(&mut self) {
        if let Some(admin) = self.pending_admin.take() {
            self.admin = admin;
        }
        self.provisioning_state = ProvisioningState::Post;
        self.control_mode = ControlMode::Admin;
        if self.audit.time.is_none() {
            self.audit.time = Some(self.now());
        }
    }
}

impl AuditRecord {
    /// Returns the record as GetProvisioningAuditRecord reports it, or `None` before a
    /// setup server completed a PKI TLS session.
    pub fn to_output(&self) -> Option<ProvisioningAuditRecord> {
        let hash = self.matched_root_hash.as_ref()?;
        let time = |time: Option<OffsetDateTime>| time.and_then(|time| time.format(&Rfc3339).ok()).unwrap_or_default();
        Some(ProvisioningAuditRecord {
            provisioning_tls_mode: 1,
            secure_dns: self.dns_suffix_from_mebx,
            host_initiated: false,
            prov_server_fqdn: self.setup_server_fqdn.clone().unwrap_or_default(),
            selected_hash_type: hash.algorithm().code(),
            selected_hash_data: base64::engine::general_purpose::STANDARD.encode(hash.digest()),
            ca_certificate_serials: self.ca_certificate_serials.clone(),
            is_oem_default: self.matched_default_hash,
            prov_server_ip: self.setup_server_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            tls_start_time: time(self.tls_start_time),
            return_value: ReturnValue::SUCCESS,
        })
    }
}

impl AdminCredentials {
    pub fn from_password(username: &str, realm: &str, password: &str) -> Self {
        Self { username: username.into(), ha1: digest::ha1(username, realm, password) }
    }
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials").field("username", &self.username).field("ha1", &"<hidden>").finish()
    }
}

fn random_realm() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    format!("Digest:{}", hex::encode_upper(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_state_is_setup_mode() {
        let state = AmtState::new("4.1.1", Uuid::nil(), "vpro-1", "jcert.info");

        assert_eq!(state.provisioning_state, ProvisioningState::Pre);
        assert_eq!(state.control_mode, ControlMode::NotProvisioned);
        assert_eq!(state.admin, AdminCredentials::from_password("admin", &state.digest_realm, ""));
        assert!(state.digest_realm.starts_with("Digest:"));
        assert_eq!(state.digest_realm.len(), "Digest:".len() + 32);
        assert!(state.digest_realm["Digest:".len()..].bytes().all(|byte| byte.is_ascii_hexdigit()));
    }

    #[test]
    fn realms_differ_between_mes() {
        let first = AmtState::new("4.1.1", Uuid::nil(), "a", "d");
        let second = AmtState::new("4.1.1", Uuid::nil(), "b", "d");

        assert_ne!(first.digest_realm, second.digest_realm);
    }

    #[test]
    fn commit_applies_pending_admin() {
        let mut state = AmtState::new("4.1.1", Uuid::nil(), "vpro-1", "jcert.info");
        let admin = AdminCredentials::from_password("admin", &state.digest_realm, "N3w-Admin");
        state.pending_admin = Some(admin.clone());

        state.commit();

        assert_eq!(state.admin, admin);
        assert_eq!(state.pending_admin, None);
        assert_eq!(state.provisioning_state, ProvisioningState::Post);
        assert_eq!(state.control_mode, ControlMode::Admin);
        assert!(state.audit.time.is_some());
    }
}
