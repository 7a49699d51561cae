//! The `ReturnValue` of AMT methods and the PT_STATUS names the AMT SDK gives them.

use std::fmt;

/// A method's `ReturnValue`: 0 is success, anything else a named failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReturnValue(pub u32);

impl ReturnValue {
    pub const SUCCESS: Self = Self(0);
    pub const INTERNAL_ERROR: Self = Self(1);
    pub const INVALID_NAME: Self = Self(12);
    pub const MAX_LIMIT_REACHED: Self = Self(23);
    pub const NOT_PERMITTED: Self = Self(16);
    pub const INVALID_PROVISIONING_STATE: Self = Self(32);
    pub const INVALID_PARAMETER: Self = Self(36);
    pub const INVALID_PASSWORD: Self = Self(2054);
    pub const INVALID_REALM: Self = Self(2055);
    pub const DATA_MISSING: Self = Self(2057);
    pub const DUPLICATE: Self = Self(2058);
    pub const INVALID_KEY: Self = Self(2062);
    pub const INVALID_CERT: Self = Self(2063);
    pub const UNSUPPORTED: Self = Self(2066);

    pub fn is_success(self) -> bool {
        self == Self::SUCCESS
    }

    /// Returns the SDK's PT_STATUS name, when the value has one.
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(value, _)| *value == self.0).map(|(_, name)| *name)
    }
}

impl fmt::Display for ReturnValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{} (no PT_STATUS name)", self.0),
        }
    }
}

/// PT_STATUS values as listed in the AMT SDK's method descriptions.
const NAMES: &[(u32, &str)] = &[
    (0, "PT_STATUS_SUCCESS"),
    (1, "PT_STATUS_INTERNAL_ERROR"),
    (3, "PT_STATUS_INVALID_PT_MODE"),
    (9, "PT_STATUS_INVALID_REGISTRATION_DATA"),
    (10, "PT_STATUS_APPLICATION_DOES_NOT_EXIST"),
    (11, "PT_STATUS_NOT_ENOUGH_STORAGE"),
    (12, "PT_STATUS_INVALID_NAME"),
    (13, "PT_STATUS_BLOCK_DOES_NOT_EXIST"),
    (14, "PT_STATUS_INVALID_BYTE_OFFSET"),
    (15, "PT_STATUS_INVALID_BYTE_COUNT"),
    (16, "PT_STATUS_NOT_PERMITTED"),
    (17, "PT_STATUS_NOT_OWNER"),
    (18, "PT_STATUS_BLOCK_LOCKED_BY_OTHER"),
    (19, "PT_STATUS_BLOCK_NOT_LOCKED"),
    (20, "PT_STATUS_INVALID_GROUP_PERMISSIONS"),
    (21, "PT_STATUS_GROUP_DOES_NOT_EXIST"),
    (22, "PT_STATUS_INVALID_MEMBER_COUNT"),
    (23, "PT_STATUS_MAX_LIMIT_REACHED"),
    (24, "PT_STATUS_INVALID_AUTH_TYPE"),
    (26, "PT_STATUS_INVALID_DHCP_MODE"),
    (27, "PT_STATUS_INVALID_IP_ADDRESS"),
    (28, "PT_STATUS_INVALID_DOMAIN_NAME"),
    (30, "PT_STATUS_REQUEST_UNEXPECTED"),
    (32, "PT_STATUS_INVALID_PROVISIONING_STATE"),
    (34, "PT_STATUS_INVALID_TIME"),
    (35, "PT_STATUS_INVALID_INDEX"),
    (36, "PT_STATUS_INVALID_PARAMETER"),
    (37, "PT_STATUS_INVALID_NETMASK"),
    (38, "PT_STATUS_FLASH_WRITE_LIMIT_EXCEEDED"),
    (2049, "PT_STATUS_UNSUPPORTED_OEM_NUMBER"),
    (2050, "PT_STATUS_UNSUPPORTED_BOOT_OPTION"),
    (2051, "PT_STATUS_INVALID_COMMAND"),
    (2052, "PT_STATUS_INVALID_SPECIAL_COMMAND"),
    (2053, "PT_STATUS_INVALID_HANDLE"),
    (2054, "PT_STATUS_INVALID_PASSWORD"),
    (2055, "PT_STATUS_INVALID_REALM"),
    (2056, "PT_STATUS_STORAGE_ACL_ENTRY_IN_USE"),
    (2057, "PT_STATUS_DATA_MISSING"),
    (2058, "PT_STATUS_DUPLICATE"),
    (2059, "PT_STATUS_EVENTLOG_FROZEN"),
    (2060, "PT_STATUS_PKI_MISSING_KEYS"),
    (2061, "PT_STATUS_PKI_GENERATING_KEYS"),
    (2062, "PT_STATUS_INVALID_KEY"),
    (2063, "PT_STATUS_INVALID_CERT"),
    (2064, "PT_STATUS_CERT_KEY_NOT_MATCH"),
    (2065, "PT_STATUS_MAX_KERB_DOMAIN_REACHED"),
    (2066, "PT_STATUS_UNSUPPORTED"),
    (2067, "PT_STATUS_INVALID_PRIORITY"),
    (2068, "PT_STATUS_NOT_FOUND"),
    (2069, "PT_STATUS_INVALID_CREDENTIALS"),
    (2070, "PT_STATUS_INVALID_PASSPHRASE"),
    (2072, "PT_STATUS_NO_ASSOCIATION"),
    (2075, "PT_STATUS_AUDIT_FAIL"),
    (2076, "PT_STATUS_BLOCKING_COMPONENT"),
    (2081, "PT_STATUS_USER_CONSENT_REQUIRED"),
    (2082, "PT_STATUS_OPERATION_IN_PROGRESS"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_value_names() {
        assert!(ReturnValue(0).is_success());
        assert_eq!(ReturnValue::SUCCESS.name(), Some("PT_STATUS_SUCCESS"));
        assert_eq!(ReturnValue::INVALID_PASSWORD.to_string(), "2054 (PT_STATUS_INVALID_PASSWORD)");
        assert_eq!(ReturnValue(9999).to_string(), "9999 (no PT_STATUS name)");
    }
}
