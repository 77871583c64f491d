//! Command red lines: which commands an administrator may run through the
//! bastion. A [`PolicySet`] is an ordered list of policies, each with
//! patterns (regular expressions or globs), a scope (users, groups, targets,
//! target labels; an empty list means everyone) and an [`Action`]. A line
//! is first normalised ([`normalize`]): split on `;`, `&&`, `||`, `|`, `&`,
//! newlines, `$(…)` and backticks, unquoted (`r''m`, `"rm"`, `\rm`,
//! `$'\x72m'`), stripped of wrappers (`sudo`, `env VAR=x`, `command`,
//! `exec`, `nice`, `nohup`, `time`, `timeout`, `xargs`, …) and of command
//! paths (`/bin/rm` is `rm`), with `sh -c`, `su -c`, `eval`, `env -S` and
//! `find -exec` arguments checked as commands of their own. Each part gets
//! the action of the first policy that matches it, or the default; the
//! line gets the most severe of its parts' actions, so `ls; rm -rf /`
//! cannot ride on an allowed `ls`.
//!
//! This is a tripwire against mistakes and casual misuse, not a sandbox.
//! A shell is a programming language and no text filter decides what a
//! program will do. Known bypasses, each with what is done about it:
//!
//! - Scripts and interpreters (`./x.sh`, `python -c`, `perl -e`, `awk
//!   'BEGIN{system(…)}'`): the command is not seen. Red lines can match the
//!   interpreter itself; the recording shows what ran.
//! - Encodings (`echo cm0gLXJmIC8K | base64 -d | sh`): the decoded text is
//!   not seen. A line-scoped policy can reject any pipe into a shell
//!   (`\| (ba|da|z|k)?sh( |$)`), see `RED-LINES.md`.
//! - Aliases and functions defined in the session: invisible to a filter
//!   that sees one line at a time. Definitions can be matched (`alias`,
//!   `() {`), but not what they stand for later.
//! - Variables and substitutions (`X=rm; $X -rf /`, `$(echo rm) -rf /`): the
//!   value exists only at run time. Such words are kept verbatim, so a
//!   policy can refuse a command word that starts with `$`.
//! - Here-documents and multi-line pastes: every line is checked as a
//!   command, so a here-doc body fed to a shell is caught and a harmless
//!   body may be refused (a false positive, not a bypass).
//! - Editors and full-screen programs (`vim` then `:!rm -rf /`): their keys
//!   are not shell lines. The input tracker flags such input as uncertain.
//!
//! Lines that exceed the normaliser's bounds are refused, since an
//! unchecked part could be anything.

mod compile;
mod glob;
mod normalize;
mod split;
mod words;
mod wrappers;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use compile::{PolicyError, PolicyErrors};
pub use glob::GlobError;
pub use normalize::{MAX_DEPTH, MAX_LINE, MAX_PARTS, Normalized, Part, normalize};

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;
/// Most policies in one set.
pub const MAX_POLICIES: usize = 10_000;
/// Longest review wait that may be configured, in seconds (one day).
pub const MAX_REVIEW_TIMEOUT_SECS: u64 = 86_400;
/// Compiled size bound per pattern, so a pathological one cannot take
/// the bastion's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What to do with a command, in order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Let it through.
    Accept,
    /// Let it through and flag it in the audit trail.
    Warn,
    /// Hold it until a reviewer approves; refused when the time runs out.
    Review,
    /// Refuse it.
    Reject,
}

/// A decided action, with the review timeout where one applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Let it through.
    Accept,
    /// Let it through and flag it in the audit trail.
    Warn,
    /// Pause the session until a reviewer approves; if nobody does within
    /// `timeout`, the command is refused.
    Review {
        /// How long to wait for a reviewer.
        timeout: Duration,
    },
    /// Refuse it.
    Reject,
}

impl Action {
    /// The kind of this action, which orders actions by severity.
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Accept => ActionKind::Accept,
            Self::Warn => ActionKind::Warn,
            Self::Review { .. } => ActionKind::Review,
            Self::Reject => ActionKind::Reject,
        }
    }
}

/// Whether a policy's patterns see each part or the whole pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchOn {
    /// Each simple command on its own (`rm -rf /`).
    #[default]
    Part,
    /// The normalised top-level pipeline (`curl -s x | sh`), for red lines
    /// about how commands are combined.
    Line,
}

/// The command policy as configured, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The action when no policy matches a part.
    #[serde(default = "default_action")]
    pub default_action: ActionKind,
    /// The review wait for policies (and a review default) that set none.
    #[serde(default = "default_review_timeout")]
    pub review_timeout_secs: u64,
    /// The policies, first match wins.
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self { default_action: default_action(), review_timeout_secs: default_review_timeout(), policies: Vec::new() }
    }
}

fn default_action() -> ActionKind {
    ActionKind::Accept
}

fn default_review_timeout() -> u64 {
    300
}

