//! Kernel netfilter LOG lines from iptables (`-j LOG --log-prefix`), UFW
//! and nftables (`log prefix`): `[UFW BLOCK] IN=eth0 OUT= MAC=… SRC=… DST=…
//! PROTO=TCP SPT=… DPT=… SYN`.
//!
//! OCSF Network Activity (4001) with the field names of Sigma's firewall
//! rules (`src_ip`, `dst_ip`, `src_port`, `dst_port`, `action`, `blocked`).
//! The action comes from the log prefix, which is free text: words such as
//! DROP, BLOCK, DENY, REJECT or ACCEPT, ALLOW in it decide.

use rampart_core::Outcome;

use super::common::kv_pairs;
use crate::record::{OcsfClass, Parsed, Value};

/// Parses one netfilter line; `None` without both `IN=` and `SRC=`.
pub fn parse(msg: &str) -> Option<Parsed> {
    let start = if msg.starts_with("IN=") { 0 } else { msg.find(" IN=")? + 1 };
    if !msg[start..].contains(" SRC=") {
        return None;
    }
    let prefix = kernel_prefix(&msg[..start]);
    let mut p = Parsed::new(OcsfClass::NetworkActivity, "log.netfilter.packet");
    if !prefix.is_empty() {
        p.fields.set("log_prefix", prefix);
    }
    let mut flags = Vec::new();
    kv_pairs(
        &msg[start..],
        ' ',
        |bare| flags.push(Value::from(bare)),
        |pair| {
            let v = pair.value.as_ref();
            if v.is_empty() {
                return;
            }
            let port = || v.parse::<i64>().map_or_else(|_| Value::from(v), Value::Int);
            match pair.key {
                "IN" => p.fields.set("in_interface", v),
                "OUT" => p.fields.set("out_interface", v),
                "MAC" => p.fields.set("mac", v),
                "SRC" => p.fields.set("src_ip", v),
                "DST" => p.fields.set("dst_ip", v),
                "SPT" => p.fields.set("src_port", port()),
                "DPT" => p.fields.set("dst_port", port()),
                "PROTO" => p.fields.set("protocol", v.to_ascii_lowercase()),
                // ICMP and UDP repeat ID and LEN for their own headers; the
                // first, the IP header's, is the one kept.
                "LEN" if p.fields.get("length").is_none() => p.fields.set("length", port()),
                "TTL" => p.fields.set("ttl", port()),
                "TYPE" => p.fields.set("icmp_type", port()),
                "CODE" => p.fields.set("icmp_code", port()),
                "ID" if p.fields.get("packet_id").is_none() => p.fields.set("packet_id", v),
                "MARK" => p.fields.set("mark", v),
                _ => {}
            }
        },
    );
    if !flags.is_empty() {
        p.fields.set("flags", Value::List(flags));
    }
    match action(prefix) {
        Some((action, blocked)) => {
            p.fields.set("action", action);
            p.fields.set("blocked", blocked);
            p.outcome = Some(if blocked { Outcome::Denied } else { Outcome::Success });
        }
        None if p.fields.get("in_interface").is_some() && p.fields.get("out_interface").is_some() => {
            p.fields.set("action", "forward");
        }
        None => {}
    }
    Some(p)
}

/// Drops the kernel's `[ 1234.567890]` uptime stamp and surrounding space.
fn kernel_prefix(text: &str) -> &str {
    let text = text.trim();
    match text.strip_prefix('[').and_then(|t| t.split_once(']')) {
        Some((inside, rest)) if inside.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.') => rest.trim(),
        _ => text,
    }
}

/// The action a free-text prefix names, and whether it blocked the packet.
fn action(prefix: &str) -> Option<(&'static str, bool)> {
    let upper = prefix.to_ascii_uppercase();
    let has = |w: &str| upper.contains(w);
    if has("REJECT") {
        Some(("reject", true))
    } else if has("DROP") || has("BLOCK") || has("DENY") || has("DENIED") {
        Some(("drop", true))
    } else if has("ACCEPT") || has("ALLOW") || has("PASS") {
        Some(("accept", false))
    } else {
        None
    }
}
