//! The hello message an unprovisioned ME sends to the setup server on TCP 9971.
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! offset  size  field
//! 0       2     admin credentials set (0 or 1)
//! 2       2     hello version: 3 = PKI, 2 = PSK
//! 4       4     retry count
//! 8       16    UUID, first three GUID groups byte-swapped (RFC 4122 "mixed-endian")
//! PKI (version 3):
//! 24      1     hash count
//! 25      ...   per hash: u8 type (1 SHA-1, 2 SHA-256, 3 SHA-384), u8 length, bytes
//! PSK (version 2):
//! 24      8     PID
//! ```
//!
//! The ME sends one hello per connection and closes it, so a message is the whole
//! stream payload and trailing bytes are an error.

use std::fmt;

use uuid::Uuid;

/// Largest hello the setup server reads before giving up on a connection: a PKI hello
/// with 255 SHA-384 hashes.
pub const MAX_HELLO_LEN: usize = HEADER_LEN + 1 + 255 * (2 + 48);

const HEADER_LEN: usize = 24;
const PID_LEN: usize = 8;

/// Hash algorithm of a trusted root certificate hash, with its wire code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha384,
}

impl HashAlgorithm {
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Sha1),
            2 => Some(Self::Sha256),
            3 => Some(Self::Sha384),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Self::Sha1 => 1,
            Self::Sha256 => 2,
            Self::Sha384 => 3,
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
        }
    }
}

/// A hash of a trusted root certificate (of its DER encoding), as carried in a PKI hello
/// and stored in the ME's trusted list.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertHash {
    algorithm: HashAlgorithm,
    digest: Vec<u8>,
}

impl CertHash {
    /// Returns `None` when the digest length does not fit the algorithm.
    pub fn new(algorithm: HashAlgorithm, digest: Vec<u8>) -> Option<Self> {
        (digest.len() == algorithm.digest_len()).then_some(Self { algorithm, digest })
    }

    /// Hashes a DER-encoded certificate.
    pub fn of_der(algorithm: HashAlgorithm, der: &[u8]) -> Self {
        use sha2::Digest;
        let digest = match algorithm {
            HashAlgorithm::Sha1 => sha1::Sha1::digest(der).to_vec(),
            HashAlgorithm::Sha256 => sha2::Sha256::digest(der).to_vec(),
            HashAlgorithm::Sha384 => sha2::Sha384::digest(der).to_vec(),
        };
        Self { algorithm, digest }
    }

    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    pub fn to_hex(&self) -> String {
        hex::encode(&self.digest)
    }
}

impl fmt::Debug for CertHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm.name(), self.to_hex())
    }
}

/// Serializes as `{"algorithm": "sha-256", "hash": "<hex>"}`.
impl serde::Serialize for CertHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut fields = serializer.serialize_struct("CertHash", 2)?;
        fields.serialize_field("algorithm", &self.algorithm)?;
        fields.serialize_field("hash", &self.to_hex())?;
        fields.end()
    }
}

impl fmt::Display for CertHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A decoded hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub admin_credentials_set: bool,
    pub retry_count: u32,
    pub uuid: Uuid,
    pub kind: HelloKind,
}

/// What follows the common header, by hello version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelloKind {
    /// Version 3: the hashes of the roots the ME trusts for PKI setup.
    Pki { hashes: Vec<CertHash> },
    /// Version 2: the provisioning ID of a pre-shared key pair.
    // NOTE: the PSK layout (8-byte PID after the header) follows the AMT SDK description;
    // no capture of a version 2 hello was available to confirm it.
    Psk { pid: [u8; PID_LEN] },
}

/// Why bytes received on the hello port are not a hello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("hello truncated: {len} bytes, at least {needed} needed")]
    Truncated { len: usize, needed: usize },

    #[error("invalid admin-credentials-set field {value}: must be 0 or 1")]
    InvalidAdminFlag { value: u16 },

    #[error("unsupported hello version {version}: only 2 (PSK) and 3 (PKI) exist")]
    UnsupportedVersion { version: u16 },

    #[error("hash {index}: unknown hash type {code}, expected 1 (SHA-1), 2 (SHA-256) or 3 (SHA-384)")]
    UnknownHashType { index: usize, code: u8 },

    #[error("hash {index}: length {len} does not fit {algorithm}, which needs {expected}")]
    HashLengthMismatch { index: usize, algorithm: &'static str, len: u8, expected: usize },

    #[error("{extra} trailing bytes after the hello")]
    TrailingBytes { extra: usize },

    #[error("too many hashes: {count}, at most 255 fit in a hello")]
    TooManyHashes { count: usize },
}

