//! Firmware profiles: what an ME of a given AMT release accepts during PKI setup.
//!
//! Each value cites its source in docs/firmware.md. Where the sources disagree or are
//! silent, the value is a public field that a topology can override.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::amt::domain::{CountryDomains, DomainPolicy, DomainRule};
use crate::amt::hello::{CertHash, HashAlgorithm};
use crate::amt::roots::{self, DefaultList};
use crate::amt::schedule::{self, HelloSchedule};

/// An AMT (from 11 on, ME) firmware version such as `4.1.1` or `16.1.25.2124`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FirmwareVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
    pub build: u16,
}

/// Error from parsing a firmware version or deriving its profile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("empty firmware version: give one such as \"4.1.1\" or \"16.1\"")]
    Empty,

    #[error("invalid firmware version {value:?}: component {component:?} is not a number from 0 to 65535")]
    InvalidComponent { value: String, component: String },

    #[error("invalid firmware version {value:?}: at most four dot-separated numbers, as in 11.8.55.3510")]
    TooManyComponents { value: String },

    #[error("firmware {version} has no PKI setup: embedded root hashes and remote configuration start with AMT 2.6")]
    BeforePki { version: FirmwareVersion },
}

/// Rules an ME of one firmware release applies to the setup server's certificate chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirmwareProfile {
    pub version: FirmwareVersion,
    /// Hash algorithms under which the chain's root may match a trusted-list entry.
    pub trusted_algorithms: Vec<HashAlgorithm>,
    /// The embedded default root list of this release.
    pub default_list: DefaultList,
    /// Custom hashes that MEBx, a USB setup file or the OEM may add to the defaults.
    pub max_custom_hashes: usize,
    /// Smallest RSA modulus accepted anywhere in the chain, in bits.
    pub min_rsa_bits: u32,
    /// Largest RSA modulus accepted anywhere in the chain, in bits.
    pub max_rsa_bits: u32,
    /// Whether ECDSA keys are accepted in the chain.
    pub ecdsa_accepted: bool,
    /// Whether a SHA-1 signature on any certificate of the chain, root included, is rejected.
    pub sha1_signatures_rejected: bool,
    /// Whether a leaf marked by the setup OU, without the setup OID, also needs EKU
    /// serverAuth. Intel's wording requires serverAuth only beside the OID.
    pub ou_requires_server_auth: bool,
    pub domain: DomainPolicy,
    /// When the ME repeats its hello until the setup server connects back.
    pub hello_schedule: HelloSchedule,
}

impl FirmwareVersion {
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor, patch: 0, build: 0 }
    }

    fn at_least(self, major: u16, minor: u16) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl FromStr for FirmwareVersion {
    type Err = ProfileError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(ProfileError::Empty);
        }

        let mut numbers = [0u16; 4];
        let components: Vec<&str> = trimmed.split('.').collect();
        if components.len() > numbers.len() {
            return Err(ProfileError::TooManyComponents { value: value.to_owned() });
        }
        for (slot, component) in numbers.iter_mut().zip(&components) {
            *slot = parse_component(value, component)?;
        }

        let [major, minor, patch, build] = numbers;
        Ok(Self { major, minor, patch, build })
    }
}

fn parse_component(value: &str, component: &str) -> Result<u16, ProfileError> {
    let invalid = || ProfileError::InvalidComponent { value: value.to_owned(), component: component.to_owned() };

    // `u16::from_str` accepts a leading `+`, which no firmware version has.
    if component.is_empty() || !component.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    component.parse().map_err(|_| invalid())
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch != 0 || self.build != 0 {
            write!(f, ".{}", self.patch)?;
        }
        if self.build != 0 {
            write!(f, ".{}", self.build)?;
        }
        Ok(())
    }
}

impl FirmwareProfile {
    /// Parses a version string and derives the profile of that release.
    pub fn parse(version: &str) -> Result<Self, ProfileError> {
        Self::for_version(version.parse()?)
    }

    /// Derives the profile of a release from the firmware-version table in docs/firmware.md.
    pub fn for_version(version: FirmwareVersion) -> Result<Self, ProfileError> {
        if !version.at_least(2, 6) {
            return Err(ProfileError::BeforePki { version });
        }

        Ok(Self {
            version,
            trusted_algorithms: trusted_algorithms(version),
            default_list: if version.major >= 11 { DefaultList::Sha256 } else { DefaultList::Sha1 },
            max_custom_hashes: 3,
            min_rsa_bits: if version.major >= 16 { 2048 } else { 1024 },
            max_rsa_bits: if version.at_least(6, 0) { 4096 } else { 2048 },
            // NOTE: no Intel page states this. It is inferred from the ECC roots in the
            // ME 11 default list (DigiCert Global Root G3, GlobalSign ECC Root CA - R5).
            ecdsa_accepted: version.major >= 11,
            // Intel names ME 15 on H platforms too, so set this field for such a client.
            sha1_signatures_rejected: version.major >= 16,
            ou_requires_server_auth: false,
            domain: DomainPolicy { rule: domain_rule(version), country_domains: CountryDomains::DepthTable },
            hello_schedule: HelloSchedule::Firmware { window: schedule::DEFAULT_WINDOW },
        })
    }

    /// Returns the embedded default root hashes, in the order a real hello lists them.
    pub fn default_hashes(&self) -> Vec<CertHash> {
        roots::default_hashes(self.default_list)
    }

