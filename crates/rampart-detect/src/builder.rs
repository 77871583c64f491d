//! Building a `RuleSet` from YAML texts: every document is parsed, filters
//! are attached to the rules they name, detections are compiled route by
//! route, correlations are resolved, and every document that fails becomes
//! a `Rejected` with its reason. Nothing is dropped silently.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::compile::{Env, compile_condition, compile_detection, compile_selections};
use crate::config::CompileOptions;
use crate::correlation::build::resolve_correlations;
use crate::error::{CompileError, Rejected};
use crate::eval::matcher::Cond;
use crate::eval::needles::{rule_expr, rule_needles};
use crate::eval::prefilter::Prefilter;
use crate::logsource::LogSource;
use crate::parse::{Body, FilterDef, ParsedRule, opt_str, parse_rule};
use crate::ruleset::{CompiledRule, Route, RuleEntry, RuleSet};
use crate::yaml::documents;

/// One parsed document and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub path: PathBuf,
    pub document: usize,
    pub rule: ParsedRule,
}

impl Doc {
    pub fn reject(&self, reason: CompileError) -> Rejected {
        Rejected {
            path: self.path.clone(),
            document: self.document,
            rule_id: self.rule.meta.id.clone(),
            title: Some(self.rule.meta.title.clone()),
            reason,
        }
    }

    fn refers_to(&self, reference: &str) -> bool {
        self.rule.meta.id.as_deref() == Some(reference) || self.rule.meta.name.as_deref() == Some(reference)
    }
}

/// Collects YAML texts and compiles them into a [`RuleSet`].
#[derive(Debug, Default)]
pub struct RuleSetBuilder {
    options: CompileOptions,
    docs: Vec<Doc>,
    rejected: Vec<Rejected>,
}

impl RuleSetBuilder {
    /// A builder with these options.
    pub fn new(options: CompileOptions) -> Self {
        Self { options, docs: Vec::new(), rejected: Vec::new() }
    }

    /// Adds every document of a YAML text; `path` labels it in rejections.
    pub fn add_yaml(&mut self, path: impl Into<PathBuf>, text: &str) {
        let path = path.into();
        let docs = match documents(text) {
            Ok(docs) => docs,
            Err(reason) => {
                self.rejected.push(Rejected { path, document: 0, rule_id: None, title: None, reason });
                return;
            }
        };
        for (document, doc) in docs {
            let map = match doc {
                Ok(map) => map,
                Err(reason) => {
                    self.rejected.push(Rejected { path: path.clone(), document, rule_id: None, title: None, reason });
                    continue;
                }
            };
            match parse_rule(&map) {
                Ok(rule) => self.docs.push(Doc { path: path.clone(), document, rule }),
                Err(reason) => self.rejected.push(Rejected {
                    path: path.clone(),
                    document,
                    // Name the rule in the rejection when its header is readable.
                    rule_id: opt_str(&map, "id").ok().flatten(),
                    title: opt_str(&map, "title").ok().flatten(),
                    reason,
                }),
            }
        }
    }

    /// Records a rejection found outside YAML parsing (an unreadable file).
    pub fn reject(&mut self, rejected: Rejected) {
        self.rejected.push(rejected);
    }

    /// Compiles everything added so far.
    pub fn build(self) -> (RuleSet, Vec<Rejected>) {
        let Self { options, docs, mut rejected } = self;
        let (mut detections, mut filters, mut correlations) = (Vec::new(), Vec::new(), Vec::new());
        for doc in docs {
            match &doc.rule.body {
                Body::Detection(_) => detections.push(doc),
                Body::Filter(_) => filters.push(doc),
                Body::Correlation(_) => correlations.push(doc),
            }
        }
        let detections = drop_duplicate_ids(detections, &mut rejected);
        let attached = attach_filters(&detections, &filters, &mut rejected);
        let mut set = compile_routes(&options, &detections, &attached, &mut rejected);
        let (corrs, errors) = resolve_correlations(&correlations, &set);
        rejected.extend(errors);
        set.correlations = corrs;
        // Rules that feed a correlation alert on their own only with `generate: true`.
        let mut fed = vec![false; set.rules.len()];
        let mut generate = vec![false; set.rules.len()];
        for c in &set.correlations {
            for r in c.detection_sources() {
                if let Some(f) = fed.get_mut(r) {
                    *f = true;
                }
                if c.generate
                    && let Some(g) = generate.get_mut(r)
                {
                    *g = true;
                }
            }
        }
        for (i, entry) in set.rules.iter_mut().enumerate() {
            entry.generate = !fed[i] || generate[i];
        }
        (set, rejected)
    }
}

fn drop_duplicate_ids(docs: Vec<Doc>, rejected: &mut Vec<Rejected>) -> Vec<Doc> {
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        if let Some(id) = &doc.rule.meta.id {
            if let Some(first) = seen.get(id) {
                rejected.push(doc.reject(CompileError::InvalidAttribute {
                    attribute: "id".into(),
                    message: format!("duplicate id, first defined in {}", first.display()),
                }));
                continue;
            }
            seen.insert(id.clone(), doc.path.clone());
        }
        out.push(doc);
    }
    out
}

