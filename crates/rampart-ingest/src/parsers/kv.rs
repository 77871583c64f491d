//! Generic `key=value` messages (`action=allow srcip=10.0.0.1 msg="x y"`), as
//! many firewalls and appliances send them. Keys are kept as sent; the
//! common address and port spellings also get Sigma's firewall names
//! (`src_ip`, `dst_ip`, `src_port`, `dst_port`). A Base Event (0).

use super::common::{kv_pairs, num_or_str};
use crate::record::{OcsfClass, Parsed};

/// Fewest pairs for a message to count as key=value when sniffing content.
pub const MIN_PAIRS: usize = 2;

/// Parses a key=value message; `None` with fewer than [`MIN_PAIRS`] pairs.
pub fn parse(msg: &str) -> Option<Parsed> {
    let mut p = Parsed::new(OcsfClass::Base, "log.kv");
    let mut count = 0;
    kv_pairs(
        msg,
        ' ',
        |_| {},
        |pair| {
            // Keys are identifiers; `a=b` inside free text is not a pair.
            if !pair.key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
                return;
            }
            count += 1;
            let value = if pair.quoted { pair.value.as_ref().into() } else { num_or_str(&pair.value) };
            if let Some(alias) = alias(pair.key) {
                p.fields.set(alias, value.clone());
            }
            p.fields.add(pair.key.to_owned(), value);
        },
    );
    (count >= MIN_PAIRS).then_some(p)
}

/// Spellings of addresses and ports that get Sigma's firewall name too.
const ALIASES: [(&str, &str); 20] = [
    ("src", "src_ip"),
    ("srcip", "src_ip"),
    ("src_ip", "src_ip"),
    ("sip", "src_ip"),
    ("source_ip", "src_ip"),
    ("dst", "dst_ip"),
    ("dstip", "dst_ip"),
    ("dst_ip", "dst_ip"),
    ("dip", "dst_ip"),
    ("destination_ip", "dst_ip"),
    ("spt", "src_port"),
    ("srcport", "src_port"),
    ("src_port", "src_port"),
    ("sport", "src_port"),
    ("source_port", "src_port"),
    ("dpt", "dst_port"),
    ("dstport", "dst_port"),
    ("dst_port", "dst_port"),
    ("dport", "dst_port"),
    ("destination_port", "dst_port"),
];

fn alias(key: &str) -> Option<&'static str> {
    ALIASES.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, a)| *a)
}
