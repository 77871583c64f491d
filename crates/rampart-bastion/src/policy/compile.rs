//! Validation of a configured policy list into a [`PolicySet`], in one step
//! that either yields a set that cannot fail at decision time or reports
//! every problem, each naming the policy (and pattern) at fault, so an
//! operator can fix a configuration in one pass.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use regex::RegexBuilder;

use super::glob::{self, GlobError};
use super::{
    Action, ActionKind, Compiled, MAX_PATTERN_LEN, MAX_POLICIES, MAX_REVIEW_TIMEOUT_SECS, PolicyConfig, PolicySet,
    PolicySpec, REGEX_SIZE_LIMIT,
};

/// One problem in a policy configuration. Pattern numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// There are more policies than [`MAX_POLICIES`].
    #[error("{count} policies configured; at most {MAX_POLICIES} are allowed")]
    TooMany {
        /// How many were configured.
        count: usize,
    },
    /// A policy's id is empty or blank.
    #[error("policy number {position} has an empty `id`")]
    EmptyId {
        /// Its place in the list, from 1.
        position: usize,
    },
    /// Two policies share an id.
    #[error("policy `{id}` is defined more than once")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A policy has neither `regex` nor `glob` patterns.
    #[error("policy `{id}` has no patterns: give a `regex` or a `glob` list")]
    NoPatterns {
        /// The policy.
        id: String,
    },
    /// A policy has both kinds of pattern.
    #[error("policy `{id}` has both `regex` and `glob` patterns; use one list")]
    MixedPatterns {
        /// The policy.
        id: String,
    },
    /// A pattern is empty, which would match every command.
    #[error("policy `{id}`, pattern {number} is empty, which would match every command")]
    EmptyPattern {
        /// The policy.
        id: String,
        /// The pattern's place in its list, from 1.
        number: usize,
    },
    /// A pattern is longer than [`MAX_PATTERN_LEN`].
    #[error("policy `{id}`, pattern {number} is longer than {MAX_PATTERN_LEN} bytes")]
    PatternTooLong {
        /// The policy.
        id: String,
        /// The pattern's place in its list, from 1.
        number: usize,
    },
    /// A regular expression does not compile.
    #[error("policy `{id}`, regex {number} `{pattern}` is invalid: {message}")]
    BadRegex {
        /// The policy.
        id: String,
        /// The pattern's place in its list, from 1.
        number: usize,
        /// The pattern as configured.
        pattern: String,
        /// What the regex compiler said.
        message: String,
    },
    /// A glob is malformed.
    #[error("policy `{id}`, glob {number} `{pattern}` is invalid: {source}")]
    BadGlob {
        /// The policy.
        id: String,
        /// The pattern's place in its list, from 1.
        number: usize,
        /// The pattern as configured.
        pattern: String,
        /// What is wrong with it.
        source: GlobError,
    },
    /// A review timeout is zero or longer than a day.
    #[error("policy `{id}`: review timeout of {secs} s is outside 1..={MAX_REVIEW_TIMEOUT_SECS}")]
    BadTimeout {
        /// The policy, or `(default)` for the set-wide value.
        id: String,
        /// The configured value.
        secs: u64,
    },
    /// A timeout is set on a policy that does not review.
    #[error("policy `{id}` sets `review_timeout_secs` but its action is not `review`")]
    TimeoutWithoutReview {
        /// The policy.
        id: String,
    },
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid command policy:")?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

pub(super) fn compile(config: &PolicyConfig) -> Result<PolicySet, PolicyErrors> {
    let mut errors = Vec::new();
    if config.policies.len() > MAX_POLICIES {
        return Err(PolicyErrors(vec![PolicyError::TooMany { count: config.policies.len() }]));
    }
    let default_timeout = timeout("(default)", config.review_timeout_secs, &mut errors);
    let default_action = action(config.default_action, default_timeout);
    let mut seen = BTreeSet::new();
    let mut policies = Vec::with_capacity(config.policies.len());
    for (index, spec) in config.policies.iter().enumerate() {
        if spec.id.trim().is_empty() {
            errors.push(PolicyError::EmptyId { position: index + 1 });
        } else if !seen.insert(spec.id.as_str()) {
            errors.push(PolicyError::DuplicateId { id: spec.id.clone() });
        }
        if let Some(policy) = compile_one(spec, default_timeout, &mut errors) {
            policies.push(policy);
        }
    }
    if errors.is_empty() { Ok(PolicySet { policies, default_action }) } else { Err(PolicyErrors(errors)) }
}

fn compile_one(spec: &PolicySpec, default_timeout: Duration, errors: &mut Vec<PolicyError>) -> Option<Compiled> {
    let id = spec.id.clone();
    let before = errors.len();
    let review_timeout = match spec.review_timeout_secs {
        Some(_) if spec.action != ActionKind::Review => {
            errors.push(PolicyError::TimeoutWithoutReview { id: id.clone() });
            default_timeout
        }
        Some(secs) => timeout(&id, secs, errors),
        None => default_timeout,
    };
    let (sources, is_glob) = match (spec.regex.is_empty(), spec.glob.is_empty()) {
        (true, true) => {
            errors.push(PolicyError::NoPatterns { id });
            return None;
        }
        (false, false) => {
            errors.push(PolicyError::MixedPatterns { id });
            return None;
        }
        (false, true) => (&spec.regex, false),
        (true, false) => (&spec.glob, true),
    };
    let mut patterns = Vec::with_capacity(sources.len());
    for (index, pattern) in sources.iter().enumerate() {
        let number = index + 1;
        if pattern.is_empty() {
            errors.push(PolicyError::EmptyPattern { id: id.clone(), number });
            continue;
        }
        if pattern.len() > MAX_PATTERN_LEN {
            errors.push(PolicyError::PatternTooLong { id: id.clone(), number });
            continue;
        }
        let source = if is_glob {
            match glob::to_regex(pattern) {
                Ok(source) => source,
                Err(source) => {
                    errors.push(PolicyError::BadGlob { id: id.clone(), number, pattern: pattern.clone(), source });
                    continue;
                }
            }
        } else {
            pattern.clone()
        };
        match RegexBuilder::new(&source).size_limit(REGEX_SIZE_LIMIT).build() {
            Ok(re) => patterns.push(re),
            Err(e) => errors.push(PolicyError::BadRegex {
                id: id.clone(),
                number,
                pattern: pattern.clone(),
                message: e.to_string(),
            }),
        }
    }
    (errors.len() == before).then(|| Compiled {
        spec: spec.clone(),
        action: action(spec.action, review_timeout),
        patterns,
    })
}

fn timeout(id: &str, secs: u64, errors: &mut Vec<PolicyError>) -> Duration {
    if secs == 0 || secs > MAX_REVIEW_TIMEOUT_SECS {
        errors.push(PolicyError::BadTimeout { id: id.to_owned(), secs });
    }
    Duration::from_secs(secs)
}

fn action(kind: ActionKind, review_timeout: Duration) -> Action {
    match kind {
        ActionKind::Accept => Action::Accept,
        ActionKind::Warn => Action::Warn,
        ActionKind::Review => Action::Review { timeout: review_timeout },
        ActionKind::Reject => Action::Reject,
    }
}
