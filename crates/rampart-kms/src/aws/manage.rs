//! The AWS management operations beyond the key state machine: aliases,
//! description, key policy, tags and automatic rotation, with botocore's
//! shapes. Operations nobody here knows end in `UnknownOperationException`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ArnScope, KeyOnly, Reply, arn_of, epoch, error, key_ref, kms_error, parse};
use crate::service::{Caller, Kms, KmsError};
use crate::spec::{AliasName, Arn, ArnResource};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliases {
    key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Alias {
    alias_name: String,
    target_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Description {
    key_id: String,
    description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Policy {
    key_id: String,
    policy_name: Option<String>,
    policy: Option<String>,
    #[serde(default)]
    bypass_policy_lockout_safety_check: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    tag_key: String,
    tag_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tags {
    key_id: String,
    tags: Option<Vec<Tag>>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Rotation {
    key_id: String,
    rotation_period_in_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImportParams {
    key_id: String,
    wrapping_algorithm: String,
    wrapping_key_spec: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Import {
    key_id: String,
    import_token: String,
    encrypted_key_material: String,
    valid_to: Option<f64>,
    expiration_model: Option<String>,
}

/// `ImportKeyMaterial`'s expiry, as AWS reads it: `ExpirationModel`
/// defaults to `KEY_MATERIAL_EXPIRES`, which requires `ValidTo` (epoch
/// seconds); `KEY_MATERIAL_DOES_NOT_EXPIRE` forbids it.
fn valid_to(model: Option<&str>, valid_to: Option<f64>) -> Result<Option<i64>, Reply> {
    let invalid = |message: &str| error(400, "ValidationException", message);
    match (model, valid_to) {
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), None) => Ok(None),
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(_)) => {
            Err(invalid("ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"))
        }
        (None | Some("KEY_MATERIAL_EXPIRES"), Some(secs)) if secs.is_finite() && secs.abs() < 1e14 => {
            Ok(Some((secs * 1000.0).round() as i64))
        }
        (None | Some("KEY_MATERIAL_EXPIRES"), Some(_)) => Err(invalid("ValidTo is not a valid time")),
        (None | Some("KEY_MATERIAL_EXPIRES"), None) => {
            Err(invalid("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES (the default)"))
        }
        (Some(_), _) => Err(invalid("ExpirationModel must be KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE")),
    }
}

fn alias_name(text: &str) -> Result<AliasName, Reply> {
    AliasName::parse(text).map_err(|e| error(400, e.aws_type(), &e.to_string()))
}

fn policy_name(name: Option<&str>) -> Result<(), Reply> {
    match name {
        None | Some("default") => Ok(()),
        Some(_) => Err(error(400, "ValidationException", "the only key policy name is \"default\"")),
    }
}

pub(super) async fn dispatch(
    kms: &Kms,
    caller: &Caller,
    scope: &ArnScope,
    operation: &str,
    body: &[u8],
) -> Result<Value, Reply> {
    let e = |err: KmsError| kms_error(&err);
    Ok(match operation {
        "ListAliases" => {
            let r: ListAliases = parse(body)?;
            let key = match r.key_id.as_deref() {
                Some(k) => Some(key_ref(k)?),
                None => None,
            };
            let aliases = kms.list_aliases(caller, key.as_ref()).await.map_err(e)?;
            let list: Vec<Value> = aliases
                .iter()
                .map(|(alias, key_id)| {
                    let arn = Arn::new(&scope.region, &scope.account, ArnResource::Alias(alias.clone()))
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    json!({ "AliasName": alias.as_str(), "AliasArn": arn, "TargetKeyId": key_id.to_string() })
                })
                .collect();
            json!({ "Aliases": list, "Truncated": false })
        }
        "UpdateAlias" | "DeleteAlias" => {
            let r: Alias = parse(body)?;
            let alias = alias_name(&r.alias_name)?;
            if operation == "DeleteAlias" {
                kms.delete_alias(caller, &alias).await.map_err(e)?;
            } else {
                let Some(target) = r.target_key_id.as_deref() else {
                    return Err(error(400, "ValidationException", "TargetKeyId is required"));
                };
                kms.update_alias(caller, &alias, &key_ref(target)?).await.map_err(e)?;
            }
            json!({})
        }
        "UpdateKeyDescription" => {
            let r: Description = parse(body)?;
            kms.update_description(caller, &key_ref(&r.key_id)?, &r.description).await.map_err(e)?;
            json!({})
        }
        "GetKeyPolicy" => {
            let r: Policy = parse(body)?;
            policy_name(r.policy_name.as_deref())?;
            let text = kms.get_key_policy(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({ "Policy": text, "PolicyName": "default" })
        }
        "PutKeyPolicy" => {
            let r: Policy = parse(body)?;
            policy_name(r.policy_name.as_deref())?;
            let Some(text) = r.policy.as_deref() else {
                return Err(error(400, "ValidationException", "Policy is required"));
            };
            kms.put_key_policy(caller, &key_ref(&r.key_id)?, text, r.bypass_policy_lockout_safety_check)
                .await
                .map_err(e)?;
            json!({})
        }
        "ListKeyPolicies" => {
            let r: KeyOnly = parse(body)?;
            kms.describe_key(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({ "PolicyNames": ["default"], "Truncated": false })
        }
        "TagResource" => {
            let r: Tags = parse(body)?;
            let tags: Vec<(String, String)> =
                r.tags.unwrap_or_default().into_iter().map(|t| (t.tag_key, t.tag_value)).collect();
            kms.tag_key(caller, &key_ref(&r.key_id)?, &tags).await.map_err(e)?;
            json!({})
        }
        "UntagResource" => {
            let r: Tags = parse(body)?;
            kms.untag_key(caller, &key_ref(&r.key_id)?, &r.tag_keys.unwrap_or_default()).await.map_err(e)?;
            json!({})
        }
        "ListResourceTags" => {
            let r: KeyOnly = parse(body)?;
            let tags = kms.list_tags(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({ "TagKey": k, "TagValue": v })).collect();
            json!({ "Tags": tags, "Truncated": false })
        }
        "EnableKeyRotation" => {
            let r: Rotation = parse(body)?;
            kms.enable_key_rotation(caller, &key_ref(&r.key_id)?, r.rotation_period_in_days).await.map_err(e)?;
            json!({})
        }
        "DisableKeyRotation" => {
            let r: KeyOnly = parse(body)?;
            kms.disable_key_rotation(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({})
        }
        "GetKeyRotationStatus" => {
            let r: KeyOnly = parse(body)?;
            let status = kms.rotation_status(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            let mut out = json!({ "KeyRotationEnabled": status.enabled, "KeyId": arn_of(scope, status.key_id) });
            if let Some(days) = status.period_days {
                out["RotationPeriodInDays"] = json!(days);
            }
            if let Some(next) = status.next_rotation_ms {
                out["NextRotationDate"] = json!(epoch(next));
            }
            out
        }
        "ListKeyRotations" => {
            let r: KeyOnly = parse(body)?;
            let (meta, versions) = kms.list_key_rotations(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            // The first version is the key's creation, not a rotation.
            let rotations: Vec<Value> = versions
                .iter()
                .skip(1)
                .map(|(_, at)| json!({ "KeyId": meta.key_id.to_string(), "RotationDate": epoch(*at) }))
                .collect();
            json!({ "Rotations": rotations, "Truncated": false })
        }
        "GetParametersForImport" => {
            let r: ImportParams = parse(body)?;
            if r.wrapping_algorithm != "RSAES_OAEP_SHA_256" {
                return Err(error(
                    400,
                    "UnsupportedOperationException",
                    "WrappingAlgorithm must be RSAES_OAEP_SHA_256",
                ));
            }
            let spec: crate::spec::KeySpec = r
                .wrapping_key_spec
                .parse()
                .map_err(|err: crate::spec::SpecError| error(400, "ValidationException", &err.to_string()))?;
            let p = kms.get_parameters_for_import(caller, &key_ref(&r.key_id)?, spec).await.map_err(e)?;
            json!({
                "KeyId": arn_of(scope, p.key_id),
                "ImportToken": super::b64(&p.import_token),
                "PublicKey": super::b64(&p.public_key),
                "ParametersValidTo": epoch(p.valid_to_ms),
            })
        }
        "ImportKeyMaterial" => {
            let r: Import = parse(body)?;
            let token = super::unb64("ImportToken", &r.import_token)?;
            let material = super::unb64("EncryptedKeyMaterial", &r.encrypted_key_material)?;
            let valid_to = valid_to(r.expiration_model.as_deref(), r.valid_to)?;
            kms.import_key_material(caller, &key_ref(&r.key_id)?, &token, &material, valid_to).await.map_err(e)?;
            json!({ "KeyId": r.key_id })
        }
        "DeleteImportedKeyMaterial" => {
            let r: KeyOnly = parse(body)?;
            kms.delete_imported_key_material(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({})
        }
        other => {
            return Err(error(400, "UnknownOperationException", &format!("{other:.64} is not supported")));
        }
    })
}
