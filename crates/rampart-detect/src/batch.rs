//! Batch evaluation of a file of JSON lines against a rule set, as fast
//! as the engine goes: match counts per rule, no explanations, no
//! correlation. `rampart rules eval` and the `sigma_eval` example (which
//! `cargo xtask bench detect` times) both run this loop, so the benchmark
//! measures the product's code. Lines are read a block at a time by one
//! thread while the previous block is matched on every core
//! ([`RuleSet::evaluate_batch`]); memory holds the rules and two blocks,
//! not the input.

use std::io::BufRead;

use serde_json::Value;

use crate::logsource::LogSource;
use crate::ruleset::RuleSet;

/// Why a batch evaluation stopped.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The input could not be read.
    #[error("line {line}: {source}")]
    Io { line: usize, source: std::io::Error },
    /// A line is not one JSON value.
    #[error("line {line}: not JSON: {source}")]
    Json { line: usize, source: serde_json::Error },
    /// A `--logsource-fields` map that does not parse.
    #[error("logsource field map: {0}")]
    FieldMap(String),
}

/// The event fields that state an event's logsource, as rsigma's
/// `--logsource-field-map` names them: `product=F,service=F,category=F`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsourceFields {
    /// The field holding the product.
    pub product: Option<String>,
    /// The field holding the service.
    pub service: Option<String>,
    /// The field holding the category.
    pub category: Option<String>,
}

impl LogsourceFields {
    /// Parses `product=F,service=F,category=F`; every part is optional.
    pub fn parse(map: &str) -> Result<Self, BatchError> {
        let mut out = Self::default();
        for pair in map.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, field) = pair
                .split_once('=')
                .ok_or_else(|| BatchError::FieldMap(format!("expected KEY=FIELD, got {pair:?}")))?;
            let slot = match key.trim() {
                "product" => &mut out.product,
                "service" => &mut out.service,
                "category" => &mut out.category,
                other => {
                    return Err(BatchError::FieldMap(format!("unknown part {other:?} (product, service or category)")));
                }
            };
            *slot = Some(field.trim().to_owned()).filter(|f| !f.is_empty());
        }
        Ok(out)
    }

    /// The logsource `event` states; a part whose field is absent (or not
    /// a string) is unknown and admits every rule.
    pub fn logsource(&self, event: &Value) -> LogSource {
        let part = |f: &Option<String>| f.as_deref().and_then(|f| event.get(f)).and_then(Value::as_str);
        LogSource::new(part(&self.product), part(&self.category), part(&self.service))
    }
}

/// What a batch evaluation counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Non-empty lines evaluated.
    pub events: u64,
    /// Rule matches in all.
    pub matches: u64,
    /// Matches by rule index.
    pub by_rule: Vec<u64>,
}

impl BatchCounts {
    /// Matches by rule id (or name, or title, for rules without an id),
    /// rules that never matched left out.
    pub fn by_rule_id(&self, set: &RuleSet) -> std::collections::BTreeMap<String, u64> {
        self.by_rule
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| {
                let meta = set.rule(i)?;
                Some((meta.id.clone().or_else(|| meta.name.clone()).unwrap_or_else(|| meta.title.clone()), *n))
            })
            .collect()
    }
}

/// Lines read and evaluated together: enough to keep every thread busy
/// between two reads, few enough that memory holds a few megabytes.
const BLOCK_LINES: usize = 8192;

/// A block of input lines: their text, and each line's number and range.
#[derive(Default)]
struct Block {
    text: String,
    lines: Vec<(usize, usize, usize)>,
}

/// Reads up to `BLOCK_LINES` lines into a block; `Ok(None)` at the end.
fn read_block<R: BufRead>(input: &mut R, next_line: &mut usize) -> Result<Option<Block>, BatchError> {
    let mut block = Block::default();
    while block.lines.len() < BLOCK_LINES {
        let line = *next_line + 1;
        let start = block.text.len();
        let n = input.read_line(&mut block.text).map_err(|source| BatchError::Io { line, source })?;
        if n == 0 {
            break;
        }
        *next_line = line;
        let end = block.text.len() - usize::from(block.text.ends_with('\n'));
        let end = end - usize::from(block.text[start..end].ends_with('\r'));
        block.lines.push((line, start, end));
    }
    Ok((!block.lines.is_empty()).then_some(block))
}

