//! Signature verification of one certificate by its issuer's key.
//!
//! x509-parser's own `verify_signature` maps SHA-256 RSA signatures to aws-lc-rs's
//! 2048-bit minimum, but AMT releases before ME 16 accept 1024-bit RSA keys in the
//! chain. This module picks the aws-lc-rs algorithm itself, with the 1024-bit legacy
//! variants, and leaves key-size policy to the profile check.

use aws_lc_rs::signature::{self as aws, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::oid_registry::Oid;

use super::{CertRefusal, Parsed};

const SHA1_WITH_RSA: &str = "1.2.840.113549.1.1.5";
const SHA1_WITH_RSA_OIW: &str = "1.3.14.3.2.29";
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
const SHA384_WITH_RSA: &str = "1.2.840.113549.1.1.12";
const SHA512_WITH_RSA: &str = "1.2.840.113549.1.1.13";
const ECDSA_WITH_SHA1: &str = "1.2.840.10045.4.1";
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";
const DSA_WITH_SHA1: &str = "1.2.840.10040.4.3";
const CURVE_P256: &str = "1.2.840.10045.3.1.7";
const CURVE_P384: &str = "1.3.132.0.34";

/// Verifies that `issuer`'s key signed certificate `index` of the chain.
pub(super) fn verify(index: usize, cert: &Parsed<'_>, issuer: &Parsed<'_>) -> Result<String, CertRefusal> {
    let oid = &cert.cert.signature_algorithm.algorithm;
    let algorithm = algorithm_name(oid);

    let Some(verifier) = verifier(oid, issuer) else {
        return Err(CertRefusal::UnsupportedSignatureAlgorithm { index, subject: cert.subject(), algorithm });
    };
    let key = UnparsedPublicKey::new(verifier, &issuer.cert.public_key().subject_public_key.data);
    let signed = cert.cert.tbs_certificate.as_ref();

    match key.verify(signed, &cert.cert.signature_value.data) {
        Ok(()) => Ok(format!(
            "certificate {index} ({}) carries a valid {algorithm} signature from {}",
            cert.subject(),
            issuer.subject()
        )),
        Err(_) => Err(CertRefusal::BadSignature {
            index,
            subject: cert.subject(),
            issuer: issuer.subject(),
            algorithm,
            error: "the issuer's public key does not verify it".to_owned(),
        }),
    }
}

fn verifier(oid: &Oid<'_>, issuer: &Parsed<'_>) -> Option<&'static dyn VerificationAlgorithm> {
    let curve = issuer
        .cert
        .public_key()
        .algorithm
        .parameters
        .as_ref()
        .and_then(|any| any.as_oid().ok())
        .map(|oid| oid.to_id_string());

    Some(match (oid.to_id_string().as_str(), curve.as_deref()) {
        (SHA1_WITH_RSA | SHA1_WITH_RSA_OIW, _) => &aws::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (SHA256_WITH_RSA, _) => &aws::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        // aws-lc-rs has no 1024-bit variant for SHA-384.
        (SHA384_WITH_RSA, _) => &aws::RSA_PKCS1_2048_8192_SHA384,
        (SHA512_WITH_RSA, _) => &aws::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        (ECDSA_WITH_SHA256, Some(CURVE_P256)) => &aws::ECDSA_P256_SHA256_ASN1,
        (ECDSA_WITH_SHA256, Some(CURVE_P384)) => &aws::ECDSA_P384_SHA256_ASN1,
        (ECDSA_WITH_SHA384, Some(CURVE_P256)) => &aws::ECDSA_P256_SHA384_ASN1,
        (ECDSA_WITH_SHA384, Some(CURVE_P384)) => &aws::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    })
}

/// Checks whether a signature algorithm hashes with SHA-1.
pub(super) fn is_sha1(oid: &Oid<'_>) -> bool {
    matches!(oid.to_id_string().as_str(), SHA1_WITH_RSA | SHA1_WITH_RSA_OIW | ECDSA_WITH_SHA1 | DSA_WITH_SHA1)
}

/// Returns the RFC name of a signature algorithm, or its dotted OID when unknown here.
pub(super) fn algorithm_name(oid: &Oid<'_>) -> String {
    let dotted = oid.to_id_string();
    let name = match dotted.as_str() {
        SHA1_WITH_RSA | SHA1_WITH_RSA_OIW => "sha1WithRSAEncryption",
        SHA256_WITH_RSA => "sha256WithRSAEncryption",
        SHA384_WITH_RSA => "sha384WithRSAEncryption",
        SHA512_WITH_RSA => "sha512WithRSAEncryption",
        ECDSA_WITH_SHA1 => "ecdsa-with-SHA1",
        ECDSA_WITH_SHA256 => "ecdsa-with-SHA256",
        ECDSA_WITH_SHA384 => "ecdsa-with-SHA384",
        DSA_WITH_SHA1 => "dsa-with-sha1",
        _ => return dotted,
    };
    name.to_owned()
}
