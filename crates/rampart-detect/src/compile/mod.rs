//! Compiling a parsed detection into the matcher tree: field names mapped
//! and interned per route, items compiled and ordered cheapest first,
//! condition names resolved to selection indices.

pub mod item;
pub mod modifiers;
pub mod pattern;

use std::collections::{BTreeMap, HashMap};

use crate::error::CompileError;
use crate::eval::event::FieldIndex;
use crate::eval::matcher::{Cond, Item, Selection, Target, Test};
use crate::parse::condition::{CondExpr, OfTarget, Quantifier, parse_condition};
use crate::parse::{Detection, Scalar, SearchAlt};

/// The fields one route reads, each with where to find it in an event.
#[derive(Debug, Clone, Default)]
pub struct FieldTable {
    ids: HashMap<String, u32>,
    /// Where each field is found in events.
    pub index: FieldIndex,
    /// Event field names by field id.
    pub names: Vec<String>,
}

impl FieldTable {
    /// The id of event field `name` looked up under `roots`, adding it on
    /// first use. Routes with the same roots share ids, so an event resolves
    /// each field once whatever the number of routes it meets.
    pub fn intern(&mut self, name: &str, roots: &[String]) -> u32 {
        let mut key = name.to_string();
        for r in roots {
            key.push('\0');
            key.push_str(r);
        }
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(key, id);
        self.index.add(id, name, roots);
        self.names.push(name.to_string());
        id
    }
}

/// What a compilation needs besides the rule: the route's field table, the
/// field mapping and roots of the rule's logsource, and placeholder values.
#[derive(Debug)]
pub struct Env<'a> {
    /// The route's fields.
    pub table: &'a mut FieldTable,
    /// Sigma field name to event field name.
    pub mapping: &'a HashMap<String, String>,
    /// Object paths under which unqualified names are also looked up.
    pub roots: &'a [String],
    /// `expand` placeholder values.
    pub placeholders: &'a BTreeMap<String, Vec<String>>,
}

impl Env<'_> {
    /// Maps and interns a Sigma field name.
    pub fn intern(&mut self, sigma_field: &str) -> u32 {
        let name = self.mapping.get(sigma_field).map_or(sigma_field, String::as_str);
        self.table.intern(name, self.roots)
    }
}

/// All values as text, or `None` if any is null.
pub fn values_text(values: &[Scalar]) -> Option<Vec<String>> {
    values.iter().map(Scalar::text).collect()
}

/// A rough cost, so cheap items run first and expensive ones may be skipped.
fn cost(item: &Item) -> u32 {
    let base = match &item.test {
        Test::Exists(_) => 0,
        Test::FieldRef { .. } | Test::Time { .. } => 4,
        Test::Values { sets, .. } => sets
            .iter()
            .map(|s| {
                if !s.regexes.is_empty() {
                    8
                } else if !s.globs.is_empty() {
                    5
                } else if !matches!(s.contains, crate::eval::matcher::Substrings::None) {
                    3
                } else if !s.prefix.is_empty() || !s.suffix.is_empty() {
                    2
                } else {
                    1
                }
            })
            .max()
            .unwrap_or(0),
    };
    if item.target == Target::Keywords { base + 20 } else { base }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    let toks = pattern::parse_wildcards(pattern);
    match pattern::shape(&toks, false) {
        pattern::Shape::Exact(s) => s == name,
        pattern::Shape::Prefix(p) => name.starts_with(&p),
        pattern::Shape::Suffix(s) => name.ends_with(&s),
        pattern::Shape::Contains(c) => name.contains(&c),
        pattern::Shape::AnyText => true,
        pattern::Shape::Glob(g) => regex::Regex::new(&g).is_ok_and(|r| r.is_match(name)),
    }
}

fn resolve(expr: &CondExpr, names: &[String], text: &str) -> Result<Cond, CompileError> {
    let err = |message: String| CompileError::Condition { condition: text.into(), offset: 0, message };
    Ok(match expr {
        CondExpr::Ident(name) => {
            let i = names.iter().position(|n| n == name).ok_or_else(|| err(format!("unknown search `{name}`")))?;
            Cond::Sel(i as u32)
        }
        CondExpr::Not(inner) => Cond::Not(Box::new(resolve(inner, names, text)?)),
        CondExpr::And(terms) => Cond::And(terms.iter().map(|t| resolve(t, names, text)).collect::<Result<_, _>>()?),
        CondExpr::Or(terms) => Cond::Or(terms.iter().map(|t| resolve(t, names, text)).collect::<Result<_, _>>()?),
        CondExpr::Of(q, target) => {
            let picked: Vec<Cond> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| match target {
                    OfTarget::Them => !n.starts_with('_'),
                    OfTarget::Pattern(p) => name_matches(p, n),
                })
                .map(|(i, _)| Cond::Sel(i as u32))
                .collect();
            if picked.is_empty() {
                let what = match target {
                    OfTarget::Them => "them".to_string(),
                    OfTarget::Pattern(p) => format!("`{p}`"),
                };
                return Err(err(format!("no search matches {what}")));
            }
            match q {
                Quantifier::All => Cond::And(picked),
                Quantifier::AtLeast(1) => Cond::Or(picked),
                Quantifier::AtLeast(n) => Cond::AtLeast(*n, picked),
            }
        }
    })
}

/// Compiles the selections of a detection (in the order written).
pub fn compile_selections(det: &Detection, env: &mut Env<'_>) -> Result<Vec<Selection>, CompileError> {
    let mut selections = Vec::with_capacity(det.searches.len());
    for (name, alts) in &det.searches {
        let mut compiled = Vec::with_capacity(alts.len());
        for alt in alts {
            let mut items = match alt {
                SearchAlt::Map(specs) => {
                    specs.iter().map(|s| item::compile_item(s, name, env)).collect::<Result<Vec<_>, _>>()?
                }
                SearchAlt::Keywords(spec) => vec![item::compile_item(spec, name, env)?],
            };
            items.sort_by_key(cost);
            compiled.push(items);
        }
        selections.push(Selection { name: name.clone(), alts: compiled });
    }
    Ok(selections)
}

/// Compiles the condition(s) against the selection names; several are ORed.
pub fn compile_condition(det: &Detection, names: &[String]) -> Result<Cond, CompileError> {
    let mut conds = Vec::with_capacity(det.condition.len());
    for text in &det.condition {
        conds.push(resolve(&parse_condition(text)?, names, text)?);
    }
    Ok(if conds.len() == 1 { conds.remove(0) } else { Cond::Or(conds) })
}

/// Compiles a whole detection.
pub fn compile_detection(det: &Detection, env: &mut Env<'_>) -> Result<(Vec<Selection>, Cond), CompileError> {
    let selections = compile_selections(det, env)?;
    let names: Vec<String> = selections.iter().map(|s| s.name.clone()).collect();
    let cond = compile_condition(det, &names)?;
    Ok((selections, cond))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_name_patterns() {
        assert!(name_matches("sel*", "selection_1"));
        assert!(name_matches("*_img", "sel_img"));
        assert!(name_matches("a*b", "axxb"));
        assert!(!name_matches("filter_*", "selection"));
        assert!(name_matches("exact", "exact"));
    }
}
