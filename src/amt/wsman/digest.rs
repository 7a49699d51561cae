//! HTTP digest authentication (RFC 7616) with MD5 and `qop=auth`, as AMT uses it.
//!
//! Written here rather than taken from a crate: `http-auth` 0.1 only responds to
//! challenges, and `digest_auth` 0.3 computes responses from the plain password. The ME
//! must parse `Authorization` headers and check them against a stored HA1, because
//! SetAdminAclEntryEx sends MD5(`admin:realm:password`) and never the password.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};

/// Error of a `WWW-Authenticate` or `Authorization` header that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("authentication scheme {scheme:?} is not Digest")]
    NotDigest { scheme: String },

    #[error("malformed digest parameters at byte {at}: {reason}")]
    Malformed { at: usize, reason: &'static str },

    #[error("digest header has no {0} parameter")]
    MissingParameter(&'static str),

    #[error("unsupported digest algorithm {0:?}: AMT uses MD5")]
    UnsupportedAlgorithm(String),

    #[error("unsupported qop {0:?}: only auth is supported")]
    UnsupportedQop(String),

    #[error("invalid nonce count {0:?}: expected 8 hex digits")]
    InvalidNonceCount(String),
}

/// A `WWW-Authenticate: Digest` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// The nonce expired but the credentials were right: retry with the new nonce.
    pub stale: bool,
}

/// An `Authorization: Digest` header, the client's response to a challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    /// The request-target the response was computed over.
    pub uri: String,
    /// 32 lowercase hex digits.
    pub response: String,
    /// `Some` with `qop=auth`; `None` for the RFC 2069 form without a client nonce.
    pub qop_auth: Option<QopAuth>,
    pub opaque: Option<String>,
}

/// The fields `qop=auth` adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QopAuth {
    /// `nc`: how many requests this client sent with this nonce, starting at 1.
    pub nonce_count: u32,
    pub cnonce: String,
}

/// HA1 = MD5(`username:realm:password`).
pub fn ha1(username: &str, realm: &str, password: &str) -> [u8; 16] {
    Md5::digest(format!("{username}:{realm}:{password}")).into()
}

impl Challenge {
    /// Formats the header value as AMT sends it.
    pub fn to_header_value(&self) -> String {
        let mut out = format!(
            r#"Digest realm="{}", nonce="{}", stale="{}", qop="auth""#,
            quote(&self.realm),
            quote(&self.nonce),
            self.stale
        );
        if let Some(opaque) = &self.opaque {
            let _ = write!(out, r#", opaque="{}""#, quote(opaque));
        }
        out
    }

    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let params = parse_params(value)?;
        check_algorithm(&params)?;
        if let Some(qop) = param(&params, "qop")
            && !qop.split(',').any(|option| option.trim().eq_ignore_ascii_case("auth"))
        {
            return Err(DigestError::UnsupportedQop(qop.into()));
        }

        Ok(Self {
            realm: required(&params, "realm")?,
            nonce: required(&params, "nonce")?,
            opaque: param(&params, "opaque").map(String::from),
            stale: param(&params, "stale").is_some_and(|stale| stale.eq_ignore_ascii_case("true")),
        })
    }
}

impl Authorization {
    /// Computes the response to `challenge` for a request with `method` and `uri`, sent as
    /// the `nonce_count`-th request under this nonce.
    pub fn answer(
        challenge: &Challenge,
        username: &str,
        ha1: &[u8; 16],
        method: &str,
        uri: &str,
        nonce_count: u32,
        cnonce: &str,
    ) -> Self {
        let qop_auth = QopAuth { nonce_count, cnonce: cnonce.into() };
        let response = response_hex(ha1, &challenge.nonce, Some(&qop_auth), method, uri);
        Self {
            username: username.into(),
            realm: challenge.realm.clone(),
            nonce: challenge.nonce.clone(),
            uri: uri.into(),
            response,
            qop_auth: Some(qop_auth),
            opaque: challenge.opaque.clone(),
        }
    }

    /// Checks whether the response matches what `ha1` gives for `method`. The comparison
    /// takes constant time, so it leaks nothing about the expected value.
    pub fn verify(&self, ha1: &[u8; 16], method: &str) -> bool {
        let expected = response_hex(ha1, &self.nonce, self.qop_auth.as_ref(), method, &self.uri);
        let given = self.response.to_ascii_lowercase();
        expected.len() == given.len() && expected.bytes().zip(given.bytes()).fold(0, |diff, (a, b)| diff | (a ^ b)) == 0
    }

