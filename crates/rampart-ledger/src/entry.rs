//! What a ledger entry holds: a canonical, versioned serialisation of an
//! audit [`Event`]. The bytes are what the Merkle leaf commits to, so they
//! are produced once, here, and never re-derived from a parsed value.

use rampart_core::Event;
use serde_json::{Value, json};

/// The entry format version; bumped on any change to the layout.
pub const VERSION: u64 = 1;

/// Serialises an event as a ledger entry: `{"v":1,"type":"event","event":{…}}`.
pub fn encode_event(event: &Event) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&json!({ "v": VERSION, "type": "event", "event": event }))
}

/// Reads an entry back; `None` for bytes that are not a known entry.
pub fn decode_event(bytes: &[u8]) -> Option<Event> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    if v["v"] != json!(VERSION) || v["type"] != "event" {
        return None;
    }
    serde_json::from_value(v["event"].clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::Outcome;

    #[test]
    fn events_round_trip_and_foreign_bytes_do_not_decode() {
        let ev = Event::new("auth.login.failed", Outcome::Failure, "mallory").attr("reason", "bad_password");
        let bytes = encode_event(&ev).unwrap();
        let back = decode_event(&bytes).unwrap();
        assert_eq!((back.id, back.kind, back.actor), (ev.id, ev.kind, ev.actor));
        assert!(decode_event(b"not json").is_none());
        assert!(decode_event(br#"{"v":2,"type":"event","event":{}}"#).is_none());
    }
}
