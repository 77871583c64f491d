//! The bastion's SSH user certificate authority, as operators know it from
//! Vault's SSH CA, Teleport or smallstep: one Ed25519 user CA per cluster,
//! created on first use, its private key sealed with the KMS envelope API
//! under `alias/rampart/bastion` and stored in the database (so every node
//! shares it), never shown. An authenticated user asks for a certificate
//! for one of their public keys and gets an OpenSSH user certificate: key
//! id naming the user and the serial, the username as the one principal,
//! valid from a minute ago for at most `bastion.ssh_cert_max_secs`, no
//! critical options, and only the extensions the bastion grants anyway
//! (`permit-pty`, `permit-port-forwarding`; forwarding still needs a
//! grant). Every certificate is kept by serial so an administrator can list
//! and revoke it; issuing and revoking are ledger events (with the key's
//! fingerprint, never key material).
//!
//! [`Bastion::check_user_cert`] is the login-time check the SSH server
//! makes on a certificate russh has already parsed and whose key the client
//! has proved it holds: signed by this CA, a user certificate, valid now,
//! naming the login user, no critical options, issued here to that user for
//! that key, and not revoked.

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Outcome, Principal};
use rampart_kms::EncryptionContext;
use rampart_store::{SshCaRow, SshCertRow, UserRow};
use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, LineEnding};
use russh::keys::{Certificate, PrivateKey, PublicKey};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::targets::strip_comment;
use crate::{Bastion, BastionError};

/// How far back a certificate's validity starts, for clocks a little
/// behind the bastion's.
const BACKDATE_SECS: u64 = 60;
/// The shortest validity a certificate may ask for.
const MIN_VALID_SECS: u64 = 60;
/// The longest public key line accepted.
const MAX_KEY_LINE: usize = 4096;
/// What the sealed CA key's encryption context says.
const CA_PURPOSE: &str = "bastion-ssh-user-ca";

/// A certificate as listed (never the certificate itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SshCertInfo {
    /// Decimal, as `ssh-keygen -L` prints it.
    pub serial: String,
    pub username: String,
    pub key_id: String,
    /// `SHA256:…` of the certified public key.
    pub key_fingerprint: String,
    pub valid_after: String,
    pub valid_before: String,
    pub created_at: String,
    /// `valid`, `expired` or `revoked`.
    pub status: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

impl SshCertInfo {
    fn from_row(c: &SshCertRow, now: i64) -> Self {
        let status = match (c.revoked_at, c.valid_before <= now) {
            (Some(_), _) => "revoked",
            (None, true) => "expired",
            (None, false) => "valid",
        };
        SshCertInfo {
            serial: c.serial.to_string(),
            username: c.username.clone(),
            key_id: c.key_id.clone(),
            key_fingerprint: c.fingerprint.clone(),
            valid_after: rfc3339(c.valid_after),
            valid_before: rfc3339(c.valid_before),
            created_at: rfc3339(c.created_at),
            status: status.to_owned(),
            revoked_at: c.revoked_at.map(rfc3339),
            revoked_by: c.revoked_by.clone(),
        }
    }
}

/// A certificate just issued.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedSshCert {
    /// The OpenSSH certificate line (`ssh-ed25519-cert-v01@openssh.com AAAA…`),
    /// to save as `id_ed25519-cert.pub`.
    pub certificate: String,
    #[serde(flatten)]
    pub info: SshCertInfo,
}

/// A certificate request.
#[derive(Debug, Clone)]
pub struct NewSshCert {
    /// An OpenSSH public key line (Ed25519 or ECDSA).
    pub public_key: String,
    /// How long it is to be valid; the configured maximum when `None`.
    pub valid_for_secs: Option<u64>,
    /// The user it is for, if the caller named one: only themselves.
    pub username: Option<String>,
}

/// A certificate login the server accepted: what its events say.
#[derive(Debug, Clone)]
pub struct CertLogin {
    pub serial: u64,
    pub key_id: String,
}

fn ca_context() -> Result<EncryptionContext, BastionError> {
    EncryptionContext::from_pairs([("purpose", CA_PURPOSE)]).map_err(|e| BastionError::Internal(e.to_string()))
}

fn unix_secs(ms: i64) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
}

fn to_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}

