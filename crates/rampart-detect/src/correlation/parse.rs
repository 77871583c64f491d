//! Reading the `correlation` section: type, referenced rules, group-by,
//! timespan, aliases, threshold condition (with `field` and `percentile`)
//! and `generate`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yaml_serde::{Mapping, Value};

use crate::error::CompileError;
use crate::parse::{opt_str, str_list};

/// Longest timespan accepted (one year), so window arithmetic stays sane.
pub const MAX_TIMESPAN_MS: i64 = 366 * 24 * 3_600_000;

/// The correlation types of Sigma v2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    /// Number of events.
    EventCount,
    /// Number of distinct values of a field.
    ValueCount,
    /// All (or N) referenced rules, any order.
    Temporal,
    /// All (or N) referenced rules, in the order listed.
    TemporalOrdered,
    /// Sum of a numeric field.
    ValueSum,
    /// Average of a numeric field.
    ValueAvg,
    /// A percentile of a numeric field.
    ValuePercentile,
}

impl CorrelationType {
    fn parse(s: &str) -> Option<(Self, Option<f64>)> {
        Some(match s {
            "event_count" => (Self::EventCount, None),
            "value_count" => (Self::ValueCount, None),
            "temporal" => (Self::Temporal, None),
            "temporal_ordered" => (Self::TemporalOrdered, None),
            "value_sum" => (Self::ValueSum, None),
            "value_avg" => (Self::ValueAvg, None),
            "value_percentile" => (Self::ValuePercentile, None),
            // The median is the 50th percentile.
            "value_median" => (Self::ValuePercentile, Some(50.0)),
            _ => return None,
        })
    }

    /// Whether the type aggregates a `field`.
    pub fn needs_field(self) -> bool {
        matches!(self, Self::ValueCount | Self::ValueSum | Self::ValueAvg | Self::ValuePercentile)
    }
}

/// A conjunction of bounds on the aggregate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// `gt`
    pub gt: Option<f64>,
    /// `gte`
    pub gte: Option<f64>,
    /// `lt`
    pub lt: Option<f64>,
    /// `lte`
    pub lte: Option<f64>,
    /// `eq`
    pub eq: Option<f64>,
}

impl Threshold {
    /// Whether `x` satisfies every bound.
    pub fn holds(&self, x: f64) -> bool {
        self.gt.is_none_or(|b| x > b)
            && self.gte.is_none_or(|b| x >= b)
            && self.lt.is_none_or(|b| x < b)
            && self.lte.is_none_or(|b| x <= b)
            && self.eq.is_none_or(|b| x == b)
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A parsed correlation section.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationDef {
    /// The type.
    pub kind: CorrelationType,
    /// Referenced rules by id or name, in order.
    pub rules: Vec<String>,
    /// Group-by fields or aliases.
    pub group_by: Vec<String>,
    /// The window.
    pub timespan_ms: i64,
    /// Bounds (for temporal types, on the number of distinct rules; empty means all).
    pub threshold: Threshold,
    /// The aggregated field.
    pub field: Option<String>,
    /// Which percentile `value_percentile` computes (0–100).
    pub percentile: f64,
    /// alias → (rule name → field).
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether referenced rules also alert on their own.
    pub generate: bool,
}

/// Parses `30s`, `5m`, `1h`, `2d` (and `1w`) into milliseconds.
pub fn parse_timespan(s: &str) -> Result<i64, CompileError> {
    let bad = |m: &str| CompileError::Correlation(format!("timespan `{s}`: {m}"));
    let s = s.trim();
    let unit = s.chars().last().ok_or_else(|| bad("empty"))?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad("expected a number and s, m, h, d or w"))?;
    let scale = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 604_800_000,
        _ => return Err(bad("unknown unit")),
    };
    match n.checked_mul(scale) {
        Some(ms) if ms > 0 && ms <= MAX_TIMESPAN_MS => Ok(ms),
        _ => Err(bad("must be positive and at most a year")),
    }
}

fn number(v: &Value, key: &str) -> Result<f64, CompileError> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| CompileError::Correlation(format!("condition `{key}` must be a number")))
}

fn parse_condition(map: &Mapping) -> Result<(Threshold, Option<String>, Option<f64>), CompileError> {
    let mut t = Threshold::default();
    let mut field = None;
    let mut percentile = None;
    for (k, v) in map {
        let key = k.as_str().unwrap_or_default();
        match key {
            "gt" => t.gt = Some(number(v, key)?),
            "gte" => t.gte = Some(number(v, key)?),
            "lt" => t.lt = Some(number(v, key)?),
            "lte" => t.lte = Some(number(v, key)?),
            "eq" => t.eq = Some(number(v, key)?),
            "field" => match v {
                Value::String(s) => field = Some(s.clone()),
                Value::Sequence(seq) if seq.len() == 1 => field = seq[0].as_str().map(String::from),
                _ => return Err(CompileError::Correlation("condition `field` must be one field name".into())),
            },
            "percentile" => percentile = Some(number(v, key)?),
            other => return Err(CompileError::Correlation(format!("unknown condition key `{other}`"))),
        }
    }
    Ok((t, field, percentile))
}

