//! su's own messages (shadow-utils and util-linux): `(to root) alice on
//! pts/0`, `FAILED SU (to root) alice on pts/0`, and the older `Successful su
//! for root by alice` / `FAILED su for root by alice`. All are OCSF
//! Authentication (3002); `User` is who ran su, `TargetUser` whom they became.
//! PAM lines that su logs go to the PAM parser.

use rampart_core::Outcome;

use super::pam;
use crate::record::{OcsfClass, Parsed};

/// Parses one su message; `None` when it is none of the known shapes.
pub fn parse(msg: &str) -> Option<Parsed> {
    let msg = msg.trim();
    if msg.starts_with("pam_") {
        return pam::parse(msg);
    }
    let (failed, rest) = match msg.strip_prefix("FAILED SU ") {
        Some(rest) => (true, rest),
        None => (false, msg),
    };
    if let Some(rest) = rest.strip_prefix("(to ") {
        // `(to root) alice on pts/0`
        let (target, rest) = rest.split_once(") ")?;
        let (user, tty) = rest.split_once(" on ").unwrap_or((rest, ""));
        return Some(build(failed, user, target, Some(tty)));
    }
    for (prefix, failed) in [("Successful su for ", false), ("FAILED su for ", true)] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let (target, user) = rest.split_once(" by ")?;
            return Some(build(failed, user, target, None));
        }
    }
    None
}

fn build(failed: bool, user: &str, target: &str, tty: Option<&str>) -> Parsed {
    let mut p = if failed {
        Parsed::new(OcsfClass::Authentication, "log.su.failed").with_outcome(Outcome::Failure)
    } else {
        Parsed::new(OcsfClass::Authentication, "log.su.success").with_outcome(Outcome::Success)
    };
    p.fields.set("User", user.trim());
    p.fields.set("TargetUser", target.trim());
    p.set_opt("tty", tty.map(str::trim).filter(|t| !t.is_empty()));
    p
}
