//! The route table and the deny-by-default gate in front of every handler.
//!
//! Every route is added through [`Routes::add`], which requires an [`Access`]
//! level; [`authorize`] runs before each handler, looks the matched route up
//! in that table, and refuses the request unless the caller meets it. A route
//! missing from the table is refused for everybody, so forgetting to declare
//! a permission closes the route instead of opening it. The route × role
//! matrix test walks [`Routes::specs`] and checks every entry against the
//! generated OpenAPI document, so an undeclared route also fails the build.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use http::{Method, header};
use rampart_core::Permission;

use crate::problem::ApiError;
use crate::server::AppState;

/// What a caller needs to reach a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token (health, metrics, login, public documents).
    Public,
    /// Any fully logged-in caller.
    Authenticated,
    /// Any caller with a valid token, including one that may only enrol
    /// its second factor.
    Enrollment,
    /// A caller whose effective permissions include this one.
    Permission(Permission),
    /// A request signed with an access key (AWS SigV4 or Tencent TC3): the
    /// handler verifies the signature and then checks the permission each
    /// operation needs. No bearer token is involved.
    Signed,
    /// A log source's ingest token (`rampart source token`), checked by
    /// the handler; a user's token is not one.
    SourceToken,
}

/// One declared route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    /// The axum path pattern, e.g. `/api/v1/users/{id}`.
    pub path: &'static str,
    pub access: Access,
}

/// A router under construction together with its permission table.
pub struct Routes {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes").field("specs", &self.specs).finish_non_exhaustive()
    }
}

impl Default for Routes {
    fn default() -> Self {
        Routes { router: Router::new(), specs: Vec::new() }
    }
}

impl Routes {
    /// Adds `handler` for `method` on `path`, reachable with `access`.
    pub fn add(mut self, method: Method, path: &'static str, access: Access, handler: MethodRouter<AppState>) -> Self {
        self.specs.push(RouteSpec { method, path, access });
        self.router = self.router.route(path, handler);
        self
    }

    /// Adds a route *without* declaring its access, which the gate then
    /// refuses to everybody. Exists only so a test can prove that; the
    /// `danger_` prefix makes any other use stand out in review.
    #[doc(hidden)]
    pub fn danger_unlisted_route(mut self, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, handler);
        self
    }

    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }

    /// The finished router with the authorisation gate on every route.
    pub fn into_router(self, state: AppState) -> (Router, Vec<RouteSpec>) {
        let table: Table =
            Arc::new(self.specs.iter().map(|s| ((s.method.clone(), s.path.to_owned()), s.access)).collect());
        let router = self
            .router
            .route_layer(axum::middleware::from_fn_with_state((state.clone(), table), authorize))
            // Outside the gate, so refusals are counted too.
            .route_layer(axum::middleware::from_fn(crate::metrics::track))
            .with_state(state);
        (router, self.specs)
    }
}

type Table = Arc<HashMap<(Method, String), Access>>;

/// The gate: authenticates the bearer token when the route needs one and
/// checks the route's declared access. Puts the [`rampart_core::Principal`]
/// into the request's extensions for the handler.
pub async fn authorize(State((state, table)): State<(AppState, Table)>, mut req: Request, next: Next) -> Response {
    let Some(path) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        return ApiError::forbidden("route is not declared").into_response();
    };
    let method = if req.method() == Method::HEAD { Method::GET } else { req.method().clone() };
    let Some(&access) = table.get(&(method.clone(), path.clone())) else {
        if table.keys().any(|(_, p)| *p == path) {
            return ApiError::new(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                format!("{path} does not accept {method}"),
            )
            .into_response();
        }
        tracing::error!(%method, %path, "request to a route without a declared permission refused");
        return ApiError::forbidden("route has no declared permission").into_response();
    };
    if matches!(access, Access::Public | Access::Signed | Access::SourceToken) {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(bearer) = bearer else {
        return ApiError::unauthenticated().into_response();
    };
    let principal = match state.auth.authenticate(bearer).await {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let allowed = match access {
        Access::Public | Access::Signed | Access::SourceToken | Access::Enrollment => true,
        Access::Authenticated => !principal.enrollment_only,
        Access::Permission(p) => principal.can(p),
    };
    if !allowed {
        let why = if principal.enrollment_only {
            "enrol a second factor first (POST /api/v1/auth/totp/enroll)".to_owned()
        } else {
            match access {
                Access::Permission(p) => format!("this needs the {p} permission"),
                _ => "not allowed".to_owned(),
            }
        };
        return ApiError::forbidden(why).into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}
