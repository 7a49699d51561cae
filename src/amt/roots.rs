//! The root certificate hashes embedded in AMT firmware as its default trusted list.
//!
//! Two lists exist. Releases 2.6 to 10 embed SHA-1 hashes. ME 11 removed those and
//! embeds SHA-256 hashes, which the captured hellos in tests/fixtures/hello carry.
//! docs/firmware.md gives the sources of each entry.

use serde::Serialize;

use crate::amt::hello::{CertHash, HashAlgorithm};

/// Directory where Debian's ca-certificates package installs the Mozilla roots.
pub const DEBIAN_CA_DIR: &str = "/usr/share/ca-certificates/mozilla";

/// Embedded default root list of a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultList {
    /// AMT 2.6 to 10: SHA-1 hashes.
    Sha1,
    /// ME 11 and later: SHA-256 hashes.
    Sha256,
}

/// Source that confirmed a default root's name and hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Provenance {
    /// Debian's ca-certificates ships the certificate as this file in [`DEBIAN_CA_DIR`],
    /// so a test recomputes both hashes from it.
    Debian { file: &'static str },
    /// Debian no longer ships the certificate. The name comes from the public source
    /// given, and the hashes cannot be checked on this machine.
    Published { source: &'static str },
    /// Only the hash is known, from a captured hello. No source that names it was found.
    Unidentified { seen_in: &'static str },
}

/// One root of an embedded default list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DefaultRoot {
    pub name: &'static str,
    /// Lowercase hex SHA-1 of the certificate's DER, where known.
    pub sha1: Option<&'static str>,
    /// Lowercase hex SHA-256 of the certificate's DER, where known.
    pub sha256: Option<&'static str>,
    pub provenance: Provenance,
}

const CERTIFI_2018: &str = "certifi 2018.1.18 cacert.pem (PyPI), which still shipped it";
const SYMANTEC_2010: &str =
    "Symantec Connect, \"VeriSign and GoDaddy Changes to Root Certificates for vPro Provisioning\" (2010)";
const CAPTURE_23: &str = "tests/fixtures/hello/pki-v3-23-hashes.bin";
const CAPTURE_24: &str = "tests/fixtures/hello/pki-v3-24-hashes-retry1.bin";

/// The SHA-1 default list of AMT 2.6 to 10.
// NOTE: only the six roots the 2010 Symantec article lists. Intel states that releases
// before 7.0 hold up to 20 embedded hashes and 7.0 adds ten, so later releases of this
// range embed more SHA-1 roots than this list has.
pub const SHA1_DEFAULTS: &[DefaultRoot] = &[
    DefaultRoot {
        name: "VeriSign Class 3 Public Primary CA - G1",
        sha1: Some("742c3192e607e424eb4549542be1bbc53e6174e2"),
        sha256: None,
        provenance: Provenance::Published { source: SYMANTEC_2010 },
    },
    DefaultRoot {
        name: "VeriSign Class 3 Public Primary Certification Authority - G3",
        sha1: Some("132d0d45534b6997cdb2d5c339e25576609b5cc6"),
        sha256: Some("eb04cf5eb1f39afa762f2bb120f296cba520c1b97db1589565b81cb9a17b7244"),
        provenance: Provenance::Published { source: CERTIFI_2018 },
    },
    DefaultRoot {
        name: "Go Daddy Class 2 CA",
        sha1: Some("2796bae63f1801e277261ba0d77770028f20eee4"),
        sha256: Some("c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4"),
        provenance: Provenance::Debian { file: "Go_Daddy_Class_2_CA.crt" },
    },
    DefaultRoot {
        name: "Comodo AAA Services root",
        sha1: Some("d1eb23a46d17d68fd92564c2f1f1601764d8e349"),
        sha256: Some("d7a7a0fb5d7e2731d771e9484ebcdef71d5f0c3e0a2948782bc83ee0ea699ef4"),
        provenance: Provenance::Debian { file: "Comodo_AAA_Services_root.crt" },
    },
    DefaultRoot {
        name: "Starfield Class 2 CA",
        sha1: Some("ad7e1c28b064ef8f6003402014c3d0e3370eb58a"),
        sha256: Some("1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658"),
        provenance: Provenance::Debian { file: "Starfield_Class_2_CA.crt" },
    },
    DefaultRoot {
        name: "VeriSign Class 3 Public Primary CA - G2",
        sha1: Some("85371ca6e550143dce2803471bde3a09e8f8770f"),
        sha256: None,
        provenance: Provenance::Published { source: SYMANTEC_2010 },
    },
];

/// The SHA-256 default list of ME 11 and later, in the order of the captured hellos.
pub const SHA256_DEFAULTS: &[DefaultRoot] = &[
    debian(
        "Go Daddy Class 2 CA",
        "2796bae63f1801e277261ba0d77770028f20eee4",
        "c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4",
        "Go_Daddy_Class_2_CA.crt",
    ),
    debian(
        "Go Daddy Root Certificate Authority - G2",
        "47beabc922eae80e78783462a79f45c254fde68b",
        "45140b3247eb9cc8c5b4f0d7b53091f73292089e6e5a63e2749dd3aca9198eda",
        "Go_Daddy_Root_Certificate_Authority_-_G2.crt",
    ),
    debian(
        "Comodo AAA Services root",
        "d1eb23a46d17d68fd92564c2f1f1601764d8e349",
        "d7a7a0fb5d7e2731d771e9484ebcdef71d5f0c3e0a2948782bc83ee0ea699ef4",
        "Comodo_AAA_Services_root.crt",
    ),
    debian(
        "Starfield Class 2 CA",
        "ad7e1c28b064ef8f6003402014c3d0e3370eb58a",
        "1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658",
        "Starfield_Class_2_CA.crt",
    ),
    debian(
        "Starfield Root Certificate Authority - G2",
        "b51c067cee2b0c3df855ab2d92f4fe39d4e70f0e",
        "2ce1cb0bf9d2f9e102993fbe215152c3b2dd0cabde1c68e5319b839154dbb7f5",
        "Starfield_Root_Certificate_Authority_-_G2.crt",
    ),
    published(
        "VeriSign Class 3 Public Primary Certification Authority - G5",
        "4eb6d578499b1ccf5f581ead56be3d9b6744a5e5",
        "9acfab7e43c8d880d06b262a94deeee4b4659989c3d0caf19baf6405e41ab7df",
    ),
    debian(
        "Baltimore CyberTrust Root",
        "d4de20d05e66fc53fe1a50882c78db2852cae474",
        "16af57a9f676b0ab126095aa5ebadef22ab31119d644ac95cd4b93dbf3f26aeb",
        "Baltimore_CyberTrust_Root.crt",
    ),
    published(
        "Cybertrust Global Root",
        "5f43e5b1bff8788cac1cc7ca4a9ac6222bcc34c6",
        "960adf0063e96356750c2965dd0a0867da0b9cbd6e77714aeafb2349ab393da3",
    ),
    unidentified("68ad50909b04363c605ef13581a939ff2c96372e3f12325b0a6861e1d59f6603", CAPTURE_23),
    debian(
        "Entrust.net Premium 2048 Secure Server CA",
        "503006091d97d4f5ae39f7cbe7927d7d652d3431",
        "6dc47172e01cbcb0bf62580d895fe2b8ac9ad4f873801e0c10b9c837d21eb177",
        "Entrust.net_Premium_2048_Secure_Server_CA.crt",
    ),
    debian(
        "Entrust Root Certification Authority",
        "b31eb1b740e36c8402dadc37d44df5d4674952f9",
        "73c176434f1bc6d5adf45b0e76e727287c8de57616c1e6e6141a2b2cbc7d8e4c",
        "Entrust_Root_Certification_Authority.crt",
    ),
    debian(
        "Entrust Root Certification Authority - G2",
        "8cf427fd790c3ad166068de81e57efbb932272d4",
        "43df5774b03e7fef5fe40d931a7bedf1bb2e6b42738c4e6d3841103d3aa7f339",
        "Entrust_Root_Certification_Authority_-_G2.crt",
    ),
    published(
        "VeriSign Universal Root Certification Authority",
        "3679ca35668772304d30a5fb873b0fa77bb70d54",
        "2399561127a57125de8cefea610ddf2fa078b5c8067f4e828290bfb860e84b3c",
    ),
    debian(
        "AffirmTrust Premium",
        "d8a6332ce0036fb185f6634f7d6a066526322827",
        "70a73f7f376b60074248904534b11482d5bf0e698ecc498df52577ebf2e93b9a",
        "AffirmTrust_Premium.crt",
    ),
    debian(
        "DigiCert Global Root CA",
        "a8985d3a65e5e5c4b2d7d66d40c6dd2fb19c5436",
        "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161",
        "DigiCert_Global_Root_CA.crt",
    ),
    debian(
        "DigiCert Global Root G2",
        "df3c24f9bfd666761b268073fe06d1cc8d4f82a4",
        "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
        "DigiCert_Global_Root_G2.crt",
    ),
    debian(
        "DigiCert Global Root G3",
        "7e04de896a3e666d00e687d33ffad93be83d349e",
        "31ad6648f8104138c738f39ea4320133393e3a18cc02296ef97c2ac9ef6731d0",
        "DigiCert_Global_Root_G3.crt",
    ),
    debian(
        "DigiCert Trusted Root G4",
        "ddfb16cd4931c973a2037d3fc83a4d7d775d05e4",
        "552f7bdcf1a7af9e6ce672017f4f12abf77240c78e761ac203d1d9d20ac89988",
        "DigiCert_Trusted_Root_G4.crt",
    ),
    unidentified("67540a47aa5b9f34570a99723cfefa96a96ee3f0d9b8bf4def9440b8065d665d", CAPTURE_23),
    unidentified("a267c480b0b29056eb5e8aa7c93add804f5a7df516e969e77bcacafe8d456079", CAPTURE_24),
    unidentified("7224395222cd588c4f2683716922addb41e39b581ac34fa87b39efa896fbb39e", CAPTURE_23),
    debian(
        "GlobalSign Root CA - R3",
        "d69b561148f01c77c54578c10926df5b856976ad",
        "cbb522d7b7f127ad6a0113865bdf1cd4102e7d0759af635a7cf4720dc963c53b",
        "GlobalSign_Root_CA_-_R3.crt",
    ),
    debian(
        "GlobalSign ECC Root CA - R5",
        "1f24c630cda418ef2069ffad4fdd5f463a1b69aa",
        "179fbc148a3dd00fd24ea13458cc43bfa7f59c8182d783a513f6ebec100c8924",
        "GlobalSign_ECC_Root_CA_-_R5.crt",
    ),
    debian(
        "GlobalSign Root CA - R6",
        "8094640eb5a7a1ca119c1fddd59f810263a7fbd1",
        "2cabeafe37d06ca22aba7391c0033d25982952c453647349763a3ab5ad6ccf69",
        "GlobalSign_Root_CA_-_R6.crt",
    ),
];

const fn debian(name: &'static str, sha1: &'static str, sha256: &'static str, file: &'static str) -> DefaultRoot {
    DefaultRoot { name, sha1: Some(sha1), sha256: Some(sha256), provenance: Provenance::Debian { file } }
}

const fn published(name: &'static str, sha1: &'static str, sha256: &'static str) -> DefaultRoot {
    DefaultRoot {
        name,
        sha1: Some(sha1),
        sha256: Some(sha256),
        provenance: Provenance::Published { source: CERTIFI_2018 },
    }
}

const fn unidentified(sha256: &'static str, seen_in: &'static str) -> DefaultRoot {
    DefaultRoot {
        name: "unidentified root",
        sha1: None,
        sha256: Some(sha256),
        provenance: Provenance::Unidentified { seen_in },
    }
}

impl DefaultList {
    pub fn roots(self) -> &'static [DefaultRoot] {
        match self {
            Self::Sha1 => SHA1_DEFAULTS,
            Self::Sha256 => SHA256_DEFAULTS,
        }
    }

    pub fn algorithm(self) -> HashAlgorithm {
        match self {
            Self::Sha1 => HashAlgorithm::Sha1,
            Self::Sha256 => HashAlgorithm::Sha256,
        }
    }
}

