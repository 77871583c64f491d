//! The Tencent Cloud KMS API 3.0 (`X-TC-Action`, version 2019-01-18) over the
//! service: request parameters, response fields and error codes as Tencent
//! documents them (the models and `errorcodes.py` of
//! `tencentcloud-sdk-python-kms` are the reference). Tencent answers every
//! request with HTTP 200 and a `{"Response": {…, "RequestId": …}}` body, with
//! an `Error` object inside on failure. The transport (HTTPS, TC3-HMAC-SHA256)
//! is the server's; this module turns one authenticated request body into one
//! response body, and holds no policy. Error messages name parameters, never
//! their values, so neither plaintext nor anything a client pasted by mistake
//! reaches a message.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::lifecycle::{KeyState, Origin};
use crate::service::{Caller, KeyMetadata, Kms, KmsError};
use crate::spec::{AliasName, EncryptionAlgorithm, KeyId, KeyRef, KeySpec, KeyType, KeyUsage};

mod asym;
mod import;

/// Tencent's limit on an `EncryptionContext` string, in characters.
const CONTEXT_MAX_CHARS: usize = 1024;
/// Tencent's limit on a key description, in bytes.
const DESCRIPTION_MAX_BYTES: usize = 1024;
/// Tencent's limit on `Encrypt`'s plaintext ("原文最大长度支持4K").
const PLAINTEXT_MAX_BYTES: usize = 4096;
/// `ListKeys`: default and largest `Limit`.
const LIST_DEFAULT_LIMIT: i64 = 10;
const LIST_MAX_LIMIT: i64 = 200;
/// How long a key made by a `CreateKey` whose alias could not be attached
/// waits before it is destroyed (the shortest window Tencent allows).
const ORPHAN_WINDOW_DAYS: u32 = 7;

/// Tencent's `KeyUsage` values for kinds of keys this service does not offer
/// (yet); they are refused as unsupported rather than as unknown.
const TC_SM2_USAGES: &[&str] = &["ASYMMETRIC_DECRYPT_SM2", "ASYMMETRIC_SIGN_VERIFY_SM2"];

/// A failed request: Tencent's error code and a message.
#[derive(Debug)]
struct TcError {
    code: &'static str,
    message: String,
}

impl TcError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        TcError { code, message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> Self {
        TcError::new("InvalidParameter", message)
    }

    fn invalid_value(message: impl Into<String>) -> Self {
        TcError::new("InvalidParameterValue", message)
    }

    fn unsupported(message: impl Into<String>) -> Self {
        TcError::new("UnsupportedOperation", message)
    }
}

impl From<KmsError> for TcError {
    fn from(e: KmsError) -> Self {
        // Messages of KmsError never hold key material or plaintext.
        TcError::new(tc_code(&e), e.to_string())
    }
}

/// The Tencent code of a service error.
fn tc_code(e: &KmsError) -> &'static str {
    e.tc_code()
}

/// A Tencent error response body.
pub fn error(code: &str, message: &str, request_id: &str) -> Value {
    json!({ "Response": { "Error": { "Code": code, "Message": message }, "RequestId": request_id } })
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// Tencent's `KeyUsage` for the key (its AWS usage name if Tencent has none).
fn tc_usage(meta: &KeyMetadata) -> &'static str {
    KeyType::new(meta.spec, Some(meta.usage))
        .ok()
        .and_then(KeyType::tc_key_usage)
        .unwrap_or_else(|| meta.usage.aws_name())
}

fn deletion_date(meta: &KeyMetadata) -> i64 {
    match meta.state {
        KeyState::PendingDeletion { deletion_date_ms } => secs(deletion_date_ms),
        _ => 0,
    }
}

/// Tencent's `KeyMetadata` structure. The service keeps no reverse index
/// from keys to aliases, so `Alias` is empty here.
pub fn key_metadata(meta: &KeyMetadata) -> Value {
    let mut m = json!({
        "KeyId": meta.key_id.to_string(),
        "Alias": "",
        "CreateTime": secs(meta.created_at_ms),
        "Description": meta.description,
        "KeyState": meta.state.tc_name(),
        "KeyUsage": tc_usage(meta),
        "KeyRotationEnabled": meta.rotation_period_days.is_some(),
        "Owner": "user",
        "NextRotateTime": 0,
        "DeletionDate": deletion_date(meta),
        "Origin": if meta.origin == Origin::External { "EXTERNAL" } else { "TENCENT_KMS" },
        "HsmClusterId": if meta.origin == Origin::Hsm { crate::service::CUSTOM_KEY_STORE_ID } else { "" },
        // Imported material's expiry in Unix seconds; 0: none, or no material.
        "ValidTo": if meta.state == KeyState::PendingImport { 0 } else { meta.material_expires_ms.map_or(0, secs) },
    });
    if let Some(days) = meta.rotation_period_days {
        m["RotateDays"] = json!(days);
    }
    m
}

/// The request parameters: a JSON object whose fields are read one by one,
/// so that a wrong type is reported by parameter name without echoing the
/// value (serde's own messages quote what they refuse). `null` reads as
/// absent, as the SDKs omit unset parameters.
struct Params(Map<String, Value>);