/// A fresh serial: random, positive, below 2^63 (it is stored signed).
fn new_serial() -> Result<i64, BastionError> {
    loop {
        let bytes = rampart_core::secret::random_bytes::<8>().map_err(|e| BastionError::Internal(e.to_string()))?;
        let serial = i64::from_be_bytes(*bytes) & i64::MAX;
        if serial != 0 {
            return Ok(serial);
        }
    }
}

/// Parses the key to certify: one OpenSSH public key line, Ed25519 or ECDSA.
fn parse_subject_key(line: &str) -> Result<PublicKey, BastionError> {
    let line = line.trim();
    if line.len() > MAX_KEY_LINE || line.is_empty() {
        return Err(BastionError::Invalid(
            "public_key must be one OpenSSH public key line of at most 4096 bytes".into(),
        ));
    }
    let key = PublicKey::from_openssh(line).map_err(|_| {
        BastionError::Invalid("public_key is not an OpenSSH public key line (`ssh-ed25519 AAAA… comment`)".into())
    })?;
    if !matches!(key.algorithm(), russh::keys::Algorithm::Ed25519 | russh::keys::Algorithm::Ecdsa { .. }) {
        return Err(BastionError::Invalid("public_key must be an Ed25519 or ECDSA key".into()));
    }
    Ok(key)
}

impl Bastion {
    /// The user CA, created (and sealed) on first use.
    async fn user_ca(&self) -> Result<SshCaRow, BastionError> {
        if let Some(ca) = self.store().ssh_user_ca().await? {
            return Ok(ca);
        }
        let seed = rampart_core::secret::random_bytes::<32>().map_err(|e| BastionError::Internal(e.to_string()))?;
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        let pem = key.to_openssh(LineEnding::LF).map_err(|e| BastionError::Internal(e.to_string()))?;
        let public = key.public_key().to_openssh().map_err(|e| BastionError::Internal(e.to_string()))?;
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        let sealed = self.seal_secret(&ca_context()?, Zeroizing::new(pem.as_bytes().to_vec())).await?;
        self.audit()
            .record(
                Event::new("bastion.ssh_ca.created", Outcome::Success, "rampart-bastion")
                    .object(fingerprint.as_str())
                    .attr("ca_fingerprint", fingerprint.as_str()),
            )
            .await?;
        let row = SshCaRow { public_key: strip_comment(&public), private_sealed: sealed, created_at: now_ms() };
        if !self.store().insert_ssh_user_ca(&row).await? {
            tracing::info!("another node created the SSH user CA first; using theirs");
        }
        self.store().ssh_user_ca().await?.ok_or_else(|| BastionError::Internal("the SSH user CA vanished".into()))
    }

    /// The user CA's public key in OpenSSH form (`ssh-ed25519 AAAA…`), for
    /// `TrustedUserCAKeys` or `@cert-authority` lines; created on first use.
    pub async fn ssh_ca_public_key(&self) -> Result<String, BastionError> {
        Ok(self.user_ca().await?.public_key)
    }

    async fn ca_signing_key(&self, ca: &SshCaRow) -> Result<PrivateKey, BastionError> {
        let (plain, context) = self.open_secret(ca.private_sealed.clone()).await?;
        if context.get("purpose") != Some(CA_PURPOSE) {
            return Err(BastionError::Kms("the sealed SSH CA key carries another purpose".into()));
        }
        let key = PrivateKey::from_openssh(&plain[..])
            .map_err(|_| BastionError::Internal("the sealed SSH CA key does not parse".into()))?;
        let expected = PublicKey::from_openssh(&ca.public_key).map_err(|e| BastionError::Internal(e.to_string()))?;
        if key.public_key().key_data() != expected.key_data() {
            return Err(BastionError::Internal("the sealed SSH CA key does not match its public key".into()));
        }
        Ok(key)
    }

