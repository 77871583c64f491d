//! Splitting a YAML text into Sigma documents: multi-document streams and
//! rule collections (`action: global`, `reset`, `repeat`), merged into one
//! mapping per rule before any Sigma meaning is read from it.

use yaml_serde::{Mapping, Value};

use crate::error::CompileError;

/// Largest YAML text accepted, so one hostile file cannot exhaust memory.
pub const MAX_YAML_BYTES: usize = 4 * 1024 * 1024;

/// Turns a `yaml_serde` error into a located `CompileError`.
fn yaml_error(err: &yaml_serde::Error) -> CompileError {
    let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
    CompileError::Yaml { line, column, message: err.to_string() }
}

/// One document of a stream: its index, and its mapping or why it has none.
pub type Document = (usize, Result<Mapping, CompileError>);

/// Parses every document of `text` and applies collection actions.
///
/// The outer error means the stream itself is broken (nothing in the file
/// can be trusted); an inner error belongs to one document only. The
/// returned index is the document's position in the stream.
pub fn documents(text: &str) -> Result<Vec<Document>, CompileError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(CompileError::Limit(format!("YAML text of {} bytes exceeds {MAX_YAML_BYTES}", text.len())));
    }
    let mut raw = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let value = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| yaml_error(&e))?;
        raw.push(value);
    }
    Ok(apply_collection_actions(raw))
}

/// Applies `action: global | reset | repeat` as the Sigma rule-collection
/// convention defines them; documents without `action` are ordinary rules.
fn apply_collection_actions(raw: Vec<Value>) -> Vec<Document> {
    let mut out = Vec::new();
    let mut global: Option<Mapping> = None;
    let mut previous: Option<Mapping> = None;
    for (index, value) in raw.into_iter().enumerate() {
        let mut map = match value {
            // Empty documents (a trailing `---`) carry nothing.
            Value::Null => continue,
            Value::Mapping(m) => m,
            _ => {
                let err = CompileError::InvalidAttribute {
                    attribute: "document".into(),
                    message: "a Sigma document must be a mapping".into(),
                };
                out.push((index, Err(err)));
                continue;
            }
        };
        let action = map.remove("action");
        match action.as_ref().and_then(Value::as_str) {
            Some("global") => global = Some(map),
            Some("reset") => global = None,
            Some("repeat") => match &previous {
                Some(prev) => {
                    let merged = merge(prev.clone(), map);
                    previous = Some(merged.clone());
                    out.push((index, Ok(merged)));
                }
                None => out.push((
                    index,
                    Err(CompileError::InvalidAttribute {
                        attribute: "action".into(),
                        message: "`repeat` without a preceding rule".into(),
                    }),
                )),
            },
            Some(other) => out.push((
                index,
                Err(CompileError::InvalidAttribute {
                    attribute: "action".into(),
                    message: format!("unknown collection action `{other}`"),
                }),
            )),
            None if action.is_some() => out.push((
                index,
                Err(CompileError::InvalidAttribute { attribute: "action".into(), message: "must be a string".into() }),
            )),
            None => {
                let merged = match &global {
                    Some(g) => merge(g.clone(), map),
                    None => map,
                };
                previous = Some(merged.clone());
                out.push((index, Ok(merged)));
            }
        }
    }
    out
}

/// Deep-merges `over` into `base`: nested mappings merge key by key, any
/// other value in `over` replaces the one in `base`.
pub fn merge(mut base: Mapping, over: Mapping) -> Mapping {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Mapping(b)), Value::Mapping(o)) => {
                let inner = std::mem::take(b);
                *b = merge(inner, o);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_docs(text: &str) -> Vec<Mapping> {
        let docs = documents(text).unwrap_or_default();
        docs.into_iter().filter_map(|(_, d)| d.ok()).collect()
    }

    #[test]
    fn multi_document_stream_yields_each_rule() {
        let docs = ok_docs("title: a\n---\ntitle: b\n---\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].get("title").and_then(Value::as_str), Some("b"));
    }

    #[test]
    fn global_is_merged_into_following_rules_until_reset() {
        let text = "action: global\nlogsource:\n  product: windows\n---\ntitle: a\nlogsource:\n  category: x\n\
                    ---\naction: reset\n---\ntitle: b\n";
        let docs = ok_docs(text);
        assert_eq!(docs.len(), 2);
        let ls = docs[0].get("logsource").and_then(Value::as_mapping);
        assert_eq!(ls.and_then(|l| l.get("product")).and_then(Value::as_str), Some("windows"));
        assert_eq!(ls.and_then(|l| l.get("category")).and_then(Value::as_str), Some("x"));
        assert!(docs[1].get("logsource").is_none());
    }

    #[test]
    fn repeat_reuses_the_previous_rule() {
        let docs = ok_docs("title: a\nlevel: low\n---\naction: repeat\ntitle: b\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].get("level").and_then(Value::as_str), Some("low"));
        assert_eq!(docs[1].get("title").and_then(Value::as_str), Some("b"));
    }

    #[test]
    fn broken_yaml_reports_its_line() {
        let err = documents("title: a\ndetection: [\n  x: y\n").err();
        assert!(matches!(err, Some(CompileError::Yaml { line, .. }) if line >= 2), "{err:?}");
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        assert!(documents("title: a\ntitle: b\n").is_err());
    }

    #[test]
    fn non_mapping_document_is_rejected_alone() {
        let docs = documents("- a\n---\ntitle: b\n").unwrap_or_default();
        assert_eq!(docs.len(), 2);
        assert!(docs[0].1.is_err());
        assert!(docs[1].1.is_ok());
    }
}