/// For each detection (by position), the filters that apply to it.
fn attach_filters<'a>(
    detections: &[Doc],
    filters: &'a [Doc],
    rejected: &mut Vec<Rejected>,
) -> Vec<Vec<(&'a Doc, &'a FilterDef)>> {
    let mut attached = vec![Vec::new(); detections.len()];
    for fdoc in filters {
        let Body::Filter(def) = &fdoc.rule.body else { continue };
        let mut applied = 0;
        for reference in &def.rules {
            for (i, det) in detections.iter().enumerate().filter(|(_, d)| d.refers_to(reference)) {
                if fdoc.rule.meta.logsource.covers(&det.rule.meta.logsource) {
                    attached[i].push((fdoc, def));
                    applied += 1;
                }
            }
        }
        if applied == 0 {
            rejected.push(fdoc.reject(CompileError::UnknownRule(format!(
                "filter applies to no rule with a matching logsource (names {})",
                def.rules.join(", ")
            ))));
        }
    }
    attached
}

/// Shifts selection indices by `by` (filter selections follow the rule's).
fn offset(cond: Cond, by: u32) -> Cond {
    match cond {
        Cond::Sel(i) => Cond::Sel(i + by),
        Cond::Not(c) => Cond::Not(Box::new(offset(*c, by))),
        Cond::And(cs) => Cond::And(cs.into_iter().map(|c| offset(c, by)).collect()),
        Cond::Or(cs) => Cond::Or(cs.into_iter().map(|c| offset(c, by)).collect()),
        Cond::AtLeast(n, cs) => Cond::AtLeast(n, cs.into_iter().map(|c| offset(c, by)).collect()),
    }
}

fn compile_one(
    doc: &Doc,
    filters: &[(&Doc, &FilterDef)],
    env: &mut Env<'_>,
) -> Result<(Vec<crate::eval::matcher::Selection>, Cond), CompileError> {
    let Body::Detection(det) = &doc.rule.body else { return Err(CompileError::Missing("detection")) };
    let (mut selections, mut cond) = compile_detection(det, env)?;
    for (fdoc, def) in filters {
        let mut sels = compile_selections(&def.detection, env).map_err(|e| CompileError::InvalidAttribute {
            attribute: "filter".into(),
            message: format!("{}: {e}", fdoc.path.display()),
        })?;
        let names: Vec<String> = sels.iter().map(|s| s.name.clone()).collect();
        let fcond = compile_condition(&def.detection, &names)?;
        let label = fdoc.rule.meta.id.clone().unwrap_or_else(|| fdoc.rule.meta.title.clone());
        for s in &mut sels {
            s.name = format!("filter[{label}].{}", s.name);
        }
        let by = selections.len() as u32;
        selections.append(&mut sels);
        cond = Cond::And(vec![cond, offset(fcond, by)]);
    }
    Ok((selections, cond))
}

/// Product, category and service of a route.
type RouteKey = (Option<String>, Option<String>, Option<String>);

fn compile_routes(
    options: &CompileOptions,
    detections: &[Doc],
    attached: &[Vec<(&Doc, &FilterDef)>],
    rejected: &mut Vec<Rejected>,
) -> RuleSet {
    let mut by_source: BTreeMap<RouteKey, Vec<usize>> = BTreeMap::new();
    for (i, d) in detections.iter().enumerate() {
        let ls = &d.rule.meta.logsource;
        by_source.entry((ls.product.clone(), ls.category.clone(), ls.service.clone())).or_default().push(i);
    }
    let mut set = RuleSet::default();
    // (document position, slot) of every compiled rule; indices follow document order.
    let mut compiled: Vec<(usize, u32)> = Vec::new();
    for ((product, category, service), members) in by_source {
        let logsource = LogSource { product, category, service };
        let (mapping, roots) = options.resolve(&logsource);
        let route = set.routes.len() as u32;
        let start = set.slots.len() as u32;
        let mut needles = Vec::new();
        for i in members {
            let doc = &detections[i];
            let mut env =
                Env { table: &mut set.table, mapping: &mapping, roots: &roots, placeholders: &options.placeholders };
            match compile_one(doc, &attached[i], &mut env) {
                Ok((selections, cond)) => {
                    needles.push((rule_needles(&cond, &selections), rule_expr(&cond, &selections)));
                    compiled.push((i, set.slots.len() as u32));
                    set.slots.push(CompiledRule { index: 0, route, selections, cond });
                }
                Err(reason) => rejected.push(doc.reject(reason)),
            }
        }
        let end = set.slots.len() as u32;
        let prefilter = Prefilter::new(needles);
        set.routes.push(Route { logsource, mapping, roots, start, end, prefilter });
    }

    compiled.sort_unstable();
    for (index, (doc_i, slot)) in compiled.into_iter().enumerate() {
        if let Some(rule) = set.slots.get_mut(slot as usize) {
            rule.index = index as u32;
        }
        let doc = &detections[doc_i];
        set.rules.push(RuleEntry {
            meta: Arc::new(doc.rule.meta.clone()),
            path: doc.path.clone(),
            slot,
            generate: true,
        });
    }
    set
}
