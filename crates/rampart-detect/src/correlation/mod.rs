//! Sigma correlation rules: their resolved form (which detections or
//! correlations feed each one, which event field each group-by key reads
//! for each source) and the streaming engine that evaluates them.

pub(crate) mod build;
pub mod engine;
pub mod parse;
mod window;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::parse::RuleMeta;
pub use engine::{CorrelationAlert, CorrelationEngine, EngineLimits, EngineState, EngineStats, EventRef, RestoreError};
pub use parse::{CorrelationType, Threshold};

/// What feeds a correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// A detection rule, by index in the rule set.
    Rule(usize),
    /// Another correlation, by index in the rule set's correlations.
    Correlation(usize),
}

/// A correlation rule with its references resolved.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    /// Header of the correlation document.
    pub meta: Arc<RuleMeta>,
    /// The file (or label) the document came from.
    pub path: std::path::PathBuf,
    /// The type.
    pub kind: CorrelationType,
    /// The sources, in the order listed (temporal_ordered uses the order).
    pub sources: Vec<Source>,
    /// Group-by names as written (aliases or field names).
    pub group_by: Vec<String>,
    /// For each source, for each group-by name, the field to read.
    pub group_fields: Vec<Vec<String>>,
    /// The aggregated field, for value_* types.
    pub field: Option<String>,
    /// The window.
    pub timespan_ms: i64,
    /// Bounds on the aggregate; for temporal types a count of distinct sources.
    pub threshold: Threshold,
    /// For value_percentile.
    pub percentile: f64,
    /// Whether the referenced rules also alert on their own.
    pub generate: bool,
}

impl CorrelationRule {
    /// Indices of the detection rules this correlation reads directly.
    pub fn detection_sources(&self) -> impl Iterator<Item = usize> + '_ {
        self.sources.iter().filter_map(|s| if let Source::Rule(r) = s { Some(*r) } else { None })
    }
}
