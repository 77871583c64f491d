//! The target registry: backend systems reachable through the bastion,
//! each with its address, pinned host key, the login Rampart uses and the
//! credential for it. The credential (a private key or a password) is
//! sealed with the KMS envelope API under a system key of Rampart's own
//! (`alias/rampart/bastion`, created on first use) with the target's id in
//! the encryption context, stored only sealed, and never returned by any
//! API: it is opened only to log in to the target.
//!
//! A target carries labels (`env=prod`, or plain names like `pci`) that
//! grants and red lines can name instead of the target, and may be marked
//! as holding a tenant's data (`lockbox_tenant`): then every access also
//! needs a lockbox approval by that tenant's customer admin (`lockbox`).

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Principal};
use rampart_kms::lifecycle::Api;
use rampart_kms::service::{Caller, KmsError};
use rampart_kms::{AliasName, EncryptionContext, KeyRef, KeySpec};
use rampart_store::TargetRow;
use russh::keys::{PrivateKey, PublicKey};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{Bastion, BastionError};

/// The KMS alias of the key that seals target credentials.
const CREDENTIAL_KEY_ALIAS: &str = "alias/rampart/bastion";
/// The KMS actor name of the bastion's own operations.
const SYSTEM_ACTOR: &str = "rampart-bastion";

/// A credential Rampart logs in to a target with. Redacted in `Debug`,
/// zeroized on drop.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A private key in OpenSSH format.
    PrivateKey(SecretString),
    Password(SecretString),
}

impl Credential {
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::PrivateKey(_) => "private_key",
            Credential::Password(_) => "password",
        }
    }

    fn secret(&self) -> &SecretString {
        match self {
            Credential::PrivateKey(s) | Credential::Password(s) => s,
        }
    }

    /// The private key, parsed; only modern algorithms, no passphrase.
    pub fn private_key(&self) -> Result<Option<PrivateKey>, BastionError> {
        let Credential::PrivateKey(text) = self else { return Ok(None) };
        let key = PrivateKey::from_openssh(text.expose_secret().as_bytes())
            .map_err(|_| BastionError::Invalid("the private key is not an unencrypted OpenSSH private key".into()))?;
        if key.is_encrypted() {
            return Err(BastionError::Invalid("the private key must not be passphrase-protected".into()));
        }
        if !modern(&key.algorithm()) {
            return Err(BastionError::Invalid("the private key must be Ed25519 or ECDSA".into()));
        }
        Ok(Some(key))
    }
}

fn modern(algorithm: &russh::keys::Algorithm) -> bool {
    matches!(algorithm, russh::keys::Algorithm::Ed25519 | russh::keys::Algorithm::Ecdsa { .. })
}

/// A target to register.
#[derive(Debug)]
pub struct NewTarget {
    pub name: String,
    pub address: String,
    pub port: u16,
    /// The target's host key in OpenSSH form (`ssh-ed25519 AAAA…`).
    pub host_key: String,
    pub login: String,
    pub credential: Credential,
    /// Labels, `key=value` or plain names.
    pub labels: Vec<String>,
    /// The id of the tenant whose data the target holds, if any.
    pub lockbox_tenant: Option<String>,
}

/// Changes to a target's access metadata; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct TargetUpdate {
    /// The new labels, replacing the old ones.
    pub labels: Option<Vec<String>>,
    /// A tenant id to mark the target with, or `""` to unmark it.
    pub lockbox_tenant: Option<String>,
}

/// A label marked as holding a tenant's data.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LockboxLabel {
    pub label: String,
    pub tenant_id: String,
}

/// The most labels one target carries.
pub const MAX_LABELS: usize = 32;

/// A target as listed: never the credential.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetInfo {
    pub id: String,
    pub name: String,
    pub address: String,
    pub port: u16,
    pub host_key: String,
    /// `SHA256:…` of the pinned host key.
    pub host_key_fingerprint: String,
    pub login: String,
    /// `private_key` or `password`; the credential itself is never shown.
    pub credential_kind: String,
    pub created_at: String,
    /// Labels, sorted.
    pub labels: Vec<String>,
    /// The tenant whose data the target holds (lockbox), if any.
    pub lockbox_tenant: Option<String>,
}

