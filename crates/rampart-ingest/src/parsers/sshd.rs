//! OpenSSH server messages: logons accepted and failed, invalid users,
//! disconnects and closed connections, including their `[preauth]` forms.
//!
//! Authentication outcomes are OCSF Authentication (3002); connection life
//! cycle messages without a logon decision are SSH Activity (4007). PAM lines
//! that sshd logs (`pam_unix(sshd:auth): …`) go to the PAM parser.

use rampart_core::Outcome;

use super::common::{qualified_user, set_source, split_ip_port, strip_preauth};
use super::pam;
use crate::record::{OcsfClass, Parsed};

/// Parses one sshd message; `None` when it is none of the known shapes.
pub fn parse(msg: &str) -> Option<Parsed> {
    let msg = msg.trim_end();
    if msg.starts_with("pam_") || msg.starts_with("PAM ") {
        return pam::parse(msg);
    }
    let (body, preauth) = strip_preauth(msg);
    let mut parsed = if let Some(rest) = body.strip_prefix("Accepted ") {
        auth(rest, "log.sshd.auth_success", Outcome::Success)?
    } else if let Some(rest) = body.strip_prefix("Failed ") {
        auth(rest, "log.sshd.auth_failed", Outcome::Failure)?
    } else if let Some(rest) = body.strip_prefix("Invalid user ") {
        invalid_user(rest)?
    } else if let Some(rest) = body.strip_prefix("error: maximum authentication attempts exceeded for ") {
        max_attempts(rest)?
    } else if let Some(rest) = body.strip_prefix("Disconnected from ") {
        closed(rest, "log.sshd.disconnect")?
    } else if let Some(rest) = body.strip_prefix("Received disconnect from ") {
        received_disconnect(rest)?
    } else if let Some(rest) =
        body.strip_prefix("Connection closed by ").or_else(|| body.strip_prefix("Connection reset by "))
    {
        closed(rest, "log.sshd.connection_closed")?
    } else if let Some(rest) = body.strip_prefix("Connection from ") {
        let (_, ip, port, _) = split_ip_port(rest.split(" on ").next().unwrap_or(rest))?;
        let mut p = Parsed::new(OcsfClass::SshActivity, "log.sshd.connection");
        set_source(&mut p, ip, Some(port));
        p
    } else {
        return None;
    };
    if preauth {
        parsed.fields.set("preauth", true);
    }
    Some(parsed)
}

/// `METHOD for [invalid user ]USER from IP port PORT PROTO[: KEY FP]`.
fn auth(rest: &str, kind: &'static str, outcome: Outcome) -> Option<Parsed> {
    let (method, rest) = rest.split_once(" for ")?;
    let from = rest.rfind(" from ")?;
    let (who, addr) = (&rest[..from], &rest[from + 6..]);
    let (user, invalid) = match who.strip_prefix("invalid user ") {
        Some(u) => (u, true),
        None => (who, false),
    };
    let mut p = Parsed::new(OcsfClass::Authentication, kind).with_outcome(outcome);
    p.fields.set("User", user);
    p.fields.set("auth_method", method);
    let (_, ip, port, tail) = split_ip_port(addr)?;
    set_source(&mut p, ip, Some(port));
    if invalid {
        p.fields.set("invalid_user", true);
    }
    // ` ssh2: ED25519 SHA256:…` names the key that was offered.
    if let Some((_, key)) = tail.split_once(": ") {
        let mut words = key.split(' ');
        p.set_opt("ssh_key_type", words.next());
        p.set_opt("ssh_key_fingerprint", words.next());
    }
    Some(p)
}

/// `[invalid user ]USER from IP port PORT ssh2`: the attempt limit was hit.
fn max_attempts(rest: &str) -> Option<Parsed> {
    let from = rest.rfind(" from ")?;
    let (who, addr) = (&rest[..from], &rest[from + 6..]);
    let (_, ip, port, _) = split_ip_port(addr)?;
    let mut p = Parsed::new(OcsfClass::Authentication, "log.sshd.max_auth_exceeded").with_outcome(Outcome::Failure);
    match who.strip_prefix("invalid user ") {
        Some(user) => {
            p.fields.set("User", user);
            p.fields.set("invalid_user", true);
        }
        None => p.fields.set("User", who),
    }
    set_source(&mut p, ip, Some(port));
    Some(p)
}

/// `USER from IP port PORT` (the user may be empty: `Invalid user  from …`).
fn invalid_user(rest: &str) -> Option<Parsed> {
    let from = rest.rfind(" from ")?;
    let (user, addr) = (&rest[..from], &rest[from + 6..]);
    let mut p = Parsed::new(OcsfClass::Authentication, "log.sshd.invalid_user").with_outcome(Outcome::Failure);
    p.fields.set("User", user);
    p.fields.set("invalid_user", true);
    match split_ip_port(addr) {
        Some((_, ip, port, _)) => set_source(&mut p, ip, Some(port)),
        None => set_source(&mut p, addr, None),
    }
    Some(p)
}

/// `[user|authenticating user|invalid user] [USER] IP port PORT`.
fn closed(rest: &str, kind: &'static str) -> Option<Parsed> {
    let (head, ip, port, _) = split_ip_port(rest)?;
    let mut p = Parsed::new(OcsfClass::SshActivity, kind);
    if let Some((user, invalid)) = qualified_user(head) {
        p.fields.set("User", user);
        if invalid {
            p.fields.set("invalid_user", true);
        }
    }
    set_source(&mut p, ip, Some(port));
    Some(p)
}

/// `IP port PORT:CODE: REASON`.
fn received_disconnect(rest: &str) -> Option<Parsed> {
    let (_, ip, port, tail) = split_ip_port(rest)?;
    let mut p = Parsed::new(OcsfClass::SshActivity, "log.sshd.disconnect");
    set_source(&mut p, ip, Some(port));
    let mut parts = tail.trim_start_matches(':').splitn(2, ':');
    p.set_opt("disconnect_code", parts.next().and_then(|c| c.trim().parse::<i64>().ok()));
    p.set_opt("reason", parts.next().map(str::trim));
    Some(p)
}