    /// Issues a user certificate for the caller's public key.
    pub async fn issue_ssh_cert(
        &self,
        actor: &Principal,
        new: NewSshCert,
        source: Option<String>,
    ) -> Result<IssuedSshCert, BastionError> {
        if let Some(name) = new.username.as_deref()
            && name != actor.username
        {
            return Err(BastionError::Forbidden(format!(
                "a certificate is issued only for your own user ({}), not for {name:?}",
                actor.username
            )));
        }
        let subject = parse_subject_key(&new.public_key)?;
        let max = self.config().ssh_cert_max_secs;
        let valid_for = new.valid_for_secs.unwrap_or(max);
        if !(MIN_VALID_SECS..=max).contains(&valid_for) {
            return Err(BastionError::Invalid(format!(
                "valid_for_secs must be between {MIN_VALID_SECS} and {max} (bastion.ssh_cert_max_secs)"
            )));
        }
        let now = now_ms();
        let valid_after = unix_secs(now).saturating_sub(BACKDATE_SECS);
        let valid_before = unix_secs(now).saturating_add(valid_for);
        let serial = new_serial()?;
        let key_id = format!("rampart:{}:{serial}", actor.username);
        let fingerprint = subject.fingerprint(HashAlg::Sha256).to_string();
        let ca = self.user_ca().await?;
        let signer = self.ca_signing_key(&ca).await?;
        let nonce = rampart_core::secret::random_bytes::<32>().map_err(|e| BastionError::Internal(e.to_string()))?;
        let cert_err =
            |e: russh::keys::ssh_key::Error| BastionError::Internal(format!("building the certificate: {e}"));
        let mut builder =
            Builder::new(nonce.to_vec(), subject.key_data().clone(), valid_after, valid_before).map_err(cert_err)?;
        builder
            .serial(serial.unsigned_abs())
            .map_err(cert_err)?
            .cert_type(CertType::User)
            .map_err(cert_err)?
            .key_id(key_id.as_str())
            .map_err(cert_err)?
            .valid_principal(actor.username.as_str())
            .map_err(cert_err)?
            .extension("permit-pty", "")
            .map_err(cert_err)?
            .extension("permit-port-forwarding", "")
            .map_err(cert_err)?;
        let cert = builder.sign(&signer).map_err(cert_err)?;
        let text = cert.to_openssh().map_err(cert_err)?;
        let row = SshCertRow {
            serial,
            user_id: actor.user_id.clone(),
            username: actor.username.clone(),
            key_id: key_id.clone(),
            fingerprint: fingerprint.clone(),
            valid_after: to_ms(valid_after),
            valid_before: to_ms(valid_before),
            created_at: now,
            revoked_at: None,
            revoked_by: None,
        };
        self.audit()
            .record(
                Event::new("bastion.ssh_cert.issued", Outcome::Success, &actor.username)
                    .object(serial.to_string())
                    .source(source)
                    .attr("serial", serial.to_string())
                    .attr("key_id", key_id.as_str())
                    .attr("principal", actor.username.as_str())
                    .attr("key_fingerprint", fingerprint.as_str())
                    .attr("valid_after", rfc3339(row.valid_after))
                    .attr("valid_before", rfc3339(row.valid_before)),
            )
            .await?;
        self.store().insert_ssh_cert(&row).await?;
        Ok(IssuedSshCert { certificate: text, info: SshCertInfo::from_row(&row, now) })
    }

    /// Issued certificates, newest first; with `all`, also expired ones.
    pub async fn list_ssh_certs(&self, all: bool) -> Result<Vec<SshCertInfo>, BastionError> {
        let now = now_ms();
        let rows = self.store().list_ssh_certs((!all).then_some(now)).await?;
        Ok(rows.iter().map(|c| SshCertInfo::from_row(c, now)).collect())
    }

    /// Revokes a certificate by serial: refused at the next login, and a
    /// live session that logged in with it is cut by its watcher.
    pub async fn revoke_ssh_cert(
        &self,
        actor: &Principal,
        serial: &str,
        source: Option<String>,
    ) -> Result<SshCertInfo, BastionError> {
        let serial: i64 = serial.parse().ok().filter(|s| *s > 0).ok_or(BastionError::NotFound)?;
        let Some(row) = self.store().find_ssh_cert(serial).await? else { return Err(BastionError::NotFound) };
        if row.revoked_at.is_some() {
            return Err(BastionError::Conflict(format!("certificate {serial} is already revoked")));
        }
        self.audit()
            .record(
                Event::new("bastion.ssh_cert.revoked", Outcome::Success, &actor.username)
                    .object(serial.to_string())
                    .source(source)
                    .attr("serial", serial.to_string())
                    .attr("key_id", row.key_id.as_str())
                    .attr("user", row.username.as_str())
                    .attr("key_fingerprint", row.fingerprint.as_str()),
            )
            .await?;
        let now = now_ms();
        self.store().revoke_ssh_cert(serial, &actor.username, now).await?;
        let row = self.store().find_ssh_cert(serial).await?.ok_or(BastionError::NotFound)?;
        Ok(SshCertInfo::from_row(&row, now))
    }

