//! Management calls beyond the state machine: aliases (list, retarget,
//! delete), description, key policy, tags, automatic rotation (enable,
//! disable, status, history) and the rotation scheduler's sweep. Each change
//! is authorised against the key's policy and recorded before it is made.

use rampart_core::time::now_ms;
use rampart_core::{Event, Outcome};

use super::{Caller, KeyMetadata, Kms, KmsError, metadata};
use crate::lifecycle::{self, Operation};
use crate::policy::{self, Decision, KeyPolicy};
use crate::spec::{AliasName, KeyId, KeyRef, MaterialId, account_id};

/// Most tags a key carries, and the longest tag key and value, as in AWS.
pub const MAX_TAGS: usize = 50;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

/// A key's automatic rotation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationStatus {
    pub key_id: KeyId,
    pub enabled: bool,
    pub period_days: Option<u32>,
    pub next_rotation_ms: Option<i64>,
}

impl Kms {
    /// The tenant's aliases with the key each names, optionally only those
    /// of one key.
    pub async fn list_aliases(
        &self,
        caller: &Caller,
        key: Option<&KeyRef>,
    ) -> Result<Vec<(AliasName, KeyId)>, KmsError> {
        let only = match key {
            Some(k) => {
                let row = self.resolve(caller, k).await?;
                self.authorize(caller, &row, Operation::ListAliases).await?;
                Some(row.id)
            }
            None => {
                self.require_role(caller, "ListAliases", false).await?;
                None
            }
        };
        let rows = self.store.kms_list_aliases(caller.tenant.as_ref()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (alias, key_id) in rows {
            if only.as_ref().is_some_and(|k| *k != key_id) {
                continue;
            }
            out.push((AliasName::parse(&alias)?, KeyId::parse(&key_id)?));
        }
        Ok(out)
    }

    /// Points an alias at another key of the same tenant. Both keys must
    /// allow it, as in AWS (`UpdateAlias` on the alias's current key and on
    /// the new target).
    pub async fn update_alias(&self, caller: &Caller, alias: &AliasName, target: &KeyRef) -> Result<(), KmsError> {
        let current = self.resolve(caller, &KeyRef::Alias(alias.clone())).await?;
        self.authorize(caller, &current, Operation::UpdateAlias).await?;
        let row = self.resolve(caller, target).await?;
        let meta = self.permit(caller, &row, Operation::UpdateAlias).await?;
        let (old, new) = (metadata(&current)?, meta);
        if old.spec != new.spec || old.usage != new.usage {
            return Err(KmsError::Invalid("an alias can only move to a key of the same spec and usage".into()));
        }
        self.audit
            .record(
                self.event("kms.alias.updated", Outcome::Success, caller, &new.key_id)
                    .attr("alias", alias.as_str())
                    .attr("previous_key", old.key_id.to_string()),
            )
            .await?;
        self.store.kms_update_alias(caller.tenant.as_ref(), alias.as_str(), &row.id).await?;
        self.forget_alias(caller, alias.as_str());
        Ok(())
    }

    pub async fn delete_alias(&self, caller: &Caller, alias: &AliasName) -> Result<(), KmsError> {
        let row = self.resolve(caller, &KeyRef::Alias(alias.clone())).await?;
        let meta = self.permit(caller, &row, Operation::DeleteAlias).await?;
        self.audit
            .record(
                self.event("kms.alias.deleted", Outcome::Success, caller, &meta.key_id).attr("alias", alias.as_str()),
            )
            .await?;
        self.store.kms_delete_alias(caller.tenant.as_ref(), alias.as_str()).await?;
        self.forget_alias(caller, alias.as_str());
        Ok(())
    }

    pub async fn update_description(&self, caller: &Caller, key: &KeyRef, text: &str) -> Result<(), KmsError> {
        if text.len() > 8192 {
            return Err(KmsError::Invalid("the description is longer than 8192 bytes".into()));
        }
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::UpdateKeyDescription).await?;
        self.audit.record(self.event("kms.key.description_updated", Outcome::Success, caller, &meta.key_id)).await?;
        self.store.kms_set_description(&row.id, text, now_ms()).await?;
        self.forget_key(&row.id);
        Ok(())
    }