    pub fn to_header_value(&self) -> String {
        let mut out = format!(
            r#"Digest username="{}", realm="{}", nonce="{}", uri="{}", response="{}", algorithm=MD5"#,
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            self.response,
        );
        if let Some(qop) = &self.qop_auth {
            let _ = write!(out, r#", qop=auth, nc={:08x}, cnonce="{}""#, qop.nonce_count, quote(&qop.cnonce));
        }
        if let Some(opaque) = &self.opaque {
            let _ = write!(out, r#", opaque="{}""#, quote(opaque));
        }
        out
    }

    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let params = parse_params(value)?;
        check_algorithm(&params)?;

        Ok(Self {
            username: required(&params, "username")?,
            realm: required(&params, "realm")?,
            nonce: required(&params, "nonce")?,
            uri: required(&params, "uri")?,
            response: required(&params, "response")?,
            qop_auth: parse_qop_auth(&params)?,
            opaque: param(&params, "opaque").map(String::from),
        })
    }
}

fn parse_qop_auth(params: &[(String, String)]) -> Result<Option<QopAuth>, DigestError> {
    let Some(qop) = param(params, "qop") else {
        return Ok(None);
    };
    if !qop.eq_ignore_ascii_case("auth") {
        return Err(DigestError::UnsupportedQop(qop.into()));
    }

    let nc = required(params, "nc")?;
    if nc.len() != 8 {
        return Err(DigestError::InvalidNonceCount(nc));
    }
    let nonce_count = u32::from_str_radix(&nc, 16).map_err(|_| DigestError::InvalidNonceCount(nc.clone()))?;
    Ok(Some(QopAuth { nonce_count, cnonce: required(params, "cnonce")? }))
}

/// response = MD5(HA1:nonce:nc:cnonce:qop:HA2) with qop, MD5(HA1:nonce:HA2) without,
/// where HA2 = MD5(method:uri) (RFC 7616 section 3.4.1).
fn response_hex(ha1: &[u8; 16], nonce: &str, qop_auth: Option<&QopAuth>, method: &str, uri: &str) -> String {
    let ha1 = hex::encode(ha1);
    let ha2 = hex::encode(Md5::digest(format!("{method}:{uri}")));
    let input = match qop_auth {
        Some(qop) => format!("{ha1}:{nonce}:{:08x}:{}:auth:{ha2}", qop.nonce_count, qop.cnonce),
        None => format!("{ha1}:{nonce}:{ha2}"),
    };
    hex::encode(Md5::digest(input))
}

fn check_algorithm(params: &[(String, String)]) -> Result<(), DigestError> {
    match param(params, "algorithm") {
        None => Ok(()),
        Some(algorithm) if algorithm.eq_ignore_ascii_case("MD5") => Ok(()),
        Some(other) => Err(DigestError::UnsupportedAlgorithm(other.into())),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

fn required(params: &[(String, String)], name: &'static str) -> Result<String, DigestError> {
    param(params, name).map(String::from).ok_or(DigestError::MissingParameter(name))
}

/// Escapes a value for a quoted-string.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Splits `Digest name=value, name="quoted value", ...` into its parameters.
fn parse_params(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest { scheme: scheme.into() });
    }

    let offset = value.len() - rest.len();
    let mut parser = ParamParser { input: rest.as_bytes(), at: 0, offset };
    parser.params()
}

struct ParamParser<'a> {
    input: &'a [u8],
    at: usize,
    /// Bytes before `input` in the header value, for error positions.
    offset: usize,
}

