//! Merges the records of one audit event into one normalised record.
//!
//! Every record's fields are kept under their auditd names, which is what
//! Sigma's auditd rules test (`type`, `key`, `a0`, `exe`, `comm`, `name`,
//! `SYSCALL`); a name that occurs in several records (`type`, `name`, `a0`)
//! becomes a list. On top, an EXECVE event gets Sigma's process_creation
//! fields (`Image`, `CommandLine`, `CurrentDirectory`, `User`, `ProcessId`,
//! `ParentProcessId`), and a numeric x86-64 syscall gets its name.

use rampart_core::Outcome;

use super::AuditLine;
use crate::record::{OcsfClass, Parsed};

/// Builds the record of one event from its lines (EOE excluded).
pub fn build(lines: &[AuditLine]) -> Parsed {
    let has = |t: &str| lines.iter().any(|l| l.record_type == t);
    let first = lines.first().map_or("", |l| l.record_type.as_str());
    let (class, kind) = classify(first, has("EXECVE"), has("PATH"));
    let mut p = Parsed::new(class, kind);
    if let Some(line) = lines.first() {
        p.time_ms = Some(line.epoch_ms);
        p.fields.set("audit_serial", i64::try_from(line.serial).unwrap_or(i64::MAX));
    }
    for line in lines {
        p.fields.add("type", line.record_type.as_str());
        for (k, v) in &line.fields {
            p.fields.add(k.clone(), v.as_str());
        }
    }
    if p.fields.get("SYSCALL").is_none()
        && let (Some("c000003e"), Some(nr)) = (p.fields.str("arch"), p.fields.str("syscall"))
        && let Some(name) = nr.parse().ok().and_then(x86_64_syscall)
    {
        p.fields.set("SYSCALL", name);
    }
    if let Some(execve) = lines.iter().find(|l| l.record_type == "EXECVE") {
        process_fields(&mut p, execve, lines);
    }
    p.outcome = outcome(&p);
    p
}

fn classify(first: &str, execve: bool, path: bool) -> (OcsfClass, &'static str) {
    match first {
        _ if execve => (OcsfClass::ProcessActivity, "log.auditd.execve"),
        "USER_AUTH" | "USER_ACCT" => (OcsfClass::Authentication, "log.auditd.user_auth"),
        "USER_LOGIN" => (OcsfClass::Authentication, "log.auditd.user_login"),
        "USER_LOGOUT" => (OcsfClass::Authentication, "log.auditd.user_logout"),
        "USER_START" | "USER_END" | "CRED_ACQ" | "CRED_DISP" | "CRED_REFR" | "USER_ERR" => {
            (OcsfClass::Authentication, "log.auditd.user_session")
        }
        "ADD_USER" | "DEL_USER" | "ADD_GROUP" | "DEL_GROUP" | "USER_MGMT" | "GRP_MGMT" | "USER_CHAUTHTOK"
        | "ACCT_LOCK" | "ACCT_UNLOCK" => (OcsfClass::AccountChange, "log.auditd.account_change"),
        "USER_CMD" => (OcsfClass::ProcessActivity, "log.auditd.user_cmd"),
        "CONFIG_CHANGE" => (OcsfClass::Base, "log.auditd.config_change"),
        "SYSCALL" if path => (OcsfClass::FileSystemActivity, "log.auditd.syscall"),
        "SYSCALL" => (OcsfClass::Base, "log.auditd.syscall"),
        _ => (OcsfClass::Base, "log.auditd.other"),
    }
}

/// `success=yes|no` (kernel) or `res=success|failed|1|0` (user space).
fn outcome(p: &Parsed) -> Option<Outcome> {
    let flag = p.fields.str("success").or_else(|| p.fields.str("res"))?;
    match flag {
        "yes" | "success" | "1" => Some(Outcome::Success),
        "no" | "failed" | "0" => Some(Outcome::Failure),
        _ => None,
    }
}

fn process_fields(p: &mut Parsed, execve: &AuditLine, lines: &[AuditLine]) {
    let get = |line: &AuditLine, key: &str| line.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let argc = get(execve, "argc").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0).min(4096);
    let mut args = Vec::with_capacity(argc);
    for i in 0..argc {
        let key = format!("a{i}");
        match get(execve, &key) {
            Some(arg) => args.push(arg),
            // Long arguments are split: a1_len=…, a1[0]=…, a1[1]=….
            None => {
                let prefix = format!("{key}[");
                let parts: String =
                    execve.fields.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, v)| v.as_str()).collect();
                args.push(parts);
            }
        }
    }
    if !args.is_empty() {
        p.fields.set("CommandLine", args.join(" "));
    }
    let syscall = lines.iter().find(|l| l.record_type == "SYSCALL");
    let image = syscall.and_then(|s| get(s, "exe")).or_else(|| args.first().cloned());
    p.set_opt("Image", image);
    if let Some(s) = syscall {
        p.set_opt("ProcessId", get(s, "pid"));
        p.set_opt("ParentProcessId", get(s, "ppid"));
        // The enriched section names the user; otherwise the numeric uid.
        p.set_opt("User", get(s, "UID").or_else(|| get(s, "uid")));
    }
    let cwd = lines.iter().find(|l| l.record_type == "CWD").and_then(|l| get(l, "cwd"));
    p.set_opt("CurrentDirectory", cwd);
}

/// Names of the x86-64 system calls that security rules ask about.
fn x86_64_syscall(nr: u32) -> Option<&'static str> {
    Some(match nr {
        0 => "read",
        1 => "write",
        2 => "open",
        3 => "close",
        41 => "socket",
        42 => "connect",
        43 => "accept",
        49 => "bind",
        50 => "listen",
        56 => "clone",
        57 => "fork",
        58 => "vfork",
        59 => "execve",
        62 => "kill",
        76 => "truncate",
        77 => "ftruncate",
        82 => "rename",
        83 => "mkdir",
        84 => "rmdir",
        86 => "link",
        87 => "unlink",
        88 => "symlink",
        90 => "chmod",
        91 => "fchmod",
        92 => "chown",
        93 => "fchown",
        94 => "lchown",
        101 => "ptrace",
        103 => "syslog",
        105 => "setuid",
        106 => "setgid",
        113 => "setreuid",
        114 => "setregid",
        117 => "setresuid",
        119 => "setresgid",
        155 => "pivot_root",
        161 => "chroot",
        165 => "mount",
        166 => "umount2",
        169 => "reboot",
        175 => "init_module",
        176 => "delete_module",
        257 => "openat",
        260 => "fchownat",
        263 => "unlinkat",
        264 => "renameat",
        268 => "fchmodat",
        288 => "accept4",
        310 => "process_vm_readv",
        311 => "process_vm_writev",
        313 => "finit_module",
        316 => "renameat2",
        319 => "memfd_create",
        321 => "bpf",
        322 => "execveat",
        _ => return None,
    })
}
