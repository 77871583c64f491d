//! Detection: `/api/v1/detect/rules` (the loaded rules with their pack and
//! level, and every rejected document with its reason), `/status` (cursor,
//! lag, correlation state, evictions) and `/reload` (recompile the packs
//! and swap them in, keeping the correlation state of the rules that
//! remain; a tree that newly rejects a rule is refused and changes
//! nothing). The SigmaHQ licence credit is part of the rules listing.

use axum::extract::State;
use axum::{Extension, Json};
use http::StatusCode;
use rampart_core::Principal;
use serde::Serialize;

use crate::detect::packs::DRL_CREDIT;
use crate::detect::{ReloadError, Reloaded, Status};
use crate::extract::ClientAddr;
use crate::problem::ApiError;
use crate::server::AppState;

/// Most rejection reasons quoted in a refused reload's problem detail.
const MAX_QUOTED: usize = 20;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleInfo {
    /// The rule's `id` (or `name`, or title when it has neither).
    pub id: String,
    pub title: String,
    /// `rampart-redline`, `sigmahq` or `custom`.
    pub pack: String,
    /// The Sigma level.
    pub level: Option<String>,
    /// `detection` or `correlation`.
    #[serde(rename = "type")]
    pub rule_type: String,
    /// Logsource product, service and category (detections).
    pub logsource: Option<String>,
    /// Whether a match raises an alert on its own (detections that only
    /// feed correlations do not).
    pub generate: bool,
    pub path: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RejectedInfo {
    pub path: String,
    /// The YAML document inside the file, from 0.
    pub document: usize,
    pub rule_id: Option<String>,
    pub title: Option<String>,
    pub reason: String,
    /// A short category of the reason.
    pub category: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulesInfo {
    pub rules: Vec<RuleInfo>,
    pub rejected: Vec<RejectedInfo>,
    /// The Detection Rule License credit, when SigmaHQ rules are loaded.
    pub license: Option<String>,
}

fn level(l: Option<rampart_detect::Level>) -> Option<String> {
    l.map(|l| crate::detect::detector::severity(Some(l)).as_str().to_owned())
}

fn logsource(ls: &rampart_detect::LogSource) -> String {
    [("product", &ls.product), ("service", &ls.service), ("category", &ls.category)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Loaded detection and correlation rules, and rejected documents with reasons.
#[utoipa::path(get, path = "/api/v1/detect/rules", tag = "detect", security(("bearer" = [])),
    responses((status = 200, body = RulesInfo)))]
pub async fn rules(State(state): State<AppState>, Extension(_p): Extension<Principal>) -> Json<RulesInfo> {
    let catalog = state.detect.catalog();
    let set = &catalog.rules;
    let mut rules: Vec<RuleInfo> = set
        .rules()
        .enumerate()
        .map(|(i, m)| RuleInfo {
            id: m.id.clone().or_else(|| m.name.clone()).unwrap_or_else(|| m.title.clone()),
            title: m.title.clone(),
            pack: catalog.rule_packs.get(i).copied().unwrap_or_default().to_owned(),
            level: level(m.level),
            rule_type: "detection".into(),
            logsource: Some(logsource(&m.logsource)),
            generate: set.generates(i),
            path: set.rule_path(i).map(|p| p.display().to_string()).unwrap_or_default(),
        })
        .collect();
    rules.extend(set.correlations().iter().enumerate().map(|(i, c)| RuleInfo {
        id: c.meta.id.clone().or_else(|| c.meta.name.clone()).unwrap_or_else(|| c.meta.title.clone()),
        title: c.meta.title.clone(),
        pack: catalog.correlation_packs.get(i).copied().unwrap_or_default().to_owned(),
        level: level(c.meta.level),
        rule_type: "correlation".into(),
        logsource: None,
        generate: true,
        path: c.path.display().to_string(),
    }));
    let rejected = catalog.rejected.iter().map(rejected_info).collect();
    Json(RulesInfo { rules, rejected, license: catalog.has_sigmahq().then(|| DRL_CREDIT.to_owned()) })
}

fn rejected_info(r: &rampart_detect::Rejected) -> RejectedInfo {
    RejectedInfo {
        path: r.path.display().to_string(),
        document: r.document,
        rule_id: r.rule_id.clone(),
        title: r.title.clone(),
        reason: r.reason.to_string(),
        category: r.reason.category(),
    }
}

/// The detection stage: ledger cursor and lag, correlation state sizes,
/// evictions and late inputs, limits.
#[utoipa::path(get, path = "/api/v1/detect/status", tag = "detect", security(("bearer" = [])),
    responses((status = 200, body = Status)))]
pub async fn status(State(state): State<AppState>, Extension(_p): Extension<Principal>) -> Json<Status> {
    Json(state.detect.status())
}

/// Recompiles the configured rule packs and swaps them in without losing
/// the correlation state of rules that remain. Refused (422, nothing
/// changes) when a document the current rules load would be rejected.
#[utoipa::path(post, path = "/api/v1/detect/reload", tag = "detect", security(("bearer" = [])),
    responses((status = 200, body = Reloaded), (status = 422, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem), (status = 503, body = crate::problem::Problem)))]
pub async fn reload(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
) -> Result<Json<Reloaded>, ApiError> {
    match state.detect.reload(&p.username, client.text()).await {
        Ok(r) => Ok(Json(r)),
        Err(ReloadError::Broken(rejected)) => {
            let mut lines: Vec<String> = rejected.iter().take(MAX_QUOTED).map(ToString::to_string).collect();
            if rejected.len() > MAX_QUOTED {
                lines.push(format!("… and {} more", rejected.len() - MAX_QUOTED));
            }
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rules-rejected",
                "Rules rejected",
                format!(
                    "the rule tree rejects {} document(s) the loaded rules do not; nothing was changed: {}",
                    rejected.len(),
                    lines.join("; ")
                ),
            ))
        }
        Err(ReloadError::Disabled) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "detection-disabled",
            "Detection disabled",
            "detect.enabled is off on this node",
        )),
        Err(ReloadError::Audit(e)) => {
            tracing::error!(error = %e, "rule reload refused: audit record not durable");
            Err(ApiError::unavailable("the audit trail did not confirm the record; the rules were not reloaded"))
        }
    }
}