impl Hello {
    pub fn version(&self) -> u16 {
        match self.kind {
            HelloKind::Pki { .. } => 3,
            HelloKind::Psk { .. } => 2,
        }
    }

    /// Decodes one whole hello message.
    pub fn parse(bytes: &[u8]) -> Result<Self, HelloError> {
        let header = bytes.get(..HEADER_LEN).ok_or(HelloError::Truncated { len: bytes.len(), needed: HEADER_LEN })?;

        let admin_flag = u16::from_le_bytes([header[0], header[1]]);
        let admin_credentials_set = match admin_flag {
            0 => false,
            1 => true,
            value => return Err(HelloError::InvalidAdminFlag { value }),
        };
        let version = u16::from_le_bytes([header[2], header[3]]);
        let retry_count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let uuid_bytes: [u8; 16] = header[8..24].try_into().expect("slice of 16 bytes");
        let uuid = Uuid::from_bytes_le(uuid_bytes);

        let body = &bytes[HEADER_LEN..];
        let (kind, used) = match version {
            3 => parse_pki_body(body)?,
            2 => parse_psk_body(body)?,
            version => return Err(HelloError::UnsupportedVersion { version }),
        };

        if used != body.len() {
            return Err(HelloError::TrailingBytes { extra: body.len() - used });
        }
        Ok(Self { admin_credentials_set, retry_count, uuid, kind })
    }

    /// Number of bytes [`Hello::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match &self.kind {
                HelloKind::Pki { hashes } => 1 + hashes.iter().map(|hash| 2 + hash.digest.len()).sum::<usize>(),
                HelloKind::Psk { .. } => PID_LEN,
            }
    }

    /// Encodes the hello as the ME sends it.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), HelloError> {
        out.reserve(self.buffer_len());
        out.extend_from_slice(&u16::from(self.admin_credentials_set).to_le_bytes());
        out.extend_from_slice(&self.version().to_le_bytes());
        out.extend_from_slice(&self.retry_count.to_le_bytes());
        out.extend_from_slice(&self.uuid.to_bytes_le());

        match &self.kind {
            HelloKind::Pki { hashes } => {
                let count = u8::try_from(hashes.len()).map_err(|_| HelloError::TooManyHashes { count: hashes.len() })?;
                out.push(count);
                for hash in hashes {
                    out.push(hash.algorithm.code());
                    out.push(hash.digest.len() as u8);
                    out.extend_from_slice(&hash.digest);
                }
            }
            HelloKind::Psk { pid } => out.extend_from_slice(pid),
        }
        Ok(())
    }

    /// The trusted root hashes of a PKI hello; empty for PSK.
    pub fn hashes(&self) -> &[CertHash] {
        match &self.kind {
            HelloKind::Pki { hashes } => hashes,
            HelloKind::Psk { .. } => &[],
        }
    }
}

fn parse_pki_body(body: &[u8]) -> Result<(HelloKind, usize), HelloError> {
    let count = *body.first().ok_or(HelloError::Truncated { len: HEADER_LEN, needed: HEADER_LEN + 1 })? as usize;
    let mut hashes = Vec::with_capacity(count);
    let mut at = 1;

    for index in 0..count {
        let (hash, used) = parse_hash(body, at, index)?;
        hashes.push(hash);
        at += used;
    }
    Ok((HelloKind::Pki { hashes }, at))
}

/// Parses the hash entry that starts at `at` in the PKI body.
fn parse_hash(body: &[u8], at: usize, index: usize) -> Result<(CertHash, usize), HelloError> {
    let truncated = |needed: usize| HelloError::Truncated { len: HEADER_LEN + body.len(), needed: HEADER_LEN + needed };

    let [code, len] = *body.get(at..at + 2).ok_or_else(|| truncated(at + 2))? else {
        unreachable!("slice of two bytes")
    };
    let algorithm = HashAlgorithm::from_code(code).ok_or(HelloError::UnknownHashType { index, code })?;
    if usize::from(len) != algorithm.digest_len() {
        return Err(HelloError::HashLengthMismatch { index, algorithm: algorithm.name(), len, expected: algorithm.digest_len() });
    }

    let start = at + 2;
    let end = start + usize::from(len);
    let digest = body.get(start..end).ok_or_else(|| truncated(end))?.to_vec();
    Ok((CertHash { algorithm, digest }, 2 + usize::from(len)))
}

