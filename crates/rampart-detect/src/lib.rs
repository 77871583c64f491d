//! Rampart's Sigma v2.1 rule engine. Rules are parsed from YAML (with
//! multi-document collections), compiled once into a matcher tree and
//! grouped by logsource; an event meets only the rules of its logsource,
//! and among those only the candidates of a cross-rule Aho-Corasick
//! prefilter. Filters narrow rules, correlations aggregate matches in a
//! serialisable streaming state machine. The crate does no I/O except
//! `compile_dir`, which reads a rule directory.

pub mod batch;
mod builder;
mod compile;
mod config;
pub mod correlation;
mod error;
mod eval;
mod explain;
mod loader;
pub mod logsource;
pub mod parallel;
mod parse;
mod ruleset;
mod yaml;

pub use builder::RuleSetBuilder;
pub use config::{CompileOptions, FieldMapping};
pub use correlation::{
    CorrelationAlert, CorrelationEngine, CorrelationRule, CorrelationType, EngineLimits, EngineState, EngineStats,
    EventRef, RestoreError, Source, Threshold,
};
pub use error::{CompileError, Rejected};
pub use explain::{Explanation, ItemExplanation, SelectionExplanation};
pub use loader::{compile_dir, compile_dir_with, compile_str};
pub use logsource::{LogSource, windows_event_logsource};
pub use parse::{Level, RuleMeta};
pub use ruleset::{Match, Matcher, RuleSet, RuleSetStats};
