//! The `detection` section as data: named searches, each an OR of
//! alternatives (a map of field items ANDed together, or keywords), and the
//! condition text. Modifiers are kept as written; their meaning is given by
//! the compiler.

use yaml_serde::{Mapping, Value};

use crate::error::CompileError;

/// Most searches one detection may define.
pub const MAX_SEARCHES: usize = 1_000;
/// Most values one field item may list.
pub const MAX_VALUES: usize = 100_000;

/// A scalar value from a rule, typed as YAML typed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A non-integer number.
    Float(f64),
    /// A string.
    Str(String),
}

impl Scalar {
    /// The value as text, as Sigma compares numbers against strings.
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Null => None,
            Self::Bool(b) => Some(b.to_string()),
            Self::Int(i) => Some(i.to_string()),
            Self::Float(f) => Some(f.to_string()),
            Self::Str(s) => Some(s.clone()),
        }
    }

    /// The value as a number, for numeric modifiers.
    pub fn number(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            Self::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// One `field|modifiers: values` entry (or keywords, with no field).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// The key as written, for messages and explanations.
    pub key: String,
    /// The field name; `None` for keyword searches.
    pub field: Option<String>,
    /// Modifiers in the order written.
    pub modifiers: Vec<String>,
    /// The values (one, or a YAML list).
    pub values: Vec<Scalar>,
}

/// One alternative of a search; the alternatives are ORed.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchAlt {
    /// Field items that must all hold.
    Map(Vec<FieldSpec>),
    /// Keywords (field-less values), any of which may appear in the event.
    Keywords(FieldSpec),
}

/// The parsed `detection` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Named searches in the order written.
    pub searches: Vec<(String, Vec<SearchAlt>)>,
    /// The condition(s); several are ORed.
    pub condition: Vec<String>,
}

fn scalar(value: &Value, key: &str) -> Result<Scalar, CompileError> {
    Ok(match value {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Scalar::Str(s.clone()),
        Value::Tagged(t) => scalar(&t.value, key)?,
        Value::Sequence(_) | Value::Mapping(_) => {
            return Err(CompileError::InvalidAttribute {
                attribute: key.into(),
                message: "nested lists or maps are not values".into(),
            });
        }
    })
}

fn field_spec(key: &Value, value: &Value) -> Result<FieldSpec, CompileError> {
    let key = match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(CompileError::InvalidAttribute {
                attribute: "detection".into(),
                message: "field names must be strings".into(),
            });
        }
    };
    let mut parts = key.split('|');
    let field = parts.next().map(str::trim).filter(|f| !f.is_empty()).map(String::from);
    let modifiers = parts.map(|m| m.trim().to_string()).collect();
    let values = match value {
        Value::Sequence(seq) => {
            if seq.len() > MAX_VALUES {
                return Err(CompileError::Limit(format!("`{key}` lists {} values, more than {MAX_VALUES}", seq.len())));
            }
            seq.iter().map(|v| scalar(v, &key)).collect::<Result<Vec<_>, _>>()?
        }
        other => vec![scalar(other, &key)?],
    };
    if values.is_empty() {
        return Err(CompileError::InvalidAttribute { attribute: key, message: "empty list of values".into() });
    }
    Ok(FieldSpec { key, field, modifiers, values })
}

fn map_alt(map: &Mapping) -> Result<SearchAlt, CompileError> {
    let items = map.iter().map(|(k, v)| field_spec(k, v)).collect::<Result<Vec<_>, _>>()?;
    Ok(SearchAlt::Map(items))
}

fn keywords(values: Vec<Scalar>) -> SearchAlt {
    SearchAlt::Keywords(FieldSpec { key: "keywords".into(), field: None, modifiers: Vec::new(), values })
}

