//! Per-key policies in the AWS key-policy language, and their evaluation.
//! Pure code: a policy document in, a decision out.
//!
//! A key without a policy has the default one, which allows the tenant's
//! account root `kms:*` — exactly AWS's default key policy, which hands the
//! decision to identity permissions; here those are the caller's role
//! permissions (`kms_use` for cryptographic and read operations, `kms_manage`
//! for the rest). A policy can then name single users (`arn:aws:iam::ACCOUNT:
//! user/NAME`) to allow or deny actions on one key, so one tenant can let an
//! application user encrypt with a key that only its administrators manage.
//!
//! Evaluation follows AWS: an explicit `Deny` that matches wins; otherwise a
//! matching `Allow` for the user (or `*`) allows; otherwise an `Allow` for
//! the account root delegates to the role; otherwise the request is denied.
//! Supported elements: `Version`, `Id`, `Statement` (one or a list) with
//! `Sid`, `Effect`, `Principal` (`"*"`, `{"AWS": ARN | [ARN…]}`), `Action`
//! (`kms:Name`, with `*` and `?` wildcards), `Resource` (must be `*`, as in
//! every key policy). `NotAction`, `NotPrincipal`, `NotResource` and
//! `Condition` are refused with a clear error rather than half-applied:
//! a policy that silently ignored a condition would allow more than its
//! author meant.

use serde_json::Value;

use crate::lifecycle::Operation;

/// Largest policy document accepted, as in AWS.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// Why a policy document was refused (AWS `MalformedPolicyDocumentException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed key policy: {0}")]
pub struct PolicyError(pub String);

fn bad(text: impl Into<String>) -> PolicyError {
    PolicyError(text.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    /// `"*"`: anyone (who can reach the key at all, i.e. the tenant).
    Anyone,
    /// `arn:aws:iam::ACCOUNT:root`: the account, delegating to identity permissions.
    Root { account: String },
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    User { account: String, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    principals: Vec<Principal>,
    /// Lowercased action patterns without the `kms:` prefix.
    actions: Vec<String>,
}

/// A parsed key policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    statements: Vec<Statement>,
}

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The policy allows the user directly.
    Allow,
    /// The policy allows the account root: the caller's role decides.
    Delegate,
    /// An explicit deny matched.
    Deny,
    /// Nothing allows it.
    NotAllowed,
}

/// The default key policy's text, for `GetKeyPolicy` on a key without one.
pub fn default_policy_text(account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
    .to_string()
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad(format!("{what} must hold strings"))))
            .collect(),
        _ => Err(bad(format!("{what} must be a string or a non-empty list of strings"))),
    }
}

fn principal(arn: &str) -> Result<Principal, PolicyError> {
    if arn == "*" {
        return Ok(Principal::Anyone);
    }
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(|| bad("a principal must be * or an IAM ARN"))?;
    let (account, resource) = rest.split_once(':').ok_or_else(|| bad("a principal ARN needs an account"))?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("a principal ARN's account must be 12 digits"));
    }
    let account = account.to_owned();
    if resource == "root" {
        return Ok(Principal::Root { account });
    }
    match resource.strip_prefix("user/") {
        Some(name) if !name.is_empty() && name.len() <= 128 => Ok(Principal::User { account, name: name.to_owned() }),
        _ => Err(bad("a principal ARN must name root or user/NAME")),
    }
}

