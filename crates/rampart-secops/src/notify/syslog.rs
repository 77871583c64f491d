//! Forwarding alerts to another SIEM as RFC 5424 syslog: over TCP with
//! RFC 6587 octet counting, over TLS (RFC 5425, same framing), or over UDP
//! (one message per datagram, no acknowledgement). Each delivery opens its
//! own connection, so a SIEM that restarts costs nothing but a retry.
//!
//! The message: `<PRI>1 TIMESTAMP HOST APP - MSGID [rampart@32473 …] JSON`,
//! facility `authpriv` (10), severity from the ticket (critical → crit,
//! high → err, medium → warning, low → notice, informational → info),
//! MSGID the notification type (`ticket.opened`), structured data naming
//! ticket, rule, severity and event count, and the notification's JSON as
//! the message. 32473 is the private enterprise number RFC 5612 reserves
//! for documentation; the SD-ID names Rampart's own parameters.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rampart_core::alert::Severity;
use rampart_core::config::secops::{SyslogForwardConfig, SyslogTransport};
use tokio::io::AsyncWriteExt;

use super::NotifyError;

/// The configured SIEM.
pub struct SyslogForward {
    address: SocketAddr,
    transport: SyslogTransport,
    tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
    app_name: String,
    timeout: Duration,
    pub min_severity: Severity,
}

impl fmt::Debug for SyslogForward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyslogForward")
            .field("address", &self.address)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl SyslogForward {
    pub fn from_config(c: &SyslogForwardConfig) -> Result<Self, NotifyError> {
        let tls = match c.transport {
            SyslogTransport::Tls => {
                let Some(ca) = &c.ca_file else {
                    return Err(NotifyError::Config(
                        "secops.syslog.ca_file names the certificates the SIEM's TLS certificate must chain to".into(),
                    ));
                };
                let pem = std::fs::read(ca)
                    .map_err(|e| NotifyError::Config(format!("secops.syslog.ca_file {}: {e}", ca.display())))?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                    let cert = cert.map_err(|e| NotifyError::Config(format!("secops.syslog.ca_file: {e}")))?;
                    roots.add(cert).map_err(|e| NotifyError::Config(format!("secops.syslog.ca_file: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(NotifyError::Config("secops.syslog.ca_file holds no certificate".into()));
                }
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| NotifyError::Config(format!("secops.syslog TLS: {e}")))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name = c.server_name.clone().unwrap_or_else(|| c.address.ip().to_string());
                let name = rustls::pki_types::ServerName::try_from(name)
                    .map_err(|e| NotifyError::Config(format!("secops.syslog.server_name: {e}")))?;
                Some((Arc::new(config), name))
            }
            _ => None,
        };
        Ok(SyslogForward {
            address: c.address,
            transport: c.transport,
            tls,
            app_name: c.app_name.clone(),
            timeout: Duration::from_millis(c.timeout_ms),
            min_severity: c.min_severity,
        })
    }

    /// Sends one message; TCP and TLS count it delivered once written and
    /// the connection closed cleanly.
    pub async fn deliver(&self, payload: &serde_json::Value, now_ms: i64) -> Result<(), String> {
        let line = format_5424(&self.app_name, &hostname(), payload, now_ms);
        let send = async {
            match self.transport {
                SyslogTransport::Udp => {
                    let bind: SocketAddr =
                        if self.address.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
                    let socket = tokio::net::UdpSocket::bind(bind).await?;
                    socket.send_to(line.as_bytes(), self.address).await?;
                }
                SyslogTransport::Tcp => {
                    let mut s = tokio::net::TcpStream::connect(self.address).await?;
                    s.write_all(frame(&line).as_bytes()).await?;
                    s.shutdown().await?;
                }
                SyslogTransport::Tls => {
                    let Some((config, name)) = &self.tls else {
                        return Err(std::io::Error::other("TLS is not configured"));
                    };
                    let tcp = tokio::net::TcpStream::connect(self.address).await?;
                    let connector = tokio_rustls::TlsConnector::from(config.clone());
                    let mut s = connector.connect(name.clone(), tcp).await?;
                    s.write_all(frame(&line).as_bytes()).await?;
                    s.shutdown().await?;
                }
            }
            Ok(())
        };
        match tokio::time::timeout(self.timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("syslog to {}: {e}", self.address)),
            Err(_) => Err(format!("syslog to {}: timed out after {:?}", self.address, self.timeout)),
        }
    }
}

/// RFC 6587 octet counting: `LEN SP MSG`.
pub fn frame(msg: &str) -> String {
    format!("{} {msg}", msg.len())
}

/// The node's host name for HEADER and EHLO (`-` style fallback).
pub fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name.trim().chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    if name.is_empty() { "rampart".into() } else { name }
}

/// The RFC 5424 syslog severity of a ticket severity.
pub fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Informational => 6,
    }
}

/// One RFC 5424 message for a notification payload.
pub fn format_5424(app_name: &str, host: &str, p: &serde_json::Value, now_ms: i64) -> String {
    let t = &p["ticket"];
    let severity = t["severity"].as_str().and_then(Severity::parse).unwrap_or(Severity::Medium);
    let pri = 10 * 8 + u16::from(syslog_severity(severity));
    let msgid: String = p["type"].as_str().unwrap_or("-").chars().filter(|c| c.is_ascii_graphic()).take(32).collect();
    let msgid = if msgid.is_empty() { "-".to_owned() } else { msgid };
    let timestamp = rfc3339_micros(now_ms);
    let mut sd = String::from("[rampart@32473");
    for (name, value) in [
        ("ticket", t["id"].as_str().unwrap_or("").to_owned()),
        ("rule", t["rule_id"].as_str().unwrap_or("").to_owned()),
        ("severity", severity.as_str().to_owned()),
        ("status", t["status"].as_str().unwrap_or("").to_owned()),
        ("count", t["event_count"].to_string()),
    ] {
        sd.push_str(&format!(" {name}=\"{}\"", sd_escape(&value)));
    }
    sd.push(']');
    format!("<{pri}>1 {timestamp} {host} {app_name} - {msgid} {sd} {p}")
}

/// PARAM-VALUE escaping: `"`, `\` and `]` take a backslash.
fn sd_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn rfc3339_micros(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_rfc_5424_and_escape_structured_data() {
        let p = serde_json::json!({
            "type": "ticket.opened",
            "ticket": {"id": "tkt_1", "rule_id": "r\"]\\x", "severity": "high", "status": "new", "event_count": 3},
        });
        let m = format_5424("rampart", "host1", &p, 1_700_000_000_123);
        assert!(m.starts_with("<83>1 2023-11-14T22:13:20.123Z host1 rampart - ticket.opened [rampart@32473 "), "{m}");
        assert!(m.contains(r#"rule="r\"\]\\x""#), "{m}");
        assert!(m.contains(r#"count="3"]"#), "{m}");
        assert!(m.ends_with(&p.to_string()));
        assert_eq!(frame("abc"), "3 abc");
        // Length counts octets, not characters.
        assert_eq!(frame("é"), "2 é");
    }
}
