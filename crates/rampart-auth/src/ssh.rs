//! SSH identities for the bastion: public keys registered per user, and the
//! second factor of an SSH login (TOTP over keyboard-interactive), counted
//! against the same throttle and lockout as the API's login.
//!
//! Public keys are parsed by hand rather than with an SSH library: all that
//! is needed is the algorithm name, the key blob and its SHA-256
//! fingerprint (as OpenSSH prints it), and keeping `rampart-auth` free of
//! SSH dependencies leaves the protocol to the bastion crate. The bastion
//! computes the same fingerprint from the key a client proves it holds and
//! looks the owner up by it.

use std::net::IpAddr;

use aws_lc_rs::digest::{SHA256, digest};
use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Principal};
use rampart_store::{SshKeyRow, UserRow};
use secrecy::SecretString;
use serde::Serialize;

use crate::{Auth, AuthError};

/// Key algorithms accepted: modern ones only (no RSA, no DSA).
const ALGORITHMS: [&str; 6] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];
/// The longest public key line accepted (an ECDSA P-521 key is ~270 bytes).
const MAX_LINE: usize = 4096;
/// How many keys one user may register.
const MAX_KEYS_PER_USER: usize = 50;

/// A parsed OpenSSH public key line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyLine {
    pub algorithm: String,
    /// The key blob, base64 as in the line.
    pub blob_base64: String,
    pub comment: String,
    /// `SHA256:` and the unpadded base64 of the blob's SHA-256.
    pub fingerprint: String,
}

/// The OpenSSH fingerprint of a public key blob.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", data_encoding::BASE64_NOPAD.encode(digest(&SHA256, blob).as_ref()))
}

/// Parses `ALGORITHM BASE64 [COMMENT]`, checking that the blob names the
/// same algorithm as the line and that the algorithm is one we accept.
pub fn parse_public_key(line: &str) -> Result<PublicKeyLine, AuthError> {
    let bad = |why: &str| AuthError::Invalid(format!("not an OpenSSH public key: {why}"));
    if line.len() > MAX_LINE {
        return Err(bad("longer than 4096 bytes"));
    }
    let mut parts = line.trim().splitn(3, char::is_whitespace);
    let algorithm = parts.next().unwrap_or_default();
    let blob_base64 = parts.next().ok_or_else(|| bad("expected `ALGORITHM BASE64 [COMMENT]`"))?.trim();
    let comment = parts.next().unwrap_or_default().trim();
    if !ALGORITHMS.contains(&algorithm) {
        return Err(AuthError::Invalid(format!(
            "unsupported key algorithm {algorithm:?}; accepted: {}",
            ALGORITHMS.join(", ")
        )));
    }
    let blob = data_encoding::BASE64.decode(blob_base64.as_bytes()).map_err(|_| bad("the key is not base64"))?;
    // The blob starts with the algorithm name as an SSH string.
    let named = blob
        .get(..4)
        .and_then(|n| usize::try_from(u32::from_be_bytes([n[0], n[1], n[2], n[3]])).ok())
        .and_then(|n| blob.get(4..4 + n));
    if named != Some(algorithm.as_bytes()) {
        return Err(bad("the key data does not match its algorithm"));
    }
    if comment.len() > 256 || comment.chars().any(char::is_control) {
        return Err(bad("the comment must be at most 256 printable bytes"));
    }
    Ok(PublicKeyLine {
        algorithm: algorithm.to_owned(),
        blob_base64: blob_base64.to_owned(),
        comment: comment.to_owned(),
        fingerprint: fingerprint(&blob),
    })
}

/// A registered key as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SshKeyInfo {
    pub id: String,
    pub fingerprint: String,
    pub public_key: String,
    pub comment: String,
    pub created_at: String,
}

impl From<&SshKeyRow> for SshKeyInfo {
    fn from(k: &SshKeyRow) -> Self {
        SshKeyInfo {
            id: k.id.to_string(),
            fingerprint: k.fingerprint.clone(),
            public_key: k.public_key.clone(),
            comment: k.comment.clone(),
            created_at: rfc3339(k.created_at),
        }
    }
}

/// Whether an SSH login has passed its second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshSecondFactor {
    /// The user has no second factor and its role does not need one.
    NotRequired,
    /// A TOTP code is required.
    Totp,
    /// The role needs a second factor the user has not enrolled yet (at
    /// the API): the SSH login is refused.
    NotEnrolled,
}