impl From<&TargetRow> for TargetInfo {
    fn from(t: &TargetRow) -> Self {
        let fingerprint = PublicKey::from_openssh(&t.host_key)
            .map(|k| k.fingerprint(Default::default()).to_string())
            .unwrap_or_default();
        TargetInfo {
            id: t.id.to_string(),
            name: t.name.clone(),
            address: t.address.clone(),
            port: t.port,
            host_key: t.host_key.clone(),
            host_key_fingerprint: fingerprint,
            login: t.login.clone(),
            credential_kind: t.credential_kind.clone(),
            created_at: rfc3339(t.created_at),
            labels: t.labels.clone(),
            lockbox_tenant: t.lockbox_tenant.as_ref().map(Id::to_string),
        }
    }
}

/// A target name: what users type after the colon in `USER:TARGET`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// A label: a key of 1-63 lowercase letters, digits, '-', '_', '.' or '/'
/// starting with a letter or digit, optionally `=` and a value of up to 63
/// letters, digits, '-', '_' or '.'. No comma, so labels store as a list.
pub fn valid_label(label: &str) -> bool {
    let (key, value) = match label.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (label, None),
    };
    let key_ok = !key.is_empty()
        && key.len() <= 63
        && key.as_bytes()[0].is_ascii_alphanumeric()
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_./".contains(&b));
    let value_ok =
        value.is_none_or(|v| v.len() <= 63 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    key_ok && value_ok
}

/// Checks and normalises a target's labels: sorted, without duplicates.
pub(crate) fn check_labels(labels: &[String]) -> Result<Vec<String>, BastionError> {
    if labels.len() > MAX_LABELS {
        return Err(BastionError::Invalid(format!("a target carries at most {MAX_LABELS} labels")));
    }
    if let Some(bad) = labels.iter().find(|l| !valid_label(l)) {
        return Err(BastionError::Invalid(format!(
            "label {bad:?} is not KEY or KEY=VALUE (key: lowercase letters, digits, '-', '_', '.', '/'; \
             value: letters, digits, '-', '_', '.'; at most 63 each)"
        )));
    }
    let mut sorted = labels.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted)
}

/// Labels as red-line scopes see them: `key=value` as key → value, a plain
/// name as name → "".
pub(crate) fn label_map(labels: &[String]) -> std::collections::BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// The tenant whose data `target` holds: its own mark, or that of every
/// marked label it carries (`marks`: label → tenant). Marks naming two
/// different tenants are `Err` with both: access is then refused, since no
/// one customer admin may approve for another.
pub fn lockbox_tenant_of(target: &TargetRow, marks: &[(String, Id)]) -> Result<Option<Id>, (Id, Id)> {
    let from_labels = marks.iter().filter(|(label, _)| target.labels.contains(label)).map(|(_, t)| t);
    let mut found: Option<&Id> = target.lockbox_tenant.as_ref();
    for tenant in from_labels {
        match found {
            Some(f) if f != tenant => return Err((f.clone(), tenant.clone())),
            _ => found = Some(tenant),
        }
    }
    Ok(found.cloned())
}