    /// The key's policy document (the default one when none was put).
    pub async fn get_key_policy(&self, caller: &Caller, key: &KeyRef) -> Result<String, KmsError> {
        let row = self.resolve(caller, key).await?;
        self.permit(caller, &row, Operation::GetKeyPolicy).await?;
        Ok(row.policy.unwrap_or_else(|| policy::default_policy_text(&account_id(caller.tenant.as_ref()))))
    }

    /// Replaces the key's policy. Unless `bypass_lockout_check`, a policy
    /// under which the caller could not put another policy is refused, so
    /// nobody locks a key away from every administrator by mistake.
    pub async fn put_key_policy(
        &self,
        caller: &Caller,
        key: &KeyRef,
        text: &str,
        bypass_lockout_check: bool,
    ) -> Result<(), KmsError> {
        let parsed = KeyPolicy::parse(text)?;
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::PutKeyPolicy).await?;
        if !bypass_lockout_check {
            let keeps = match parsed.evaluate(&account_id(caller.tenant.as_ref()), &caller.actor, "PutKeyPolicy") {
                Decision::Allow => true,
                Decision::Delegate => caller.may_manage,
                Decision::Deny | Decision::NotAllowed => false,
            };
            if !keeps {
                return Err(crate::policy::PolicyError(
                    "the new key policy will not allow you to update the key policy in the future".into(),
                )
                .into());
            }
        }
        self.audit
            .record(
                self.event("kms.key.policy_updated", Outcome::Success, caller, &meta.key_id)
                    .attr("bytes", text.len())
                    .attr("bypass_lockout_check", bypass_lockout_check),
            )
            .await?;
        self.store.kms_set_policy(&row.id, Some(text), now_ms()).await?;
        self.forget_key(&row.id);
        Ok(())
    }

    pub async fn list_tags(&self, caller: &Caller, key: &KeyRef) -> Result<Vec<(String, String)>, KmsError> {
        let row = self.resolve(caller, key).await?;
        self.permit(caller, &row, Operation::ListResourceTags).await?;
        Ok(self.store.kms_tags(&row.id).await?)
    }

    pub async fn tag_key(&self, caller: &Caller, key: &KeyRef, tags: &[(String, String)]) -> Result<(), KmsError> {
        for (k, v) in tags {
            if k.is_empty() || k.len() > MAX_TAG_KEY || v.len() > MAX_TAG_VALUE {
                return Err(KmsError::Invalid("tag keys are 1-128 and values 0-256 characters".into()));
            }
            if k.starts_with("aws:") {
                return Err(KmsError::Invalid("tag keys beginning with aws: are reserved".into()));
            }
        }
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::TagResource).await?;
        let mut existing = self.store.kms_tags(&row.id).await?;
        existing.retain(|(k, _)| !tags.iter().any(|(n, _)| n == k));
        if existing.len() + tags.len() > MAX_TAGS {
            return Err(KmsError::Invalid(format!("a key carries at most {MAX_TAGS} tags")));
        }
        let names: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        self.audit
            .record(self.event("kms.key.tagged", Outcome::Success, caller, &meta.key_id).attr("tag_keys", names))
            .await?;
        self.store.kms_tag(&row.id, tags).await?;
        Ok(())
    }

    pub async fn untag_key(&self, caller: &Caller, key: &KeyRef, names: &[String]) -> Result<(), KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::UntagResource).await?;
        self.audit
            .record(
                self.event("kms.key.untagged", Outcome::Success, caller, &meta.key_id).attr("tag_keys", names.to_vec()),
            )
            .await?;
        self.store.kms_untag(&row.id, names).await?;
        Ok(())
    }

    /// Turns on automatic rotation every `period_days` (the API's default
    /// and range apply), counted from now.
    pub async fn enable_key_rotation(
        &self,
        caller: &Caller,
        key: &KeyRef,
        period_days: Option<u32>,
    ) -> Result<RotationStatus, KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::EnableKeyRotation).await?;
        lifecycle::check_rotatable(meta.spec, meta.origin)?;
        let days = lifecycle::rotation_period(caller.api, period_days)?;
        let next = lifecycle::next_rotation_ms(now_ms(), days);
        self.audit
            .record(
                self.event("kms.key.rotation_enabled", Outcome::Success, caller, &meta.key_id)
                    .attr("period_days", days),
            )
            .await?;
        self.store.kms_set_rotation(&row.id, Some(i64::from(days)), Some(next), now_ms()).await?;
        self.forget_key(&row.id);
        Ok(RotationStatus { key_id: meta.key_id, enabled: true, period_days: Some(days), next_rotation_ms: Some(next) })
    }

    pub async fn disable_key_rotation(&self, caller: &Caller, key: &KeyRef) -> Result<(), KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::DisableKeyRotation).await?;
        lifecycle::check_rotatable(meta.spec, meta.origin)?;
        self.audit.record(self.event("kms.key.rotation_disabled", Outcome::Success, caller, &meta.key_id)).await?;
        self.store.kms_set_rotation(&row.id, None, None, now_ms()).await?;
        self.forget_key(&row.id);
        Ok(())
    }

    pub async fn rotation_status(&self, caller: &Caller, key: &KeyRef) -> Result<RotationStatus, KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::GetKeyRotationStatus).await?;
        // Asymmetric, HMAC and imported keys have no rotation status to
        // report: AWS refuses the question rather than answer "disabled".
        lifecycle::check_rotatable(meta.spec, meta.origin)?;
        Ok(RotationStatus {
            key_id: meta.key_id,
            enabled: meta.rotation_period_days.is_some(),
            period_days: meta.rotation_period_days,
            next_rotation_ms: meta.next_rotation_ms,
        })
    }

    /// Every material version of the key with its creation time.
    pub async fn list_key_rotations(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<(KeyMetadata, Vec<(MaterialId, i64)>), KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::ListKeyRotations).await?;
        let versions = self.store.kms_list_materials(&row.id).await?;
        let versions = versions
            .into_iter()
            .filter_map(|(id, at)| u32::try_from(id).ok().map(|id| (MaterialId::new(id), at)))
            .collect();
        Ok((meta, versions))
    }

    /// Rotates every key whose automatic rotation is due at `now`: a new
    /// material version, recorded as an automatic rotation. Returns how many.
    pub async fn rotate_due(&self, now: i64) -> Result<usize, KmsError> {
        self.ready()?;
        let due = self.store.kms_due_for_rotation(now, 100).await?;
        let mut rotated = 0;
        for row in &due {
            let meta = metadata(row)?;
            let Some(next) = meta.current_material.next() else { continue };
            let wrapped = self.wrap_new(&meta.key_id, meta.spec, next).await?;
            let following = meta.rotation_period_days.map(|d| lifecycle::next_rotation_ms(now, d));
            self.audit
                .record(
                    Event::new("kms.key.rotated", Outcome::Success, "system")
                        .object(meta.key_id.to_string())
                        .tenant(row.tenant_id.clone())
                        .attr("material_id", next.get())
                        .attr("trigger", "automatic"),
                )
                .await?;
            let added = self
                .store
                .kms_add_material(&row.id, row.current_material, self.keystore.name(), &wrapped, following, now)
                .await;
            self.forget_key(&row.id);
            match added {
                Ok(_) => rotated += 1,
                // Another node rotated this key first (the version moved on):
                // its rotation stands, and so does its record.
                Err(rampart_store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(rotated)
    }
}
