//! The native KMS API under `/api/v1/kms`, for the `rampart kms` CLI and the
//! console: the same service as the AWS and Tencent protocols, with bearer
//! tokens instead of request signatures and RFC 9457 problems instead of
//! `__type` errors. Every route is open to any logged-in caller at the gate;
//! the KMS decides per key (its policy, delegating by default to the role's
//! `kms_use` and `kms_manage`), exactly as for the signed protocols.
//!
//! Binary values (plaintext, ciphertext, signatures) travel as standard
//! base64; keys are named by id, `alias/NAME` or ARN.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_core::{Permission, Principal};
use rampart_kms::context::EncryptionContext;
use rampart_kms::lifecycle::{Api, KeyState};
use rampart_kms::material::MessageType;
use rampart_kms::service::{Caller, KeyMetadata, KmsError};
use rampart_kms::spec::{
    AliasName, Arn, ArnResource, EncryptionAlgorithm, KeyRef, KeySpec, KeyUsage, SigningAlgorithm, account_id,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::extract::{ApiJson, ClientAddr};
use crate::problem::ApiError;
use crate::server::AppState;

fn caller(p: &Principal, client: &ClientAddr) -> Caller {
    Caller {
        tenant: p.tenant_id.clone(),
        actor: p.username.clone(),
        source: client.text(),
        api: Api::Aws,
        may_use: p.can(Permission::KmsUse),
        may_manage: p.can(Permission::KmsManage),
    }
}

/// A KMS error as a problem response: client errors keep the AWS error
/// name as the problem's type, so scripts can tell them apart.
pub fn problem(err: KmsError) -> ApiError {
    if matches!(err, KmsError::Sealed) {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "kms-sealed", "KMS sealed", err.to_string());
    }
    let name = err.aws_type();
    let status = match name {
        "NotFoundException" => StatusCode::NOT_FOUND,
        "AccessDeniedException" => StatusCode::FORBIDDEN,
        "AlreadyExistsException" => StatusCode::CONFLICT,
        "KMSInternalException" => return ApiError::internal("KMS operation failed", &err),
        "DisabledException" | "KMSInvalidStateException" => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    let (slug, title): (&'static str, &'static str) = match name {
        "NotFoundException" => ("kms-not-found", "Key not found"),
        "AccessDeniedException" => ("kms-access-denied", "Access denied"),
        "AlreadyExistsException" => ("kms-already-exists", "Already exists"),
        "DisabledException" => ("kms-disabled", "Key disabled"),
        "KMSInvalidStateException" => ("kms-invalid-state", "Key state does not allow this"),
        "InvalidCiphertextException" => ("kms-invalid-ciphertext", "Invalid ciphertext"),
        "IncorrectKeyException" => ("kms-incorrect-key", "Incorrect key"),
        "InvalidKeyUsageException" => ("kms-invalid-key-usage", "Key usage does not allow this"),
        "MalformedPolicyDocumentException" => ("kms-malformed-policy", "Malformed key policy"),
        "UnsupportedOperationException" => ("kms-unsupported", "Unsupported"),
        _ => ("kms-invalid-request", "Invalid KMS request"),
    };
    ApiError::new(status, slug, title, err.to_string())
}

fn key_ref(text: &str) -> Result<KeyRef, ApiError> {
    KeyRef::parse(text).map_err(|e| ApiError::bad_request("kms-invalid-key-id", e.to_string()))
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

fn unb64(field: &str, text: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    data_encoding::BASE64
        .decode(text.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| ApiError::bad_request("kms-invalid-request", format!("{field} is not valid base64")))
}

fn context(map: Option<BTreeMap<String, String>>) -> Result<EncryptionContext, ApiError> {
    match map {
        None => Ok(EncryptionContext::empty()),
        Some(m) => {
            EncryptionContext::from_map(m).map_err(|e| ApiError::bad_request("kms-invalid-context", e.to_string()))
        }
    }
}

fn parse<T: std::str::FromStr<Err = rampart_kms::SpecError>>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|e: rampart_kms::SpecError| ApiError::bad_request("kms-invalid-request", e.to_string()))
}

