//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! annotated with each operation's declared access (`x-rampart-access`) from
//! the route table, so the document says what each call needs.

use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::routes::{Access, RouteSpec};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Rampart API", description = "Self-hosted cloud security platform."),
    paths(
        api::system::healthz, api::system::readyz, api::system::metrics, api::system::openapi, api::system::info,
        api::auth::login, api::auth::logout, api::auth::whoami, api::auth::totp_enroll, api::auth::totp_confirm,
        api::auth::roles,
        api::users::list, api::users::create, api::users::show, api::users::disable, api::users::reset_totp,
        api::groups::list, api::groups::create, api::groups::show, api::groups::delete, api::groups::add_member,
        api::groups::remove_member,
        api::tenants::list, api::tenants::create, api::tenants::show,
        api::tokens::list, api::tokens::create, api::tokens::revoke,
        api::access_keys::list, api::access_keys::create, api::access_keys::revoke,
        api::audit::list, api::logs::search, api::logs::tail,
        api::sources::list, api::sources::create, api::sources::show, api::sources::update, api::sources::delete,
        api::tickets::list, api::tickets::show, api::tickets::ack, api::tickets::assign, api::tickets::status,
        api::tickets::resolve, api::tickets::comment, api::tickets::notifications, api::tickets::redrive,
        api::sources::token, api::ingest::ingest,
        api::sources::issue_cert, api::sources::list_certs, api::sources::revoke_cert, api::logs::export,
        api::bastion::list_keys, api::bastion::add_key, api::bastion::remove_key,
        api::bastion::list_targets, api::bastion::create_target, api::bastion::update_target,
        api::bastion::delete_target,
        api::bastion::list_grants, api::bastion::create_grant, api::bastion::delete_grant,
        api::ssh_certs::ssh_ca, api::ssh_certs::issue, api::ssh_certs::list, api::ssh_certs::revoke,
        api::bastion::list_reviews, api::bastion::approve_review, api::bastion::deny_review,
        api::bastion::list_sessions, api::bastion::show_session, api::bastion::session_recording, api::bastion::session_live,
        api::bastion::terminate_session,
        api::access::create_request, api::access::list_requests, api::access::show_request,
        api::access::approve_request, api::access::deny_request, api::access::revoke_request,
        api::access::create_lockbox_request, api::access::list_lockbox_requests, api::access::show_lockbox_request,
        api::access::approve_lockbox_request, api::access::deny_lockbox_request,
        api::access::revoke_lockbox_request, api::access::list_accesses, api::access::list_labels,
        api::access::mark_label, api::access::unmark_label,
        api::ledger::checkpoint, api::ledger::key, api::ledger::tile, api::ledger::inclusion,
        api::ledger::consistency, api::kms::entry,
        api::kms_native::list, api::kms_native::create, api::kms_native::show, api::kms_native::action,
        api::kms_native::crypto, api::kms_native::get_policy, api::kms_native::put_policy, api::kms_native::decrypt,
        api::kms_native::aliases, api::kms_native::put_alias, api::kms_native::delete_alias,
        api::operator::seal_status, api::operator::unseal, api::operator::seal,
        api::detect::rules, api::detect::status, api::detect::reload,
    ),
    components(schemas(crate::problem::Problem)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

fn access_name(a: Access) -> String {
    match a {
        Access::Public => "public".into(),
        Access::Authenticated => "authenticated".into(),
        Access::Enrollment => "any-token".into(),
        Access::Permission(p) => format!("permission:{p}"),
        Access::Signed => "signature:sigv4-or-tc3".into(),
        Access::SourceToken => "source-ingest-token".into(),
    }
}

/// The document as JSON, with `x-rampart-access` on every operation found
/// in the route table.
pub fn document(specs: &[RouteSpec]) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    for spec in specs {
        let method = spec.method.as_str().to_ascii_lowercase();
        if let Some(op) = doc.get_mut("paths").and_then(|p| p.get_mut(spec.path)).and_then(|p| p.get_mut(&method)) {
            op["x-rampart-access"] = json!(access_name(spec.access));
        }
    }
    doc
}

/// Every `(METHOD, path)` operation the document describes.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for method in item.keys() {
                    if matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete" | "head") {
                        out.push((method.to_ascii_uppercase(), path.clone()));
                    }
                }
            }
        }
    }
    out.sort();
    out
}
