//! Reading one merged YAML mapping into a typed Sigma document: the rule
//! header (id, name, title, level, tags, logsource) and its body, which is a
//! detection, a correlation or a filter. No matching logic lives here.

pub mod condition;
pub mod detection;

use serde::{Deserialize, Serialize};
use yaml_serde::{Mapping, Value};

use crate::correlation::parse::{CorrelationDef, parse_correlation};
use crate::error::CompileError;
use crate::logsource::LogSource;
pub use detection::{Detection, FieldSpec, Scalar, SearchAlt};

/// A rule's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No threat by itself.
    Informational,
    /// Noteworthy.
    Low,
    /// Relevant, to be reviewed.
    Medium,
    /// Likely malicious.
    High,
    /// Certainly malicious.
    Critical,
}

impl Level {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "informational" => Self::Informational,
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }
}

/// What every Sigma document says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleMeta {
    /// The `id` (normally a UUID).
    pub id: Option<String>,
    /// The `name`, used by correlations and filters to refer to the rule.
    pub name: Option<String>,
    /// The `title`.
    pub title: String,
    /// The `level`.
    pub level: Option<Level>,
    /// The `status` (stable, test, experimental, deprecated, unsupported).
    pub status: Option<String>,
    /// The `tags`.
    pub tags: Vec<String>,
    /// The `logsource`.
    pub logsource: LogSource,
}

/// A parsed document, before compilation.
#[derive(Debug, Clone)]
pub struct ParsedRule {
    /// Header attributes.
    pub meta: RuleMeta,
    /// What the document is.
    pub body: Body,
}

/// The three kinds of Sigma documents.
#[derive(Debug, Clone)]
pub enum Body {
    /// A detection rule.
    Detection(Detection),
    /// A correlation (meta) rule.
    Correlation(CorrelationDef),
    /// A filter that narrows other rules.
    Filter(FilterDef),
}

/// A Sigma filter: extra selections and a condition ANDed onto the rules it names.
#[derive(Debug, Clone)]
pub struct FilterDef {
    /// Ids or names of the rules the filter applies to.
    pub rules: Vec<String>,
    /// Its selections and condition.
    pub detection: Detection,
}

/// Reads an optional string attribute, rejecting other shapes.
pub(crate) fn opt_str(map: &Mapping, key: &str) -> Result<Option<String>, CompileError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(CompileError::InvalidAttribute { attribute: key.into(), message: "must be a string".into() }),
    }
}

/// Reads a string or a list of strings.
pub(crate) fn str_list(map: &Mapping, key: &str) -> Result<Vec<String>, CompileError> {
    let bad = || CompileError::InvalidAttribute { attribute: key.into(), message: "must be a string or a list".into() };
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Sequence(seq)) => seq
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad()),
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn parse_logsource(map: &Mapping) -> Result<LogSource, CompileError> {
    match map.get("logsource") {
        None | Some(Value::Null) => Ok(LogSource::any()),
        Some(Value::Mapping(ls)) => {
            let product = opt_str(ls, "product")?;
            let category = opt_str(ls, "category")?;
            let service = opt_str(ls, "service")?;
            Ok(LogSource::new(product.as_deref(), category.as_deref(), service.as_deref()))
        }
        Some(_) => {
            Err(CompileError::InvalidAttribute { attribute: "logsource".into(), message: "must be a mapping".into() })
        }
    }
}

/// Reads the header: what can be known about a document even if its body is bad.
pub fn parse_meta(map: &Mapping) -> Result<RuleMeta, CompileError> {
    let title = opt_str(map, "title")?.ok_or(CompileError::Missing("title"))?;
    let level = match opt_str(map, "level")? {
        None => None,
        Some(l) => Some(Level::parse(&l).ok_or_else(|| CompileError::InvalidAttribute {
            attribute: "level".into(),
            message: format!("unknown level `{l}`"),
        })?),
    };
    Ok(RuleMeta {
        id: opt_str(map, "id")?,
        name: opt_str(map, "name")?,
        title,
        level,
        status: opt_str(map, "status")?,
        tags: str_list(map, "tags")?,
        logsource: parse_logsource(map)?,
    })
}

/// Reads a whole document.
pub fn parse_rule(map: &Mapping) -> Result<ParsedRule, CompileError> {
    let meta = parse_meta(map)?;
    let body = if let Some(det) = map.get("detection") {
        Body::Detection(detection::parse_detection(det)?)
    } else if let Some(corr) = map.get("correlation") {
        Body::Correlation(parse_correlation(corr)?)
    } else if let Some(Value::Mapping(filter)) = map.get("filter") {
        let rules = str_list(filter, "rules")?;
        if rules.is_empty() {
            return Err(CompileError::Missing("filter.rules"));
        }
        let mut det = filter.clone();
        det.remove("rules");
        Body::Filter(FilterDef { rules, detection: detection::parse_detection(&Value::Mapping(det))? })
    } else {
        return Err(CompileError::Missing("detection"));
    };
    Ok(ParsedRule { meta, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap_or_default()
    }

    #[test]
    fn header_is_read_and_level_checked() {
        let m = map(
            "title: t\nid: x\nlevel: HIGH\ntags: [a, b]\nlogsource: {product: Windows}\ndetection: {s: {a: 1}, condition: s}",
        );
        let rule = parse_rule(&m).map_err(|e| e.to_string());
        let rule = rule.as_ref().map(|r| &r.meta);
        assert_eq!(rule.map(|m| m.level), Ok(Some(Level::High)));
        assert_eq!(rule.map(|m| m.logsource.product.clone()), Ok(Some("windows".into())));
        let bad = parse_meta(&map("title: t\nlevel: severe"));
        assert!(matches!(bad, Err(CompileError::InvalidAttribute { .. })));
    }

    #[test]
    fn missing_title_and_body_are_named() {
        assert_eq!(parse_meta(&map("id: x")).err(), Some(CompileError::Missing("title")));
        assert_eq!(parse_rule(&map("title: x")).err(), Some(CompileError::Missing("detection")));
    }

    #[test]
    fn filter_documents_keep_their_targets() {
        let m = map("title: f\nfilter:\n  rules: [abc]\n  sel: {User: admin}\n  condition: not sel\n");
        match parse_rule(&m).map(|r| r.body) {
            Ok(Body::Filter(f)) => assert_eq!(f.rules, vec!["abc".to_string()]),
            other => panic!("{other:?}"),
        }
    }
}