    /// Whether `user` holds a live certificate from this CA for the key
    /// with this fingerprint: what lets the server say "try it" to a key
    /// that is not registered.
    pub(crate) async fn has_live_cert(&self, user: &UserRow, fingerprint: &str) -> bool {
        match self.store().has_live_ssh_cert(&user.id, fingerprint, now_ms()).await {
            Ok(live) => live,
            Err(e) => {
                tracing::error!(error = %e, "looking up SSH certificates failed");
                false
            }
        }
    }

    /// Whether the certificate with this serial was revoked (a store that
    /// cannot be read is an error, for the watcher's grace period).
    pub(crate) async fn cert_revoked(&self, serial: u64) -> Result<bool, BastionError> {
        let Ok(serial) = i64::try_from(serial) else { return Ok(true) };
        Ok(self.store().find_ssh_cert(serial).await?.is_none_or(|c| c.revoked_at.is_some()))
    }

    /// The login-time check of a certificate for `user` (whose key the
    /// client has proved it holds): `Err` with the refusal's reason.
    pub(crate) async fn check_user_cert(&self, user: &UserRow, cert: &Certificate) -> Result<CertLogin, &'static str> {
        let ca = match self.store().ssh_user_ca().await {
            Ok(Some(ca)) => ca,
            Ok(None) => return Err("certificate_unknown_ca"),
            Err(e) => {
                tracing::error!(error = %e, "reading the SSH user CA failed");
                return Err("internal_error");
            }
        };
        let Ok(ca_key) = PublicKey::from_openssh(&ca.public_key) else { return Err("internal_error") };
        let ca_fingerprint = ca_key.fingerprint(HashAlg::Sha256);
        if cert.signature_key().fingerprint(HashAlg::Sha256) != ca_fingerprint {
            return Err("certificate_unknown_ca");
        }
        if cert.validate_at(unix_secs(now_ms()), [&ca_fingerprint]).is_err() {
            return Err("certificate_not_valid_now");
        }
        if cert.cert_type() != CertType::User {
            return Err("certificate_not_user");
        }
        if !matches!(cert.valid_principals(), [only] if *only == user.username) {
            return Err("certificate_wrong_principal");
        }
        if !cert.critical_options().is_empty() {
            return Err("certificate_critical_options");
        }
        let Ok(serial) = i64::try_from(cert.serial()) else { return Err("certificate_unknown_serial") };
        let row = match self.store().find_ssh_cert(serial).await {
            Ok(Some(row)) => row,
            Ok(None) => return Err("certificate_unknown_serial"),
            Err(e) => {
                tracing::error!(error = %e, "reading an SSH certificate failed");
                return Err("internal_error");
            }
        };
        let fingerprint = cert.public_key().fingerprint(HashAlg::Sha256).to_string();
        if row.user_id != user.id || row.fingerprint != fingerprint || row.key_id != cert.key_id() {
            return Err("certificate_unknown_serial");
        }
        if row.revoked_at.is_some() {
            return Err("certificate_revoked");
        }
        Ok(CertLogin { serial: cert.serial(), key_id: cert.key_id().to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_key_is_one_modern_openssh_public_key_line() {
        let ok = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIx6W9mawPcDZe97DWyuNHFdiFhRFSLmE+aKaQ0FSsmT alice@example";
        assert!(parse_subject_key(ok).is_ok());
        for bad in ["", "ssh-ed25519", "ssh-ed25519 not-base64", "hello world", &"a".repeat(5000)] {
            assert!(matches!(parse_subject_key(bad), Err(BastionError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn serials_are_positive() {
        for _ in 0..100 {
            assert!(new_serial().unwrap_or(0) > 0);
        }
    }
}
