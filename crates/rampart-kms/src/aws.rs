//! The AWS KMS JSON 1.1 protocol (`X-Amz-Target: TrentService.*`) over the
//! service: request fields, response shapes, ARNs and error `__type` names as
//! AWS documents them (botocore's KMS service model is the reference). The
//! transport (HTTPS, SigV4) is the server's; this module turns one
//! authenticated request body into one response body, and holds no policy.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::EncryptionContext;
use crate::lifecycle::KeyState;
use crate::service::{Caller, KeyMetadata, Kms, KmsError};
use crate::spec::{AliasName, Arn, ArnResource, EncryptionAlgorithm, KeyRef, KeySpec, KeyType, KeyUsage};

mod asym;
mod manage;
#[cfg(test)]
mod tests;

/// Where the facade's ARNs point: the configured region and the caller's
/// account (a 12-digit id derived from the tenant).
#[derive(Debug, Clone)]
pub struct ArnScope {
    pub region: String,
    pub account: String,
}

/// An answer: HTTP status and the JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// An AWS error response.
pub fn error(status: u16, aws_type: &str, message: &str) -> Reply {
    Reply { status, body: json!({ "__type": aws_type, "message": message }) }
}

fn kms_error(e: &KmsError) -> Reply {
    let status = match e.aws_type() {
        "KMSInternalException" => 500,
        // A sealed KMS (see `KmsError::Sealed`): unavailable for now, and
        // SDKs retry a 503 with back-off.
        "KeyUnavailableException" => 503,
        _ => 400,
    };
    // Messages of KmsError never hold key material or plaintext.
    error(status, e.aws_type(), &e.to_string())
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

fn unb64(field: &str, text: &str) -> Result<Vec<u8>, Reply> {
    data_encoding::BASE64
        .decode(text.as_bytes())
        .map_err(|_| error(400, "ValidationException", &format!("{field} is not valid base64")))
}

fn epoch(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn key_arn(scope: &ArnScope, meta: &KeyMetadata) -> String {
    arn_of(scope, meta.key_id)
}

fn arn_of(scope: &ArnScope, key_id: crate::spec::KeyId) -> String {
    Arn::new(&scope.region, &scope.account, ArnResource::Key(key_id))
        .map(|a| a.to_string())
        .unwrap_or_else(|_| key_id.to_string())
}

/// AWS's `KeyMetadata` structure.
pub fn key_metadata(scope: &ArnScope, meta: &KeyMetadata) -> Value {
    let mut m = json!({
        "AWSAccountId": scope.account,
        "KeyId": meta.key_id.to_string(),
        "Arn": key_arn(scope, meta),
        "CreationDate": epoch(meta.created_at_ms),
        "Enabled": meta.state == KeyState::Enabled,
        "Description": meta.description,
        "KeyUsage": meta.usage.aws_name(),
        // AWS has no archived state; such a key can only decrypt, which
        // AWS clients best understand as disabled.
        "KeyState": meta.state.aws_name().unwrap_or("Disabled"),
        "Origin": meta.origin.aws_name(),
        "KeyManager": "CUSTOMER",
        "KeySpec": meta.spec.aws_name(),
        "CustomerMasterKeySpec": meta.spec.aws_name(),
        "MultiRegion": false,
    });
    if let Ok(t) = KeyType::new(meta.spec, Some(meta.usage)) {
        let names = |v: Vec<&'static str>| json!(v);
        if !t.encryption_algorithms().is_empty() {
            m["EncryptionAlgorithms"] = names(t.encryption_algorithms().iter().map(|a| a.aws_name()).collect());
        }
        if !t.signing_algorithms().is_empty() {
            m["SigningAlgorithms"] = names(t.signing_algorithms().iter().map(|a| a.aws_name()).collect());
        }
        if !t.mac_algorithms().is_empty() {
            m["MacAlgorithms"] = names(t.mac_algorithms().iter().map(|a| a.aws_name()).collect());
        }
    }
    if let KeyState::PendingDeletion { deletion_date_ms } = meta.state {
        m["DeletionDate"] = json!(epoch(deletion_date_ms));
    }
    if meta.origin == crate::lifecycle::Origin::Hsm {
        m["CustomKeyStoreId"] = json!(crate::service::CUSTOM_KEY_STORE_ID);
        m["CloudHsmClusterId"] = json!(HSM_CLUSTER_ID);
    }
    // Present only for imported material, and only while there is some.
    if meta.origin == crate::lifecycle::Origin::External && meta.state != KeyState::PendingImport {
        match meta.material_expires_ms {
            Some(at) => {
                m["ExpirationModel"] = json!("KEY_MATERIAL_EXPIRES");
                m["ValidTo"] = json!(epoch(at));
            }
            None => m["ExpirationModel"] = json!("KEY_MATERIAL_DOES_NOT_EXPIRE"),
        }
    }
    m
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| error(400, "SerializationException", &format!("invalid request: {e}")))
}

fn key_ref(text: &str) -> Result<KeyRef, Reply> {
    KeyRef::parse(text).map_err(|e| error(400, "NotFoundException", &e.to_string()))
}

fn context(map: Option<BTreeMap<String, String>>) -> Result<EncryptionContext, Reply> {
    match map {
        None => Ok(EncryptionContext::empty()),
        Some(m) => EncryptionContext::from_map(m).map_err(|e| error(400, e.aws_type(), &e.to_string())),
    }
}

/// A request that names only a key, shared by the operations of every module.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyOnly {
    key_id: String,
}