impl ParamParser<'_> {
    fn params(&mut self) -> Result<Vec<(String, String)>, DigestError> {
        let mut params = Vec::new();
        loop {
            self.skip_separators();
            if self.at == self.input.len() {
                return Ok(params);
            }
            let name = self.token();
            if name.is_empty() {
                return Err(self.malformed("expected a parameter name"));
            }
            self.skip_spaces();
            if self.next() != Some(b'=') {
                return Err(self.malformed("expected = after a parameter name"));
            }
            self.skip_spaces();
            let value = if self.peek() == Some(b'"') { self.quoted()? } else { self.token() };
            params.push((name, value));
        }
    }

    fn token(&mut self) -> String {
        let start = self.at;
        while let Some(byte) = self.peek() {
            if byte == b',' || byte == b'=' || byte == b'"' || byte.is_ascii_whitespace() {
                break;
            }
            self.at += 1;
        }
        String::from_utf8_lossy(&self.input[start..self.at]).into_owned()
    }

    fn quoted(&mut self) -> Result<String, DigestError> {
        self.at += 1;
        let mut value = Vec::new();
        loop {
            match self.next() {
                None => return Err(self.malformed("unterminated quoted string")),
                Some(b'"') => return Ok(String::from_utf8_lossy(&value).into_owned()),
                Some(b'\\') => value.push(self.next().ok_or_else(|| self.malformed("unterminated quoted string"))?),
                Some(byte) => value.push(byte),
            }
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(byte) if byte == b',' || byte.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(byte) if byte.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn malformed(&self, reason: &'static str) -> DigestError {
        DigestError::Malformed { at: self.offset + self.at, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 section 3.9.1, MD5 example: user Mufasa, password "Circle of Life".
    #[test]
    fn answer_matches_rfc7616_example() {
        let challenge = Challenge::parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        let ha1 = ha1("Mufasa", &challenge.realm, "Circle of Life");

        let answer = Authorization::answer(
            &challenge,
            "Mufasa",
            &ha1,
            "GET",
            "/dir/index.html",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );

        assert_eq!(answer.response, "8ca523f5e9506fed4657c9700eebdbec");
        assert!(answer.verify(&ha1, "GET"));
    }

    #[test]
    fn authorization_round_trip() {
        let challenge = Challenge {
            realm: "Digest:0123ABCD".into(),
            nonce: "n\"once".into(),
            opaque: Some("op".into()),
            stale: false,
        };
        let ha1 = ha1("admin", &challenge.realm, "");
        let answer = Authorization::answer(&challenge, "admin", &ha1, "POST", "/wsman", 3, "c");

        let parsed = Authorization::parse(&answer.to_header_value()).unwrap();

        assert_eq!(parsed, answer);
        assert_eq!(parsed.qop_auth.as_ref().unwrap().nonce_count, 3);
        assert!(parsed.verify(&ha1, "POST"));
    }

    #[test]
    fn challenge_round_trip() {
        let challenge = Challenge {
            realm: "Digest:F3EB554784E729164447A89F60B641C5".into(),
            nonce: "abc".into(),
            opaque: None,
            stale: true,
        };

        assert_eq!(Challenge::parse(&challenge.to_header_value()).unwrap(), challenge);
    }

    #[test]
    fn verify_rejects_wrong_password_method_and_uri() {
        let challenge = Challenge { realm: "r".into(), nonce: "n".into(), opaque: None, stale: false };
        let right = ha1("admin", "r", "good");
        let answer = Authorization::answer(&challenge, "admin", &right, "POST", "/wsman", 1, "c");

        assert!(!answer.verify(&ha1("admin", "r", "bad"), "POST"));
        assert!(!answer.verify(&right, "GET"));
        let moved = Authorization { uri: "/other".into(), ..answer };
        assert!(!moved.verify(&right, "POST"));
    }

    #[test]
    fn parse_rejects_bad_headers() {
        assert_eq!(Challenge::parse("Basic realm=\"x\""), Err(DigestError::NotDigest { scheme: "Basic".into() }));
        assert_eq!(Challenge::parse("Digest realm=\"x\""), Err(DigestError::MissingParameter("nonce")));
        assert!(matches!(Challenge::parse("Digest realm=\"x"), Err(DigestError::Malformed { .. })));
        assert!(matches!(Challenge::parse("Digest realm"), Err(DigestError::Malformed { .. })));
        assert_eq!(
            Challenge::parse("Digest realm=x, nonce=y, algorithm=SHA-256"),
            Err(DigestError::UnsupportedAlgorithm("SHA-256".into()))
        );
        assert_eq!(
            Challenge::parse("Digest realm=x, nonce=y, qop=auth-int"),
            Err(DigestError::UnsupportedQop("auth-int".into()))
        );
        let bad_nc = r#"Digest username="a", realm="r", nonce="n", uri="/", response="x", qop=auth, nc=1, cnonce="c""#;
        assert_eq!(Authorization::parse(bad_nc), Err(DigestError::InvalidNonceCount("1".into())));
    }
}