/// Parses the `correlation` section of a document.
pub fn parse_correlation(value: &Value) -> Result<CorrelationDef, CompileError> {
    let Value::Mapping(map) = value else {
        return Err(CompileError::Correlation("`correlation` must be a mapping".into()));
    };
    let kind_text = opt_str(map, "type")?.ok_or(CompileError::Missing("correlation.type"))?;
    let (kind, fixed_percentile) = CorrelationType::parse(&kind_text)
        .ok_or_else(|| CompileError::Correlation(format!("unknown correlation type `{kind_text}`")))?;
    let rules = str_list(map, "rules")?;
    if rules.is_empty() {
        return Err(CompileError::Missing("correlation.rules"));
    }
    let group_by = str_list(map, "group-by")?;
    let timespan = opt_str(map, "timespan")?
        .or(opt_str(map, "timeframe")?)
        .ok_or(CompileError::Missing("correlation.timespan"))?;
    let timespan_ms = parse_timespan(&timespan)?;
    let (threshold, field, percentile) = match map.get("condition") {
        None | Some(Value::Null) => (Threshold::default(), None, None),
        Some(Value::Mapping(c)) => parse_condition(c)?,
        Some(_) => return Err(CompileError::Correlation("only threshold conditions (a mapping) are supported".into())),
    };
    let temporal = matches!(kind, CorrelationType::Temporal | CorrelationType::TemporalOrdered);
    if threshold.is_empty() && !temporal {
        return Err(CompileError::Missing("correlation.condition"));
    }
    if kind.needs_field() && field.is_none() {
        return Err(CompileError::Correlation(format!("`{kind_text}` needs `field` in its condition")));
    }
    let percentile = fixed_percentile.or(percentile).unwrap_or(50.0);
    if !(0.0..=100.0).contains(&percentile) {
        return Err(CompileError::Correlation("percentile must be within 0 and 100".into()));
    }
    let mut aliases = BTreeMap::new();
    if let Some(Value::Mapping(a)) = map.get("aliases") {
        for (alias, per_rule) in a {
            let (Some(alias), Value::Mapping(per_rule)) = (alias.as_str(), per_rule) else {
                return Err(CompileError::Correlation("aliases must map alias → rule name → field".into()));
            };
            let mut fields = BTreeMap::new();
            for (rule, field) in per_rule {
                let (Some(rule), Some(field)) = (rule.as_str(), field.as_str()) else {
                    return Err(CompileError::Correlation(format!("alias `{alias}`: rule and field must be strings")));
                };
                fields.insert(rule.to_string(), field.to_string());
            }
            aliases.insert(alias.to_string(), fields);
        }
    }
    let generate = match map.get("generate") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(CompileError::Correlation("`generate` must be true or false".into())),
    };
    Ok(CorrelationDef { kind, rules, group_by, timespan_ms, threshold, field, percentile, aliases, generate })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CorrelationDef, CompileError> {
        let v: Value = yaml_serde::from_str(text).map_err(|e| CompileError::Io(e.to_string()))?;
        parse_correlation(&v)
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("90m"), Ok(5_400_000));
        assert_eq!(parse_timespan("1d"), Ok(86_400_000));
        for bad in ["", "m", "10x", "-5m", "0s", "99999d", "1é"] {
            assert!(parse_timespan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_count_with_range_condition() {
        let d = parse("type: event_count\nrules: [a]\ngroup-by: [User]\ntimespan: 1h\ncondition: {gt: 100, lte: 200}")
            .unwrap();
        assert!(d.threshold.holds(150.0) && !d.threshold.holds(100.0) && !d.threshold.holds(201.0));
        assert!(!d.generate);
    }

    #[test]
    fn field_and_percentile_are_checked() {
        assert!(parse("type: value_count\nrules: [a]\ntimespan: 1h\ncondition: {gte: 3}").is_err());
        let d = parse("type: value_percentile\nrules: [a]\ntimespan: 1h\ncondition: {field: x, percentile: 95, gt: 9}")
            .unwrap();
        assert_eq!((d.percentile, d.field.as_deref()), (95.0, Some("x")));
        assert!(
            parse("type: value_percentile\nrules: [a]\ntimespan: 1h\ncondition: {field: x, percentile: 101, gt: 9}")
                .is_err()
        );
        assert!(parse("type: frobnicate\nrules: [a]\ntimespan: 1h").is_err());
    }

    #[test]
    fn temporal_needs_no_condition_and_aliases_parse() {
        let d = parse(
            "type: temporal\nrules: [a, b]\ngroup-by: [ip]\ntimespan: 10s\ngenerate: true\naliases:\n  ip: {a: src, b: dst}",
        )
        .unwrap();
        assert!(d.generate);
        assert_eq!(d.aliases["ip"]["b"], "dst");
    }
}