/// Evaluates every line of `input` (one JSON event each; blank lines are
/// skipped) on `threads` threads (0: one per available core), while one
/// more thread reads the next block of lines. `view` turns a parsed event
/// and its line number into what the rules see and its logsource. The
/// counts are those of a sequential loop; an error names the first bad
/// line.
pub fn eval_lines<R, F>(set: &RuleSet, mut input: R, threads: usize, view: F) -> Result<BatchCounts, BatchError>
where
    R: BufRead + Send,
    F: Fn(Value, usize) -> (Value, LogSource) + Sync,
{
    let mut counts = BatchCounts { by_rule: vec![0; set.len()], ..BatchCounts::default() };
    let eval = |m: &mut crate::Matcher<'_>, text: &str, line: usize| -> Result<Option<Vec<u32>>, BatchError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let v: Value = serde_json::from_str(text).map_err(|source| BatchError::Json { line, source })?;
        let (fields, logsource) = view(v, line);
        Ok(Some(m.matching_rules(&fields, &logsource)))
    };
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Block, BatchError>>(1);
        s.spawn(move || {
            let mut next_line = 0;
            loop {
                let block = match read_block(&mut input, &mut next_line) {
                    Ok(Some(block)) => Ok(block),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let stop = block.is_err();
                // The receiver is gone only when evaluation stopped early.
                if tx.send(block).is_err() || stop {
                    return;
                }
            }
        });
        for block in rx {
            let block = block?;
            let results = set.evaluate_batch(&block.lines, threads, |m, _, &(line, start, end)| {
                eval(m, block.text.get(start..end).unwrap_or_default(), line)
            });
            for hits in results {
                let Some(hits) = hits? else { continue };
                counts.events += 1;
                for index in hits {
                    counts.matches += 1;
                    if let Some(c) = counts.by_rule.get_mut(index as usize) {
                        *c += 1;
                    }
                }
            }
        }
        Ok(counts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompileOptions, RuleSetBuilder};

    const RULE: &str = "title: t\nid: r1\nlogsource: {product: linux, service: sshd}\n\
        detection: {sel: {message|contains: 'Failed password'}, condition: sel}\n";

    fn set() -> RuleSet {
        let mut b = RuleSetBuilder::new(CompileOptions::default());
        b.add_yaml("r.yml", RULE);
        b.build().0
    }

    #[test]
    fn fields_route_events_and_absent_parts_admit() {
        let map = LogsourceFields::parse("product=p, service=s,category=c").unwrap();
        let input = "{\"p\":\"linux\",\"s\":\"sshd\",\"message\":\"Failed password for x\"}\n\n\
            {\"p\":\"linux\",\"s\":\"sudo\",\"message\":\"Failed password for x\"}\n\
            {\"message\":\"Failed password for y\"}\n";
        let set = set();
        let counts = eval_lines(&set, input.as_bytes(), 2, |v, _| {
            let ls = map.logsource(&v);
            (v, ls)
        })
        .unwrap();
        assert_eq!((counts.events, counts.matches), (3, 2));
        assert_eq!(counts.by_rule_id(&set).get("r1"), Some(&2));
    }

    #[test]
    fn bad_maps_and_bad_lines_are_errors() {
        assert!(matches!(LogsourceFields::parse("vendor=x"), Err(BatchError::FieldMap(_))));
        assert!(matches!(LogsourceFields::parse("product"), Err(BatchError::FieldMap(_))));
        let err = eval_lines(&set(), "{}\nnot json\n".as_bytes(), 2, |v, _| (v, LogSource::any())).unwrap_err();
        assert!(matches!(err, BatchError::Json { line: 2, .. }), "{err}");
    }
}
