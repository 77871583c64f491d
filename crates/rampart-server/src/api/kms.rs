//! The KMS protocol entry point at `POST /`: AWS KMS JSON 1.1
//! (`X-Amz-Target: TrentService.*`, signed with SigV4) and Tencent Cloud KMS
//! API 3.0 (`X-TC-Action`, signed with TC3-HMAC-SHA256). The request's
//! signature is verified with the caller's access key before anything else;
//! the key's owner becomes the caller, confined to their tenant. Whether
//! they may perform an operation is the KMS's decision: the key's policy,
//! which by default delegates to the role's `kms_use` and `kms_manage`.
//!
//! Replays: as with AWS, a signature is good for five minutes either side of
//! its time and no longer, so a captured request replays only within that
//! window. Refusing a second use of the same signature would also refuse
//! legitimate clients, which send byte-identical requests within one second
//! (decrypting the same blob twice), so it is not done.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use rampart_auth::signing::{SignedRequest, sigv4, tc3};
use rampart_core::{Permission, Role};
use rampart_kms::aws::{ArnScope, Reply, error};
use rampart_kms::lifecycle::Api;
use rampart_kms::service::Caller;
use rampart_kms::spec::account_id;
use secrecy::SecretString;

use crate::extract::ClientAddr;
use crate::server::AppState;

const AWS_JSON: &str = "application/x-amz-json-1.1";

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, serde_json::to_vec(&reply.body).unwrap_or_default()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(AWS_JSON));
    resp
}

/// The KMS caller for an access key's owner: confined to their tenant, with
/// their role's `kms_use` and `kms_manage`; each key's policy then decides
/// per operation (in `rampart-kms`), so no operation list is kept here.
fn kms_caller(user: &rampart_store::UserRow, client: ClientAddr, api: Api) -> Caller {
    Caller {
        tenant: user.tenant_id.clone(),
        actor: user.username.clone(),
        source: client.text(),
        api,
        may_use: Role::has(user.role, Permission::KmsUse),
        may_manage: Role::has(user.role, Permission::KmsManage),
    }
}

/// A Tencent Cloud API 3.0 answer: always HTTP 200, errors inside the body.
fn tc_respond(body: serde_json::Value) -> Response {
    let mut resp = (StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn tc_error(code: &str, message: &str, request_id: &str) -> Response {
    tc_respond(
        serde_json::json!({ "Response": { "Error": { "Code": code, "Message": message }, "RequestId": request_id } }),
    )
}

/// The Tencent Cloud KMS API 3.0 (`X-TC-Action`, signed with TC3-HMAC-SHA256).
async fn tencent(
    state: &AppState,
    client: ClientAddr,
    request: &SignedRequest<'_>,
    action: &str,
    body: &[u8],
    request_id: &str,
) -> Response {
    let claimed = tc3::claimed_secret_id(request).map(str::to_owned);
    let owner = match &claimed {
        Some(id) => state.auth.access_key_secret(id).await.ok(),
        None => None,
    };
    let secret_for = |id: &str| -> Option<SecretString> {
        owner.as_ref().filter(|_| claimed.as_deref() == Some(id)).map(|(_, s)| s.clone())
    };
    let now = rampart_core::time::now_ms() / 1000;
    if let Err(e) = tc3::verify(request, "kms", &secret_for, now) {
        return tc_error(e.tc_code(), &e.to_string(), request_id);
    }
    let Some((user, _)) = owner else {
        return tc_error("AuthFailure.SecretIdNotFound", "the SecretId is not known", request_id);
    };
    let caller = kms_caller(&user, client, Api::Tencent);
    tc_respond(rampart_kms::tencent::handle(&state.kms, &caller, action, body, request_id).await)
}

/// AWS KMS and Tencent Cloud KMS requests.
#[utoipa::path(post, path = "/", tag = "kms",
    description = "AWS KMS JSON 1.1 protocol (X-Amz-Target: TrentService.<Operation>, SigV4) and Tencent \
                   Cloud KMS API 3.0 (X-TC-Action, TC3-HMAC-SHA256), signed with an access key from \
                   POST /api/v1/access-keys.",
    request_body(content = String, content_type = "application/x-amz-json-1.1"),
    responses((status = 200, content_type = "application/x-amz-json-1.1"),
        (status = 400, description = "an AWS error with __type", content_type = "application/x-amz-json-1.1")))]
pub async fn entry(
    State(state): State<AppState>,
    client: ClientAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut pairs: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned()))).collect();
    // HTTP/2 carries the host as the :authority pseudo-header, which SigV4
    // clients sign as `host`.
    if !headers.contains_key(header::HOST)
        && let Some(authority) = uri.authority()
    {
        pairs.push(("host".to_owned(), authority.as_str().to_owned()));
    }
    let request = SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &pairs,
        body: &body,
    };
    if let Some(action) = headers.get("x-tc-action").and_then(|v| v.to_str().ok()) {
        let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        return tencent(&state, client, &request, action, &body, &request_id).await;
    }
    let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) else {
        return respond(error(400, "UnknownOperationException", "missing X-Amz-Target (TrentService.<Operation>)"));
    };
    let Some(operation) = target.strip_prefix("TrentService.") else {
        return respond(error(400, "UnknownOperationException", "X-Amz-Target must be TrentService.<Operation>"));
    };
    // Look the claimed key up first (asynchronously), then verify with it.
    let claimed = sigv4::claimed_access_key_id(&request).map(str::to_owned);
    let owner = match &claimed {
        Some(id) => state.auth.access_key_secret(id).await.ok(),
        None => None,
    };
    let secret_for = |id: &str| -> Option<SecretString> {
        owner.as_ref().filter(|_| claimed.as_deref() == Some(id)).map(|(_, s)| s.clone())
    };
    let region = state.config.kms.region.clone();
    let now = rampart_core::time::now_ms() / 1000;
    if let Err(e) = sigv4::verify(&request, &region, "kms", &secret_for, now) {
        return respond(error(400, e.aws_type(), &e.to_string()));
    }
    let Some((user, _)) = owner else {
        return respond(error(
            400,
            "UnrecognizedClientException",
            "the security token included in the request is invalid",
        ));
    };
    let caller = kms_caller(&user, client, Api::Aws);
    let scope = ArnScope { region, account: account_id(user.tenant_id.as_ref()) };
    respond(rampart_kms::aws::handle(&state.kms, &caller, &scope, operation, &body).await)
}