impl Params {
    fn parse(body: &[u8]) -> Result<Self, TcError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Params(map)),
            Ok(_) => Err(TcError::invalid("the request body must be a JSON object")),
            Err(e) => Err(TcError::invalid(format!(
                "the request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str) -> Result<Option<&str>, TcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(TcError::invalid(format!("{name} must be a string"))),
        }
    }

    /// A string parameter where an empty string means "not given".
    fn nonempty_string(&self, name: &str) -> Result<Option<&str>, TcError> {
        Ok(self.string(name)?.filter(|s| !s.is_empty()))
    }

    fn required(&self, name: &str) -> Result<&str, TcError> {
        self.string(name)?.ok_or_else(|| TcError::new("MissingParameter", format!("the {name} parameter is required")))
    }

    fn integer(&self, name: &str) -> Result<Option<i64>, TcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                n.as_i64().map(Some).ok_or_else(|| TcError::invalid(format!("{name} must be an integer")))
            }
            Some(_) => Err(TcError::invalid(format!("{name} must be an integer"))),
        }
    }

    /// A key named by its id. Tencent's key parameters take the CMK's id
    /// ("CMK全局唯一标识符") only: no aliases, no resource names.
    fn key(&self, name: &str) -> Result<KeyRef, TcError> {
        let text = self.required(name)?;
        KeyId::parse(text).map(KeyRef::Id).map_err(|e| TcError::new(e.tc_code(), format!("{name}: {e}")))
    }

    fn optional_key(&self, name: &str) -> Result<Option<KeyRef>, TcError> {
        match self.nonempty_string(name)? {
            None => Ok(None),
            Some(_) => self.key(name).map(Some),
        }
    }

    /// A base64 parameter, decoded into a zeroizing buffer.
    fn base64(&self, name: &str, code: &'static str) -> Result<Zeroizing<Vec<u8>>, TcError> {
        let text = self.required(name)?;
        data_encoding::BASE64
            .decode(text.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| TcError::new(code, format!("{name} is not valid base64")))
    }

    /// An encryption context: a JSON *string* holding a flat object of
    /// strings (at most 1024 characters). Absent or empty means none.
    fn context(&self, name: &str) -> Result<EncryptionContext, TcError> {
        let Some(text) = self.nonempty_string(name)? else {
            return Ok(EncryptionContext::empty());
        };
        if text.chars().count() > CONTEXT_MAX_CHARS {
            return Err(TcError::invalid_value(format!("{name} has at most {CONTEXT_MAX_CHARS} characters")));
        }
        let pairs: Pairs = serde_json::from_str(text).map_err(|_| {
            TcError::invalid_value(format!("{name} must be a JSON object whose keys and values are all strings"))
        })?;
        EncryptionContext::from_pairs(pairs.0).map_err(|e| TcError::new(e.tc_code(), format!("{name}: {e}")))
    }

    /// Refuses parameters this service cannot honour when they are given: a
    /// request that relies on them must not silently get something else.
    fn refuse(&self, names: &[&str]) -> Result<(), TcError> {
        for name in names {
            let given = match self.get(name) {
                None => false,
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Object(m)) => !m.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            };
            if given {
                return Err(TcError::unsupported(format!("the {name} parameter is not supported")));
            }
        }
        Ok(())
    }
}

/// The pairs of a JSON object of strings, in order and with duplicates kept,
/// so that `EncryptionContext::from_pairs` can refuse a key given twice
/// (a map would keep the last value silently).
struct Pairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;

        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of strings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }

        deserializer.deserialize_map(PairsVisitor)
    }
}

/// Handles one Tencent KMS action of an authenticated caller and returns the
/// whole response body (always sent with HTTP 200). The caller must carry
/// `Api::Tencent`, so that the service applies Tencent's rules where they
/// differ from AWS's (a key must be disabled before deletion is scheduled).
pub async fn handle(kms: &Kms, caller: &Caller, action: &str, body: &[u8], request_id: &str) -> Value {
    match dispatch(kms, caller, action, body).await {
        Ok(Value::Object(mut fields)) => {
            fields.insert("RequestId".into(), json!(request_id));
            json!({ "Response": fields })
        }
        Ok(_) => error("InternalError", "internal error", request_id),
        Err(e) => error(e.code, &e.message, request_id),
    }
}