    /// Checks whether the ME compares the chain's root under `algorithm`.
    pub fn trusts_algorithm(&self, algorithm: HashAlgorithm) -> bool {
        self.trusted_algorithms.contains(&algorithm)
    }
}

fn trusted_algorithms(version: FirmwareVersion) -> Vec<HashAlgorithm> {
    use HashAlgorithm::*;

    match version.major {
        ..=10 => vec![Sha1],
        // ME 11 removed the default SHA-1 hashes, but MEBx could still add SHA-1 ones.
        11..=15 => vec![Sha1, Sha256, Sha384],
        _ => vec![Sha256, Sha384],
    }
}

fn domain_rule(version: FirmwareVersion) -> DomainRule {
    let any_tld = version.at_least(6, 0)
        || (version.major == 5 && version.minor >= 1)
        || (version.major == 4 && version.minor >= 1);

    if any_tld { DomainRule::SecondLevelAnyTld } else { DomainRule::SecondLevelComNet }
}

impl fmt::Display for FirmwareProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AMT {}", self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parses_two_to_four_components() {
        assert_eq!("6.0".parse::<FirmwareVersion>().unwrap(), FirmwareVersion::new(6, 0));
        assert_eq!(
            "11.8.55.3510".parse::<FirmwareVersion>().unwrap(),
            FirmwareVersion { major: 11, minor: 8, patch: 55, build: 3510 }
        );
        assert_eq!(" 4.1.1 ".parse::<FirmwareVersion>().unwrap().to_string(), "4.1.1");
        assert_eq!("16".parse::<FirmwareVersion>().unwrap(), FirmwareVersion::new(16, 0));
    }

    #[test]
    fn version_rejects_bad_strings() {
        assert_eq!("".parse::<FirmwareVersion>(), Err(ProfileError::Empty));
        assert!(matches!("4..1".parse::<FirmwareVersion>(), Err(ProfileError::InvalidComponent { .. })));
        assert!(matches!("v16.1".parse::<FirmwareVersion>(), Err(ProfileError::InvalidComponent { .. })));
        assert!(matches!("4.+1".parse::<FirmwareVersion>(), Err(ProfileError::InvalidComponent { .. })));
        assert!(matches!("70000.1".parse::<FirmwareVersion>(), Err(ProfileError::InvalidComponent { .. })));
        assert!(matches!("1.2.3.4.5".parse::<FirmwareVersion>(), Err(ProfileError::TooManyComponents { .. })));
    }

    #[test]
    fn profile_rejects_release_before_pki() {
        assert!(matches!(FirmwareProfile::parse("2.5"), Err(ProfileError::BeforePki { .. })));
        assert!(FirmwareProfile::parse("2.6").is_ok());
    }

    #[test]
    fn profile_amt_4_1_1() {
        let profile = FirmwareProfile::parse("4.1.1").unwrap();

        assert_eq!(profile.trusted_algorithms, vec![HashAlgorithm::Sha1]);
        assert_eq!(profile.default_list, DefaultList::Sha1);
        assert_eq!((profile.min_rsa_bits, profile.max_rsa_bits), (1024, 2048));
        assert!(!profile.sha1_signatures_rejected);
        assert!(!profile.ecdsa_accepted);
        assert_eq!(profile.domain.rule, DomainRule::SecondLevelAnyTld);
        assert!(profile.default_hashes().iter().all(|hash| hash.algorithm() == HashAlgorithm::Sha1));
    }

    #[test]
    fn profile_domain_rule_by_release() {
        let rule = |version: &str| FirmwareProfile::parse(version).unwrap().domain.rule;

        assert_eq!(rule("2.6"), DomainRule::SecondLevelComNet);
        assert_eq!(rule("3.2"), DomainRule::SecondLevelComNet);
        assert_eq!(rule("4.0"), DomainRule::SecondLevelComNet);
        assert_eq!(rule("5.0"), DomainRule::SecondLevelComNet);
        assert_eq!(rule("4.1"), DomainRule::SecondLevelAnyTld);
        assert_eq!(rule("5.1"), DomainRule::SecondLevelAnyTld);
        assert_eq!(rule("6.0"), DomainRule::SecondLevelAnyTld);
        assert_eq!(rule("16.1"), DomainRule::SecondLevelAnyTld);
    }

    #[test]
    fn profile_key_and_signature_limits_by_release() {
        let profile = |version: &str| FirmwareProfile::parse(version).unwrap();

        assert_eq!(profile("5.2").max_rsa_bits, 2048);
        assert_eq!(profile("6.0").max_rsa_bits, 4096);
        assert_eq!(profile("15.0").min_rsa_bits, 1024);
        assert!(!profile("15.0").sha1_signatures_rejected);
        assert_eq!(profile("16.1").min_rsa_bits, 2048);
        assert!(profile("16.1").sha1_signatures_rejected);
    }

    #[test]
    fn profile_hash_algorithms_by_release() {
        let profile = |version: &str| FirmwareProfile::parse(version).unwrap();

        assert_eq!(profile("10.0").trusted_algorithms, vec![HashAlgorithm::Sha1]);
        assert!(profile("11.8").trusts_algorithm(HashAlgorithm::Sha1));
        assert!(profile("11.8").trusts_algorithm(HashAlgorithm::Sha256));
        assert!(!profile("16.1").trusts_algorithm(HashAlgorithm::Sha1));
        assert!(profile("16.1").trusts_algorithm(HashAlgorithm::Sha384));
        assert_eq!(profile("11.8").default_list, DefaultList::Sha256);
        assert_eq!(profile("11.8").default_hashes().len(), 24);
    }
}
