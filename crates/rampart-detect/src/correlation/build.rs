//! Resolving correlation documents against the compiled rule set: rule
//! references by id or name (detections and other correlations), aliases
//! into per-source group-by fields, default thresholds, and refusing
//! dangling references and cycles.

use std::sync::Arc;

use super::parse::CorrelationType;
use super::{CorrelationRule, Source};
use crate::builder::Doc;
use crate::error::{CompileError, Rejected};
use crate::parse::Body;
use crate::ruleset::RuleSet;

/// Longest chain of correlations feeding correlations.
pub const MAX_CHAIN_DEPTH: usize = 16;

fn refers(doc: &Doc, reference: &str) -> bool {
    doc.rule.meta.id.as_deref() == Some(reference) || doc.rule.meta.name.as_deref() == Some(reference)
}

/// The name a source is known by in `aliases` (its `name`, else its id).
fn source_names(source: Source, set: &RuleSet, corrs: &[Doc]) -> Vec<String> {
    let meta = match source {
        Source::Rule(r) => set.rule(r).cloned(),
        Source::Correlation(c) => corrs.get(c).map(|d| d.rule.meta.clone()),
    };
    meta.map(|m| m.name.into_iter().chain(m.id).collect()).unwrap_or_default()
}

fn depth(i: usize, edges: &[Vec<usize>], seen: &mut Vec<usize>) -> Result<usize, String> {
    if seen.contains(&i) {
        return Err("correlations refer to each other in a cycle".into());
    }
    if seen.len() > MAX_CHAIN_DEPTH {
        return Err(format!("correlation chain deeper than {MAX_CHAIN_DEPTH}"));
    }
    seen.push(i);
    let mut d = 0;
    for &j in edges.get(i).map(Vec::as_slice).unwrap_or(&[]) {
        d = d.max(1 + depth(j, edges, seen)?);
    }
    seen.pop();
    Ok(d)
}

/// Resolves every correlation document; failures become rejections.
pub fn resolve_correlations(docs: &[Doc], set: &RuleSet) -> (Vec<CorrelationRule>, Vec<Rejected>) {
    let mut rejected = Vec::new();
    // First resolve references, keeping positions in `docs` for chains.
    let mut resolved: Vec<Option<Vec<Source>>> = Vec::with_capacity(docs.len());
    for doc in docs {
        let Body::Correlation(def) = &doc.rule.body else {
            resolved.push(None);
            continue;
        };
        let mut sources = Vec::new();
        let mut missing = None;
        for reference in &def.rules {
            if let Some(r) = set.find(reference) {
                sources.push(Source::Rule(r));
            } else if let Some(c) = docs.iter().position(|d| refers(d, reference)) {
                sources.push(Source::Correlation(c));
            } else {
                missing = Some(reference.clone());
                break;
            }
        }
        match missing {
            Some(m) => {
                rejected.push(doc.reject(CompileError::UnknownRule(m)));
                resolved.push(None);
            }
            None => resolved.push(Some(sources)),
        }
    }
    // A correlation fed by a rejected correlation is rejected too; cycles are refused.
    let edges: Vec<Vec<usize>> = resolved
        .iter()
        .map(|s| {
            s.iter().flatten().filter_map(|s| if let Source::Correlation(c) = s { Some(*c) } else { None }).collect()
        })
        .collect();
    let mut ok: Vec<bool> = resolved.iter().map(Option::is_some).collect();
    for (i, doc) in docs.iter().enumerate() {
        if ok[i]
            && let Err(e) = depth(i, &edges, &mut Vec::new())
        {
            rejected.push(doc.reject(CompileError::Correlation(e)));
            ok[i] = false;
        }
    }
    loop {
        let mut changed = false;
        for (i, doc) in docs.iter().enumerate() {
            if ok[i] && edges[i].iter().any(|&j| !ok[j]) {
                rejected
                    .push(doc.reject(CompileError::Correlation("it refers to a correlation that was rejected".into())));
                ok[i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Final indices skip the rejected correlations.
    let mut final_index = vec![usize::MAX; docs.len()];
    let mut next = 0;
    for (i, keep) in ok.iter().enumerate() {
        if *keep {
            final_index[i] = next;
            next += 1;
        }
    }
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let (true, Some(sources), Body::Correlation(def)) = (ok[i], &resolved[i], &doc.rule.body) else { continue };
        let group_fields = sources
            .iter()
            .map(|original| {
                let names = source_names(*original, set, docs);
                def.group_by
                    .iter()
                    .map(|g| {
                        def.aliases
                            .get(g)
                            .and_then(|per| names.iter().find_map(|n| per.get(n)))
                            .cloned()
                            .unwrap_or_else(|| g.clone())
                    })
                    .collect()
            })
            .collect();
        let sources: Vec<Source> = sources
            .iter()
            .map(|s| match s {
                Source::Correlation(c) => Source::Correlation(final_index[*c]),
                other => *other,
            })
            .collect();
        let mut threshold = def.threshold;
        let temporal = matches!(def.kind, CorrelationType::Temporal | CorrelationType::TemporalOrdered);
        if temporal && threshold == Default::default() {
            threshold.gte = Some(sources.len() as f64);
        }
        out.push(CorrelationRule {
            meta: Arc::new(doc.rule.meta.clone()),
            path: doc.path.clone(),
            kind: def.kind,
            sources,
            group_by: def.group_by.clone(),
            group_fields,
            field: def.field.clone(),
            timespan_ms: def.timespan_ms,
            threshold,
            percentile: def.percentile,
            generate: def.generate,
        });
    }
    (out, rejected)
}
