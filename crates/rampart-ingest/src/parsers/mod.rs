//! Message parsers and the dispatcher that picks one per message.
//!
//! Each parser is a pure `fn(&str) -> Option<Parsed>` over the syslog MSG
//! text; `None` means "not a line I know", never an error. The dispatcher
//! takes the parser configured for the source, or with `auto` picks one from
//! the app-name (`sshd`, `sudo`, `postgres`…) and then from the content
//! (`type=… msg=audit(`, `{`, `IN=… SRC=`, an access-log shape, `k=v`). A
//! line its parser does not recognise keeps its raw message and syslog
//! fields under the parser's `other` kind (or `log.unknown`).

pub mod auditd;
mod common;
pub mod json;
pub mod kv;
pub mod mysql;
pub mod netfilter;
pub mod pam;
pub mod postgres;
pub mod sshd;
pub mod su;
pub mod sudo;
pub mod web;
pub mod web_error;
pub mod windows;

use std::str::FromStr;

use time::UtcOffset;

use crate::record::{OcsfClass, Parsed, Record};
use crate::syslog::SyslogRecord;

/// The parser a source is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParserKind {
    /// Pick per message from app-name and content.
    Auto,
    Sshd,
    Sudo,
    Su,
    Pam,
    Auditd,
    Netfilter,
    /// nginx or Apache: access lines (combined format) and error lines.
    Web,
    Postgres,
    Mysql,
    Json,
    Kv,
    /// Keep the message as it is.
    Raw,
}

/// A parser name in configuration that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown parser {0:?}; known: auto, sshd, sudo, su, pam, auditd, netfilter, nginx, apache, postgresql, mysql, json, kv, raw"
)]
pub struct UnknownParser(pub String);

impl FromStr for ParserKind {
    type Err = UnknownParser;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" => ParserKind::Auto,
            "sshd" | "ssh" => ParserKind::Sshd,
            "sudo" => ParserKind::Sudo,
            "su" => ParserKind::Su,
            "pam" => ParserKind::Pam,
            "auditd" | "audit" => ParserKind::Auditd,
            "netfilter" | "iptables" | "nftables" | "ufw" => ParserKind::Netfilter,
            "web" | "nginx" | "apache" | "httpd" => ParserKind::Web,
            "postgresql" | "postgres" => ParserKind::Postgres,
            "mysql" | "mariadb" => ParserKind::Mysql,
            "json" => ParserKind::Json,
            "kv" | "keyvalue" => ParserKind::Kv,
            "raw" | "none" => ParserKind::Raw,
            _ => return Err(UnknownParser(s.to_owned())),
        })
    }
}

impl ParserKind {
    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            ParserKind::Auto => "auto",
            ParserKind::Sshd => "sshd",
            ParserKind::Sudo => "sudo",
            ParserKind::Su => "su",
            ParserKind::Pam => "pam",
            ParserKind::Auditd => "auditd",
            ParserKind::Netfilter => "netfilter",
            ParserKind::Web => "web",
            ParserKind::Postgres => "postgresql",
            ParserKind::Mysql => "mysql",
            ParserKind::Json => "json",
            ParserKind::Kv => "kv",
            ParserKind::Raw => "raw",
        }
    }

    /// The kind of a line this parser did not recognise.
    pub fn other_kind(self) -> &'static str {
        match self {
            ParserKind::Sshd => "log.sshd.other",
            ParserKind::Sudo => "log.sudo.other",
            ParserKind::Su => "log.su.other",
            ParserKind::Pam => "log.pam.other",
            ParserKind::Auditd => "log.auditd.other",
            ParserKind::Netfilter => "log.netfilter.other",
            ParserKind::Web => "log.http.other",
            ParserKind::Postgres => "log.postgresql.other",
            ParserKind::Mysql => "log.mysql.other",
            _ => "log.unknown",
        }
    }

    /// Runs this parser alone over one message. Auditd parses the single
    /// record; grouping records needs [`auditd::AuditAssembler`].
    pub fn run(self, msg: &str) -> Option<Parsed> {
        match self {
            ParserKind::Auto | ParserKind::Raw => None,
            ParserKind::Sshd => sshd::parse(msg),
            ParserKind::Sudo => sudo::parse(msg),
            ParserKind::Su => su::parse(msg),
            ParserKind::Pam => pam::parse(msg),
            ParserKind::Auditd => auditd::parse_line(msg).map(|line| auditd::build(std::slice::from_ref(&line))),
            ParserKind::Netfilter => netfilter::parse(msg),
            ParserKind::Web => web::parse(msg).or_else(|| web_error::parse(msg)),
            ParserKind::Postgres => postgres::parse(msg),
            ParserKind::Mysql => mysql::parse(msg),
            ParserKind::Json => json::parse(msg),
            ParserKind::Kv => kv::parse(msg),
        }
    }
}

