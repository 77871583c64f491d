//! Typed reasons why a Sigma document could not be compiled, and the
//! `Rejected` record that names the file and rule they belong to. Every
//! document that does not become a rule becomes one of these, so nothing is
//! dropped silently.

use std::path::PathBuf;

/// Why a rule (or a whole file) was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    /// The YAML itself is malformed.
    #[error("YAML error at line {line}, column {column}: {message}")]
    Yaml { line: usize, column: usize, message: String },
    /// A mandatory attribute is absent.
    #[error("missing required attribute `{0}`")]
    Missing(&'static str),
    /// An attribute has the wrong shape or an unknown value.
    #[error("invalid attribute `{attribute}`: {message}")]
    InvalidAttribute { attribute: String, message: String },
    /// A field modifier this engine does not know.
    #[error("unsupported modifier `{modifier}` on `{key}`")]
    UnsupportedModifier { key: String, modifier: String },
    /// Known modifiers that cannot be combined, or do not fit the values.
    #[error("invalid modifier use on `{key}`: {message}")]
    ModifierUse { key: String, message: String },
    /// A value that cannot be matched the way its modifiers ask.
    #[error("invalid value in `{selection}` for `{key}`: {message}")]
    InvalidValue { selection: String, key: String, message: String },
    /// A `re` value that does not compile.
    #[error("invalid regex in `{selection}` for `{key}`: {message}")]
    InvalidRegex { selection: String, key: String, message: String },
    /// The condition expression does not parse or names unknown selections.
    #[error("condition error at offset {offset} in `{condition}`: {message}")]
    Condition { condition: String, offset: usize, message: String },
    /// An `expand` placeholder that the configuration does not define.
    #[error("unresolved placeholder `%{0}%` (expand modifier)")]
    Placeholder(String),
    /// A size or depth bound that protects the engine was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A correlation or filter names a rule that is not in the set.
    #[error("unknown rule reference `{0}`")]
    UnknownRule(String),
    /// A correlation rule whose definition is inconsistent.
    #[error("invalid correlation: {0}")]
    Correlation(String),
    /// The file could not be read.
    #[error("I/O error: {0}")]
    Io(String),
}

impl CompileError {
    /// A short, stable category for summaries ("unsupported modifier expand").
    pub fn category(&self) -> String {
        match self {
            Self::Yaml { .. } => "YAML error".into(),
            Self::Missing(what) => format!("missing `{what}`"),
            Self::InvalidAttribute { attribute, .. } => format!("invalid attribute `{attribute}`"),
            Self::UnsupportedModifier { modifier, .. } => format!("unsupported modifier `{modifier}`"),
            Self::ModifierUse { .. } => "invalid modifier use".into(),
            Self::InvalidValue { .. } => "invalid value".into(),
            Self::InvalidRegex { .. } => "invalid regex".into(),
            Self::Condition { .. } => "condition error".into(),
            Self::Placeholder(_) => "unresolved placeholder".into(),
            Self::Limit(_) => "limit exceeded".into(),
            Self::UnknownRule(_) => "unknown rule reference".into(),
            Self::Correlation(_) => "invalid correlation".into(),
            Self::Io(_) => "I/O error".into(),
        }
    }
}

/// A document that did not become a rule, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The file (or the label given to `add_yaml`) the document came from.
    pub path: PathBuf,
    /// The index of the YAML document inside the file, counting from zero.
    pub document: usize,
    /// The rule's `id`, when it could be read.
    pub rule_id: Option<String>,
    /// The rule's `title`, when it could be read.
    pub title: Option<String>,
    /// Why it was refused.
    pub reason: CompileError,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.document > 0 {
            write!(f, " (document {})", self.document)?;
        }
        if let Some(id) = &self.rule_id {
            write!(f, " [{id}]")?;
        }
        if let Some(title) = &self.title {
            write!(f, " \"{title}\"")?;
        }
        write!(f, ": {}", self.reason)
    }
}
