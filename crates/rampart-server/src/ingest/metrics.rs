//! Ingest metrics, per source where one is known. Source labels are names
//! from the registry, which `ingest.max_sources` bounds; messages of senders
//! that are not registered count under `unregistered`, so forged host names
//! cannot create label values.
//!
//! | metric | labels |
//! |---|---|
//! | `rampart_ingest_events_total` | `source`, `transport` |
//! | `rampart_ingest_bytes_total` | `source` |
//! | `rampart_ingest_parse_failures_total` | `source` (no syslog header, or a malformed one, or invalid UTF-8) |
//! | `rampart_ingest_truncated_total` | `source` (longer than `ingest.max_message_bytes`) |
//! | `rampart_ingest_dropped_total` | `source`, `reason` (`udp_overflow`, `held`, `refused`, `registry`, `ledger`, `certificate`: its client certificate was revoked mid-connection) |
//! | `rampart_ingest_tls_handshake_failures_total` | `transport` (incl. client certificates refused: unknown, revoked, expired, another CA's, or missing when required) |
//! | `rampart_ingest_framing_errors_total` | `transport` (the connection was closed) |
//! | `rampart_ingest_udp_kernel_drops_total` | `listen` (datagrams the kernel dropped, its receive buffer full; Linux) |
//! | `rampart_ingest_in_flight` | `transport` (events read, not yet durable: the queue depth) |
//! | `rampart_ingest_source_queue` | `source` (its events handed to the ledger, not yet durable and indexed) |
//! | `rampart_ingest_connections` | `transport` |
//! | `rampart_ingest_connections_refused_total` | `transport` (beyond `ingest.max_connections`) |

use rampart_ingest::Record;

use super::Transport;

/// The source label of senders that are not registered.
pub const UNREGISTERED: &str = "unregistered";

pub fn describe() {
    metrics::describe_counter!("rampart_ingest_events_total", "Log events taken in, by source and transport");
    metrics::describe_counter!("rampart_ingest_bytes_total", "Bytes of log messages taken in, by source");
    metrics::describe_counter!(
        "rampart_ingest_parse_failures_total",
        "Messages without a valid syslog header or UTF-8"
    );
    metrics::describe_counter!("rampart_ingest_truncated_total", "Messages cut at ingest.max_message_bytes");
    metrics::describe_counter!("rampart_ingest_dropped_total", "Log messages not stored, by source and reason");
    metrics::describe_counter!("rampart_ingest_framing_errors_total", "Connections closed for broken framing");
    metrics::describe_counter!(
        "rampart_ingest_udp_kernel_drops_total",
        "Datagrams the kernel dropped before they were read (receive buffer full)"
    );
    metrics::describe_gauge!("rampart_ingest_in_flight", "Log events read but not yet durable");
    metrics::describe_gauge!(
        "rampart_ingest_source_queue",
        "Log events of a source handed to the ledger, not yet durable and indexed"
    );
    metrics::describe_counter!(
        "rampart_ingest_tls_handshake_failures_total",
        "Syslog TLS handshakes that failed, client certificates refused among them"
    );
    metrics::describe_gauge!("rampart_ingest_connections", "Open syslog stream connections");
    metrics::describe_counter!(
        "rampart_ingest_connections_refused_total",
        "Syslog connections closed at once because ingest.max_connections were open"
    );
}

/// Counts one record taken in from `source`.
pub fn received(source: &str, transport: Transport, record: &Record) {
    let source = source.to_owned();
    metrics::counter!("rampart_ingest_events_total", "source" => source.clone(), "transport" => transport.as_str())
        .increment(1);
    metrics::counter!("rampart_ingest_bytes_total", "source" => source.clone())
        .increment(record.syslog.raw.len() as u64);
    let flags = record.syslog.flags;
    if flags.malformed_header || flags.no_pri || flags.invalid_utf8 {
        metrics::counter!("rampart_ingest_parse_failures_total", "source" => source.clone()).increment(1);
    }
    if flags.truncated {
        metrics::counter!("rampart_ingest_truncated_total", "source" => source).increment(1);
    }
}

pub fn dropped(source: &str, reason: &'static str) {
    dropped_n(source, reason, 1);
}

pub fn dropped_n(source: &str, reason: &'static str, n: u64) {
    metrics::counter!("rampart_ingest_dropped_total", "source" => source.to_owned(), "reason" => reason).increment(n);
}

pub fn handshake_failed(transport: Transport) {
    metrics::counter!("rampart_ingest_tls_handshake_failures_total", "transport" => transport.as_str()).increment(1);
}

pub fn framing_error(transport: Transport) {
    metrics::counter!("rampart_ingest_framing_errors_total", "transport" => transport.as_str()).increment(1);
}

pub fn in_flight(transport: Transport, delta: f64) {
    metrics::gauge!("rampart_ingest_in_flight", "transport" => transport.as_str()).increment(delta);
}

pub fn connection_refused(transport: Transport) {
    metrics::counter!("rampart_ingest_connections_refused_total", "transport" => transport.as_str()).increment(1);
}

pub fn connections(transport: Transport, delta: f64) {
    metrics::gauge!("rampart_ingest_connections", "transport" => transport.as_str()).increment(delta);
}

/// The kernel's own count of datagrams dropped at the UDP socket `listen`.
pub fn udp_kernel_drops(listen: std::net::SocketAddr, total: u64) {
    metrics::counter!("rampart_ingest_udp_kernel_drops_total", "listen" => listen.to_string()).absolute(total);
}

/// A batch's events counted in `rampart_ingest_source_queue` per source
/// while it lives (until its events are durable and indexed, or lost).
#[derive(Debug)]
pub struct SourceQueue(Vec<(String, u64)>);

impl SourceQueue {
    pub fn enter(per_source: Vec<(String, u64)>) -> Self {
        for (source, n) in &per_source {
            metrics::gauge!("rampart_ingest_source_queue", "source" => source.clone()).increment(*n as f64);
        }
        SourceQueue(per_source)
    }

    /// The sources and how many events of each.
    pub fn sources(&self) -> &[(String, u64)] {
        &self.0
    }
}

impl Drop for SourceQueue {
    fn drop(&mut self) {
        for (source, n) in &self.0 {
            metrics::gauge!("rampart_ingest_source_queue", "source" => source.clone()).decrement(*n as f64);
        }
    }
}