impl DefaultRoot {
    /// Returns the root's hash under `algorithm`, or `None` when this table lacks it.
    pub fn hash(&self, algorithm: HashAlgorithm) -> Option<CertHash> {
        let hex_digest = match algorithm {
            HashAlgorithm::Sha1 => self.sha1?,
            HashAlgorithm::Sha256 => self.sha256?,
            HashAlgorithm::Sha384 => return None,
        };
        let digest = hex::decode(hex_digest).ok()?;
        CertHash::new(algorithm, digest)
    }
}

/// Returns the hashes of one default list, in list order.
pub fn default_hashes(list: DefaultList) -> Vec<CertHash> {
    list.roots().iter().filter_map(|root| root.hash(list.algorithm())).collect()
}

/// Looks up the default root with this hash in either list.
pub fn find(hash: &CertHash) -> Option<&'static DefaultRoot> {
    SHA256_DEFAULTS.iter().chain(SHA1_DEFAULTS).find(|root| root.hash(hash.algorithm()).as_ref() == Some(hash))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    use super::*;
    use crate::amt::hello::Hello;

    const CAPTURE_23_BYTES: &[u8] = include_bytes!("../../tests/fixtures/hello/pki-v3-23-hashes.bin");
    const CAPTURE_24_BYTES: &[u8] = include_bytes!("../../tests/fixtures/hello/pki-v3-24-hashes-retry1.bin");

    #[test]
    fn roots_hashes_have_valid_lengths() {
        for root in SHA1_DEFAULTS.iter().chain(SHA256_DEFAULTS) {
            if root.sha1.is_some() {
                assert!(root.hash(HashAlgorithm::Sha1).is_some(), "{}: bad SHA-1", root.name);
            }
            if root.sha256.is_some() {
                assert!(root.hash(HashAlgorithm::Sha256).is_some(), "{}: bad SHA-256", root.name);
            }
        }
    }

    #[test]
    fn roots_sha256_list_equals_captured_hellos() {
        let captured_24 = Hello::parse(CAPTURE_24_BYTES).unwrap();
        let captured_23 = Hello::parse(CAPTURE_23_BYTES).unwrap();
        let defaults = default_hashes(DefaultList::Sha256);

        assert_eq!(defaults, captured_24.hashes());
        let in_24: HashSet<_> = defaults.iter().collect();
        assert!(captured_23.hashes().iter().all(|hash| in_24.contains(hash)));
    }

    #[test]
    fn roots_starfield_class2_hashes() {
        let sha256 = CertHash::new(
            HashAlgorithm::Sha256,
            hex::decode("1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658").unwrap(),
        )
        .unwrap();
        let root = find(&sha256).unwrap();

        assert_eq!(root.name, "Starfield Class 2 CA");
        assert_eq!(root.sha1, Some("ad7e1c28b064ef8f6003402014c3d0e3370eb58a"));
        assert!(default_hashes(DefaultList::Sha1).contains(&root.hash(HashAlgorithm::Sha1).unwrap()));
    }

    /// Recomputes both hashes of every root Debian ships from the installed
    /// ca-certificates package.
    #[test]
    fn roots_match_debian_ca_certificates() {
        let mut checked = 0;
        for root in SHA1_DEFAULTS.iter().chain(SHA256_DEFAULTS) {
            let Provenance::Debian { file } = root.provenance else { continue };
            let path = Path::new(DEBIAN_CA_DIR).join(file);
            if !path.exists() {
                eprintln!("skipping {}: {} is missing, install Debian's ca-certificates", root.name, path.display());
                continue;
            }

            let der = CertificateDer::from_pem_file(&path).unwrap();
            assert_eq!(
                root.hash(HashAlgorithm::Sha1),
                Some(CertHash::of_der(HashAlgorithm::Sha1, &der)),
                "{}",
                root.name
            );
            assert_eq!(
                root.hash(HashAlgorithm::Sha256),
                Some(CertHash::of_der(HashAlgorithm::Sha256, &der)),
                "{}",
                root.name
            );
            checked += 1;
        }
        eprintln!("checked {checked} roots against {DEBIAN_CA_DIR}");
    }
}
