//! Groups audit records of one kernel event (same timestamp and serial) and
//! releases the event on EOE, on a caller-driven timeout, or when the bound
//! on pending events forces the oldest out.
//!
//! User-space records (`USER_*`, `CRED_*`, account changes) are complete on
//! their own and never followed by EOE, so they pass straight through;
//! only the kernel's syscall records are held. The assembler keeps no clock:
//! the caller passes "now" in, which keeps it pure and testable.

use std::collections::VecDeque;

use super::{AuditLine, build, parse_line};
use crate::record::{OcsfClass, Parsed, Record};
use crate::syslog::SyslogRecord;

/// Most events held at once; beyond this the oldest is released early.
const MAX_PENDING: usize = 256;
/// Most records and raw bytes kept per event, so a runaway event cannot
/// grow without bound: with [`MAX_PENDING`] a source holds at most 32 MiB
/// of raw audit text, though real events are a few KiB.
const MAX_LINES: usize = 64;
const MAX_EVENT_BYTES: usize = 128 * 1024;

/// Kernel record types that belong to a multi-record syscall event.
const GROUPED: [&str; 16] = [
    "SYSCALL",
    "EXECVE",
    "PATH",
    "CWD",
    "PROCTITLE",
    "SOCKADDR",
    "SOCKETCALL",
    "IPC",
    "MMAP",
    "BPRM_FCAPS",
    "CAPSET",
    "FD_PAIR",
    "OBJ_PID",
    "AVC",
    "SELINUX_ERR",
    "KERN_MODULE",
];

#[derive(Debug)]
struct Pending {
    serial: u64,
    epoch_ms: i64,
    arrived_ms: i64,
    lines: Vec<AuditLine>,
    syslog: SyslogRecord,
}

/// The assembly state of one audit source.
#[derive(Debug)]
pub struct AuditAssembler {
    timeout_ms: i64,
    pending: VecDeque<Pending>,
}

impl AuditAssembler {
    /// `timeout_ms`: how long an event may wait for its EOE.
    pub fn new(timeout_ms: i64) -> Self {
        AuditAssembler { timeout_ms, pending: VecDeque::new() }
    }

    /// Events still waiting for their EOE.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Takes one record; completed events are appended to `out`.
    pub fn push(&mut self, syslog: SyslogRecord, now_ms: i64, out: &mut Vec<Record>) {
        let Some(line) = parse_line(&syslog.message) else {
            out.push(Record::new(Parsed::new(OcsfClass::Base, "log.auditd.other"), syslog));
            return;
        };
        let slot = self.pending.iter().position(|p| p.serial == line.serial && p.epoch_ms == line.epoch_ms);
        if line.record_type == "EOE" {
            if let Some(done) = slot.and_then(|i| self.pending.remove(i)) {
                out.push(finish(done));
            }
            return;
        }
        if !GROUPED.contains(&line.record_type.as_str()) {
            out.push(Record::new(build(std::slice::from_ref(&line)), syslog));
            return;
        }
        match slot.and_then(|i| self.pending.get_mut(i)) {
            Some(p) => {
                if p.lines.len() < MAX_LINES && p.syslog.raw.len() + syslog.raw.len() < MAX_EVENT_BYTES {
                    p.syslog.raw.push(b'\n');
                    p.syslog.raw.extend_from_slice(&syslog.raw);
                    p.syslog.message.push('\n');
                    p.syslog.message.push_str(&syslog.message);
                    p.syslog.flags.invalid_utf8 |= syslog.flags.invalid_utf8;
                    p.lines.push(line);
                }
            }
            None => {
                if self.pending.len() >= MAX_PENDING
                    && let Some(oldest) = self.pending.pop_front()
                {
                    out.push(finish(oldest));
                }
                let (serial, epoch_ms) = (line.serial, line.epoch_ms);
                self.pending.push_back(Pending { serial, epoch_ms, arrived_ms: now_ms, lines: vec![line], syslog });
            }
        }
    }

    /// Releases events that have waited `timeout_ms` or longer.
    pub fn flush_expired(&mut self, now_ms: i64, out: &mut Vec<Record>) {
        let timeout = self.timeout_ms;
        let mut kept = VecDeque::with_capacity(self.pending.len());
        for p in self.pending.drain(..) {
            if now_ms.saturating_sub(p.arrived_ms) >= timeout {
                out.push(finish(p));
            } else {
                kept.push_back(p);
            }
        }
        self.pending = kept;
    }

    /// Releases everything, e.g. when the source goes away.
    pub fn flush_all(&mut self, out: &mut Vec<Record>) {
        out.extend(self.pending.drain(..).map(finish));
    }
}

fn finish(p: Pending) -> Record {
    Record::new(build(&p.lines), p.syslog)
}