impl Auth {
    /// Registers a public key for the caller.
    pub async fn add_ssh_key(
        &self,
        actor: &Principal,
        line: &str,
        source: Option<String>,
    ) -> Result<SshKeyInfo, AuthError> {
        let key = parse_public_key(line)?;
        if self.store().list_ssh_keys(&actor.user_id).await?.len() >= MAX_KEYS_PER_USER {
            return Err(AuthError::Invalid(format!("a user may register at most {MAX_KEYS_PER_USER} SSH keys")));
        }
        if self.store().find_ssh_key(&key.fingerprint).await?.is_some() {
            return Err(AuthError::Conflict("this SSH key is already registered".into()));
        }
        let row = SshKeyRow {
            id: Id::new("ssk"),
            user_id: actor.user_id.clone(),
            fingerprint: key.fingerprint.clone(),
            public_key: format!("{} {}", key.algorithm, key.blob_base64),
            comment: key.comment,
            created_at: now_ms(),
        };
        self.audit()
            .record(
                Event::new("bastion.ssh_key.added", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .tenant(actor.tenant_id.clone())
                    .source(source)
                    .attr("fingerprint", key.fingerprint.as_str())
                    .attr("algorithm", key.algorithm.as_str()),
            )
            .await?;
        self.store().insert_ssh_key(&row).await?;
        Ok(SshKeyInfo::from(&row))
    }

    pub async fn list_ssh_keys(&self, actor: &Principal) -> Result<Vec<SshKeyInfo>, AuthError> {
        Ok(self.store().list_ssh_keys(&actor.user_id).await?.iter().map(SshKeyInfo::from).collect())
    }

    /// Removes one of the caller's keys; another user's key reads as not found.
    pub async fn remove_ssh_key(&self, actor: &Principal, id: &str, source: Option<String>) -> Result<(), AuthError> {
        let id = Id::parse(id).ok_or(AuthError::NotFound)?;
        if !self.store().list_ssh_keys(&actor.user_id).await?.iter().any(|k| k.id == id) {
            return Err(AuthError::NotFound);
        }
        self.audit()
            .record(
                Event::new("bastion.ssh_key.removed", Outcome::Success, &actor.username)
                    .object(id.as_str())
                    .tenant(actor.tenant_id.clone())
                    .source(source),
            )
            .await?;
        self.store().delete_ssh_key(&actor.user_id, &id).await?;
        Ok(())
    }

    /// The active user called `username` who registered the key with this
    /// fingerprint, if there is one.
    pub async fn ssh_key_owner(&self, username: &str, fingerprint: &str) -> Result<Option<UserRow>, AuthError> {
        let Some(key) = self.store().find_ssh_key(fingerprint).await? else { return Ok(None) };
        let Some(user) = self.store().find_user_by_name(username).await? else { return Ok(None) };
        if key.user_id != user.id || user.disabled_at.is_some() {
            return Ok(None);
        }
        Ok(Some(user))
    }

    /// Seconds until `username` or `source` may try again, if locked out
    /// (the same throttle as the API's login).
    pub async fn ssh_locked(&self, username: &str, source: Option<IpAddr>) -> Result<Option<u64>, AuthError> {
        let now = now_ms();
        let mut until = self.store().throttle_locked_until(&format!("user:{username}")).await?;
        if let Some(ip) = source {
            until = until.max(self.store().throttle_locked_until(&format!("ip:{ip}")).await?);
        }
        Ok((until > now).then(|| u64::try_from((until - now + 999) / 1000).unwrap_or(1)))
    }

    /// What second factor an SSH login of `user` needs.
    pub fn ssh_second_factor(&self, user: &UserRow) -> SshSecondFactor {
        match (&user.totp_sealed, user.role.requires_totp()) {
            (Some(_), _) => SshSecondFactor::Totp,
            (None, false) => SshSecondFactor::NotRequired,
            (None, true) => SshSecondFactor::NotEnrolled,
        }
    }

    /// Checks a TOTP code for an SSH login: each code works once, and a
    /// wrong one counts towards the lockout exactly as at the API.
    pub async fn ssh_check_totp(
        &self,
        user: &UserRow,
        code: &SecretString,
        source: Option<IpAddr>,
    ) -> Result<bool, AuthError> {
        let now = now_ms();
        let user_key = format!("user:{}", user.username);
        let ip_key = source.map(|a| format!("ip:{a}"));
        let source_text = source.map(|a| a.to_string());
        match self.second_factor(user, Some(code), now).await? {
            Ok(()) => {
                self.store().throttle_clear(&user_key).await?;
                Ok(true)
            }
            Err(reason) => match self.fail(&user.username, Some(user), &user_key, ip_key, source_text, reason).await {
                Err(AuthError::InvalidCredentials) | Ok(_) => Ok(false),
                Err(other) => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated with `ssh-keygen -t ed25519 -C alice@example`.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIx6W9mawPcDZe97DWyuNHFdiFhRFSLmE+aKaQ0FSsmT alice@example";
    // `ssh-keygen -lf` of that key.
    const ED25519_FINGERPRINT: &str = "SHA256:T3RImu1qp/iumJpUhQD+Fa/jMJ3PclDwa5jiZy/uUvw";

    #[test]
    fn parses_an_ed25519_key_and_fingerprints_it_as_openssh_does() {
        let k = parse_public_key(ED25519).expect("parses");
        assert_eq!(k.algorithm, "ssh-ed25519");
        assert_eq!(k.comment, "alice@example");
        assert_eq!(k.fingerprint, ED25519_FINGERPRINT);
    }

    #[test]
    fn refuses_rsa_garbage_and_mismatched_blobs() {
        assert!(parse_public_key("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ user").is_err());
        assert!(parse_public_key("ssh-ed25519 !!!notbase64").is_err());
        assert!(parse_public_key("ssh-ed25519").is_err());
        assert!(parse_public_key("").is_err());
        // An ECDSA label on an Ed25519 blob.
        let blob = ED25519.split(' ').nth(1).unwrap_or_default();
        assert!(parse_public_key(&format!("ecdsa-sha2-nistp256 {blob}")).is_err());
        assert!(parse_public_key(&"a".repeat(5000)).is_err());
    }
}
