//! Compilation options: per-logsource field mappings and lookup roots, and
//! the values of `expand` placeholders. Strict (unknown keys are refused),
//! so a misspelt option is an error instead of a silent no-op.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::logsource::LogSource;

/// How Sigma field names meet the fields of events from some log sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldMapping {
    /// The rules this mapping applies to: every part given must equal the
    /// rule's (an empty selector applies to all rules).
    pub logsource: LogSource,
    /// Sigma field name to event field name (a dotted path is allowed).
    pub fields: BTreeMap<String, String>,
    /// Object paths (dotted) under which a field is also looked up when the
    /// event does not have it at top level, tried in order.
    pub roots: Vec<String>,
}

/// Options for compiling a rule set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompileOptions {
    /// Field mappings, applied in order (the first mapping of a field wins;
    /// roots accumulate).
    pub field_mappings: Vec<FieldMapping>,
    /// Values of `%placeholder%` names for the `expand` modifier.
    pub placeholders: BTreeMap<String, Vec<String>>,
}

impl CompileOptions {
    /// Options for Windows event logs rendered as JSON from evtx
    /// (`Event.System`, `Event.EventData`): fields are also looked up under
    /// those objects, and `Provider_Name` reads the provider attribute.
    pub fn windows_evtx() -> Self {
        let mut fields = BTreeMap::new();
        fields.insert("Provider_Name".to_string(), "Event.System.Provider.#attributes.Name".to_string());
        Self {
            field_mappings: vec![FieldMapping {
                logsource: LogSource::new(Some("windows"), None, None),
                fields,
                roots: vec!["Event.EventData".into(), "Event.System".into(), "Event.UserData".into()],
            }],
            placeholders: BTreeMap::new(),
        }
    }

    /// The merged mapping and roots that apply to rules of `logsource`.
    pub(crate) fn resolve(&self, logsource: &LogSource) -> (HashMap<String, String>, Vec<String>) {
        let mut fields = HashMap::new();
        let mut roots = Vec::new();
        for m in self.field_mappings.iter().filter(|m| m.logsource.covers(logsource)) {
            for (k, v) in &m.fields {
                fields.entry(k.clone()).or_insert_with(|| v.clone());
            }
            roots.extend(m.roots.iter().cloned());
        }
        (fields, roots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_option_keys_are_refused() {
        let bad: Result<CompileOptions, _> = serde_json::from_str(r#"{"field_mapings": []}"#);
        assert!(bad.is_err());
        let ok: Result<CompileOptions, _> = serde_json::from_str(r#"{"placeholders": {"a": ["b"]}}"#);
        assert!(ok.is_ok());
    }

    #[test]
    fn mappings_apply_by_logsource() {
        let opts = CompileOptions::windows_evtx();
        let (fields, roots) = opts.resolve(&LogSource::new(Some("windows"), Some("process_creation"), None));
        assert!(fields.contains_key("Provider_Name"));
        assert_eq!(roots.len(), 3);
        let (fields, roots) = opts.resolve(&LogSource::new(Some("linux"), None, None));
        assert!(fields.is_empty() && roots.is_empty());
    }
}
