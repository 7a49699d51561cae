//! Digest authentication of one connection's requests.

use std::collections::VecDeque;

use rand::RngExt as _;

use super::state::AdminCredentials;
use crate::amt::wsman::digest::{Authorization, Challenge};

/// Nonces a connection remembers; a client uses one at a time, so a few suffice and the
/// oldest is forgotten first.
const MAX_NONCES: usize = 8;

/// Nonces issued on one connection, each with the highest nonce count seen, so a replayed
/// `Authorization` header is rejected (RFC 7616 section 3.3).
#[derive(Debug, Default)]
pub(super) struct NonceTable {
    nonces: VecDeque<(String, u32)>,
}

/// Reason a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AuthFailure {
    Missing,
    Malformed(String),
    WrongRealm(String),
    UnknownUser(String),
    /// The nonce is not one this connection issued, or was forgotten.
    UnknownNonce,
    ReplayedNonceCount(u32),
    WrongResponse,
    /// `qop=auth` is required, as AMT requires it.
    NoQop,
}

impl NonceTable {
    /// Issues a fresh nonce and the challenge that carries it.
    pub fn challenge(&mut self, realm: &str, stale: bool) -> Challenge {
        let bytes: [u8; 16] = rand::rng().random();
        let nonce = hex::encode(bytes);
        if self.nonces.len() == MAX_NONCES {
            self.nonces.pop_front();
        }
        self.nonces.push_back((nonce.clone(), 0));
        Challenge { realm: realm.into(), nonce, opaque: None, stale }
    }

    /// Checks an `Authorization` header against the administrator account.
    pub fn check(
        &mut self,
        header: Option<&str>,
        method: &str,
        realm: &str,
        admin: &AdminCredentials,
    ) -> Result<(), AuthFailure> {
        let header = header.ok_or(AuthFailure::Missing)?;
        let authorization = Authorization::parse(header).map_err(|error| AuthFailure::Malformed(error.to_string()))?;
        if authorization.realm != realm {
            return Err(AuthFailure::WrongRealm(authorization.realm));
        }
        if authorization.username != admin.username {
            return Err(AuthFailure::UnknownUser(authorization.username));
        }
        let qop = authorization.qop_auth.as_ref().ok_or(AuthFailure::NoQop)?;

        let Some(entry) = self.nonces.iter_mut().find(|(nonce, _)| *nonce == authorization.nonce) else {
            // Only right credentials earn a stale challenge, which clients retry silently.
            let right = authorization.verify(&admin.ha1, method);
            return Err(if right { AuthFailure::UnknownNonce } else { AuthFailure::WrongResponse });
        };
        if qop.nonce_count <= entry.1 {
            return Err(AuthFailure::ReplayedNonceCount(qop.nonce_count));
        }
        if !authorization.verify(&admin.ha1, method) {
            return Err(AuthFailure::WrongResponse);
        }
        entry.1 = qop.nonce_count;
        Ok(())
    }
}

impl AuthFailure {
    /// Tells whether the credentials were right and only the nonce was not, so the new
    /// challenge carries `stale=true` and the client retries without asking its user.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::UnknownNonce)
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Missing => "no Authorization header".into(),
            Self::Malformed(error) => format!("malformed Authorization header: {error}"),
            Self::WrongRealm(realm) => format!("realm {realm:?} is not this ME's digest realm"),
            Self::UnknownUser(user) => format!("unknown user {user:?}"),
            Self::UnknownNonce => "nonce not issued on this connection".into(),
            Self::ReplayedNonceCount(count) => format!("nonce count {count} already used"),
            Self::WrongResponse => "wrong digest response: wrong password".into(),
            Self::NoQop => "digest without qop=auth".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "Digest:00112233445566778899AABBCCDDEEFF";

    fn admin(password: &str) -> AdminCredentials {
        AdminCredentials::from_password("admin", REALM, password)
    }

    fn answer(challenge: &Challenge, password: &str, nonce_count: u32) -> String {
        Authorization::answer(challenge, "admin", &admin(password).ha1, "POST", "/wsman", nonce_count, "cn")
            .to_header_value()
    }

    #[test]
    fn check_accepts_right_answer_once_per_count() {
        let mut table = NonceTable::default();
        let challenge = table.challenge(REALM, false);
        let first = answer(&challenge, "", 1);

        assert_eq!(table.check(Some(&first), "POST", REALM, &admin("")), Ok(()));
        assert_eq!(table.check(Some(&first), "POST", REALM, &admin("")), Err(AuthFailure::ReplayedNonceCount(1)));
        assert_eq!(table.check(Some(&answer(&challenge, "", 2)), "POST", REALM, &admin("")), Ok(()));
    }

    #[test]
    fn check_rejects_wrong_password_and_foreign_nonce() {
        let mut table = NonceTable::default();
        let challenge = table.challenge(REALM, false);
        let foreign = Challenge { nonce: "not-issued".into(), ..challenge.clone() };

        assert_eq!(
            table.check(Some(&answer(&challenge, "guess", 1)), "POST", REALM, &admin("")),
            Err(AuthFailure::WrongResponse)
        );
        assert_eq!(
            table.check(Some(&answer(&foreign, "", 1)), "POST", REALM, &admin("")),
            Err(AuthFailure::UnknownNonce)
        );
        assert_eq!(
            table.check(Some(&answer(&foreign, "guess", 1)), "POST", REALM, &admin("")),
            Err(AuthFailure::WrongResponse)
        );
        assert_eq!(table.check(None, "POST", REALM, &admin("")), Err(AuthFailure::Missing));
        assert!(matches!(
            table.check(Some("Basic YWRtaW46"), "POST", REALM, &admin("")),
            Err(AuthFailure::Malformed(_))
        ));
    }

    #[test]
    fn table_forgets_oldest_nonce() {
        let mut table = NonceTable::default();
        let oldest = table.challenge(REALM, false);
        for _ in 0..MAX_NONCES {
            table.challenge(REALM, false);
        }

        assert_eq!(
            table.check(Some(&answer(&oldest, "", 1)), "POST", REALM, &admin("")),
            Err(AuthFailure::UnknownNonce)
        );
    }
}