fn parse_psk_body(body: &[u8]) -> Result<(HelloKind, usize), HelloError> {
    let pid: [u8; PID_LEN] = body
        .get(..PID_LEN)
        .ok_or(HelloError::Truncated { len: HEADER_LEN + body.len(), needed: HEADER_LEN + PID_LEN })?
        .try_into()
        .expect("slice of PID_LEN bytes");
    Ok((HelloKind::Psk { pid }, PID_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE_23: &[u8] = include_bytes!("../../tests/fixtures/hello/pki-v3-23-hashes.bin");
    const CAPTURE_24: &[u8] = include_bytes!("../../tests/fixtures/hello/pki-v3-24-hashes-retry1.bin");
    const STARFIELD_CLASS2_SHA256: &str = "1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658";

    #[test]
    fn parse_capture_with_23_hashes() {
        let hello = Hello::parse(CAPTURE_23).unwrap();

        assert!(hello.admin_credentials_set);
        assert_eq!(hello.version(), 3);
        assert_eq!(hello.retry_count, 0);
        assert_eq!(hello.uuid.to_string(), "939b524b-13d4-1d18-e487-1c697a6b7a2b");
        assert_eq!(hello.hashes().len(), 23);
        assert!(hello.hashes().iter().all(|hash| hash.algorithm() == HashAlgorithm::Sha256));
        assert_eq!(hello.hashes()[3].to_hex(), STARFIELD_CLASS2_SHA256);
    }

    #[test]
    fn parse_capture_with_retry_count() {
        let hello = Hello::parse(CAPTURE_24).unwrap();

        assert_eq!(hello.retry_count, 1);
        assert_eq!(hello.hashes().len(), 24);
        assert_eq!(hello.hashes()[3].to_hex(), STARFIELD_CLASS2_SHA256);
    }

    #[test]
    fn emit_reproduces_captures() {
        for capture in [CAPTURE_23, CAPTURE_24] {
            let hello = Hello::parse(capture).unwrap();
            let mut out = Vec::new();
            hello.emit(&mut out).unwrap();

            assert_eq!(out.len(), hello.buffer_len());
            assert_eq!(out, capture);
        }
    }

    #[test]
    fn psk_round_trip() {
        let hello = Hello {
            admin_credentials_set: false,
            retry_count: 7,
            uuid: Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
            kind: HelloKind::Psk { pid: *b"ABCD1234" },
        };
        let mut out = Vec::new();
        hello.emit(&mut out).unwrap();

        assert_eq!(out.len(), 32);
        assert_eq!(Hello::parse(&out).unwrap(), hello);
    }

    #[test]
    fn parse_rejects_every_truncation() {
        for len in 0..CAPTURE_23.len() {
            let error = Hello::parse(&CAPTURE_23[..len]).unwrap_err();
            assert!(matches!(error, HelloError::Truncated { .. }), "length {len}: {error}");
        }
    }

    #[test]
    fn parse_rejects_trailing_bytes() {
        let mut bytes = CAPTURE_23.to_vec();
        bytes.push(0);

        assert_eq!(Hello::parse(&bytes), Err(HelloError::TrailingBytes { extra: 1 }));
    }

    #[test]
    fn parse_rejects_bad_fields() {
        let mut bad_flag = CAPTURE_23.to_vec();
        bad_flag[0] = 2;
        assert_eq!(Hello::parse(&bad_flag), Err(HelloError::InvalidAdminFlag { value: 2 }));

        let mut bad_version = CAPTURE_23.to_vec();
        bad_version[2] = 4;
        assert_eq!(Hello::parse(&bad_version), Err(HelloError::UnsupportedVersion { version: 4 }));

        let mut bad_type = CAPTURE_23.to_vec();
        bad_type[25] = 9;
        assert_eq!(Hello::parse(&bad_type), Err(HelloError::UnknownHashType { index: 0, code: 9 }));

        let mut bad_len = CAPTURE_23.to_vec();
        bad_len[26] = 20;
        assert!(matches!(Hello::parse(&bad_len), Err(HelloError::HashLengthMismatch { index: 0, len: 20, .. })));
    }

    #[test]
    fn cert_hash_checks_length() {
        assert!(CertHash::new(HashAlgorithm::Sha1, vec![0; 20]).is_some());
        assert!(CertHash::new(HashAlgorithm::Sha1, vec![0; 32]).is_none());
        assert!(CertHash::new(HashAlgorithm::Sha384, vec![0; 48]).is_some());
    }
}
