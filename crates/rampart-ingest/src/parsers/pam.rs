//! PAM module messages as sshd, sudo, su, login and cron log them:
//! `pam_unix(SERVICE:TYPE): authentication failure; …`, `session opened for
//! user …`, `session closed for user …`, and sshd's `PAM N more
//! authentication failures`. All are OCSF Authentication (3002).

use rampart_core::Outcome;

use super::common::{kv_pairs, num_or_str};
use crate::record::{OcsfClass, Parsed};
use crate::text::looks_like_ip;

/// Parses one PAM message; `None` when it does not start like one.
pub fn parse(msg: &str) -> Option<Parsed> {
    let msg = msg.trim();
    if let Some(rest) = msg.strip_prefix("PAM ") {
        // `PAM 2 more authentication failures; logname= uid=0 … user=root`
        let (count, rest) = rest.split_once(" more authentication failure")?;
        let mut p = Parsed::new(OcsfClass::Authentication, "log.pam.auth_failed").with_outcome(Outcome::Failure);
        p.set_opt("failure_count", count.parse::<i64>().ok());
        if let Some((_, kv)) = rest.split_once("; ") {
            auth_kv(&mut p, kv);
        }
        return Some(p);
    }
    let open = msg.find('(')?;
    let close = msg.find("): ")?;
    let module = &msg[..open];
    if !module.starts_with("pam_") || close < open {
        return None;
    }
    let (service, kind) = msg[open + 1..close].split_once(':').unwrap_or((&msg[open + 1..close], ""));
    let body = &msg[close + 3..];
    let mut p = if let Some(kv) = body.strip_prefix("authentication failure;") {
        let mut p = Parsed::new(OcsfClass::Authentication, "log.pam.auth_failed").with_outcome(Outcome::Failure);
        auth_kv(&mut p, kv);
        p
    } else if let Some(rest) = body.strip_prefix("session opened for user ") {
        // `alice(uid=1000) by (uid=0)` or, before PAM 1.5, `alice by (uid=0)`.
        let (user, by) = rest.split_once(" by ").unwrap_or((rest, ""));
        let mut p = Parsed::new(OcsfClass::Authentication, "log.pam.session_opened").with_outcome(Outcome::Success);
        set_user_uid(&mut p, "User", "uid", user);
        let by = by.trim();
        if !by.is_empty() {
            set_user_uid(&mut p, "SubjectUser", "subject_uid", by);
        }
        p
    } else if let Some(rest) = body.strip_prefix("session closed for user ") {
        let mut p = Parsed::new(OcsfClass::Authentication, "log.pam.session_closed").with_outcome(Outcome::Success);
        set_user_uid(&mut p, "User", "uid", rest.trim());
        p
    } else {
        let mut p = Parsed::new(OcsfClass::Authentication, "log.pam.other");
        p.fields.set("pam_message", body);
        p
    };
    p.fields.set("pam_module", module);
    p.fields.set("pam_service", service);
    if !kind.is_empty() {
        p.fields.set("pam_type", kind);
    }
    Some(p)
}

/// `logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=root`.
fn auth_kv(p: &mut Parsed, kv: &str) {
    kv_pairs(
        kv,
        ' ',
        |_| {},
        |pair| {
            let value = pair.value.as_ref();
            if value.is_empty() {
                return;
            }
            match pair.key {
                "user" => p.fields.set("User", value),
                "ruser" => p.fields.set("ruser", value),
                "rhost" if looks_like_ip(value) => p.fields.set("src_ip", value),
                "rhost" => p.fields.set("src_host", value),
                "uid" | "euid" => p.fields.set(pair.key.to_owned(), num_or_str(value)),
                "logname" | "tty" => p.fields.set(pair.key.to_owned(), value),
                _ => {}
            }
        },
    );
}

/// `alice(uid=1000)` → `User=alice uid=1000`; `(uid=0)` → only the uid.
fn set_user_uid(p: &mut Parsed, user_key: &'static str, uid_key: &'static str, text: &str) {
    let (name, uid) = match text.split_once("(uid=") {
        Some((name, rest)) => (name, rest.strip_suffix(')').and_then(|u| u.parse::<i64>().ok())),
        None => (text, None),
    };
    if !name.is_empty() {
        p.fields.set(user_key, name);
    }
    p.set_opt(uid_key, uid);
}
