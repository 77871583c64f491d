//! `[secops]`: the ticket desk (SLA deadlines per severity, the
//! de-duplication window, escalation) and where its notifications go
//! (signed webhooks, email over SMTP, RFC 5424 syslog to another SIEM).
//!
//! Secrets (webhook signing secrets, the SMTP password) are never written
//! in this file: each is named by a `*_file` path, a file readable by the
//! service account only, read once at start into a redacting, zeroizing
//! secret.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::alert::Severity;

/// `[secops]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecopsConfig {
    /// An alert whose de-duplication key (rule and group-by values) matches
    /// an open ticket opened less than this long ago joins it; after it, a
    /// new ticket opens. Seconds.
    pub dedup_window_secs: u64,
    /// Events kept per ticket: the first this many and the latest this many
    /// (each with its ledger index); every event is still counted.
    pub keep_events: usize,
    /// The queue new tickets land in.
    pub default_queue: String,
    /// How often the SLA job looks for missed deadlines, in seconds.
    pub sla_check_secs: u64,
    /// On a missed deadline, raise the ticket's severity one level (up to
    /// critical).
    pub escalate_severity: bool,
    /// On a missed deadline, move the ticket to this queue (unset: stay).
    pub escalation_queue: Option<String>,
    /// At most one `joined` notification per ticket in this many seconds.
    pub join_notify_interval_secs: u64,
    /// Acknowledge and resolve deadlines per severity.
    pub sla: SlaTable,
    /// The notification outbox: retries, back-off, dead letters.
    pub outbox: OutboxConfig,
    /// Signed JSON webhooks.
    pub webhooks: Vec<WebhookConfig>,
    /// Email over SMTP (off unless `host` is set).
    pub smtp: Option<SmtpConfig>,
    /// Alerts forwarded as RFC 5424 syslog to another SIEM.
    pub syslog: Option<SyslogForwardConfig>,
}

/// `[secops.sla]`: one entry per severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaTable {
    pub critical: Sla,
    pub high: Sla,
    pub medium: Sla,
    pub low: Sla,
    pub informational: Sla,
}

/// The deadlines of one severity, in minutes from the ticket's opening;
/// absent: no deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sla {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_mins: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolve_mins: Option<u64>,
}

impl SlaTable {
    pub fn get(&self, severity: Severity) -> Sla {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Informational => self.informational,
        }
    }
}

impl Default for SlaTable {
    /// Critical: acknowledge 15 min, resolve 24 h; high 1 h / 3 d; medium
    /// 4 h / 7 d; low 24 h / 30 d; informational: no deadline.
    fn default() -> Self {
        let sla = |ack: u64, resolve: u64| Sla { ack_mins: Some(ack), resolve_mins: Some(resolve) };
        SlaTable {
            critical: sla(15, 24 * 60),
            high: sla(60, 3 * 24 * 60),
            medium: sla(4 * 60, 7 * 24 * 60),
            low: sla(24 * 60, 30 * 24 * 60),
            informational: Sla::default(),
        }
    }
}

/// `[secops.outbox]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts per notification before it goes to the dead-letter list.
    pub max_attempts: u32,
    /// The wait after the first failure, doubled after each further one.
    pub backoff_initial_ms: u64,
    /// The longest wait between two attempts.
    pub backoff_max_ms: u64,
    /// How often the worker looks for due notifications (it is also woken
    /// at once when one is added on this node).
    pub poll_ms: u64,
    /// An attempt is leased for this long; a node that dies mid-delivery
    /// leaves it to be retried by another after the lease.
    pub lease_ms: u64,
    /// Delivered notifications are deleted after this many days (dead
    /// letters stay until re-driven).
    pub keep_delivered_days: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_attempts: 8,
            backoff_initial_ms: 1000,
            backoff_max_ms: 10 * 60 * 1000,
            poll_ms: 1000,
            lease_ms: 60_000,
            keep_delivered_days: 7,
        }
    }
}

/// `[[secops.webhooks]]`: one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A short name, shown in the outbox and the dead-letter list.
    pub name: String,
    /// `https://…` (or `http://` to a loopback address, for tests and
    /// local relays).
    pub url: String,
    /// A file holding the HMAC-SHA256 signing secret (readable by the
    /// service account only).
    pub secret_file: PathBuf,
    /// Per-attempt timeout, milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Only tickets of at least this severity.
    #[serde(default = "lowest")]
    pub min_severity: Severity,
}

/// `[secops.smtp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default: the connection is upgraded before anything is
    /// sent, or nothing is sent), `tls` (implicit TLS, port 465) or `none`
    /// (plain text; refused together with credentials).
    #[serde(default)]
    pub security: SmtpSecurity,
    /// PEM certificates to trust besides the system's roots.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    /// A file holding the SMTP password.
    pub password_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "lowest")]
    pub min_severity: Severity,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    #[default]
    Starttls,
    Tls,
    None,
}

/// `[secops.syslog]`: forwarding to another SIEM.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogForwardConfig {
    pub address: SocketAddr,
    /// `tcp` (RFC 6587 octet counting), `tls` (RFC 5425) or `udp`.
    #[serde(default)]
    pub transport: SyslogTransport,
    /// The server name the TLS certificate must carry (default: the address).
    pub server_name: Option<String>,
    /// PEM certificates to trust for `tls`, besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The RFC 5424 APP-NAME.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "lowest")]
    pub min_severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransport {
    #[default]
    Tcp,
    Tls,
    Udp,
}

fn default_timeout_ms() -> u64 {
    5000
}
fn default_smtp_port() -> u16 {
    587
}
fn default_app_name() -> String {
    "rampart".into()
}
fn lowest() -> Severity {
    Severity::Informational
}

