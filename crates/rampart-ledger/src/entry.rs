//! What a ledger entry holds: a canonical, versioned serialisation of an
//! audit [`Event`]. The bytes are what the Merkle leaf commits to, so they
//! are produced once, here, and never re-derived from a parsed value.

use rampart_core::Event;
use serde::{Deserialize, Serialize};

/// The entry format version; bumped on any change to the layout.
pub const VERSION: u64 = 1;

/// An entry as written. Entries were first written by serialising a
/// `serde_json::Value`, whose maps sort their keys; these two structs list
/// their fields in that order, so the bytes stay the same without copying
/// every event into a `Value` tree first (a test holds them to it, and
/// fails if `Event` gains a field this mirror lacks).
#[derive(Serialize)]
struct EntryOut<'a, A: Serialize + ?Sized> {
    event: EventOut<'a, A>,
    #[serde(rename = "type")]
    kind: &'static str,
    v: u64,
}

/// [`Event`]'s fields, sorted by name.
#[derive(Serialize)]
struct EventOut<'a, A: Serialize + ?Sized> {
    actor: &'a str,
    attrs: &'a A,
    id: &'a rampart_core::Id,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<&'a str>,
    outcome: &'a rampart_core::Outcome,
    source_addr: Option<&'a str>,
    tenant_id: Option<&'a rampart_core::Id>,
    time_ms: i64,
}

/// An entry as read: straight into the event, without an intermediate
/// `Value` tree to clone it out of.
#[derive(Deserialize)]
struct EntryIn {
    v: u64,
    #[serde(rename = "type")]
    kind: String,
    event: Event,
}

/// Serialises an event as a ledger entry: `{"event":{…},"type":"event","v":1}`.
pub fn encode_event(event: &Event) -> Result<Vec<u8>, serde_json::Error> {
    encode_with(event, &event.attrs)
}

/// An event's attributes serialised once: the JSON text both its ledger
/// entry ([`encode_event_with`]) and its search index row take, instead of
/// each walking the attribute tree again.
pub fn encode_attrs(event: &Event) -> Result<Box<serde_json::value::RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(&event.attrs)
}

/// [`encode_event`] with the attributes already serialised by
/// [`encode_attrs`] (of this same event: the bytes are the same).
pub fn encode_event_with(event: &Event, attrs: &serde_json::value::RawValue) -> Result<Vec<u8>, serde_json::Error> {
    encode_with(event, attrs)
}

fn encode_with<A: Serialize + ?Sized>(event: &Event, attrs: &A) -> Result<Vec<u8>, serde_json::Error> {
    let event = EventOut {
        actor: &event.actor,
        attrs,
        id: &event.id,
        kind: &event.kind,
        object: event.object.as_deref(),
        outcome: &event.outcome,
        source_addr: event.source_addr.as_deref(),
        tenant_id: event.tenant_id.as_ref(),
        time_ms: event.time_ms,
    };
    serde_json::to_vec(&EntryOut { event, kind: "event", v: VERSION })
}

/// Reads an entry back; `None` for bytes that are not a known entry.
pub fn decode_event(bytes: &[u8]) -> Option<Event> {
    let entry: EntryIn = serde_json::from_slice(bytes).ok()?;
    (entry.v == VERSION && entry.kind == "event").then_some(entry.event)
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
        let other_type = String::from_utf8(bytes.clone()).unwrap().replace(r#""type":"event""#, r#""type":"other""#);
        assert!(decode_event(other_type.as_bytes()).is_none());
    }

    /// The bytes are what earlier releases wrote (a `Value` map with sorted
    /// keys), so entries stay byte-for-byte the same across the change.
    #[test]
    fn entries_are_the_bytes_a_sorted_json_map_gives() {
        let mut ev = Event::new("log.sshd.auth_failed", Outcome::Failure, "sshd")
            .object("web-01")
            .attr("message", "Failed password for root from 10.0.0.1 port 22 ssh2 \u{e9}\"")
            .attr("fields", serde_json::json!({"User": "root", "src_ip": "10.0.0.1", "n": 3}));
        ev.tenant_id = Some(rampart_core::Id::new("ten"));
        ev.source_addr = Some("10.0.0.1:514".into());
        let earlier = serde_json::to_vec(&serde_json::json!({ "v": VERSION, "type": "event", "event": ev })).unwrap();
        assert_eq!(encode_event(&ev).unwrap(), earlier);
        // Serialised once for the entry and the index row: the same bytes.
        let attrs = encode_attrs(&ev).unwrap();
        assert_eq!(encode_event_with(&ev, &attrs).unwrap(), earlier);
        assert_eq!(attrs.get(), serde_json::to_string(&ev.attrs).unwrap());
        let back = decode_event(&earlier).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&ev).unwrap());
        // Without the optional parts too (`object` is then left out).
        let bare = Event::new("auth.logout", Outcome::Success, "alice");
        let earlier = serde_json::to_vec(&serde_json::json!({ "v": VERSION, "type": "event", "event": bare })).unwrap();
        assert_eq!(encode_event(&bare).unwrap(), earlier);
    }
}