async fn dispatch(kms: &Kms, caller: &Caller, action: &str, body: &[u8]) -> Result<Value, TcError> {
    if !is_action(action) {
        return Err(unknown_action(action));
    }
    let p = Params::parse(body)?;
    p.refuse(&["MemberAccount"])?;
    Ok(match action {
        "CreateKey" => create_key(kms, caller, &p).await?,
        "DescribeKey" => {
            let meta = kms.describe_key(caller, &p.key("KeyId")?).await?;
            json!({ "KeyMetadata": key_metadata(&meta) })
        }
        "ListKeys" => list_keys(kms, caller, &p).await?,
        "EnableKey" => {
            kms.enable_key(caller, &p.key("KeyId")?).await?;
            json!({})
        }
        "DisableKey" => {
            kms.disable_key(caller, &p.key("KeyId")?).await?;
            json!({})
        }
        "ScheduleKeyDeletion" => {
            let key = p.key("KeyId")?;
            let days = p.integer("PendingWindowInDays")?.ok_or_else(|| {
                TcError::new("MissingParameter", "the PendingWindowInDays parameter is required (7 to 30)")
            })?;
            // Out of u32's range is out of 7–30 too: let the lifecycle refuse it.
            let days = u32::try_from(days).unwrap_or(u32::MAX);
            let meta = kms.schedule_key_deletion(caller, &key, Some(days)).await?;
            json!({ "DeletionDate": deletion_date(&meta), "KeyId": meta.key_id.to_string() })
        }
        "CancelKeyDeletion" => {
            let meta = kms.cancel_key_deletion(caller, &p.key("KeyId")?).await?;
            json!({ "KeyId": meta.key_id.to_string() })
        }
        "ArchiveKey" => {
            kms.archive_key(caller, &p.key("KeyId")?).await?;
            json!({})
        }
        "CancelKeyArchive" => {
            kms.cancel_key_archive(caller, &p.key("KeyId")?).await?;
            json!({})
        }
        "Encrypt" => {
            let key = p.key("KeyId")?;
            let plaintext = p.base64("Plaintext", "InvalidParameterValue.InvalidPlaintext")?;
            if plaintext.is_empty() || plaintext.len() > PLAINTEXT_MAX_BYTES {
                return Err(TcError::new(
                    "InvalidParameterValue.InvalidPlaintext",
                    format!("Plaintext must decode to 1 to {PLAINTEXT_MAX_BYTES} bytes"),
                ));
            }
            let ctx = p.context("EncryptionContext")?;
            let (key_id, blob) =
                kms.encrypt(caller, &key, &plaintext, &ctx, EncryptionAlgorithm::SymmetricDefault).await?;
            json!({ "CiphertextBlob": b64(&blob), "KeyId": key_id.to_string() })
        }
        "Decrypt" => {
            // Re-encrypting the plaintext under a client's public key is not
            // offered; answering in the clear instead would leak it.
            p.refuse(&["EncryptionPublicKey"])?;
            let blob = p.base64("CiphertextBlob", "InvalidParameterValue.InvalidCiphertext")?;
            let ctx = p.context("EncryptionContext")?;
            let (key_id, plaintext) =
                kms.decrypt(caller, &blob, &ctx, None, EncryptionAlgorithm::SymmetricDefault).await?;
            json!({ "KeyId": key_id.to_string(), "Plaintext": b64(&plaintext) })
        }
        "GenerateDataKey" => generate_data_key(kms, caller, &p).await?,
        "ReEncrypt" => {
            let blob = p.base64("CiphertextBlob", "InvalidParameterValue.InvalidCiphertext")?;
            let destination = p.optional_key("DestinationKeyId")?;
            let source_ctx = p.context("SourceEncryptionContext")?;
            let dest_ctx = p.context("DestinationEncryptionContext")?;
            let (source_id, plaintext) =
                kms.decrypt(caller, &blob, &source_ctx, None, EncryptionAlgorithm::SymmetricDefault).await?;
            let destination = destination.unwrap_or(KeyRef::Id(source_id));
            let (dest_id, out) =
                kms.encrypt(caller, &destination, &plaintext, &dest_ctx, EncryptionAlgorithm::SymmetricDefault).await?;
            json!({
                "CiphertextBlob": b64(&out),
                "KeyId": dest_id.to_string(),
                "SourceKeyId": source_id.to_string(),
                "ReEncrypted": true,
            })
        }
        other => return asym::dispatch(kms, caller, other, &p).await,
    })
}

/// Every Tencent KMS action (`X-TC-Action`) this facade answers; any other
/// is `InvalidAction` before its body is read. The fuzz targets draw their
/// actions from this list.
pub const ACTIONS: &[&str] = &[
    "AsymmetricRsaDecrypt",
    "DisableKeyRotation",
    "EnableKeyRotation",
    "GenerateRandom",
    "GetKeyRotationStatus",
    "GetPublicKey",
    "SignByAsymmetricKey",
    "UpdateKeyDescription",
    "VerifyByAsymmetricKey",
    "ArchiveKey",
    "CancelKeyArchive",
    "CancelKeyDeletion",
    "CreateKey",
    "Decrypt",
    "DescribeKey",
    "DisableKey",
    "EnableKey",
    "Encrypt",
    "GenerateDataKey",
    "ListKeys",
    "ReEncrypt",
    "ScheduleKeyDeletion",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
];

fn is_action(action: &str) -> bool {
    ACTIONS.contains(&action)
}

fn unknown_action(action: &str) -> TcError {
    // Echo the name only when it looks like an action name.
    let printable = !action.is_empty() && action.len() <= 64 && action.bytes().all(|b| b.is_ascii_alphanumeric());
    if printable {
        TcError::new("InvalidAction", format!("the action {action} is not supported by this KMS"))
    } else {
        TcError::new("InvalidAction", "the action is not supported by this KMS")
    }
}