impl Default for SecopsConfig {
    fn default() -> Self {
        SecopsConfig {
            dedup_window_secs: 24 * 3600,
            keep_events: 50,
            default_queue: "soc".into(),
            sla_check_secs: 30,
            escalate_severity: true,
            escalation_queue: None,
            join_notify_interval_secs: 300,
            sla: SlaTable::default(),
            outbox: OutboxConfig::default(),
            webhooks: Vec::new(),
            smtp: None,
            syslog: None,
        }
    }
}

impl SecopsConfig {
    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.dedup_window_secs == 0 || self.sla_check_secs == 0 {
            return bad("secops.dedup_window_secs and secops.sla_check_secs must be at least 1".into());
        }
        if !(1..=10_000).contains(&self.keep_events) {
            return bad("secops.keep_events must be between 1 and 10000".into());
        }
        if !queue_name_ok(&self.default_queue) || self.escalation_queue.as_deref().is_some_and(|q| !queue_name_ok(q)) {
            return bad("secops.default_queue and secops.escalation_queue must be 1 to 64 of a-z 0-9 - _ .".into());
        }
        for s in Severity::ALL {
            let sla = self.sla.get(s);
            if sla.ack_mins == Some(0) || sla.resolve_mins == Some(0) {
                return bad(format!("secops.sla.{s}: deadlines are at least 1 minute (leave one out for none)"));
            }
            if let (Some(a), Some(r)) = (sla.ack_mins, sla.resolve_mins)
                && a > r
            {
                return bad(format!("secops.sla.{s}: ack_mins must not exceed resolve_mins"));
            }
        }
        let o = &self.outbox;
        if o.max_attempts == 0 || o.backoff_initial_ms == 0 || o.poll_ms == 0 || o.lease_ms == 0 {
            return bad("secops.outbox values must be at least 1".into());
        }
        if o.backoff_max_ms < o.backoff_initial_ms {
            return bad("secops.outbox.backoff_max_ms must be at least backoff_initial_ms".into());
        }
        let mut names = std::collections::HashSet::new();
        for w in &self.webhooks {
            if !queue_name_ok(&w.name) || !names.insert(w.name.as_str()) {
                return bad(format!("secops.webhooks: name {:?} must be unique, 1 to 64 of a-z 0-9 - _ .", w.name));
            }
            if !(w.url.starts_with("https://") || is_loopback_http(&w.url)) {
                return bad(format!(
                    "secops.webhooks.{}: url must be https:// (plain http only to a loopback address)",
                    w.name
                ));
            }
            if w.timeout_ms == 0 {
                return bad(format!("secops.webhooks.{}: timeout_ms must be at least 1", w.name));
            }
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.is_empty() || smtp.from.is_empty() || smtp.to.is_empty() {
                return bad("secops.smtp needs host, from and at least one to".into());
            }
            if smtp.security == SmtpSecurity::None && (smtp.username.is_some() || smtp.password_file.is_some()) {
                return bad("secops.smtp: credentials are never sent without TLS; set security = \"starttls\"".into());
            }
            if smtp.username.is_some() != smtp.password_file.is_some() {
                return bad("secops.smtp: username and password_file go together".into());
            }
            if smtp.timeout_ms == 0 {
                return bad("secops.smtp.timeout_ms must be at least 1".into());
            }
        }
        if let Some(s) = &self.syslog
            && (s.app_name.is_empty()
                || s.app_name.len() > 48
                || !s.app_name.bytes().all(|b| b.is_ascii_graphic())
                || s.timeout_ms == 0)
        {
            return bad("secops.syslog: app_name is 1 to 48 printable ASCII characters, timeout_ms at least 1".into());
        }
        Ok(())
    }
}

/// Queue and endpoint names: short, lower case, safe in a URL and a log line.
pub fn queue_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_sla_table_is_the_documented_one() {
        let t = SlaTable::default();
        assert_eq!(t.get(Severity::Critical), Sla { ack_mins: Some(15), resolve_mins: Some(1440) });
        assert_eq!(t.get(Severity::High), Sla { ack_mins: Some(60), resolve_mins: Some(4320) });
        assert_eq!(t.get(Severity::Low).resolve_mins, Some(30 * 1440));
        assert_eq!(t.get(Severity::Informational), Sla::default());
        assert!(SecopsConfig::default().validate().is_ok());
    }

    #[test]
    fn bad_secops_settings_are_refused_with_the_key_named() {
        let mut c = SecopsConfig::default();
        c.sla.high.ack_mins = Some(0);
        assert!(c.validate().is_err_and(|e| e.to_string().contains("secops.sla.high")));
        let mut c = SecopsConfig::default();
        c.webhooks.push(WebhookConfig {
            name: "x".into(),
            url: "http://example.com/hook".into(),
            secret_file: "/s".into(),
            timeout_ms: 1,
            min_severity: Severity::Low,
        });
        assert!(c.validate().is_err_and(|e| e.to_string().contains("https")));
        c.webhooks[0].url = "http://127.0.0.1:9/hook".into();
        assert!(c.validate().is_ok());
        c.smtp = Some(SmtpConfig {
            host: "mx".into(),
            port: 25,
            security: SmtpSecurity::None,
            ca_file: None,
            username: Some("u".into()),
            password_file: Some("/p".into()),
            from: "a@b".into(),
            to: vec!["c@d".into()],
            timeout_ms: 1,
            min_severity: Severity::Low,
        });
        assert!(c.validate().is_err_and(|e| e.to_string().contains("without TLS")));
    }
}
