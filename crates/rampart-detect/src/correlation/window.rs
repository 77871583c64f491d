//! The aggregate of one correlation window: event count, distinct values,
//! sum, average or percentile of a numeric field, and for temporal types
//! the number of distinct (or in-order) referenced rules seen.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::parse::CorrelationType;

/// One input kept in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Event time in milliseconds.
    pub t: i64,
    /// Which of the correlation's sources it came from.
    pub source: u16,
    /// The aggregated field's value, if the correlation has one.
    pub value: Option<String>,
    /// The event it came from, when the caller named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<super::engine::EventRef>,
}

/// Linear-interpolated percentile (0–100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (p / 100.0).clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let (a, b) = (*sorted.get(lo)?, *sorted.get(hi)?);
    Some(a + (b - a) * (rank - lo as f64))
}

fn numbers(entries: &VecDeque<Entry>) -> Vec<f64> {
    entries.iter().filter_map(|e| e.value.as_deref()?.trim().parse::<f64>().ok()).filter(|n| n.is_finite()).collect()
}

/// The aggregate the correlation's condition is tested against, or `None`
/// when it is undefined (an average of no numbers).
pub fn aggregate(kind: CorrelationType, entries: &VecDeque<Entry>, pct: f64) -> Option<f64> {
    Some(match kind {
        CorrelationType::EventCount => entries.len() as f64,
        CorrelationType::ValueCount => {
            entries.iter().filter_map(|e| e.value.as_deref()).collect::<BTreeSet<_>>().len() as f64
        }
        CorrelationType::Temporal => entries.iter().map(|e| e.source).collect::<BTreeSet<_>>().len() as f64,
        CorrelationType::TemporalOrdered => {
            // Greedy earliest matching finds the longest prefix of the
            // source order that occurs as a subsequence in time order.
            let mut next = 0u16;
            for e in entries {
                if e.source == next {
                    next += 1;
                }
            }
            f64::from(next)
        }
        CorrelationType::ValueSum => numbers(entries).iter().sum(),
        CorrelationType::ValueAvg => {
            let n = numbers(entries);
            if n.is_empty() {
                return None;
            }
            n.iter().sum::<f64>() / n.len() as f64
        }
        CorrelationType::ValuePercentile => {
            let mut n = numbers(entries);
            n.sort_by(f64::total_cmp);
            percentile(&n, pct)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(items: &[(i64, u16, Option<&str>)]) -> VecDeque<Entry> {
        items.iter().map(|(t, s, v)| Entry { t: *t, source: *s, value: v.map(String::from), reference: None }).collect()
    }

    #[test]
    fn aggregates() {
        let e = entries(&[(1, 0, Some("3")), (2, 1, Some("5")), (3, 0, Some("3")), (4, 1, None)]);
        assert_eq!(aggregate(CorrelationType::EventCount, &e, 50.0), Some(4.0));
        assert_eq!(aggregate(CorrelationType::ValueCount, &e, 50.0), Some(2.0));
        assert_eq!(aggregate(CorrelationType::Temporal, &e, 50.0), Some(2.0));
        assert_eq!(aggregate(CorrelationType::ValueSum, &e, 50.0), Some(11.0));
        assert_eq!(aggregate(CorrelationType::ValueAvg, &e, 50.0), Some(11.0 / 3.0));
        assert_eq!(aggregate(CorrelationType::ValuePercentile, &e, 50.0), Some(3.0));
        assert_eq!(aggregate(CorrelationType::ValuePercentile, &e, 100.0), Some(5.0));
        assert_eq!(aggregate(CorrelationType::ValueAvg, &entries(&[(1, 0, None)]), 50.0), None);
    }

    #[test]
    fn temporal_ordered_needs_the_listed_order() {
        let out_of_order = entries(&[(1, 1, None), (2, 0, None)]);
        assert_eq!(aggregate(CorrelationType::TemporalOrdered, &out_of_order, 50.0), Some(1.0));
        let in_order = entries(&[(1, 1, None), (2, 0, None), (3, 1, None), (4, 2, None)]);
        assert_eq!(aggregate(CorrelationType::TemporalOrdered, &in_order, 50.0), Some(3.0));
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 25.0), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0], 50.0), Some(1.5));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
