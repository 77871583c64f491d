//! sudo's log lines: `alice : [REASON ; ]TTY=… ; PWD=… ; USER=… ; COMMAND=…`.
//!
//! A command that ran is OCSF Process Activity (1007) with Sigma's
//! process_creation fields (`CommandLine`, `Image`, `CurrentDirectory`,
//! `User` the invoking user, `TargetUser` the run-as user). Wrong passwords
//! are Authentication (3002); refusals by policy (`user NOT in sudoers`,
//! `command not allowed`) are Authorize Session (3003) with outcome denied.
//! PAM lines that sudo logs go to the PAM parser.

use rampart_core::Outcome;

use super::pam;
use crate::record::{OcsfClass, Parsed};

/// Parses one sudo message; `None` when it is none of the known shapes.
pub fn parse(msg: &str) -> Option<Parsed> {
    let msg = msg.trim();
    if msg.starts_with("pam_") {
        return pam::parse(msg);
    }
    let (user, rest) = msg.split_once(" : ")?;
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    // COMMAND is last and may itself contain ` ; `, so it is cut off first.
    let (head, command) = match rest.find("COMMAND=") {
        Some(at) => (&rest[..at], Some(rest[at + 8..].trim())),
        None => (rest, None),
    };
    let mut reason = None;
    let mut pairs = Vec::new();
    for part in head.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) if k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => pairs.push((k, v)),
            _ => reason = Some(part),
        }
    }
    let mut p = match reason {
        None if command.is_some() => {
            Parsed::new(OcsfClass::ProcessActivity, "log.sudo.command").with_outcome(Outcome::Success)
        }
        None => Parsed::new(OcsfClass::Base, "log.sudo.other"),
        Some(r) if r.contains("incorrect password attempt") || r.contains("password is required") => {
            Parsed::new(OcsfClass::Authentication, "log.sudo.auth_failed").with_outcome(Outcome::Failure)
        }
        Some(r) if r.contains("NOT in sudoers") || r.contains("not allowed") || r.contains("NOT allowed") => {
            Parsed::new(OcsfClass::AuthorizeSession, "log.sudo.denied").with_outcome(Outcome::Denied)
        }
        Some(_) => Parsed::new(OcsfClass::Base, "log.sudo.other"),
    };
    p.fields.set("User", user);
    if let Some(r) = reason {
        p.fields.set("reason", r);
        p.set_opt("failure_count", r.split(' ').next().and_then(|n| n.parse::<i64>().ok()));
    }
    for (key, value) in pairs {
        match key {
            "TTY" => p.fields.set("tty", value),
            "PWD" => p.fields.set("CurrentDirectory", value),
            "USER" => p.fields.set("TargetUser", value),
            "GROUP" => p.fields.set("TargetGroup", value),
            "TSID" => p.fields.set("session_id", value),
            "ENV" => p.fields.set("env", value),
            _ => {}
        }
    }
    if let Some(cmd) = command {
        p.fields.set("CommandLine", cmd);
        p.fields.set("Image", cmd.split(' ').next().unwrap_or(cmd));
    }
    Some(p)
}