/// Picks a parser for one message from its app-name, then its content.
pub fn detect(app_name: Option<&str>, msg: &str) -> ParserKind {
    let msg = msg.trim_start();
    if let Some(kind) = app_name.and_then(|app| by_app_name(app, msg)) {
        return kind;
    }
    if msg.starts_with('{') || msg.starts_with("@cee:") {
        ParserKind::Json
    } else if (msg.starts_with("type=") || msg.starts_with("node=") || msg.starts_with("audit: type="))
        && msg.contains("audit(")
    {
        ParserKind::Auditd
    } else if msg.starts_with("pam_") {
        ParserKind::Pam
    } else if msg.contains("IN=") && msg.contains(" SRC=") {
        ParserKind::Netfilter
    } else if looks_like_access_log(msg) {
        ParserKind::Web
    } else if msg.contains('=') {
        ParserKind::Kv
    } else {
        ParserKind::Raw
    }
}

fn by_app_name(app: &str, msg: &str) -> Option<ParserKind> {
    let app = app.rsplit('/').next().unwrap_or(app).to_ascii_lowercase();
    Some(match app.as_str() {
        // OpenSSH 9.8 moved the per-connection work into sshd-session.
        a if a == "sshd" || a.starts_with("sshd-") => ParserKind::Sshd,
        "sudo" => ParserKind::Sudo,
        "su" => ParserKind::Su,
        "auditd" | "audispd" | "audisp-syslog" | "audit" => ParserKind::Auditd,
        "kernel" if msg.contains("audit(") && msg.contains("type=") => ParserKind::Auditd,
        "kernel" if msg.contains("IN=") && msg.contains(" SRC=") => ParserKind::Netfilter,
        "nginx" | "apache" | "apache2" | "httpd" => ParserKind::Web,
        a if a.starts_with("postgres") || a == "postmaster" => ParserKind::Postgres,
        "mysqld" | "mysql" | "mariadbd" | "mariadb" => ParserKind::Mysql,
        _ if msg.starts_with("pam_") => ParserKind::Pam,
        _ => return None,
    })
}

/// `IP - user [` — the start every combined-format line shares.
fn looks_like_access_log(msg: &str) -> bool {
    let Some(bracket) = msg.find(" [") else { return false };
    bracket < 300 && msg[bracket..].contains("] \"") && msg[..bracket].split(' ').count() >= 3
}

/// Parses one message with `kind` (resolving `Auto`); never fails.
pub fn parse_message(kind: ParserKind, app_name: Option<&str>, msg: &str) -> Parsed {
    let kind = if kind == ParserKind::Auto { detect(app_name, msg) } else { kind };
    kind.run(msg).unwrap_or_else(|| Parsed::new(OcsfClass::Base, kind.other_kind()))
}

/// Normalises one syslog record statelessly. Audit records become one
/// event each; use [`Normaliser`] to group them.
pub fn normalise(syslog: SyslogRecord, kind: ParserKind, zone: UtcOffset) -> Record {
    let mut parsed = parse_message(kind, syslog.app_name.as_deref(), &syslog.message);
    parsed.resolve_local_time(zone);
    Record::new(parsed, syslog)
}

/// The per-source normalisation state: the configured parser, the source's
/// time zone and the audit assembler.
#[derive(Debug)]
pub struct Normaliser {
    kind: ParserKind,
    zone: UtcOffset,
    audit: auditd::AuditAssembler,
}

impl Normaliser {
    /// `audit_timeout_ms`: how long audit records wait for their EOE.
    pub fn new(kind: ParserKind, zone: UtcOffset, audit_timeout_ms: i64) -> Self {
        Normaliser { kind, zone, audit: auditd::AuditAssembler::new(audit_timeout_ms) }
    }

    /// Takes one record; finished records are appended to `out` (none while
    /// an audit event is still being assembled).
    pub fn push(&mut self, syslog: SyslogRecord, now_ms: i64, out: &mut Vec<Record>) {
        let kind = match self.kind {
            ParserKind::Auto => detect(syslog.app_name.as_deref(), &syslog.message),
            k => k,
        };
        if kind == ParserKind::Auditd {
            self.audit.push(syslog, now_ms, out);
        } else {
            out.push(normalise(syslog, kind, self.zone));
        }
    }

    /// Releases audit events whose EOE did not come in time; call it
    /// periodically (e.g. once a second).
    pub fn flush_expired(&mut self, now_ms: i64, out: &mut Vec<Record>) {
        self.audit.flush_expired(now_ms, out);
    }

    /// Releases everything held, e.g. when the connection closes.
    pub fn flush_all(&mut self, out: &mut Vec<Record>) {
        self.audit.flush_all(out);
    }
}

#[cfg(test)]
mod tests;