/// What `CloudHsmClusterId` names: the PKCS#11 token behind the custom key
/// store (AWS requires the field; there is no CloudHSM cluster here).
const HSM_CLUSTER_ID: &str = "cluster-pkcs11";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKey {
    description: Option<String>,
    custom_key_store_id: Option<String>,
    key_spec: Option<String>,
    customer_master_key_spec: Option<String>,
    key_usage: Option<String>,
    origin: Option<String>,
    // Accepted and ignored for now: per-key policies come with the policy engine.
    #[allow(dead_code)]
    policy: Option<String>,
    #[allow(dead_code)]
    tags: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeCustomKeyStores {
    custom_key_store_id: Option<String>,
    custom_key_store_name: Option<String>,
    // Paging: there is at most one store.
    #[allow(dead_code)]
    limit: Option<u32>,
    #[allow(dead_code)]
    marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Encrypt {
    key_id: String,
    plaintext: String,
    encryption_context: Option<BTreeMap<String, String>>,
    encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Decrypt {
    ciphertext_blob: String,
    encryption_context: Option<BTreeMap<String, String>>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKey {
    key_id: String,
    key_spec: Option<String>,
    number_of_bytes: Option<usize>,
    encryption_context: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleDeletion {
    key_id: String,
    pending_window_in_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateAlias {
    alias_name: String,
    target_key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncrypt {
    ciphertext_blob: String,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    source_encryption_context: Option<BTreeMap<String, String>>,
    source_key_id: Option<String>,
    destination_key_id: String,
    destination_encryption_context: Option<BTreeMap<String, String>>,
}

/// The `EncryptionAlgorithm` field: absent means `SYMMETRIC_DEFAULT`.
fn encryption_algorithm(algorithm: Option<&str>) -> Result<EncryptionAlgorithm, Reply> {
    match algorithm {
        None => Ok(EncryptionAlgorithm::SymmetricDefault),
        Some(text) => {
            text.parse().map_err(|e: crate::spec::SpecError| error(400, "ValidationException", &e.to_string()))
        }
    }
}

/// Every `TrentService.<operation>` this facade answers; any other is
/// `UnknownOperationException` before its body is read. The fuzz targets
/// draw their operations from this list.
pub const ACTIONS: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "RotateKeyOnDemand",
    "CreateAlias",
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncrypt",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "GetPublicKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "ListAliases",
    "UpdateAlias",
    "DeleteAlias",
    "UpdateKeyDescription",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "ListKeyPolicies",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "DescribeCustomKeyStores",
    "ListKeyRotations",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
];

/// Handles one `TrentService.<operation>` request of an authenticated caller.
pub async fn handle(kms: &Kms, caller: &Caller, scope: &ArnScope, operation: &str, body: &[u8]) -> Reply {
    if !ACTIONS.contains(&operation) {
        return error(400, "UnknownOperationException", &format!("{operation:.64} is not supported"));
    }
    match dispatch(kms, caller, scope, operation, body).await {
        Ok(body) => Reply { status: 200, body },
        Err(reply) => reply,
    }
}

async fn dispatch(kms: &Kms, caller: &Caller, scope: &ArnScope, operation: &str, body: &[u8]) -> Result<Value, Reply> {
    let e = |err: KmsError| kms_error(&err);
    Ok(match operation {
        "CreateKey" => {
            let r: CreateKey = parse(body)?;
            let spec_text = r.key_spec.or(r.customer_master_key_spec).unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
            let spec: KeySpec = spec_text
                .parse()
                .map_err(|err: crate::spec::SpecError| error(400, "ValidationException", &err.to_string()))?;
            let usage: Option<KeyUsage> = match r.key_usage {
                Some(u) => Some(
                    u.parse()
                        .map_err(|err: crate::spec::SpecError| error(400, "ValidationException", &err.to_string()))?,
                ),
                None => None,
            };
            let description = r.description.as_deref().unwrap_or("");
            let meta = match (r.origin.as_deref(), r.custom_key_store_id.as_deref()) {
                (Some("AWS_CLOUDHSM") | None, Some(store)) => {
                    if spec != KeySpec::SymmetricDefault || usage.is_some_and(|u| u != KeyUsage::EncryptDecrypt) {
                        return Err(error(
                            400,
                            "UnsupportedOperationException",
                            "keys in a custom key store are SYMMETRIC_DEFAULT encryption keys",
                        ));
                    }
                    kms.create_hsm_key(caller, store, description).await.map_err(e)?
                }
                (Some("AWS_CLOUDHSM"), None) => {
                    return Err(error(400, "ValidationException", "Origin AWS_CLOUDHSM requires a CustomKeyStoreId"));
                }
                (_, Some(_)) => {
                    return Err(error(400, "ValidationException", "a CustomKeyStoreId requires Origin AWS_CLOUDHSM"));
                }
                (None | Some("AWS_KMS"), None) => kms.create_key(caller, spec, usage, description).await.map_err(e)?,
                (Some("EXTERNAL"), None) if spec == KeySpec::SymmetricDefault => {
                    kms.create_external_key(caller, description).await.map_err(e)?
                }
                (Some("EXTERNAL"), None) => {
                    return Err(error(
                        400,
                        "UnsupportedOperationException",
                        "imported material is for SYMMETRIC_DEFAULT keys",
                    ));
                }
                (Some(_), None) => {
                    return Err(error(
                        400,
                        "UnsupportedOperationException",
                        "Origin must be AWS_KMS, EXTERNAL or AWS_CLOUDHSM",
                    ));
                }
            };
            json!({ "KeyMetadata": key_metadata(scope, &meta) })
        }
        "DescribeKey" => {
            let r: KeyOnly = parse(body)?;
            let meta = kms.describe_key(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({ "KeyMetadata": key_metadata(scope, &meta) })
        }
        "DescribeCustomKeyStores" => {
            let r: DescribeCustomKeyStores = parse(body)?;
            let store = kms.describe_custom_key_stores(caller).await.map_err(e)?;
            let asked = r.custom_key_store_id.as_deref().or(r.custom_key_store_name.as_deref());
            let stores: Vec<Value> = store
                .filter(|id| asked.is_none_or(|a| a == *id))
                .map(|id| {
                    json!({
                        "CustomKeyStoreId": id,
                        "CustomKeyStoreName": id,
                        "CustomKeyStoreType": "AWS_CLOUDHSM",
                        "CloudHsmClusterId": HSM_CLUSTER_ID,
                        "ConnectionState": "CONNECTED",
                    })
                })
                .into_iter()
                .collect();
            if let (Some(asked), true) = (asked, stores.is_empty()) {
                return Err(kms_error(&KmsError::CustomKeyStoreNotFound(asked.to_owned())));
            }
            json!({ "CustomKeyStores": stores, "Truncated": false })
        }
        "ListKeys" => {
            let keys = kms.list_keys(caller).await.map_err(e)?;
            let keys: Vec<Value> =
                keys.iter().map(|m| json!({ "KeyId": m.key_id.to_string(), "KeyArn": key_arn(scope, m) })).collect();
            json!({ "Keys": keys, "Truncated": false })
        }
        "EnableKey" => {
            let r: KeyOnly = parse(body)?;
            kms.enable_key(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({})
        }
        "DisableKey" => {
            let r: KeyOnly = parse(body)?;
            kms.disable_key(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({})
        }
        "ScheduleKeyDeletion" => {
            let r: ScheduleDeletion = parse(body)?;
            let meta =
                kms.schedule_key_deletion(caller, &key_ref(&r.key_id)?, r.pending_window_in_days).await.map_err(e)?;
            let KeyState::PendingDeletion { deletion_date_ms } = meta.state else {
                return Err(error(500, "KMSInternalException", "the key did not enter PendingDeletion"));
            };
            json!({
                "KeyId": key_arn(scope, &meta),
                "DeletionDate": epoch(deletion_date_ms),
                "KeyState": "PendingDeletion",
                "PendingWindowInDays": r.pending_window_in_days.unwrap_or(crate::lifecycle::DEFAULT_PENDING_WINDOW_DAYS),
            })
        }
        "CancelKeyDeletion" => {
            let r: KeyOnly = parse(body)?;
            let meta = kms.cancel_key_deletion(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({ "KeyId": key_arn(scope, &meta) })
        }
        "RotateKeyOnDemand" => {
            let r: KeyOnly = parse(body)?;
            let meta = kms.rotate_key_on_demand(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            json!({ "KeyId": meta.key_id.to_string() })
        }
        "CreateAlias" => {
            let r: CreateAlias = parse(body)?;
            let alias =
                AliasName::parse(&r.alias_name).map_err(|err| error(400, "ValidationException", &err.to_string()))?;
            kms.create_alias(caller, &alias, &key_ref(&r.target_key_id)?).await.map_err(e)?;
            json!({})
        }
        "Encrypt" => {
            let r: Encrypt = parse(body)?;
            let algorithm = encryption_algorithm(r.encryption_algorithm.as_deref())?;
            let plaintext = zeroize::Zeroizing::new(unb64("Plaintext", &r.plaintext)?);
            let ctx = context(r.encryption_context)?;
            let key = key_ref(&r.key_id)?;
            let (key_id, blob) = kms.encrypt(caller, &key, &plaintext, &ctx, algorithm).await.map_err(e)?;
            json!({ "CiphertextBlob": b64(&blob), "KeyId": arn_of(scope, key_id), "EncryptionAlgorithm": algorithm.aws_name() })
        }
        "Decrypt" => {
            let r: Decrypt = parse(body)?;
            let algorithm = encryption_algorithm(r.encryption_algorithm.as_deref())?;
            let blob = unb64("CiphertextBlob", &r.ciphertext_blob)?;
            let ctx = context(r.encryption_context)?;
            let expected = match r.key_id.as_deref() {
                Some(k) => Some(key_ref(k)?),
                None => None,
            };
            let (key_id, plaintext) =
                kms.decrypt(caller, &blob, &ctx, expected.as_ref(), algorithm).await.map_err(e)?;
            json!({ "KeyId": arn_of(scope, key_id), "Plaintext": b64(&plaintext), "EncryptionAlgorithm": algorithm.aws_name() })
        }
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            let r: GenerateDataKey = parse(body)?;
            let bytes = match (r.key_spec.as_deref(), r.number_of_bytes) {
                (Some("AES_256"), None) => 32,
                (Some("AES_128"), None) => 16,
                (None, Some(n)) if (1..=1024).contains(&n) => n,
                _ => {
                    return Err(error(
                        400,
                        "ValidationException",
                        "give KeySpec (AES_256 or AES_128) or NumberOfBytes (1-1024)",
                    ));
                }
            };
            let ctx = context(r.encryption_context)?;
            let (key_id, data_key) =
                kms.generate_data_key(caller, &key_ref(&r.key_id)?, bytes, &ctx).await.map_err(e)?;
            let mut out = json!({ "CiphertextBlob": b64(data_key.ciphertext_blob()), "KeyId": arn_of(scope, key_id) });
            if operation == "GenerateDataKey" {
                out["Plaintext"] = json!(b64(data_key.plaintext()));
            }
            out
        }
        "ReEncrypt" => {
            let r: ReEncrypt = parse(body)?;
            let blob = unb64("CiphertextBlob", &r.ciphertext_blob)?;
            let source_ctx = context(r.source_encryption_context)?;
            let dest_ctx = context(r.destination_encryption_context)?;
            let source = match r.source_key_id.as_deref() {
                Some(k) => Some(key_ref(k)?),
                None => None,
            };
            let source_alg = encryption_algorithm(r.source_encryption_algorithm.as_deref())?;
            let dest_alg = encryption_algorithm(r.destination_encryption_algorithm.as_deref())?;
            let (source_id, plaintext) =
                kms.decrypt(caller, &blob, &source_ctx, source.as_ref(), source_alg).await.map_err(e)?;
            let dest = key_ref(&r.destination_key_id)?;
            let (dest_id, out) = kms.encrypt(caller, &dest, &plaintext, &dest_ctx, dest_alg).await.map_err(e)?;
            json!({
                "CiphertextBlob": b64(&out),
                "SourceKeyId": arn_of(scope, source_id),
                "KeyId": arn_of(scope, dest_id),
                "SourceEncryptionAlgorithm": source_alg.aws_name(),
                "DestinationEncryptionAlgorithm": dest_alg.aws_name(),
            })
        }
        other => return asym::dispatch(kms, caller, scope, other, body).await,
    })
}