async fn create_key(kms: &Kms, caller: &Caller, p: &Params) -> Result<Value, TcError> {
    let alias_text = p.required("Alias")?;
    let alias = AliasName::from_tc_alias(alias_text).map_err(|e| TcError::new(e.tc_code(), format!("Alias: {e}")))?;
    let description = p.string("Description")?.unwrap_or("");
    if description.len() > DESCRIPTION_MAX_BYTES {
        return Err(TcError::invalid_value(format!("Description has at most {DESCRIPTION_MAX_BYTES} bytes")));
    }
    let key_type = match p.nonempty_string("KeyUsage")? {
        None => KeyType::new(KeySpec::SymmetricDefault, Some(KeyUsage::EncryptDecrypt)).map_err(KmsError::from)?,
        Some(u) if TC_SM2_USAGES.contains(&u) => {
            return Err(TcError::unsupported("SM2 keys are not available"));
        }
        Some(u) => KeyType::from_tc_key_usage(u).map_err(|_| {
            TcError::new("InvalidParameterValue.InvalidKeyUsage", "KeyUsage must be one of Tencent's key usages")
        })?,
    };
    // Type 2: a key for imported material (origin EXTERNAL), which waits in
    // PendingImport; imported material is for symmetric keys only.
    let external = match p.integer("Type")? {
        None | Some(1) => false,
        Some(2) if key_type.spec() == KeySpec::SymmetricDefault => true,
        Some(2) => return Err(TcError::unsupported("imported key material (Type 2) is for ENCRYPT_DECRYPT keys only")),
        Some(_) => return Err(TcError::new("InvalidParameterValue.InvalidType", "Type must be 1 or 2")),
    };
    // An exclusive HSM cluster (Tencent's HsmClusterId): this KMS's HSM
    // custom key store, where the key is generated and used inside it.
    let hsm = match p.nonempty_string("HsmClusterId")? {
        None => None,
        Some(_) if external || key_type.spec() != KeySpec::SymmetricDefault => {
            return Err(TcError::unsupported("keys in the HSM are ENCRYPT_DECRYPT keys generated there (Type 1)"));
        }
        Some(id) => Some(id),
    };
    let tagged = match p.get("Tags") {
        None => false,
        Some(Value::Array(tags)) => !tags.is_empty(),
        Some(_) => return Err(TcError::invalid("Tags must be a list")),
    };

    // Refuse a taken alias before making a key that would then have none.
    match kms.describe_key(caller, &KeyRef::Alias(alias.clone())).await {
        Ok(_) => return Err(alias_exists()),
        Err(KmsError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let meta = if let Some(store) = hsm {
        kms.create_hsm_key(caller, store, description).await?
    } else if external {
        kms.create_external_key(caller, description).await?
    } else {
        kms.create_key(caller, key_type.spec(), Some(key_type.usage()), description).await?
    };
    let key = KeyRef::Id(meta.key_id);
    if let Err(e) = kms.create_alias(caller, &alias, &key).await {
        // The alias was taken meanwhile (or the store failed): nobody will
        // ever learn this key's id, so retire it. Best effort; the error the
        // client sees is the alias's.
        if kms.disable_key(caller, &key).await.is_ok() {
            let _ = kms.schedule_key_deletion(caller, &key, Some(ORPHAN_WINDOW_DAYS)).await;
        }
        return Err(match e {
            KmsError::AlreadyExists(_) => alias_exists(),
            other => other.into(),
        });
    }
    let mut out = json!({
        "KeyId": meta.key_id.to_string(),
        "Alias": alias.tc_alias().unwrap_or(alias_text),
        "CreateTime": secs(meta.created_at_ms),
        "Description": meta.description,
        "KeyState": meta.state.tc_name(),
        "KeyUsage": tc_usage(&meta),
    });
    if tagged {
        // Tencent reports tagging apart from the key: 2 is "business error".
        out["TagCode"] = json!(2);
        out["TagMsg"] = json!("tags are not supported; the key was created without them");
    }
    Ok(out)
}

fn alias_exists() -> TcError {
    TcError::new("InvalidParameterValue.AliasAlreadyExists", "the alias is already in use")
}

async fn list_keys(kms: &Kms, caller: &Caller, p: &Params) -> Result<Value, TcError> {
    let offset = p.integer("Offset")?.unwrap_or(0);
    let limit = p.integer("Limit")?.unwrap_or(LIST_DEFAULT_LIMIT);
    if offset < 0 {
        return Err(TcError::invalid_value("Offset must not be negative"));
    }
    if !(1..=LIST_MAX_LIMIT).contains(&limit) {
        return Err(TcError::invalid_value(format!("Limit must be between 1 and {LIST_MAX_LIMIT}")));
    }
    p.refuse(&["HsmClusterId"])?;
    let keys = match p.integer("Role")? {
        None | Some(0) => kms.list_keys(caller).await?,
        // Keys cloud products made for the user: there are none here.
        Some(1) => Vec::new(),
        Some(_) => return Err(TcError::invalid_value("Role must be 0 or 1")),
    };
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(0);
    let page: Vec<Value> =
        keys.iter().skip(offset).take(limit).map(|m| json!({ "KeyId": m.key_id.to_string() })).collect();
    Ok(json!({ "Keys": page, "TotalCount": keys.len() }))
}

async fn generate_data_key(kms: &Kms, caller: &Caller, p: &Params) -> Result<Value, TcError> {
    p.refuse(&["EncryptionPublicKey", "HsmClusterId"])?;
    match p.integer("IsHostedByKms")? {
        None | Some(0) => {}
        Some(1) => return Err(TcError::unsupported("data keys hosted by KMS (IsHostedByKms 1) are not available")),
        Some(_) => return Err(TcError::invalid_value("IsHostedByKms must be 0 or 1")),
    }
    let key = p.key("KeyId")?;
    // "同时指定NumberOfBytes和KeySpec时，以NumberOfBytes为准": NumberOfBytes wins.
    let bytes = match (p.integer("NumberOfBytes")?, p.nonempty_string("KeySpec")?) {
        (Some(n), _) => match usize::try_from(n) {
            Ok(n) if (1..=1024).contains(&n) => n,
            _ => return Err(TcError::invalid_value("NumberOfBytes must be between 1 and 1024")),
        },
        (None, Some("AES_256")) => 32,
        (None, Some("AES_128")) => 16,
        (None, Some(_)) => return Err(TcError::invalid_value("KeySpec must be AES_256 or AES_128")),
        (None, None) => {
            return Err(TcError::new(
                "MissingParameter",
                "give KeySpec (AES_256 or AES_128) or NumberOfBytes (1-1024)",
            ));
        }
    };
    let ctx = p.context("EncryptionContext")?;
    let (key_id, data_key) = kms.generate_data_key(caller, &key, bytes, &ctx).await?;
    Ok(json!({
        "KeyId": key_id.to_string(),
        "Plaintext": b64(data_key.plaintext()),
        "CiphertextBlob": b64(data_key.ciphertext_blob()),
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rampart_core::Id;
    use rampart_core::audit::Audit;
    use rampart_core::secret::RootSecret;
    use rampart_store::{Store, TableAuditSink};
    use serde_json::{Value, json};

    use super::handle;
    use crate::keystore::{SoftwareKeystore, UnwrapCache};
    use crate::lifecycle::Api;
    use crate::service::{Caller, Kms};

    const REQUEST_ID: &str = "b8c1c6a2-0d1e-4f55-9a0b-3c2d1e0f9a8b";

    struct Fixture {
        kms: Kms,
        store: Store,
        me: Caller,
        _dir: tempfile::TempDir,
    }

    fn caller(tenant: &Id) -> Caller {
        Caller {
            tenant: Some(tenant.clone()),
            actor: "alice".into(),
            source: None,
            api: Api::Tencent,
            may_use: true,
            may_manage: true,
        }
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
        let audit = Audit::new(Arc::new(TableAuditSink(store.clone())), Duration::from_secs(2));
        let keystore = SoftwareKeystore::from_key_file(&dir.path().join("kms-root.key"), true).unwrap();
        let root = RootSecret::from_bytes([9; 32]);
        let kms = Kms::new(
            store.clone(),
            audit,
            Arc::new(keystore),
            UnwrapCache::new(128, Duration::from_secs(60)),
            root.keyed_hasher("rampart/kms-context/v1"),
        );
        let tenant = store.create_tenant("acme", 1).await.unwrap().id;
        Fixture { kms, store, me: caller(&tenant), _dir: dir }
    }

    impl Fixture {
        async fn raw_as(&self, who: &Caller, action: &str, body: &[u8]) -> Value {
            let out = handle(&self.kms, who, action, body, REQUEST_ID).await;
            assert_eq!(out["Response"]["RequestId"], REQUEST_ID, "{action}: every response has the RequestId");
            assert_eq!(out.as_object().map(|o| o.len()), Some(1), "{action}: only Response at the top");
            out
        }

        async fn call(&self, action: &str, body: Value) -> Value {
            self.raw_as(&self.me, action, body.to_string().as_bytes()).await
        }

        /// Calls and expects success; returns the Response object.
        async fn ok(&self, action: &str, body: Value) -> Value {
            let out = self.call(action, body).await;
            assert!(out["Response"].get("Error").is_none(), "{action} failed: {out}");
            out["Response"].clone()
        }

        /// Calls and expects an error; returns its code.
        async fn err(&self, action: &str, body: Value) -> String {
            let out = self.call(action, body).await;
            code(&out, action)
        }

        async fn create(&self, alias: &str) -> String {
            let out = self.ok("CreateKey", json!({ "Alias": alias, "Description": "orders" })).await;
            out["KeyId"].as_str().unwrap().to_owned()
        }

        async fn encrypt(&self, key: &str, plaintext: &[u8], ctx: &str) -> Value {
            self.call("Encrypt", json!({ "KeyId": key, "Plaintext": b64(plaintext), "EncryptionContext": ctx })).await
        }

        async fn decrypt(&self, blob: &str, ctx: &str) -> Value {
            self.call("Decrypt", json!({ "CiphertextBlob": blob, "EncryptionContext": ctx })).await
        }
    }

    fn code(out: &Value, action: &str) -> String {
        let error = &out["Response"]["Error"];
        assert!(error["Message"].as_str().is_some_and(|m| !m.is_empty()), "{action}: a message: {out}");
        error["Code"].as_str().unwrap_or_else(|| panic!("{action} should have failed: {out}")).to_owned()
    }

    fn b64(bytes: &[u8]) -> String {
        data_encoding::BASE64.encode(bytes)
    }

    fn unb64(value: &Value) -> Vec<u8> {
        data_encoding::BASE64.decode(value.as_str().unwrap().as_bytes()).unwrap()
    }

    fn now_secs() -> i64 {
        rampart_core::time::now_ms() / 1000
    }

    #[tokio::test]
    async fn create_describe_list_and_encrypt_with_context() {
        let f = fixture().await;
        let before = now_secs();
        let created = f.ok("CreateKey", json!({ "Alias": "orders-key", "Description": "orders" })).await;
        let key = created["KeyId"].as_str().unwrap().to_owned();
        assert_eq!(created["Alias"], "orders-key", "Tencent aliases have no alias/ prefix");
        assert_eq!(created["KeyState"], "Enabled");
        assert_eq!(created["KeyUsage"], "ENCRYPT_DECRYPT");
        assert_eq!(created["Description"], "orders");
        let create_time = created["CreateTime"].as_i64().unwrap();
        assert!((before..=now_secs()).contains(&create_time), "CreateTime is in Unix seconds");

        let described = f.ok("DescribeKey", json!({ "KeyId": key })).await;
        let meta = &described["KeyMetadata"];
        assert_eq!(meta["KeyId"], key.as_str());
        assert_eq!(meta["KeyState"], "Enabled");
        assert_eq!(meta["Origin"], "TENCENT_KMS");
        assert_eq!(meta["DeletionDate"], 0);
        assert_eq!(meta["KeyRotationEnabled"], false);
        assert_eq!(meta["CreateTime"], create_time);

        // The alias is taken now: refused before any key is made.
        assert_eq!(
            f.err("CreateKey", json!({ "Alias": "orders-key" })).await,
            "InvalidParameterValue.AliasAlreadyExists"
        );
        assert_eq!(f.err("CreateKey", json!({ "Alias": "kms-orders" })).await, "InvalidParameterValue.InvalidAlias");
        assert_eq!(f.err("CreateKey", json!({ "Alias": "alias/orders" })).await, "InvalidParameterValue.InvalidAlias");
        assert_eq!(f.err("CreateKey", json!({ "Description": "x" })).await, "MissingParameter");
        let sm2 = json!({ "Alias": "signer", "KeyUsage": "ASYMMETRIC_SIGN_VERIFY_SM2" });
        assert_eq!(f.err("CreateKey", sm2).await, "UnsupportedOperation");
        // An HSM cluster this KMS does not have (its keystore is software),
        // and one asked for imported material: refused, no key made.
        let keys = f.ok("ListKeys", json!({})).await["TotalCount"].clone();
        let hsm = json!({ "Alias": "in-hsm", "HsmClusterId": "cks-rampart-hsm" });
        assert_eq!(f.err("CreateKey", hsm).await, "InvalidParameterValue");
        let hsm = json!({ "Alias": "in-hsm", "HsmClusterId": "cks-rampart-hsm", "Type": 2 });
        assert_eq!(f.err("CreateKey", hsm).await, "UnsupportedOperation");
        assert_eq!(f.ok("ListKeys", json!({})).await["TotalCount"], keys);
        assert_eq!(meta["HsmClusterId"], "");
        let odd = json!({ "Alias": "odd", "KeyUsage": "SIGN_EVERYTHING" });
        assert_eq!(f.err("CreateKey", odd).await, "InvalidParameterValue.InvalidKeyUsage");
        let signer_for_import = json!({ "Alias": "ext", "Type": 2, "KeyUsage": "ASYMMETRIC_SIGN_VERIFY_ECC" });
        assert_eq!(f.err("CreateKey", signer_for_import).await, "UnsupportedOperation");
        let list = f.ok("ListKeys", json!({})).await;
        assert_eq!(list["TotalCount"], 1, "no refused CreateKey left a key behind");
        assert_eq!(list["Keys"], json!([{ "KeyId": key }]));
        assert_eq!(f.ok("ListKeys", json!({ "Offset": 1, "Limit": 5 })).await["Keys"], json!([]));
        assert_eq!(f.err("ListKeys", json!({ "Limit": 201 })).await, "InvalidParameterValue");

        // Encrypt and decrypt under a context given as a JSON string; the
        // order of its keys does not matter, its content does.
        let secret = b"card 4111 1111 1111 1111";
        let enc = f.encrypt(&key, secret, r#"{"order":"42","team":"payments"}"#).await;
        assert_eq!(enc["Response"]["KeyId"], key.as_str(), "{enc}");
        let blob = enc["Response"]["CiphertextBlob"].as_str().unwrap().to_owned();
        let dec = f.decrypt(&blob, r#"{ "team": "payments", "order": "42" }"#).await;
        assert_eq!(dec["Response"]["KeyId"], key.as_str(), "{dec}");
        assert_eq!(unb64(&dec["Response"]["Plaintext"]), secret);
        for wrong in [r#"{"order":"43","team":"payments"}"#, r#"{"order":"42"}"#, ""] {
            let out = f.decrypt(&blob, wrong).await;
            assert_eq!(code(&out, "Decrypt"), "InvalidParameterValue.InvalidCiphertext", "context {wrong:?}");
            assert!(!out.to_string().contains("4111"), "no plaintext in errors");
        }

        // Another tenant neither sees the key nor decrypts with it.
        let other = f.store.create_tenant("other", 1).await.unwrap().id;
        let them = caller(&other);
        let body = json!({ "KeyId": key, "Plaintext": b64(b"x") }).to_string();
        let out = f.raw_as(&them, "Encrypt", body.as_bytes()).await;
        assert_eq!(code(&out, "Encrypt"), "ResourceUnavailable.CmkNotFound");
        let body = json!({ "CiphertextBlob": blob, "EncryptionContext": r#"{"order":"42","team":"payments"}"# });
        let out = f.raw_as(&them, "Decrypt", body.to_string().as_bytes()).await;
        assert_eq!(code(&out, "Decrypt"), "InvalidParameterValue.InvalidCiphertext");
    }

    #[tokio::test]
    async fn key_kinds_refuse_the_actions_of_other_kinds() {
        let f = fixture().await;
        let sym = f.create("sym").await;
        let signer = f.ok("CreateKey", json!({ "Alias": "sig", "KeyUsage": "ASYMMETRIC_SIGN_VERIFY_ECC" })).await;
        let signer = signer["KeyId"].as_str().unwrap().to_owned();
        // A symmetric key has no public half; Tencent answers as for any
        // action the key cannot take.
        assert_eq!(f.err("GetPublicKey", json!({ "KeyId": sym })).await, "UnsupportedOperation");
        assert!(f.ok("GetPublicKey", json!({ "KeyId": signer })).await["PublicKeyPem"].is_string());
        let msg = json!({ "KeyId": sym, "Algorithm": "ECC_P256_R1", "Message": b64(b"m"), "MessageType": "RAW" });
        assert_eq!(f.err("SignByAsymmetricKey", msg).await, "InvalidParameterValue.InvalidKeyUsage");
        let enc = json!({ "KeyId": signer, "Plaintext": b64(b"x") });
        assert_eq!(f.err("Encrypt", enc).await, "InvalidParameterValue.InvalidKeyUsage");
        assert_eq!(f.err("GetKeyRotationStatus", json!({ "KeyId": signer })).await, "UnsupportedOperation");
        assert_eq!(f.err("EnableKeyRotation", json!({ "KeyId": signer })).await, "UnsupportedOperation");
    }

    #[tokio::test]
    async fn archive_disable_and_deletion_follow_tencent_rules() {
        let f = fixture().await;
        let key = f.create("ledger").await;
        let ctx = r#"{"k":"v"}"#;
        let blob = f.encrypt(&key, b"hello", ctx).await["Response"]["CiphertextBlob"].as_str().unwrap().to_owned();

        // Archived: decrypt only.
        assert_eq!(f.ok("ArchiveKey", json!({ "KeyId": key })).await.as_object().map(|o| o.len()), Some(1));
        assert_eq!(f.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"]["KeyState"], "Archived");
        assert_eq!(code(&f.encrypt(&key, b"more", ctx).await, "Encrypt"), "ResourceUnavailable.CmkArchived");
        let gdk = json!({ "KeyId": key, "KeySpec": "AES_256" });
        assert_eq!(f.err("GenerateDataKey", gdk).await, "ResourceUnavailable.CmkArchived");
        assert_eq!(unb64(&f.decrypt(&blob, ctx).await["Response"]["Plaintext"]), b"hello");
        f.ok("CancelKeyArchive", json!({ "KeyId": key })).await;
        assert_eq!(f.err("CancelKeyArchive", json!({ "KeyId": key })).await, "ResourceUnavailable.CmkStateNotSupport");
        assert!(f.encrypt(&key, b"more", ctx).await["Response"]["CiphertextBlob"].is_string());

        // Tencent schedules deletion of a disabled key only.
        let schedule = json!({ "KeyId": key, "PendingWindowInDays": 7 });
        assert_eq!(f.err("ScheduleKeyDeletion", schedule.clone()).await, "ResourceUnavailable.CmkShouldBeDisabled");
        f.ok("DisableKey", json!({ "KeyId": key })).await;
        assert_eq!(code(&f.encrypt(&key, b"more", ctx).await, "Encrypt"), "ResourceUnavailable.CmkDisabled");
        assert_eq!(code(&f.decrypt(&blob, ctx).await, "Decrypt"), "ResourceUnavailable.CmkDisabled");
        let missing = json!({ "KeyId": key });
        assert_eq!(f.err("ScheduleKeyDeletion", missing).await, "MissingParameter");
        for days in [6, 31, -1, 4_294_967_303_i64] {
            let body = json!({ "KeyId": key, "PendingWindowInDays": days });
            assert_eq!(f.err("ScheduleKeyDeletion", body).await, "InvalidParameter.InvalidPendingWindowInDays");
        }
        let scheduled = f.ok("ScheduleKeyDeletion", schedule).await;
        assert_eq!(scheduled["KeyId"], key.as_str());
        let due = scheduled["DeletionDate"].as_i64().unwrap();
        assert!((due - (now_secs() + 7 * 86_400)).abs() <= 5, "DeletionDate is in Unix seconds, 7 days on");
        let meta = f.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"].clone();
        assert_eq!(meta["KeyState"], "PendingDelete");
        assert_eq!(meta["DeletionDate"], due);
        let state = code(&f.decrypt(&blob, ctx).await, "Decrypt");
        assert_eq!(state, "ResourceUnavailable.CmkStateNotSupport", "no use while pending deletion");

        let cancelled = f.ok("CancelKeyDeletion", json!({ "KeyId": key })).await;
        assert_eq!(cancelled["KeyId"], key.as_str());
        let meta = f.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"].clone();
        assert_eq!((meta["KeyState"].as_str(), meta["DeletionDate"].as_i64()), (Some("Disabled"), Some(0)));
        assert_eq!(
            f.err("CancelKeyDeletion", json!({ "KeyId": key })).await,
            "ResourceUnavailable.CmkNotPendingDelete"
        );
        f.ok("EnableKey", json!({ "KeyId": key })).await;
        assert_eq!(unb64(&f.decrypt(&blob, ctx).await["Response"]["Plaintext"]), b"hello");
    }

    #[tokio::test]
    async fn data_keys_and_re_encryption() {
        let f = fixture().await;
        let first = f.create("first").await;
        let second = f.create("second").await;
        let ctx = r#"{"bucket":"invoices"}"#;

        let dk =
            f.ok("GenerateDataKey", json!({ "KeyId": first, "KeySpec": "AES_256", "EncryptionContext": ctx })).await;
        assert_eq!(dk["KeyId"], first.as_str());
        let plain = unb64(&dk["Plaintext"]);
        assert_eq!(plain.len(), 32);
        let blob = dk["CiphertextBlob"].as_str().unwrap().to_owned();
        assert_eq!(unb64(&f.decrypt(&blob, ctx).await["Response"]["Plaintext"]), plain, "the blob decrypts");
        assert_eq!(code(&f.decrypt(&blob, "").await, "Decrypt"), "InvalidParameterValue.InvalidCiphertext");

        let both = json!({ "KeyId": first, "KeySpec": "AES_128", "NumberOfBytes": 7 });
        assert_eq!(unb64(&f.ok("GenerateDataKey", both).await["Plaintext"]).len(), 7, "NumberOfBytes wins");
        let aes128 = json!({ "KeyId": first, "KeySpec": "AES_128" });
        assert_eq!(unb64(&f.ok("GenerateDataKey", aes128).await["Plaintext"]).len(), 16);
        assert_eq!(f.err("GenerateDataKey", json!({ "KeyId": first })).await, "MissingParameter");
        for n in [0, 1025] {
            let body = json!({ "KeyId": first, "NumberOfBytes": n });
            assert_eq!(f.err("GenerateDataKey", body).await, "InvalidParameterValue");
        }
        let rsa = json!({ "KeyId": first, "KeySpec": "RSA_2048" });
        assert_eq!(f.err("GenerateDataKey", rsa).await, "InvalidParameterValue");
        let wrapped =
            json!({ "KeyId": first, "KeySpec": "AES_256", "EncryptionPublicKey": "-----BEGIN PUBLIC KEY-----" });
        assert_eq!(f.err("GenerateDataKey", wrapped).await, "UnsupportedOperation", "never the plaintext instead");

        // ReEncrypt to another key and context, then to the same key.
        let re = f
            .ok(
                "ReEncrypt",
                json!({
                    "CiphertextBlob": blob,
                    "DestinationKeyId": second,
                    "SourceEncryptionContext": ctx,
                    "DestinationEncryptionContext": r#"{"bucket":"archive"}"#,
                }),
            )
            .await;
        assert_eq!((re["KeyId"].as_str(), re["SourceKeyId"].as_str()), (Some(second.as_str()), Some(first.as_str())));
        assert_eq!(re["ReEncrypted"], true);
        let moved = re["CiphertextBlob"].as_str().unwrap().to_owned();
        let dec = f.decrypt(&moved, r#"{"bucket":"archive"}"#).await;
        assert_eq!(
            (dec["Response"]["KeyId"].as_str(), unb64(&dec["Response"]["Plaintext"])),
            (Some(second.as_str()), plain.clone())
        );
        let same = f.ok("ReEncrypt", json!({ "CiphertextBlob": blob, "SourceEncryptionContext": ctx })).await;
        assert_eq!(
            (same["KeyId"].as_str(), same["SourceKeyId"].as_str()),
            (Some(first.as_str()), Some(first.as_str()))
        );
        assert_eq!(
            unb64(&f.decrypt(same["CiphertextBlob"].as_str().unwrap(), "").await["Response"]["Plaintext"]),
            plain
        );
        let wrong_source = json!({ "CiphertextBlob": blob, "DestinationKeyId": second });
        assert_eq!(f.err("ReEncrypt", wrong_source).await, "InvalidParameterValue.InvalidCiphertext");
    }

    #[tokio::test]
    async fn request_shape_errors_have_tencent_codes_and_no_echo() {
        let f = fixture().await;
        let key = f.create("shapes").await;
        for (body, what) in [(&b"{\"KeyId\": "[..], "malformed JSON"), (b"", "empty body"), (b"[1, 2]", "an array")] {
            let out = f.raw_as(&f.me, "Encrypt", body).await;
            assert_eq!(code(&out, "Encrypt"), "InvalidParameter", "{what}");
        }

        assert_eq!(f.err("Encrypt", json!({ "Plaintext": b64(b"x") })).await, "MissingParameter");
        assert_eq!(f.err("Encrypt", json!({ "KeyId": key })).await, "MissingParameter");
        assert_eq!(f.err("DescribeKey", json!({})).await, "MissingParameter");
        assert_eq!(f.err("DisableKey", json!({ "KeyId": null })).await, "MissingParameter");
        assert_eq!(f.err("DescribeKey", json!({ "KeyId": 42 })).await, "InvalidParameter");
        for bad in ["alias/shapes", "shapes", "arn:aws:kms:us-east-1:111122223333:alias/shapes", ""] {
            assert_eq!(
                f.err("EnableKey", json!({ "KeyId": bad })).await,
                "InvalidParameterValue.InvalidKeyId",
                "{bad}"
            );
        }
        let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(f.err("DescribeKey", json!({ "KeyId": unknown })).await, "ResourceUnavailable.CmkNotFound");

        for action in ["RotateKeyOnDemand", "CreateAlias", "Nope", "", "Encrypt\n"] {
            let out = f.raw_as(&f.me, action, b"{}").await;
            assert_eq!(code(&out, action), "InvalidAction", "{action:?}");
        }

        let secret = b"my secret PIN 2468";
        let encrypt = |ctx: Value| json!({ "KeyId": key, "Plaintext": b64(secret), "EncryptionContext": ctx });
        let long = format!(r#"{{"k":"{}"}}"#, "v".repeat(1100));
        let dup = r#"{"a":"1","a":"2"}"#;
        for ctx in [json!("not json"), json!(r#"{"a":1}"#), json!(r#"{"a":{"b":"c"}}"#), json!(long), json!(dup)] {
            let out = f.call("Encrypt", encrypt(ctx.clone())).await;
            assert_eq!(code(&out, "Encrypt"), "InvalidParameterValue", "{ctx}");
            let text = out.to_string();
            assert!(!text.contains("2468") && !text.contains(&b64(secret)), "no plaintext in errors: {text}");
        }
        assert_eq!(f.err("Encrypt", encrypt(json!({ "a": "1" }))).await, "InvalidParameter", "a string, not an object");
        assert_eq!(f.ok("Encrypt", encrypt(json!("{}"))).await["KeyId"], key.as_str(), "{{}} is the empty context");

        let bad_b64 = json!({ "KeyId": key, "Plaintext": "***" });
        assert_eq!(f.err("Encrypt", bad_b64).await, "InvalidParameterValue.InvalidPlaintext");
        let empty = json!({ "KeyId": key, "Plaintext": "" });
        assert_eq!(f.err("Encrypt", empty).await, "InvalidParameterValue.InvalidPlaintext");
        let big = json!({ "KeyId": key, "Plaintext": b64(&[7; 4097]) });
        assert_eq!(f.err("Encrypt", big).await, "InvalidParameterValue.InvalidPlaintext");
        assert_eq!(
            f.err("Decrypt", json!({ "CiphertextBlob": "%%" })).await,
            "InvalidParameterValue.InvalidCiphertext"
        );
        let junk = json!({ "CiphertextBlob": b64(b"not a rampart blob at all") });
        assert_eq!(f.err("Decrypt", junk).await, "InvalidParameterValue.InvalidCiphertext");
        let member = json!({ "KeyId": key, "MemberAccount": { "Uin": "100" } });
        assert_eq!(f.err("DescribeKey", member).await, "UnsupportedOperation");

        // A wrongly typed value is named, never repeated.
        let echo = json!({ "KeyId": key, "PendingWindowInDays": "hunter2-secret" });
        let out = f.call("ScheduleKeyDeletion", echo).await;
        assert_eq!(code(&out, "ScheduleKeyDeletion"), "InvalidParameter");
        assert!(!out.to_string().contains("hunter2"), "{out}");
        assert!(out["Response"]["Error"]["Message"].as_str().unwrap().contains("PendingWindowInDays"));
    }
}