/// A POSIX-ish account name.
pub(crate) fn valid_login(login: &str) -> bool {
    !login.is_empty() && login.len() <= 64 && login.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn valid_address(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= 253
        && address.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
}

/// Parses a pinned host key, modern algorithms only, without its comment.
pub(crate) fn parse_host_key(text: &str) -> Result<PublicKey, BastionError> {
    let key = PublicKey::from_openssh(text.trim())
        .map_err(|_| BastionError::Invalid("host_key must be an OpenSSH public key (`ssh-ed25519 AAAA…`)".into()))?;
    if !modern(&key.algorithm()) {
        return Err(BastionError::Invalid("host_key must be an Ed25519 or ECDSA key".into()));
    }
    Ok(key)
}

pub(crate) fn system_caller() -> Caller {
    Caller {
        tenant: None,
        actor: SYSTEM_ACTOR.to_owned(),
        source: None,
        api: Api::Aws,
        may_use: true,
        may_manage: true,
    }
}

fn context(target: &Id) -> Result<EncryptionContext, BastionError> {
    EncryptionContext::from_pairs([("purpose", "bastion-target-credential"), ("target", target.as_str())])
        .map_err(|e| BastionError::Internal(e.to_string()))
}

/// Streams the credential into the envelope without copying it into a
/// buffer that is not zeroized.
struct SecretReader {
    bytes: Zeroizing<Vec<u8>>,
    at: usize,
}

impl Read for SecretReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

/// Collects the sealed message, which is not secret.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<u8>>>);

impl Write for Collect {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Bastion {
    /// The key that seals credentials, created (with its alias) on first use.
    async fn credential_key(&self) -> Result<KeyRef, BastionError> {
        self.system_key(CREDENTIAL_KEY_ALIAS, "Seals the SSH bastion's target credentials").await
    }

    /// A system key of the bastion's own under `alias`, created (with its
    /// alias) on first use.
    pub(crate) async fn system_key(&self, alias: &str, description: &str) -> Result<KeyRef, BastionError> {
        let kms = &self.inner.kms;
        let caller = system_caller();
        let alias = AliasName::parse(alias).map_err(|e| BastionError::Internal(e.to_string()))?;
        let by_alias = KeyRef::Alias(alias.clone());
        match kms.describe_key(&caller, &by_alias).await {
            Ok(_) => return Ok(by_alias),
            Err(KmsError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let key = kms.create_key(&caller, KeySpec::SymmetricDefault, None, description).await?;
        match kms.create_alias(&caller, &alias, &KeyRef::Id(key.key_id)).await {
            // Another node created it first: use theirs.
            Ok(()) | Err(KmsError::AlreadyExists(_)) => Ok(by_alias),
            Err(e) => Err(e.into()),
        }
    }

    async fn seal(&self, target: &Id, credential: &Credential) -> Result<Vec<u8>, BastionError> {
        let secret = Zeroizing::new(credential.secret().expose_secret().as_bytes().to_vec());
        self.seal_secret(&context(target)?, secret).await
    }

    /// Seals a secret of the bastion's own (a target credential, the SSH
    /// CA's private key) under `alias/rampart/bastion` with `context`.
    pub(crate) async fn seal_secret(
        &self,
        context: &EncryptionContext,
        secret: Zeroizing<Vec<u8>>,
    ) -> Result<Vec<u8>, BastionError> {
        let key = self.credential_key().await?;
        let out = Collect::default();
        let reader = SecretReader { bytes: secret, at: 0 };
        self.inner
            .kms
            .envelope_encrypt(&system_caller(), &key, &self.inner.region, context, reader, out.clone())
            .await?;
        let sealed = out.0.lock().map_err(|_| BastionError::Internal("poisoned".into()))?.clone();
        Ok(sealed)
    }

    /// Opens what [`Bastion::seal_secret`] sealed; the caller checks the context.
    pub(crate) async fn open_secret(
        &self,
        sealed: Vec<u8>,
    ) -> Result<(Zeroizing<Vec<u8>>, EncryptionContext), BastionError> {
        Ok(self.inner.kms.envelope_decrypt(&system_caller(), sealed).await?)
    }

    /// Opens a target's credential, for logging in to it.
    pub(crate) async fn open_credential(&self, target: &TargetRow) -> Result<Credential, BastionError> {
        let (plain, got) = self.open_secret(target.credential_sealed.clone()).await?;
        // The context binds the sealed credential to its row: one copied
        // onto another target does not open.
        if got.get("target") != Some(target.id.as_str()) {
            return Err(BastionError::Kms("the credential was sealed for another target".into()));
        }
        let text = String::from_utf8(plain.to_vec()).map_err(|_| BastionError::Kms("credential not UTF-8".into()))?;
        let secret = SecretString::from(text);
        Ok(match target.credential_kind.as_str() {
            "private_key" => Credential::PrivateKey(secret),
            _ => Credential::Password(secret),
        })
    }

    pub async fn create_target(
        &self,
        actor: &Principal,
        new: NewTarget,
        source: Option<String>,
    ) -> Result<TargetInfo, BastionError> {
        if !valid_name(&new.name) {
            return Err(BastionError::Invalid(
                "name must be 1-63 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit".into(),
            ));
        }
        if !valid_address(&new.address) {
            return Err(BastionError::Invalid("address must be a host name or IP address".into()));
        }
        if new.port == 0 {
            return Err(BastionError::Invalid("port must be 1-65535".into()));
        }
        if !valid_login(&new.login) {
            return Err(BastionError::Invalid("login must be 1-64 letters, digits, '-', '_' or '.'".into()));
        }
        let host_key = parse_host_key(&new.host_key)?;
        match &new.credential {
            Credential::PrivateKey(_) => {
                new.credential.private_key()?;
            }
            Credential::Password(p) if p.expose_secret().is_empty() || p.expose_secret().len() > 1024 => {
                return Err(BastionError::Invalid("password must be 1-1024 bytes".into()));
            }
            Credential::Password(_) => {}
        }
        let labels = check_labels(&new.labels)?;
        let lockbox_tenant = match new.lockbox_tenant.as_deref() {
            None | Some("") => None,
            Some(t) => Some(self.lockbox_tenant(t).await?),
        };
        if self.store().find_target(&new.name).await?.is_some() {
            return Err(BastionError::Conflict(format!("a target named {:?} exists", new.name)));
        }
        let id = Id::new("tgt");
        let host_key_text = host_key.to_openssh().map_err(|e| BastionError::Internal(e.to_string()))?;
        let host_key_text = strip_comment(&host_key_text);
        let fingerprint = host_key.fingerprint(Default::default()).to_string();
        self.audit()
            .record(
                Event::new("bastion.target.created", Outcome::Success, &actor.username)
                    .object(new.name.as_str())
                    .source(source)
                    .attr("target_id", id.as_str())
                    .attr("address", new.address.as_str())
                    .attr("port", new.port)
                    .attr("login", new.login.as_str())
                    .attr("host_key_fingerprint", fingerprint.as_str())
                    .attr("credential_kind", new.credential.kind())
                    .attr("labels", labels.join(","))
                    .attr("lockbox_tenant", lockbox_tenant.as_ref().map_or("", Id::as_str)),
            )
            .await?;
        let sealed = self.seal(&id, &new.credential).await?;
        let row = TargetRow {
            id,
            name: new.name,
            address: new.address,
            port: new.port,
            host_key: host_key_text,
            login: new.login,
            credential_kind: new.credential.kind().to_owned(),
            credential_sealed: sealed,
            created_at: now_ms(),
            labels,
            lockbox_tenant,
        };
        self.store().insert_target(&row).await?;
        Ok(TargetInfo::from(&row))
    }

    pub async fn list_targets(&self) -> Result<Vec<TargetInfo>, BastionError> {
        Ok(self.store().list_targets().await?.iter().map(TargetInfo::from).collect())
    }

    /// The tenant a target is marked with, which must exist.
    async fn lockbox_tenant(&self, text: &str) -> Result<Id, BastionError> {
        let Some(id) = Id::parse(text) else {
            return Err(BastionError::Invalid("lockbox_tenant must be a tenant id (tnt_…)".into()));
        };
        match self.store().get_tenant(&id).await {
            Ok(t) => Ok(t.id),
            Err(rampart_store::StoreError::NotFound) => Err(BastionError::Invalid(format!("no tenant {text}"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a target's labels or lockbox tenant. Grants on a label take
    /// effect on the target at once, and a live session that loses its
    /// grant (or now needs a lockbox approval it does not have) is cut by
    /// its watcher.
    pub async fn update_target(
        &self,
        actor: &Principal,
        name: &str,
        update: TargetUpdate,
        source: Option<String>,
    ) -> Result<TargetInfo, BastionError> {
        let Some(mut target) = self.store().find_target(name).await? else { return Err(BastionError::NotFound) };
        if let Some(labels) = &update.labels {
            target.labels = check_labels(labels)?;
        }
        match update.lockbox_tenant.as_deref() {
            None => {}
            Some("") => target.lockbox_tenant = None,
            Some(t) => target.lockbox_tenant = Some(self.lockbox_tenant(t).await?),
        }
        self.audit()
            .record(
                Event::new("bastion.target.updated", Outcome::Success, &actor.username)
                    .object(target.name.as_str())
                    .source(source)
                    .attr("target_id", target.id.as_str())
                    .attr("labels", target.labels.join(","))
                    .attr("lockbox_tenant", target.lockbox_tenant.as_ref().map_or("", Id::as_str)),
            )
            .await?;
        self.store().update_target_access(&target.id, &target.labels, target.lockbox_tenant.as_ref()).await?;
        Ok(TargetInfo::from(&target))
    }

    /// The tenant whose data a target holds, with the label marks as they
    /// are now; two tenants' marks on one target are a conflict.
    pub(crate) async fn effective_lockbox_tenant(&self, target: &TargetRow) -> Result<Option<Id>, BastionError> {
        let marks = self.store().list_lockbox_labels().await?;
        lockbox_tenant_of(target, &marks).map_err(|(a, b)| {
            BastionError::Conflict(format!(
                "target {:?} carries the lockbox marks of two tenants ({a} and {b}); no one customer can approve it",
                target.name
            ))
        })
    }

    /// Marks a label as holding a tenant's data: every target carrying it,
    /// now and later, needs that tenant's lockbox approval.
    pub async fn mark_lockbox_label(
        &self,
        actor: &Principal,
        label: &str,
        tenant: &str,
        source: Option<String>,
    ) -> Result<(), BastionError> {
        if !valid_label(label) {
            return Err(BastionError::Invalid(format!("label {label:?} is not KEY or KEY=VALUE")));
        }
        let tenant = self.lockbox_tenant(tenant).await?;
        self.audit()
            .record(
                Event::new("lockbox.label.marked", Outcome::Success, &actor.username)
                    .object(label)
                    .tenant(Some(tenant.clone()))
                    .source(source),
            )
            .await?;
        self.store().set_lockbox_label(label, &tenant, &actor.username, now_ms()).await?;
        Ok(())
    }

    pub async fn unmark_lockbox_label(
        &self,
        actor: &Principal,
        label: &str,
        source: Option<String>,
    ) -> Result<(), BastionError> {
        let Some((_, tenant)) = self.store().list_lockbox_labels().await?.into_iter().find(|(l, _)| l == label) else {
            return Err(BastionError::NotFound);
        };
        self.audit()
            .record(
                Event::new("lockbox.label.unmarked", Outcome::Success, &actor.username)
                    .object(label)
                    .tenant(Some(tenant))
                    .source(source),
            )
            .await?;
        self.store().delete_lockbox_label(label).await?;
        Ok(())
    }

    /// Every marked label and the tenant it names.
    pub async fn lockbox_labels(&self) -> Result<Vec<LockboxLabel>, BastionError> {
        Ok(self
            .store()
            .list_lockbox_labels()
            .await?
            .into_iter()
            .map(|(label, tenant)| LockboxLabel { label, tenant_id: tenant.to_string() })
            .collect())
    }

    /// Deletes a target and every grant on it.
    pub async fn delete_target(
        &self,
        actor: &Principal,
        name: &str,
        source: Option<String>,
    ) -> Result<(), BastionError> {
        let Some(target) = self.store().find_target(name).await? else { return Err(BastionError::NotFound) };
        self.audit()
            .record(
                Event::new("bastion.target.deleted", Outcome::Success, &actor.username)
                    .object(target.name.as_str())
                    .source(source)
                    .attr("target_id", target.id.as_str()),
            )
            .await?;
        self.store().delete_target(&target.id).await?;
        Ok(())
    }
}

/// `ALGORITHM BASE64` without the comment OpenSSH may append.
pub(crate) fn strip_comment(line: &str) -> String {
    line.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(labels: &[&str], tenant: Option<&str>) -> TargetRow {
        TargetRow {
            id: Id::from_trusted("tgt_1".into()),
            name: "db".into(),
            address: "127.0.0.1".into(),
            port: 22,
            host_key: String::new(),
            login: "ops".into(),
            credential_kind: "password".into(),
            credential_sealed: Vec::new(),
            created_at: 0,
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            lockbox_tenant: tenant.map(|t| Id::from_trusted(t.into())),
        }
    }

    #[test]
    fn a_target_holds_the_tenant_of_its_own_mark_or_its_marked_labels_and_two_tenants_conflict() {
        let marks = vec![
            ("pci".to_owned(), Id::from_trusted("tnt_a".into())),
            ("env=b".to_owned(), Id::from_trusted("tnt_b".into())),
        ];
        let a = Some(Id::from_trusted("tnt_a".into()));
        assert_eq!(lockbox_tenant_of(&target(&[], None), &marks), Ok(None));
        assert_eq!(lockbox_tenant_of(&target(&["env=prod"], None), &marks), Ok(None));
        assert_eq!(lockbox_tenant_of(&target(&["pci"], None), &marks), Ok(a.clone()));
        assert_eq!(lockbox_tenant_of(&target(&[], Some("tnt_a")), &marks), Ok(a.clone()));
        assert_eq!(lockbox_tenant_of(&target(&["pci"], Some("tnt_a")), &marks), Ok(a), "the same tenant twice");
        assert!(lockbox_tenant_of(&target(&["pci", "env=b"], None), &marks).is_err());
        assert!(lockbox_tenant_of(&target(&["env=b"], Some("tnt_a")), &marks).is_err());
    }

    #[test]
    fn labels_are_keys_or_key_value_pairs() {
        for ok in ["pci", "env=prod", "k8s.io/zone=eu-1", "tier=", "a"] {
            assert!(valid_label(ok), "{ok}");
        }
        for bad in ["", "=prod", "Env=prod", "env=pr od", "env=a,b", "-x", "env=a=b", &"k".repeat(64)] {
            assert!(!valid_label(bad), "{bad}");
        }
        assert_eq!(
            check_labels(&["b".into(), "a".into(), "b".into()]).ok(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
    }
}