/// One policy as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// A unique name, reported in decisions and audit events.
    pub id: String,
    /// Why the red line exists, shown to the administrator.
    #[serde(default)]
    pub description: String,
    /// What to do on a match.
    pub action: ActionKind,
    /// The review wait for this policy; only valid with `review`.
    #[serde(default)]
    pub review_timeout_secs: Option<u64>,
    /// Regular expressions searched in the normalised command (unanchored;
    /// use `^` and `$` to anchor).
    #[serde(default)]
    pub regex: Vec<String>,
    /// Globs matched against the whole normalised command.
    #[serde(default)]
    pub glob: Vec<String>,
    /// Whether patterns see each part or the whole pipeline.
    #[serde(default)]
    pub match_on: MatchOn,
    /// Users the policy applies to; empty means all.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups the policy applies to (any one suffices); empty means all.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Target names the policy applies to; empty means all.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels a target must all carry for the policy to apply.
    #[serde(default)]
    pub target_labels: BTreeMap<String, String>,
}

/// Who runs a command, and where.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The administrator's user name.
    pub user: &'a str,
    /// The administrator's groups.
    pub groups: &'a [String],
    /// The target's name.
    pub target: &'a str,
    /// The target's labels.
    pub target_labels: &'a BTreeMap<String, String>,
}

/// The verdict on one command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The policy that decided, or `None` for the default.
    pub policy_id: Option<String>,
    /// The normalised part the decision is about.
    pub matched_part: Option<String>,
    /// A sentence for the administrator and the audit trail.
    pub reason: String,
}

/// A validated, compiled policy list.
#[derive(Debug, Clone)]
pub struct PolicySet {
    policies: Vec<Compiled>,
    default_action: Action,
}

#[derive(Debug, Clone)]
struct Compiled {
    spec: PolicySpec,
    action: Action,
    patterns: Vec<Regex>,
}

impl Compiled {
    fn applies_to(&self, subject: &Subject<'_>) -> bool {
        let spec = &self.spec;
        (spec.users.is_empty() || spec.users.iter().any(|u| u == subject.user))
            && (spec.groups.is_empty() || spec.groups.iter().any(|g| subject.groups.contains(g)))
            && (spec.targets.is_empty() || spec.targets.iter().any(|t| t == subject.target))
            && spec.target_labels.iter().all(|(k, v)| subject.target_labels.get(k) == Some(v))
    }

    fn matches(&self, part: &str, line: &str) -> bool {
        let text = match self.spec.match_on {
            MatchOn::Part => part,
            MatchOn::Line => line,
        };
        self.patterns.iter().any(|re| re.is_match(text))
    }
}

impl PolicySet {
    /// Validates a configuration and compiles its patterns. Every problem
    /// is reported, each naming the policy and pattern at fault.
    pub fn compile(config: &PolicyConfig) -> Result<Self, PolicyErrors> {
        compile::compile(config)
    }

    /// The action when no policy matches.
    pub fn default_action(&self) -> Action {
        self.default_action
    }

    /// Decides on a command line as submitted.
    pub fn decide(&self, subject: &Subject<'_>, command: &str) -> Decision {
        self.decide_normalized(subject, &normalize(command))
    }

    /// Decides on an already normalised line.
    pub fn decide_normalized(&self, subject: &Subject<'_>, line: &Normalized) -> Decision {
        if line.incomplete {
            return Decision {
                action: Action::Reject,
                policy_id: None,
                matched_part: None,
                reason: "the command is too long or too deeply nested to be checked".to_owned(),
            };
        }
        let applicable: Vec<&Compiled> = self.policies.iter().filter(|p| p.applies_to(subject)).collect();
        let mut verdict: Option<Decision> = None;
        for part in &line.parts {
            let decision = match applicable.iter().find(|p| p.matches(&part.text, &line.line)) {
                Some(policy) => Decision {
                    action: policy.action,
                    policy_id: Some(policy.spec.id.clone()),
                    matched_part: Some(part.text.clone()),
                    reason: reason(&policy.spec, &part.text),
                },
                None => Decision {
                    action: self.default_action,
                    policy_id: None,
                    matched_part: Some(part.text.clone()),
                    reason: format!("no policy matched `{}`; the default applies", part.text),
                },
            };
            // The most severe part decides; among equals the first one does.
            if verdict.as_ref().is_none_or(|v| decision.action.kind() > v.action.kind()) {
                verdict = Some(decision);
            }
        }
        verdict.unwrap_or_else(|| Decision {
            action: Action::Accept,
            policy_id: None,
            matched_part: None,
            reason: "the line runs no command".to_owned(),
        })
    }
}

fn reason(spec: &PolicySpec, part: &str) -> String {
    if spec.description.is_empty() {
        format!("`{part}` matched policy `{}`", spec.id)
    } else {
        format!("`{part}` matched policy `{}`: {}", spec.id, spec.description)
    }
}
