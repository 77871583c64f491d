//! The HTTP API under `/api/v1`, plus the contract endpoints at the root
//! (`/healthz`, `/readyz`, `/metrics`). [`routes`] is the one place where
//! routes are declared, each with the access it needs.

pub mod access;
pub mod access_keys;
pub mod audit;
pub mod auth;
pub mod bastion;
pub mod detect;
pub mod groups;
pub mod ingest;
pub mod kms;
pub mod kms_native;
pub mod ledger;
pub mod logs;
pub mod operator;
pub mod sources;
pub mod ssh_certs;
pub mod system;
pub mod tenants;
pub mod tickets;
pub mod tokens;
pub mod users;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use http::Method;
use rampart_core::Permission::*;
use serde::Serialize;

use crate::routes::{Access, Routes};

/// A page of a listing and the cursor for the next one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<String>,
}

impl<T> From<rampart_store::Page<T>> for Listing<T> {
    fn from(p: rampart_store::Page<T>) -> Self {
        Listing { items: p.items, next: p.next }
    }
}

/// Every route of the API with the access it needs. Nothing else adds routes.
pub fn routes() -> Routes {
    use Access::*;
    use Method as M;
    Routes::default()
        .add(M::GET, "/healthz", Public, get(system::healthz))
        .add(M::GET, "/readyz", Public, get(system::readyz))
        .add(M::GET, "/metrics", Public, get(system::metrics))
        .add(M::GET, "/api/v1/openapi.json", Public, get(system::openapi))
        .add(M::GET, "/api/v1/system", Permission(SystemRead), get(system::info))
        .add(M::POST, "/api/v1/auth/login", Public, post(auth::login))
        .add(M::POST, "/api/v1/auth/logout", Enrollment, post(auth::logout))
        .add(M::GET, "/api/v1/auth/whoami", Enrollment, get(auth::whoami))
        .add(M::POST, "/api/v1/auth/totp/enroll", Enrollment, post(auth::totp_enroll))
        .add(M::POST, "/api/v1/auth/totp/confirm", Enrollment, post(auth::totp_confirm))
        .add(M::GET, "/api/v1/roles", Authenticated, get(auth::roles))
        .add(M::GET, "/api/v1/users", Permission(UserRead), get(users::list))
        .add(M::POST, "/api/v1/users", Permission(UserWrite), post(users::create))
        .add(M::GET, "/api/v1/users/{id}", Permission(UserRead), get(users::show))
        .add(M::POST, "/api/v1/users/{id}/disable", Permission(UserWrite), post(users::disable))
        .add(M::POST, "/api/v1/users/{id}/reset-totp", Permission(UserWrite), post(users::reset_totp))
        .add(M::GET, "/api/v1/groups", Permission(UserRead), get(groups::list))
        .add(M::POST, "/api/v1/groups", Permission(UserWrite), post(groups::create))
        .add(M::GET, "/api/v1/groups/{name}", Permission(UserRead), get(groups::show))
        .add(M::DELETE, "/api/v1/groups/{name}", Permission(UserWrite), delete(groups::delete))
        .add(M::PUT, "/api/v1/groups/{name}/members/{username}", Permission(UserWrite), put(groups::add_member))
        .add(
            M::DELETE,
            "/api/v1/groups/{name}/members/{username}",
            Permission(UserWrite),
            delete(groups::remove_member),
        )
        .add(M::GET, "/api/v1/tenants", Permission(TenantRead), get(tenants::list))
        .add(M::POST, "/api/v1/tenants", Permission(TenantWrite), post(tenants::create))
        .add(M::GET, "/api/v1/tenants/{id}", Permission(TenantRead), get(tenants::show))
        .add(M::GET, "/api/v1/tokens", Permission(TokenSelf), get(tokens::list))
        .add(M::POST, "/api/v1/tokens", Permission(TokenSelf), post(tokens::create))
        .add(M::DELETE, "/api/v1/tokens/{id}", Permission(TokenSelf), delete(tokens::revoke))
        .add(M::GET, "/api/v1/access-keys", Permission(AccessKeySelf), get(access_keys::list))
        .add(M::POST, "/api/v1/access-keys", Permission(AccessKeySelf), post(access_keys::create))
        .add(M::DELETE, "/api/v1/access-keys/{id}", Permission(AccessKeySelf), delete(access_keys::revoke))
        .add(M::GET, "/api/v1/audit/events", Permission(AuditRead), get(audit::list))
        .add(M::GET, "/api/v1/logs/search", Permission(AuditRead), get(logs::search))
        .add(M::GET, "/api/v1/logs/tail", Permission(AuditRead), get(logs::tail))
        .add(M::GET, "/api/v1/sources", Permission(SourceRead), get(sources::list))
        .add(M::POST, "/api/v1/sources", Permission(SourceWrite), post(sources::create))
        .add(M::GET, "/api/v1/sources/{id}", Permission(SourceRead), get(sources::show))
        .add(M::PATCH, "/api/v1/sources/{id}", Permission(SourceWrite), patch(sources::update))
        .add(M::DELETE, "/api/v1/sources/{id}", Permission(SourceWrite), delete(sources::delete))
        .add(M::GET, "/api/v1/tickets", Permission(TicketRead), get(tickets::list))
        .add(M::GET, "/api/v1/tickets/{id}", Permission(TicketRead), get(tickets::show))
        .add(M::POST, "/api/v1/tickets/{id}/ack", Permission(TicketWrite), post(tickets::ack))
        .add(M::POST, "/api/v1/tickets/{id}/assign", Permission(TicketWrite), post(tickets::assign))
        .add(M::POST, "/api/v1/tickets/{id}/status", Permission(TicketWrite), post(tickets::status))
        .add(M::POST, "/api/v1/tickets/{id}/resolve", Permission(TicketWrite), post(tickets::resolve))
        .add(M::POST, "/api/v1/tickets/{id}/comments", Permission(TicketWrite), post(tickets::comment))
        .add(M::GET, "/api/v1/notifications", Permission(NotifyManage), get(tickets::notifications))
        .add(M::POST, "/api/v1/notifications/{id}/redrive", Permission(NotifyManage), post(tickets::redrive))
        .add(M::POST, "/api/v1/sources/{id}/token", Permission(SourceWrite), post(sources::token))
        .add(M::GET, "/api/v1/sources/{id}/certs", Permission(SourceRead), get(sources::list_certs))
        .add(M::POST, "/api/v1/sources/{id}/certs", Permission(SourceWrite), post(sources::issue_cert))
        .add(M::POST, "/api/v1/sources/{id}/certs/{serial}/revoke", Permission(SourceWrite), post(sources::revoke_cert))
        .add(M::GET, "/api/v1/logs/export", Permission(AuditRead), get(logs::export))
        .add(M::POST, "/api/v1/ingest", SourceToken, post(ingest::ingest))
        // Detection (issue 6).
        .add(M::GET, "/api/v1/detect/rules", Permission(DetectRead), get(detect::rules))
        .add(M::GET, "/api/v1/detect/status", Permission(DetectRead), get(detect::status))
        .add(M::POST, "/api/v1/detect/reload", Permission(DetectWrite), post(detect::reload))
        .add(M::GET, "/api/v1/ssh-keys", Permission(SshKeySelf), get(bastion::list_keys))
        .add(M::POST, "/api/v1/ssh-keys", Permission(SshKeySelf), post(bastion::add_key))
        .add(M::DELETE, "/api/v1/ssh-keys/{id}", Permission(SshKeySelf), delete(bastion::remove_key))
        .add(M::GET, "/api/v1/bastion/targets", Permission(BastionManage), get(bastion::list_targets))
        .add(M::POST, "/api/v1/bastion/targets", Permission(BastionManage), post(bastion::create_target))
        .add(M::PATCH, "/api/v1/bastion/targets/{name}", Permission(BastionManage), patch(bastion::update_target))
        .add(M::DELETE, "/api/v1/bastion/targets/{name}", Permission(BastionManage), delete(bastion::delete_target))
        .add(M::GET, "/api/v1/bastion/grants", Permission(BastionManage), get(bastion::list_grants))
        .add(M::POST, "/api/v1/bastion/grants", Permission(BastionManage), post(bastion::create_grant))
        .add(M::DELETE, "/api/v1/bastion/grants/{id}", Permission(BastionManage), delete(bastion::delete_grant))
        // The SSH user CA: anyone signed in may read its public key; users
        // of the bastion ask for certificates; administrators list and revoke.
        .add(M::GET, "/api/v1/bastion/ssh-ca", Authenticated, get(ssh_certs::ssh_ca))
        .add(M::POST, "/api/v1/bastion/ssh-certs", Permission(SshKeySelf), post(ssh_certs::issue))
        .add(M::GET, "/api/v1/bastion/ssh-certs", Permission(BastionManage), get(ssh_certs::list))
        .add(M::POST, "/api/v1/bastion/ssh-certs/{serial}/revoke", Permission(BastionManage), post(ssh_certs::revoke))
        .add(M::GET, "/api/v1/bastion/reviews", Permission(BastionReview), get(bastion::list_reviews))
        .add(M::POST, "/api/v1/bastion/reviews/{id}/approve", Permission(BastionReview), post(bastion::approve_review))
        .add(M::POST, "/api/v1/bastion/reviews/{id}/deny", Permission(BastionReview), post(bastion::deny_review))
        // Just-in-time access (issue 7): bastion users ask, approvers decide.
        .add(M::POST, "/api/v1/bastion/requests", Permission(SshKeySelf), post(access::create_request))
        .add(M::GET, "/api/v1/bastion/requests", Permission(SshKeySelf), get(access::list_requests))
        .add(M::GET, "/api/v1/bastion/requests/{id}", Permission(SshKeySelf), get(access::show_request))
        .add(
            M::POST,
            "/api/v1/bastion/requests/{id}/approve",
            Permission(BastionApprove),
            post(access::approve_request),
        )
        .add(M::POST, "/api/v1/bastion/requests/{id}/deny", Permission(BastionApprove), post(access::deny_request))
        .add(M::POST, "/api/v1/bastion/requests/{id}/revoke", Permission(SshKeySelf), post(access::revoke_request))
        // The customer lockbox: the tenant's customer admin decides and
        // sees every access; who else sees a request is the service's rule.
        .add(M::POST, "/api/v1/lockbox/requests", Permission(SshKeySelf), post(access::create_lockbox_request))
        .add(M::GET, "/api/v1/lockbox/requests", Authenticated, get(access::list_lockbox_requests))
        .add(M::GET, "/api/v1/lockbox/requests/{id}", Authenticated, get(access::show_lockbox_request))
        .add(
            M::POST,
            "/api/v1/lockbox/requests/{id}/approve",
            Permission(LockboxApprove),
            post(access::approve_lockbox_request),
        )
        .add(
            M::POST,
            "/api/v1/lockbox/requests/{id}/deny",
            Permission(LockboxApprove),
            post(access::deny_lockbox_request),
        )
        .add(M::POST, "/api/v1/lockbox/requests/{id}/revoke", Authenticated, post(access::revoke_lockbox_request))
        .add(M::GET, "/api/v1/lockbox/accesses", Permission(LockboxApprove), get(access::list_accesses))
        .add(M::GET, "/api/v1/lockbox/labels", Permission(BastionManage), get(access::list_labels))
        .add(M::PUT, "/api/v1/lockbox/labels/{label}", Permission(BastionManage), put(access::mark_label))
        .add(M::DELETE, "/api/v1/lockbox/labels/{label}", Permission(BastionManage), delete(access::unmark_label))
        .add(M::GET, "/api/v1/bastion/sessions", Permission(AuditRead), get(bastion::list_sessions))
        .add(M::GET, "/api/v1/bastion/sessions/{id}", Permission(AuditRead), get(bastion::show_session))
        .add(M::GET, "/api/v1/bastion/sessions/{id}/recording", Permission(AuditRead), get(bastion::session_recording))
        .add(M::GET, "/api/v1/bastion/sessions/{id}/live", Permission(BastionReview), get(bastion::session_live))
        .add(
            M::POST,
            "/api/v1/bastion/sessions/{id}/terminate",
            Permission(BastionManage),
            post(bastion::terminate_session),
        )
        .add(M::POST, "/", Signed, post(kms::entry))
        .add(M::GET, "/api/v1/kms/keys", Authenticated, get(kms_native::list))
        .add(M::POST, "/api/v1/kms/keys", Authenticated, post(kms_native::create))
        .add(M::GET, "/api/v1/kms/keys/{key}", Authenticated, get(kms_native::show))
        .add(M::POST, "/api/v1/kms/keys/{key}/{action}", Authenticated, post(kms_native::action))
        .add(M::POST, "/api/v1/kms/keys/{key}/crypto/{operation}", Authenticated, post(kms_native::crypto))
        .add(M::GET, "/api/v1/kms/keys/{key}/policy", Authenticated, get(kms_native::get_policy))
        .add(M::PUT, "/api/v1/kms/keys/{key}/policy", Authenticated, put(kms_native::put_policy))
        .add(M::POST, "/api/v1/kms/decrypt", Authenticated, post(kms_native::decrypt))
        .add(M::GET, "/api/v1/kms/aliases", Authenticated, get(kms_native::aliases))
        .add(M::PUT, "/api/v1/kms/aliases/{name}", Authenticated, put(kms_native::put_alias))
        .add(M::DELETE, "/api/v1/kms/aliases/{name}", Authenticated, delete(kms_native::delete_alias))
        .add(M::GET, "/api/v1/operator/seal-status", Public, get(operator::seal_status))
        // Unauthenticated like Vault's: the share is the credential (and rate-limited).
        .add(
            M::POST,
            "/api/v1/operator/unseal",
            Public,
            post(operator::unseal).layer(DefaultBodyLimit::max(operator::UNSEAL_BODY_LIMIT)),
        )
        .add(M::POST, "/api/v1/operator/seal", Permission(SystemWrite), post(operator::seal))
        .add(M::GET, "/ledger/checkpoint", Public, get(ledger::checkpoint))
        .add(M::GET, "/ledger/key", Public, get(ledger::key))
        .add(M::GET, "/ledger/tile/{*path}", Public, get(ledger::tile))
        .add(M::GET, "/api/v1/ledger/proof/inclusion", Public, get(ledger::inclusion))
        .add(M::GET, "/api/v1/ledger/proof/consistency", Public, get(ledger::consistency))
}