/// A key as the native API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub key_id: String,
    /// The key's ARN, as the AWS-compatible API and AWS SDKs name it.
    pub arn: String,
    pub spec: String,
    pub usage: String,
    pub state: String,
    /// RFC 3339, when the key is pending deletion.
    pub deletion_date: Option<String>,
    pub description: String,
    pub current_version: u32,
    pub origin: String,
    pub rotation_period_days: Option<u32>,
    pub next_rotation: Option<String>,
    /// RFC 3339, when the key's imported material expires (and is deleted).
    pub material_expires: Option<String>,
    pub created_at: String,
}

fn view(meta: &KeyMetadata, region: &str, tenant: Option<&rampart_core::Id>) -> KeyView {
    let (state, deletion) = match meta.state {
        KeyState::PendingDeletion { deletion_date_ms } => {
            ("PendingDeletion", Some(rampart_core::time::rfc3339(deletion_date_ms)))
        }
        KeyState::Enabled => ("Enabled", None),
        KeyState::Disabled => ("Disabled", None),
        KeyState::Archived => ("Archived", None),
        KeyState::PendingImport => ("PendingImport", None),
    };
    KeyView {
        key_id: meta.key_id.to_string(),
        arn: Arn::new(region, &account_id(tenant), ArnResource::Key(meta.key_id))
            .map(|a| a.to_string())
            .unwrap_or_default(),
        spec: meta.spec.aws_name().into(),
        usage: meta.usage.aws_name().into(),
        state: state.into(),
        deletion_date: deletion,
        description: meta.description.clone(),
        current_version: meta.current_material.get(),
        origin: match meta.origin {
            rampart_kms::Origin::Kms => "RAMPART".into(),
            rampart_kms::Origin::External => "EXTERNAL".into(),
            rampart_kms::Origin::Hsm => "HSM".into(),
        },
        rotation_period_days: meta.rotation_period_days,
        next_rotation: meta.next_rotation_ms.map(rampart_core::time::rfc3339),
        material_expires: meta.material_expires_ms.map(rampart_core::time::rfc3339),
        created_at: rampart_core::time::rfc3339(meta.created_at_ms),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// `SYMMETRIC_DEFAULT` (default), `HMAC_256|384|512`, `ECC_NIST_P256|P384`, `RSA_2048|3072|4096`.
    pub spec: Option<String>,
    /// `ENCRYPT_DECRYPT` (default), `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`.
    pub usage: Option<String>,
    #[serde(default)]
    pub description: String,
    /// An alias (`alias/NAME`) to give the new key.
    pub alias: Option<String>,
    /// Generate the key inside the HSM, where it stays and is used (only
    /// `SYMMETRIC_DEFAULT`; needs the PKCS#11 keystore). Such a key cannot
    /// be rotated.
    #[serde(default)]
    pub hsm: bool,
}

/// Creates a key for the caller's tenant.
#[utoipa::path(post, path = "/api/v1/kms/keys", tag = "kms", security(("bearer" = [])),
    request_body = CreateKey, responses((status = 201, body = KeyView)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let c = caller(&p, &client);
    let spec: KeySpec = parse(body.spec.as_deref().unwrap_or("SYMMETRIC_DEFAULT"))?;
    let usage: Option<KeyUsage> = body.usage.as_deref().map(parse).transpose()?;
    let alias = match body.alias.as_deref() {
        Some(a) => Some(AliasName::parse(a).map_err(|e| ApiError::bad_request("kms-invalid-alias", e.to_string()))?),
        None => None,
    };
    let meta = if body.hsm {
        if spec != KeySpec::SymmetricDefault || usage.is_some_and(|u| u != KeyUsage::EncryptDecrypt) {
            return Err(ApiError::bad_request(
                "kms-invalid-spec",
                "a key inside the HSM is a SYMMETRIC_DEFAULT encryption key",
            ));
        }
        let store = state.kms.custom_key_store_id().ok_or_else(|| {
            ApiError::bad_request("kms-no-hsm", "this node's keystore is not an HSM ([kms] keystore = \"pkcs11\")")
        })?;
        state.kms.create_hsm_key(&c, store, &body.description).await.map_err(problem)?
    } else {
        state.kms.create_key(&c, spec, usage, &body.description).await.map_err(problem)?
    };
    if let Some(alias) = alias {
        state.kms.create_alias(&c, &alias, &KeyRef::Id(meta.key_id)).await.map_err(problem)?;
    }
    Ok((StatusCode::CREATED, Json(view(&meta, &state.config.kms.region, p.tenant_id.as_ref()))))
}

/// The caller's tenant's keys.
#[utoipa::path(get, path = "/api/v1/kms/keys", tag = "kms", security(("bearer" = [])),
    responses((status = 200, body = Vec<KeyView>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = state.kms.list_keys(&caller(&p, &client)).await.map_err(problem)?;
    Ok(Json(keys.iter().map(|k| view(k, &state.config.kms.region, p.tenant_id.as_ref())).collect()))
}

/// One key, by id, alias or ARN.
#[utoipa::path(get, path = "/api/v1/kms/keys/{key}", tag = "kms", security(("bearer" = [])),
    params(("key" = String, Path)), responses((status = 200, body = KeyView), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(key): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let meta = state.kms.describe_key(&caller(&p, &client), &key_ref(&key)?).await.map_err(problem)?;
    Ok(Json(view(&meta, &state.config.kms.region, p.tenant_id.as_ref())))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyAction {
    /// For `schedule-deletion`: the waiting period, 7-30 days (default 30).
    pub pending_days: Option<u32>,
    /// For `enable-rotation`: the period, 90-2560 days (default 365).
    pub period_days: Option<u32>,
    /// For `describe`: the new description.
    pub description: Option<String>,
}

/// A lifecycle action on a key: `enable`, `disable`, `schedule-deletion`,
/// `cancel-deletion`, `archive`, `cancel-archive`, `rotate`,
/// `enable-rotation`, `disable-rotation`, `describe`.
#[utoipa::path(post, path = "/api/v1/kms/keys/{key}/{action}", tag = "kms", security(("bearer" = [])),
    params(("key" = String, Path), ("action" = String, Path)), request_body = KeyAction,
    responses((status = 200, body = KeyView), (status = 404, body = crate::problem::Problem)))]
pub async fn action(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path((key, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<KeyView>, ApiError> {
    let c = caller(&p, &client);
    let key = key_ref(&key)?;
    // The body is optional: most actions take no parameters.
    let body: KeyAction = if body.iter().all(u8::is_ascii_whitespace) {
        KeyAction::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("invalid-body", e.to_string()))?
    };
    let kms = &state.kms;
    match action.as_str() {
        "enable" => kms.enable_key(&c, &key).await,
        "disable" => kms.disable_key(&c, &key).await,
        "schedule-deletion" => kms.schedule_key_deletion(&c, &key, body.pending_days).await,
        "cancel-deletion" => kms.cancel_key_deletion(&c, &key).await,
        "archive" => kms.archive_key(&c, &key).await,
        "cancel-archive" => kms.cancel_key_archive(&c, &key).await,
        "rotate" => kms.rotate_key_on_demand(&c, &key).await,
        "enable-rotation" => match kms.enable_key_rotation(&c, &key, body.period_days).await {
            Ok(_) => kms.describe_key(&c, &key).await,
            Err(e) => Err(e),
        },
        "disable-rotation" => match kms.disable_key_rotation(&c, &key).await {
            Ok(()) => kms.describe_key(&c, &key).await,
            Err(e) => Err(e),
        },
        "describe" => {
            let text = body.description.unwrap_or_default();
            match kms.update_description(&c, &key, &text).await {
                Ok(()) => kms.describe_key(&c, &key).await,
                Err(e) => Err(e),
            }
        }
        _ => return Err(ApiError::not_found()),
    }
    .map(|meta| Json(view(&meta, &state.config.kms.region, p.tenant_id.as_ref())))
    .map_err(problem)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Crypto {
    /// base64: the plaintext (encrypt), the ciphertext (decrypt), the
    /// message (sign, verify, mac).
    pub data: Option<String>,
    pub context: Option<BTreeMap<String, String>>,
    /// `SYMMETRIC_DEFAULT`, `RSAES_OAEP_SHA_256`; a signing or MAC algorithm.
    pub algorithm: Option<String>,
    /// For sign and verify: `RAW` (default) or `DIGEST`.
    pub message_type: Option<String>,
    /// base64, for verify and verify-mac.
    pub signature: Option<String>,
    /// For data-key: bytes of key (default 32).
    pub bytes: Option<usize>,
    /// For data-key: also return the plaintext (default true).
    pub plaintext: Option<bool>,
}

/// A cryptographic operation with a key: `encrypt`, `decrypt`, `data-key`,
/// `sign`, `verify`, `mac`, `verify-mac`, `public-key`. The answer holds
/// base64 fields named after the operation's outputs.
#[utoipa::path(post, path = "/api/v1/kms/keys/{key}/crypto/{operation}", tag = "kms", security(("bearer" = [])),
    params(("key" = String, Path), ("operation" = String, Path)), request_body = Crypto,
    responses((status = 200, body = Object), (status = 400, body = crate::problem::Problem)))]
pub async fn crypto(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path((key, operation)): Path<(String, String)>,
    ApiJson(body): ApiJson<Crypto>,
) -> Result<Json<Value>, ApiError> {
    let c = caller(&p, &client);
    let key = key_ref(&key)?;
    let kms = &state.kms;
    let data = || unb64("data", body.data.as_deref().unwrap_or(""));
    let ctx = context(body.context.clone())?;
    let e = problem;
    Ok(Json(match operation.as_str() {
        "encrypt" | "decrypt" => {
            let algorithm: EncryptionAlgorithm = parse(body.algorithm.as_deref().unwrap_or("SYMMETRIC_DEFAULT"))?;
            if operation == "encrypt" {
                let (id, blob) = kms.encrypt(&c, &key, &data()?, &ctx, algorithm).await.map_err(e)?;
                json!({ "key_id": id.to_string(), "ciphertext": b64(&blob) })
            } else {
                let (id, plain) = kms.decrypt(&c, &data()?, &ctx, Some(&key), algorithm).await.map_err(e)?;
                json!({ "key_id": id.to_string(), "plaintext": b64(&plain) })
            }
        }
        "data-key" => {
            let bytes = body.bytes.unwrap_or(32);
            if !(1..=1024).contains(&bytes) {
                return Err(ApiError::bad_request("kms-invalid-request", "bytes must be 1 to 1024"));
            }
            let (id, dk) = kms.generate_data_key(&c, &key, bytes, &ctx).await.map_err(e)?;
            // The ARN names the key in AWS Encryption SDK messages.
            let arn = Arn::new(&state.config.kms.region, &account_id(p.tenant_id.as_ref()), ArnResource::Key(id))
                .map(|a| a.to_string())
                .map_err(|err| problem(KmsError::from(err)))?;
            let mut out = json!({ "key_id": id.to_string(), "arn": arn, "ciphertext": b64(dk.ciphertext_blob()) });
            if body.plaintext.unwrap_or(true) {
                out["plaintext"] = json!(b64(dk.plaintext()));
            }
            out
        }
        "sign" | "verify" => {
            let algorithm: SigningAlgorithm = parse(body.algorithm.as_deref().unwrap_or(""))?;
            let kind = match body.message_type.as_deref() {
                None | Some("RAW") => MessageType::Raw,
                Some("DIGEST") => MessageType::Digest,
                Some(_) => return Err(ApiError::bad_request("kms-invalid-request", "message_type is RAW or DIGEST")),
            };
            if operation == "sign" {
                let (id, sig) = kms.sign(&c, &key, &data()?, kind, algorithm).await.map_err(e)?;
                json!({ "key_id": id.to_string(), "signature": b64(&sig) })
            } else {
                let sig = unb64("signature", body.signature.as_deref().unwrap_or(""))?;
                let (id, valid) = kms.verify(&c, &key, &data()?, kind, algorithm, &sig).await.map_err(e)?;
                json!({ "key_id": id.to_string(), "valid": valid })
            }
        }
        "mac" | "verify-mac" => {
            let algorithm: rampart_kms::spec::MacAlgorithm = parse(body.algorithm.as_deref().unwrap_or(""))?;
            if operation == "mac" {
                let (id, mac) = kms.generate_mac(&c, &key, &data()?, algorithm).await.map_err(e)?;
                json!({ "key_id": id.to_string(), "mac": b64(&mac) })
            } else {
                let mac = unb64("signature", body.signature.as_deref().unwrap_or(""))?;
                let (id, valid) = kms.verify_mac(&c, &key, &data()?, algorithm, &mac).await.map_err(e)?;
                json!({ "key_id": id.to_string(), "valid": valid })
            }
        }
        "public-key" => {
            let info = kms.get_public_key(&c, &key).await.map_err(e)?;
            json!({ "key_id": info.key_id.to_string(), "public_key": b64(&info.der) })
        }
        _ => return Err(ApiError::not_found()),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decrypt {
    /// base64 ciphertext blob; it names its key.
    pub ciphertext: String,
    pub context: Option<BTreeMap<String, String>>,
}

/// Decrypts a symmetric ciphertext blob, which names its own key.
#[utoipa::path(post, path = "/api/v1/kms/decrypt", tag = "kms", security(("bearer" = [])),
    request_body = Decrypt, responses((status = 200, body = Object), (status = 400, body = crate::problem::Problem)))]
pub async fn decrypt(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<Decrypt>,
) -> Result<Json<Value>, ApiError> {
    let c = caller(&p, &client);
    let blob = unb64("ciphertext", &body.ciphertext)?;
    let ctx = context(body.context)?;
    let (id, plain) =
        state.kms.decrypt(&c, &blob, &ctx, None, EncryptionAlgorithm::SymmetricDefault).await.map_err(problem)?;
    Ok(Json(json!({ "key_id": id.to_string(), "plaintext": b64(&plain) })))
}

/// The key's policy document.
#[utoipa::path(get, path = "/api/v1/kms/keys/{key}/policy", tag = "kms", security(("bearer" = [])),
    params(("key" = String, Path)), responses((status = 200, body = Object)))]
pub async fn get_policy(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let text = state.kms.get_key_policy(&caller(&p, &client), &key_ref(&key)?).await.map_err(problem)?;
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Json(doc))
}

/// Replaces the key's policy (an AWS key-policy document). A policy that
/// would lock the caller out of changing it again is refused unless
/// `?bypass_lockout_check=true`.
#[utoipa::path(put, path = "/api/v1/kms/keys/{key}/policy", tag = "kms", security(("bearer" = [])),
    params(("key" = String, Path)), request_body = Object,
    responses((status = 204), (status = 400, body = crate::problem::Problem)))]
