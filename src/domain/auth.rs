//! Who may do what: roles, and the hashing of bearer secrets.

use hmac::Mac;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Roles are ordered: each one may do everything the ones before it may.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything but the audit log and secrets.
    Viewer,
    /// Works alerts and incidents: acknowledges, resolves, declares.
    Responder,
    /// Manages users, tokens, config, and reads the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "responder" => Some(Role::Responder),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Bearer secrets (API tokens, session ids) are stored only as this digest,
/// so a copy of the database does not let anyone in. They are 32 random
/// bytes, so a fast hash is enough; passwords use argon2 instead.
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// HMAC-SHA256 of the concatenated `parts` under `secret`, as hex: the one
/// signing primitive (Grafana signatures, outgoing webhooks, acknowledge links).
pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    hex::encode(hmac_of(secret, parts).finalize().into_bytes())
}

/// Whether `signature` (hex) is the HMAC of `parts`; compared in constant time.
pub fn hmac_matches(secret: &str, parts: &[&[u8]], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    hmac_of(secret, parts).verify_slice(&expected).is_ok()
}

/// Whether two secrets (CSRF tokens) are equal, in a time that does not
/// tell how much of a guess was right.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |differ, (x, y)| differ | (x ^ y))
            == 0
}

fn hmac_of(secret: &str, parts: &[&[u8]]) -> hmac::Hmac<Sha256> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(secrets_equal("abc123", "abc123"));
        assert!(!secrets_equal("abc123", "abc124"));
        assert!(!secrets_equal("abc123", "abc12"));
        assert!(!secrets_equal("", "a"));
        assert!(secrets_equal("", ""));
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Viewer < Role::Responder && Role::Responder < Role::Admin);
        for role in [Role::Viewer, Role::Responder, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn digest_is_stable_and_distinct() {
        assert_eq!(secret_digest("a"), secret_digest("a"));
        assert_ne!(secret_digest("a"), secret_digest("b"));
        assert_eq!(secret_digest("a").len(), 64);
    }
}