fn statement(value: &Value) -> Result<Statement, PolicyError> {
    let Value::Object(map) = value else { return Err(bad("each statement must be an object")) };
    for key in map.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Principal" | "Action" | "Resource" => {}
            "NotAction" | "NotPrincipal" | "NotResource" | "Condition" => {
                return Err(bad(format!("{key} is not supported")));
            }
            other => return Err(bad(format!("unknown statement element {other:.40}"))),
        }
    }
    let effect = match map.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(bad("Effect must be Allow or Deny")),
    };
    let principals = match map.get("Principal") {
        Some(Value::String(s)) if s == "*" => vec![Principal::Anyone],
        Some(Value::Object(p)) => {
            if p.keys().any(|k| k != "AWS") {
                return Err(bad("only AWS principals are supported"));
            }
            let arns = strings(p.get("AWS").unwrap_or(&Value::Null), "Principal.AWS")?;
            arns.iter().map(|a| principal(a)).collect::<Result<_, _>>()?
        }
        _ => return Err(bad("Principal must be * or {\"AWS\": …}")),
    };
    let actions = strings(map.get("Action").unwrap_or(&Value::Null), "Action")?
        .into_iter()
        .map(|a| {
            if a == "*" {
                return Ok("*".to_owned());
            }
            a.strip_prefix("kms:")
                .filter(|rest| !rest.is_empty())
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| bad("each action must be kms:NAME or *"))
        })
        .collect::<Result<_, _>>()?;
    if strings(map.get("Resource").unwrap_or(&Value::Null), "Resource")? != ["*"] {
        return Err(bad("Resource must be * in a key policy"));
    }
    Ok(Statement { effect, principals, actions })
}

impl KeyPolicy {
    /// Parses and validates a policy document.
    pub fn parse(text: &str) -> Result<KeyPolicy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(bad("the policy is larger than 32 KiB"));
        }
        let doc: Value = serde_json::from_str(text).map_err(|_| bad("the policy is not valid JSON"))?;
        let Value::Object(map) = &doc else { return Err(bad("the policy must be a JSON object")) };
        for key in map.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(bad(format!("unknown policy element {key:.40}")));
            }
        }
        if let Some(v) = map.get("Version")
            && v.as_str() != Some("2012-10-17")
        {
            return Err(bad("Version must be 2012-10-17"));
        }
        let statements = match map.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items.iter().map(statement).collect(),
            Some(one @ Value::Object(_)) => statement(one).map(|s| vec![s]),
            _ => Err(bad("Statement must be an object or a non-empty list")),
        }?;
        Ok(KeyPolicy { statements })
    }

    /// What the policy says about `user` of `account` doing `action` (an
    /// AWS action name such as `Encrypt`).
    pub fn evaluate(&self, account: &str, user: &str, action: &str) -> Decision {
        let action = action.to_ascii_lowercase();
        let mut decision = Decision::NotAllowed;
        for st in &self.statements {
            if !st.actions.iter().any(|p| wildcard(p, &action)) {
                continue;
            }
            let user_match = st.principals.iter().any(|p| match p {
                Principal::Anyone => true,
                Principal::User { account: a, name } => a == account && name == user,
                Principal::Root { .. } => false,
            });
            let root_match = st.principals.iter().any(|p| matches!(p, Principal::Root { account: a } if a == account));
            match st.effect {
                // A deny for the account root denies every user of the account.
                Effect::Deny if user_match || root_match => return Decision::Deny,
                Effect::Allow if user_match => decision = Decision::Allow,
                Effect::Allow if root_match && decision == Decision::NotAllowed => decision = Decision::Delegate,
                _ => {}
            }
        }
        decision
    }
}

/// The IAM action an operation is authorised as (`ReEncryptFrom` and
/// `ReEncryptTo` are distinct actions in AWS).
pub fn action(op: Operation) -> &'static str {
    match op {
        Operation::ReEncryptFrom => "ReEncryptFrom",
        Operation::ReEncryptTo => "ReEncryptTo",
        other => other.name(),
    }
}

/// Whether an operation changes a key or its metadata (`kms_manage`) rather
/// than using or reading it (`kms_use`).
pub fn is_management(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        PutKeyPolicy
            | CreateAlias
            | UpdateAlias
            | DeleteAlias
            | CreateGrant
            | RetireGrant
            | RevokeGrant
            | TagResource
            | UntagResource
            | UpdateKeyDescription
            | EnableKey
            | DisableKey
            | ScheduleKeyDeletion
            | CancelKeyDeletion
            | EnableKeyRotation
            | DisableKeyRotation
            | RotateKeyOnDemand
            | GetParametersForImport
            | ImportKeyMaterial
            | DeleteImportedKeyMaterial
            | ArchiveKey
            | CancelKeyArchive
    )
}

/// IAM-style wildcard match: `*` any run, `?` one character. Both inputs
/// are short (an action name), so the simple backtracking loop is bounded.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests;
