//! Detection metrics.
//!
//! | metric | labels |
//! |---|---|
//! | `rampart_detect_events_total` | (ledger entries evaluated) |
//! | `rampart_detect_alerts_total` | `pack`, `severity` (alerts taken by the sink) |
//! | `rampart_detect_alert_failures_total` | (sink refusals; the stage retries) |
//! | `rampart_detect_alert_latency_seconds` | (stage clock minus the event time of the alert's last event) |
//! | `rampart_detect_lag` | (committed ledger entries not yet evaluated) |
//! | `rampart_detect_correlation_groups`, `rampart_detect_correlation_entries`, `rampart_detect_correlation_pending` | (state held) |
//! | `rampart_detect_correlation_evictions_total` | `what` (`entries`, `groups`: evicted by the memory bounds) |
//! | `rampart_detect_correlation_late_total` | (inputs behind the watermark, dropped) |
//! | `rampart_detect_correlation_forced_total` | (inputs applied early, the reorder buffer full) |
//! | `rampart_detect_rules` | `pack` (rules loaded) |
//! | `rampart_detect_rules_rejected` | (documents rejected) |

use rampart_detect::EngineStats;

pub fn describe() {
    metrics::describe_counter!("rampart_detect_events_total", "Ledger entries the detection stage evaluated");
    metrics::describe_counter!("rampart_detect_alerts_total", "Alerts raised, by pack and severity");
    metrics::describe_counter!("rampart_detect_alert_failures_total", "Alerts the sink did not take (retried)");
    metrics::describe_histogram!("rampart_detect_alert_latency_seconds", "Event time to alert taken");
    metrics::describe_gauge!("rampart_detect_lag", "Committed ledger entries not yet evaluated");
    metrics::describe_gauge!("rampart_detect_correlation_groups", "Correlation groups held");
    metrics::describe_gauge!("rampart_detect_correlation_entries", "Events held in correlation windows");
    metrics::describe_gauge!("rampart_detect_correlation_pending", "Events waiting for reordering");
    metrics::describe_counter!(
        "rampart_detect_correlation_evictions_total",
        "Correlation entries and groups evicted by the memory bounds"
    );
    metrics::describe_counter!("rampart_detect_correlation_late_total", "Inputs dropped behind the watermark");
    metrics::describe_counter!("rampart_detect_correlation_forced_total", "Inputs applied early (buffer full)");
    metrics::describe_gauge!("rampart_detect_rules", "Detection and correlation rules loaded, by pack");
    metrics::describe_gauge!("rampart_detect_rules_rejected", "Rule documents rejected");
}

pub fn evaluated(n: u64) {
    metrics::counter!("rampart_detect_events_total").increment(n);
}

pub fn alert(pack: &str, severity: &'static str, latency_secs: f64) {
    metrics::counter!("rampart_detect_alerts_total", "pack" => pack.to_owned(), "severity" => severity).increment(1);
    metrics::histogram!("rampart_detect_alert_latency_seconds").record(latency_secs.max(0.0));
}

pub fn alert_failed() {
    metrics::counter!("rampart_detect_alert_failures_total").increment(1);
}

pub fn state(lag: u64, groups: usize, entries: usize, pending: usize, stats: &EngineStats) {
    metrics::gauge!("rampart_detect_lag").set(lag as f64);
    metrics::gauge!("rampart_detect_correlation_groups").set(groups as f64);
    metrics::gauge!("rampart_detect_correlation_entries").set(entries as f64);
    metrics::gauge!("rampart_detect_correlation_pending").set(pending as f64);
    metrics::counter!("rampart_detect_correlation_evictions_total", "what" => "entries")
        .absolute(stats.evicted_entries);
    metrics::counter!("rampart_detect_correlation_evictions_total", "what" => "groups").absolute(stats.evicted_groups);
    metrics::counter!("rampart_detect_correlation_late_total").absolute(stats.late_dropped);
    metrics::counter!("rampart_detect_correlation_forced_total").absolute(stats.forced);
}

pub fn rules(by_pack: &[(&'static str, usize)], rejected: usize) {
    for (pack, n) in by_pack {
        metrics::gauge!("rampart_detect_rules", "pack" => *pack).set(*n as f64);
    }
    metrics::gauge!("rampart_detect_rules_rejected").set(rejected as f64);
}