pub async fn put_policy(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(key): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
    ApiJson(doc): ApiJson<Value>,
) -> Result<StatusCode, ApiError> {
    let bypass = q.get("bypass_lockout_check").is_some_and(|v| v == "true");
    let text = doc.to_string();
    state.kms.put_key_policy(&caller(&p, &client), &key_ref(&key)?, &text, bypass).await.map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AliasView {
    pub alias: String,
    pub key_id: String,
}

/// The tenant's aliases.
#[utoipa::path(get, path = "/api/v1/kms/aliases", tag = "kms", security(("bearer" = [])),
    responses((status = 200, body = Vec<AliasView>)))]
pub async fn aliases(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
) -> Result<Json<Vec<AliasView>>, ApiError> {
    let list = state.kms.list_aliases(&caller(&p, &client), None).await.map_err(problem)?;
    Ok(Json(list.into_iter().map(|(a, k)| AliasView { alias: a.as_str().into(), key_id: k.to_string() }).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutAlias {
    /// The key the alias names (id, alias or ARN).
    pub key: String,
}

/// Creates the alias `alias/{name}`, or points it at another key.
#[utoipa::path(put, path = "/api/v1/kms/aliases/{name}", tag = "kms", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = PutAlias, responses((status = 204)))]
pub async fn put_alias(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PutAlias>,
) -> Result<StatusCode, ApiError> {
    let c = caller(&p, &client);
    let alias = AliasName::parse(&format!("alias/{name}"))
        .map_err(|e| ApiError::bad_request("kms-invalid-alias", e.to_string()))?;
    let target = key_ref(&body.key)?;
    match state.kms.create_alias(&c, &alias, &target).await {
        Ok(()) => {}
        Err(KmsError::AlreadyExists(_)) => state.kms.update_alias(&c, &alias, &target).await.map_err(problem)?,
        Err(e) => return Err(problem(e)),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the alias `alias/{name}` (the key stays).
#[utoipa::path(delete, path = "/api/v1/kms/aliases/{name}", tag = "kms", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn delete_alias(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let alias = AliasName::parse(&format!("alias/{name}"))
        .map_err(|e| ApiError::bad_request("kms-invalid-alias", e.to_string()))?;
    state.kms.delete_alias(&caller(&p, &client), &alias).await.map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}