/// Reads one named search.
fn parse_search(name: &str, value: &Value) -> Result<Vec<SearchAlt>, CompileError> {
    match value {
        Value::Mapping(m) => Ok(vec![map_alt(m)?]),
        Value::Sequence(seq) => {
            if seq.len() > MAX_VALUES {
                return Err(CompileError::Limit(format!("search `{name}` has more than {MAX_VALUES} entries")));
            }
            // A list is an OR: maps become AND-groups, and runs of plain
            // values become one keyword search.
            let mut alts = Vec::new();
            let mut pending = Vec::new();
            for entry in seq {
                match entry {
                    Value::Mapping(m) => {
                        if !pending.is_empty() {
                            alts.push(keywords(std::mem::take(&mut pending)));
                        }
                        alts.push(map_alt(m)?);
                    }
                    other => pending.push(scalar(other, name)?),
                }
            }
            if !pending.is_empty() {
                alts.push(keywords(pending));
            }
            if alts.is_empty() {
                return Err(CompileError::InvalidAttribute { attribute: name.into(), message: "empty search".into() });
            }
            Ok(alts)
        }
        other => Ok(vec![keywords(vec![scalar(other, name)?])]),
    }
}

/// Reads the `detection` section.
pub fn parse_detection(value: &Value) -> Result<Detection, CompileError> {
    let Value::Mapping(map) = value else {
        return Err(CompileError::InvalidAttribute {
            attribute: "detection".into(),
            message: "must be a mapping".into(),
        });
    };
    let mut searches = Vec::new();
    let mut condition = Vec::new();
    for (key, value) in map {
        let Some(name) = key.as_str() else {
            return Err(CompileError::InvalidAttribute {
                attribute: "detection".into(),
                message: "search names must be strings".into(),
            });
        };
        match name {
            "condition" => match value {
                Value::String(s) => condition.push(s.clone()),
                Value::Sequence(seq) => {
                    for c in seq {
                        let Some(s) = c.as_str() else {
                            return Err(CompileError::InvalidAttribute {
                                attribute: "condition".into(),
                                message: "must be a string or a list of strings".into(),
                            });
                        };
                        condition.push(s.to_string());
                    }
                }
                _ => {
                    return Err(CompileError::InvalidAttribute {
                        attribute: "condition".into(),
                        message: "must be a string".into(),
                    });
                }
            },
            // Deprecated and without effect on matching.
            "timeframe" => {}
            _ => {
                if searches.len() >= MAX_SEARCHES {
                    return Err(CompileError::Limit(format!("more than {MAX_SEARCHES} searches")));
                }
                searches.push((name.to_string(), parse_search(name, value)?));
            }
        }
    }
    if condition.is_empty() {
        return Err(CompileError::Missing("detection.condition"));
    }
    Ok(Detection { searches, condition })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(text: &str) -> Result<Detection, CompileError> {
        let v: Value = yaml_serde::from_str(text).map_err(|e| CompileError::Io(e.to_string()))?;
        parse_detection(&v)
    }

    #[test]
    fn maps_lists_and_keywords_take_their_shapes() {
        let d =
            det("sel: {Image|endswith: [a, b], User: x}\nkw: [foo, 1]\nmix: [{A: 1}, bar]\ncondition: sel").unwrap();
        assert_eq!(d.searches.len(), 3);
        let SearchAlt::Map(items) = &d.searches[0].1[0] else { panic!("map") };
        assert_eq!(items[0].field.as_deref(), Some("Image"));
        assert_eq!(items[0].modifiers, vec!["endswith".to_string()]);
        assert_eq!(items[0].values.len(), 2);
        assert!(
            matches!(&d.searches[1].1[0], SearchAlt::Keywords(k) if k.values == vec![Scalar::Str("foo".into()), Scalar::Int(1)])
        );
        assert_eq!(d.searches[2].1.len(), 2);
    }

    #[test]
    fn nested_maps_and_missing_condition_are_errors() {
        assert!(det("sel: {A: {B: 1}}\ncondition: sel").is_err());
        assert_eq!(det("sel: {A: 1}").err(), Some(CompileError::Missing("detection.condition")));
        assert!(det("sel: {A: []}\ncondition: sel").is_err());
    }

    #[test]
    fn null_and_field_less_modifier_keys_are_kept() {
        let d = det("sel: {A: null, '|re': 'x.*y'}\ncondition: sel").unwrap();
        let SearchAlt::Map(items) = &d.searches[0].1[0] else { panic!("map") };
        assert_eq!(items[0].values, vec![Scalar::Null]);
        assert_eq!(items[1].field, None);
        assert_eq!(items[1].modifiers, vec!["re".to_string()]);
    }
}
