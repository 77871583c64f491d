//! Explaining a verdict for `rampart rules test`: for each rule, which
//! selections held, and for each item the event values it saw. Evaluates
//! every item without short-circuiting, so it is for people, not the hot path.

use serde::Serialize;
use serde_json::Value;

use crate::eval::event::EventCtx;
use crate::eval::matcher::{Selection, Target};
use crate::logsource::LogSource;
use crate::ruleset::RuleSet;

/// Longest event value quoted in an explanation.
const MAX_QUOTE: usize = 200;

/// One item of one alternative.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemExplanation {
    /// The key as written (`CommandLine|contains|all`).
    pub key: String,
    /// Whether the item held.
    pub matched: bool,
    /// The event values the item looked at (truncated), or `<absent>`.
    pub values: Vec<String>,
}

/// One selection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectionExplanation {
    /// The search name (filter selections are prefixed `filter[..]`).
    pub name: String,
    /// Whether the selection held.
    pub matched: bool,
    /// Items per alternative (alternatives are ORed, items ANDed).
    pub alternatives: Vec<Vec<ItemExplanation>>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The rule's index in the set.
    pub rule_index: usize,
    /// The rule's `id`.
    pub rule_id: Option<String>,
    /// The rule's `title`.
    pub title: String,
    /// Whether the whole condition held.
    pub matched: bool,
    /// Every selection.
    pub selections: Vec<SelectionExplanation>,
}

fn quote(s: &str) -> String {
    if s.len() <= MAX_QUOTE {
        return s.to_string();
    }
    let mut end = MAX_QUOTE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn explain_selection(sel: &Selection, ctx: &mut EventCtx<'_>) -> SelectionExplanation {
    let mut alternatives = Vec::new();
    let mut matched = false;
    for alt in &sel.alts {
        let mut items = Vec::new();
        let mut all = true;
        for item in alt {
            let hit = item.eval(ctx);
            all &= hit;
            let values = match item.target {
                Target::Field(id) if ctx.present(id) => ctx.values(id).iter().map(|v| quote(&v.text)).collect(),
                Target::Field(_) => vec!["<absent>".to_string()],
                Target::Keywords => vec!["<all strings of the event>".to_string()],
            };
            items.push(ItemExplanation { key: item.key.clone(), matched: hit, values });
        }
        matched |= all;
        alternatives.push(items);
    }
    SelectionExplanation { name: sel.name.clone(), matched, alternatives }
}

impl RuleSet {
    fn explain_slot(&self, slot: usize, event: &Value) -> Option<Explanation> {
        let rule = self.slots.get(slot)?;
        let meta = self.rule(rule.index as usize)?;
        let mut ctx = EventCtx::new(event, &self.table.index);
        let selections = rule.selections.iter().map(|s| explain_selection(s, &mut ctx)).collect();
        let matched = rule.cond.eval(&rule.selections, &mut ctx);
        Some(Explanation {
            rule_index: rule.index as usize,
            rule_id: meta.id.clone(),
            title: meta.title.clone(),
            matched,
            selections,
        })
    }

    /// Explains every admitted rule that matched or had a selection hold.
    pub fn explain(&self, event: &Value, logsource: &LogSource) -> Vec<Explanation> {
        let mut out: Vec<Explanation> = self
            .routes
            .iter()
            .filter(|r| r.logsource.admits(logsource))
            .flat_map(|route| (route.start..route.end).filter_map(|s| self.explain_slot(s as usize, event)))
            .filter(|e| e.matched || e.selections.iter().any(|s| s.matched))
            .collect();
        out.sort_by_key(|e| e.rule_index);
        out
    }

    /// Explains one rule (by id or name) on `event`, whatever its logsource.
    pub fn explain_rule(&self, id_or_name: &str, event: &Value) -> Option<Explanation> {
        let entry = self.rules.get(self.find(id_or_name)?)?;
        self.explain_slot(entry.slot as usize, event)
    }
}
