//! The ticket desk against real storage: every case runs on embedded SQLite
//! and on PostgreSQL, with the audit trail in the store's table (whose
//! positions stand in for ledger indexes).

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use rampart_core::alert::{Alert, AlertEvent, AlertSink, Severity};
use rampart_core::audit::{Appended, Audit, AuditError, AuditSink, BoxFuture};
use rampart_core::config::SecopsConfig;
use rampart_core::{Event, Id, Role};
use rampart_secops::{Actor, ManualClock, Notifier, Status, TicketError, TicketService};
use rampart_store::{EventFilter, NewUser, Store, TicketFilter};

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_postgres(super::$name).await;
                }
            )*
        }
    };
}

on_every_backend!(
    alerts_open_a_ticket_then_join_it_and_keep_first_and_latest_events,
    a_stale_ticket_is_superseded_and_other_keys_and_tenants_open_their_own,
    concurrent_alerts_on_two_nodes_open_exactly_one_ticket,
    illegal_transitions_are_refused_and_change_nothing,
    missed_deadlines_are_recorded_once_and_escalate,
    every_change_is_in_the_history_with_its_ledger_index,
    customers_see_only_their_tenants_tickets,
    an_audit_trail_that_refuses_leaves_the_ticket_unchanged,
    listing_filters_and_pages_newest_first,
);

use rampart_store::testing::{with_postgres, with_sqlite};

fn audit(store: &Store) -> Audit {
    Audit::new(Arc::new(rampart_store::TableAuditSink(store.clone())), Duration::from_secs(5))
}

const T0: i64 = 1_800_000_000_000;

fn desk(store: &Store, config: SecopsConfig, clock: &ManualClock) -> TicketService {
    TicketService::new(store.clone(), audit(store), config, Notifier::none(), Arc::new(clock.clone()))
}

fn alert(rule: &str, group: &str, events: std::ops::Range<u64>) -> Alert {
    Alert {
        rule_id: rule.into(),
        rule_title: format!("rule {rule}"),
        pack: "test".into(),
        severity: Severity::High,
        group_key: group.into(),
        tenant_id: None,
        events: events
            .clone()
            .map(|i| AlertEvent {
                ledger_index: i,
                time_ms: T0 + i64::try_from(i).unwrap(),
                kind: "syslog.sshd".into(),
            })
            .collect(),
        event_count: events.end - events.start,
        first_seen_ms: T0 + i64::try_from(events.start).unwrap(),
        last_seen_ms: T0 + i64::try_from(events.end).unwrap() - 1,
        tags: vec!["attack.t1110".into()],
        description: "failed logins".into(),
    }
}

fn operator() -> Actor {
    Actor { name: "soc1".into(), tenant: None, source_addr: Some("127.0.0.1".into()) }
}

async fn events_of_kind(store: &Store, kind: &str) -> Vec<Event> {
    let filter = EventFilter { kind: Some(kind.into()), ..EventFilter::default() };
    store.list_events(&filter, 0, 500).await.expect("events").items.into_iter().map(|e| e.event).collect()
}

async fn alerts_open_a_ticket_then_join_it_and_keep_first_and_latest_events(store: Store) {
    let clock = ManualClock::at(T0);
    let config = SecopsConfig { keep_events: 3, ..SecopsConfig::default() };
    let desk = desk(&store, config, &clock);
    let first = desk.raise(&alert("brute", "user=alice", 0..2)).await.expect("open");
    assert!(!first.joined);
    for i in 1..6u64 {
        clock.advance_ms(1000);
        let r = desk.raise(&alert("brute", "user=alice", i * 2..i * 2 + 2)).await.expect("join");
        assert!(r.joined, "alert {i} must join");
        assert_eq!(r.ticket_id, first.ticket_id);
    }
    let d = desk.detail(&operator(), first.ticket_id.as_str()).await.expect("detail");
    assert_eq!(d.ticket.event_count, 12, "every event is counted");
    assert_eq!((d.ticket.first_seen_ms, d.ticket.last_seen_ms), (T0, T0 + 11));
    let kept: Vec<i64> = d.events.iter().map(|e| e.ledger_index).collect();
    assert_eq!(kept, [0, 1, 2, 9, 10, 11], "the first and the latest three are kept");
    assert_eq!(d.ticket.status, "new");
    assert_eq!(d.ticket.ack_due_ms, Some(T0 + 60 * 60_000), "high: acknowledge within an hour");
    assert_eq!(d.ticket.resolve_due_ms, Some(T0 + 3 * 24 * 3_600_000));
    assert_eq!(events_of_kind(&store, "ticket.opened").await.len(), 1);
    assert_eq!(events_of_kind(&store, "ticket.joined").await.len(), 5);
    assert_eq!(store.count_tickets().await.expect("count"), 1);
}

async fn a_stale_ticket_is_superseded_and_other_keys_and_tenants_open_their_own(store: Store) {
    let clock = ManualClock::at(T0);
    let config = SecopsConfig { dedup_window_secs: 600, ..SecopsConfig::default() };
    let desk = desk(&store, config, &clock);
    let a = desk.raise(&alert("brute", "user=alice", 0..1)).await.expect("a");
    let b = desk.raise(&alert("brute", "user=bob", 1..2)).await.expect("b");
    assert!(!b.joined && b.ticket_id != a.ticket_id, "another group is another ticket");
    let tenant = store.create_tenant("acme", T0).await.expect("tenant");
    let mut other_tenant = alert("brute", "user=alice", 2..3);
    other_tenant.tenant_id = Some(tenant.id.clone());
    let c = desk.raise(&other_tenant).await.expect("c");
    assert!(!c.joined && c.ticket_id != a.ticket_id, "another tenant is another ticket");

    clock.advance_ms(601_000);
    let late = desk.raise(&alert("brute", "user=alice", 3..4)).await.expect("late");
    assert!(!late.joined && late.ticket_id != a.ticket_id, "past the window a new ticket opens");
    let old = desk.get(&operator(), a.ticket_id.as_str()).await.expect("old");
    assert_eq!(old.dedup_open, None, "the stale ticket no longer takes alerts");
    assert_eq!(old.status, "new", "but it stays open for someone to work");
    let again = desk.raise(&alert("brute", "user=alice", 4..5)).await.expect("again");
    assert!(again.joined && again.ticket_id == late.ticket_id);

    // A resolved ticket takes no more alerts either.
    desk.resolve(&operator(), late.ticket_id.as_str(), "blocked the address".into()).await.expect("resolve");
    let after = desk.raise(&alert("brute", "user=alice", 5..6)).await.expect("after");
    assert!(!after.joined && after.ticket_id != late.ticket_id);
}

async fn concurrent_alerts_on_two_nodes_open_exactly_one_ticket(store: Store) {
    let clock = ManualClock::at(T0);
    // Two services on one database: two nodes, each with its own lock.
    let nodes = [desk(&store, SecopsConfig::default(), &clock), desk(&store, SecopsConfig::default(), &clock)];
    let mut tasks = Vec::new();
    for i in 0..24u64 {
        let node = nodes[usize::try_from(i % 2).unwrap()].clone();
        tasks.push(tokio::spawn(async move { node.raise(&alert("race", "k=v", i..i + 1)).await }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut opened = 0;
    for t in tasks {
        let r = t.await.expect("task").expect("raise");
        opened += usize::from(!r.joined);
        ids.insert(r.ticket_id);
    }
    assert_eq!(ids.len(), 1, "one ticket for one key, whatever the interleaving");
    assert_eq!(opened, 1);
    let t = nodes[0].get(&operator(), ids.iter().next().unwrap().as_str()).await.expect("ticket");
    assert_eq!(t.event_count, 24, "no alert lost");
    assert_eq!(store.count_tickets().await.expect("count"), 1);
}

async fn illegal_transitions_are_refused_and_change_nothing(store: Store) {
    let clock = ManualClock::at(T0);
    let desk = desk(&store, SecopsConfig::default(), &clock);
    let id = desk.raise(&alert("r", "", 0..1)).await.expect("open").ticket_id;
    let id = id.as_str();
    let op = operator();

    let no_resolution = desk.set_status(&op, id, Status::Resolved, None).await;
    assert!(matches!(no_resolution, Err(TicketError::Invalid(ref m)) if m.contains("resolution")), "{no_resolution:?}");
    desk.acknowledge(&op, id).await.expect("ack");
    let before = desk.detail(&op, id).await.expect("detail");
    let back = desk.set_status(&op, id, Status::New, None).await;
    let msg = back.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(back, Err(TicketError::IllegalTransition { .. })), "{back:?}");
    assert!(msg.contains("acknowledged") && msg.contains("in_progress"), "the error says what is allowed: {msg}");
    let twice = desk.acknowledge(&op, id).await;
    assert!(matches!(twice, Err(TicketError::IllegalTransition { .. })), "{twice:?}");
    let after = desk.detail(&op, id).await.expect("detail");
    assert_eq!(after.ticket, before.ticket, "a refused change changes nothing");
    assert_eq!(after.history.len(), before.history.len());

    desk.set_status(&op, id, Status::InProgress, None).await.expect("work");
    desk.set_status(&op, id, Status::FalsePositive, Some("scanner".into())).await.expect("fp");
    desk.set_status(&op, id, Status::Closed, None).await.expect("close");
    for to in Status::ALL {
        let r = desk.set_status(&op, id, to, Some("x".into())).await;
        assert!(matches!(r, Err(TicketError::IllegalTransition { .. })), "closed is final, {to}: {r:?}");
    }
    let r = desk.assign(&op, id, None, Some("other".into())).await;
    assert!(matches!(r, Err(TicketError::Invalid(_))), "{r:?}");
    let r = desk.comment(&op, id, "   ").await;
    assert!(matches!(r, Err(TicketError::Invalid(_))), "{r:?}");
    let r = desk.comment(&op, id, &"x".repeat(20_000)).await;
    assert!(matches!(r, Err(TicketError::Invalid(_))), "oversized: {r:?}");
    let r = desk.assign(&op, id, Some("nobody".into()), None).await;
    assert!(matches!(r, Err(TicketError::Invalid(_))), "{r:?}");
    assert!(matches!(desk.get(&op, "tkt_nonsense").await, Err(TicketError::NotFound)));
    assert!(matches!(desk.get(&op, &Id::new("tkt").to_string()).await, Err(TicketError::NotFound)));

    let mut bad = alert("r", "", 0..1);
    bad.rule_id = "bad\nrule".into();
    assert!(desk.raise(&bad).await.is_err_and(|e| e.to_string().contains("refused")));
    let mut bad = alert("r", "", 0..1);
    bad.first_seen_ms = bad.last_seen_ms + 1;
    assert!(desk.raise(&bad).await.is_err());
}

async fn missed_deadlines_are_recorded_once_and_escalate(store: Store) {
    let clock = ManualClock::at(T0);
    let config = SecopsConfig { escalation_queue: Some("escalations".into()), ..SecopsConfig::default() };
    let desk = desk(&store, config, &clock);
    let mut medium = alert("m", "", 0..1);
    medium.severity = Severity::Medium;
    let late = desk.raise(&medium).await.expect("open").ticket_id;
    let mut high = alert("h", "", 1..2);
    high.severity = Severity::High;
    let acked = desk.raise(&high).await.expect("open").ticket_id;
    let mut info = alert("i", "", 2..3);
    info.severity = Severity::Informational;
    let never = desk.raise(&info).await.expect("open").ticket_id;

    clock.advance_ms(30 * 60_000);
    desk.acknowledge(&operator(), acked.as_str()).await.expect("ack in time");
    assert_eq!(desk.check_sla().await.expect("sla"), 0, "nothing is due yet");

    clock.advance_ms(4 * 3_600_000);
    assert_eq!(desk.check_sla().await.expect("sla"), 1, "the medium ticket missed its 4 h acknowledgement");
    assert_eq!(desk.check_sla().await.expect("sla"), 0, "a missed deadline is recorded once");
    let t = desk.get(&operator(), late.as_str()).await.expect("late");
    assert_eq!((t.severity.as_str(), t.queue.as_str()), ("high", "escalations"));
    assert!(t.ack_missed_ms.is_some() && t.resolve_missed_ms.is_none());
    let a = desk.get(&operator(), acked.as_str()).await.expect("acked");
    assert!(a.ack_missed_ms.is_none(), "acknowledged in time");

    clock.advance_ms(7 * 24 * 3_600_000);
    // The medium one's 7 d and the high one's 3 d resolve deadlines.
    assert_eq!(desk.check_sla().await.expect("sla"), 2);
    assert_eq!(desk.check_sla().await.expect("sla"), 0);
    let t = desk.get(&operator(), late.as_str()).await.expect("late");
    assert_eq!(t.severity, "critical", "escalated once more");
    let n = desk.get(&operator(), never.as_str()).await.expect("info");
    assert!(n.ack_due_ms.is_none() && n.ack_missed_ms.is_none(), "informational has no deadline");
    let missed = events_of_kind(&store, "ticket.sla_missed").await;
    assert_eq!(missed.len(), 3, "one event per missed deadline");
    assert!(missed.iter().all(|e| e.actor == "system"));
}

async fn every_change_is_in_the_history_with_its_ledger_index(store: Store) {
    let clock = ManualClock::at(T0);
    let desk = desk(&store, SecopsConfig::default(), &clock);
    store
        .create_user(
            NewUser { username: "soc2", role: Role::SecurityOperator, tenant_id: None, password_hash: "x" },
            T0,
        )
        .await
        .expect("user");
    let id = desk.raise(&alert("r", "", 0..1)).await.expect("open").ticket_id;
    let id = id.as_str();
    let op = operator();
    desk.raise(&alert("r", "", 1..2)).await.expect("join");
    desk.acknowledge(&op, id).await.expect("ack");
    desk.assign(&op, id, Some("soc2".into()), Some("tier2".into())).await.expect("assign");
    desk.comment(&op, id, "looking").await.expect("comment");
    desk.resolve(&op, id, "blocked".into()).await.expect("resolve");
    let d = desk.detail(&op, id).await.expect("detail");
    let actions: Vec<&str> = d.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "ticket.opened",
            "ticket.joined",
            "ticket.acknowledged",
            "ticket.assigned",
            "ticket.commented",
            "ticket.resolved"
        ]
    );
    // Each entry names the audit event recorded before the change.
    for h in &d.history {
        let seq = h.ledger_index.expect("every change has its audit record");
        let ev = store.list_events(&EventFilter::default(), seq - 1, 1).await.expect("event").items;
        assert_eq!(ev[0].event.kind, h.action);
        assert_eq!(ev[0].event.object.as_deref(), Some(id));
    }
    assert_eq!(d.ticket.assignee.as_deref(), Some("soc2"));
    assert_eq!(d.ticket.queue, "tier2");
    assert_eq!(d.ticket.resolution.as_deref(), Some("blocked"));
    assert_eq!(d.comments.len(), 1);
    assert_eq!(d.comments[0].author, "soc1");
    assert_eq!(d.history[3].detail["assignee"]["to"], "soc2");
}

async fn customers_see_only_their_tenants_tickets(store: Store) {
    let clock = ManualClock::at(T0);
    let desk = desk(&store, SecopsConfig::default(), &clock);
    let acme = store.create_tenant("acme", T0).await.expect("tenant");
    let globex = store.create_tenant("globex", T0).await.expect("tenant");
    let mut a = alert("r", "", 0..1);
    a.tenant_id = Some(acme.id.clone());
    let mine = desk.raise(&a).await.expect("acme").ticket_id;
    let platform = desk.raise(&alert("r", "", 1..2)).await.expect("platform").ticket_id;
    let customer = Actor { name: "acme-admin".into(), tenant: Some(acme.id.clone()), source_addr: None };
    let other = Actor { name: "globex-admin".into(), tenant: Some(globex.id.clone()), source_addr: None };
    assert!(desk.get(&customer, mine.as_str()).await.is_ok());
    assert!(matches!(desk.get(&customer, platform.as_str()).await, Err(TicketError::NotFound)));
    assert!(matches!(desk.get(&other, mine.as_str()).await, Err(TicketError::NotFound)), "not forbidden: not found");
    let page = desk.list(&customer, TicketFilter::default(), None, 50).await.expect("list");
    assert_eq!(page.items.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), [mine]);
    // A customer asking for another tenant still gets only its own.
    let asked = TicketFilter { tenant_id: Some(globex.id.clone()), ..TicketFilter::default() };
    let page = desk.list(&customer, asked, None, 50).await.expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(desk.list(&operator(), TicketFilter::default(), None, 50).await.expect("all").items.len(), 2);
}

/// An audit trail that refuses every record after the first `allow`.
#[derive(Debug)]
struct Refusing {
    inner: rampart_store::TableAuditSink,
    allow: std::sync::atomic::AtomicUsize,
}

impl AuditSink for Refusing {
    fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<Appended, AuditError>> {
        Box::pin(async move {
            let left = self.allow.load(std::sync::atomic::Ordering::SeqCst);
            if left == 0 {
                return Err(AuditError::Failed("the ledger is down".into()));
            }
            self.allow.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            self.inner.append(event).await
        })
    }
}

async fn an_audit_trail_that_refuses_leaves_the_ticket_unchanged(store: Store) {
    let clock = ManualClock::at(T0);
    let sink = Arc::new(Refusing {
        inner: rampart_store::TableAuditSink(store.clone()),
        allow: std::sync::atomic::AtomicUsize::new(1),
    });
    let audit = Audit::new(sink, Duration::from_secs(5));
    let desk =
        TicketService::new(store.clone(), audit, SecopsConfig::default(), Notifier::none(), Arc::new(clock.clone()));
    let id = desk.raise(&alert("r", "", 0..1)).await.expect("open").ticket_id;
    let before = desk.detail(&operator(), id.as_str()).await.expect("detail");
    let r = desk.acknowledge(&operator(), id.as_str()).await;
    assert!(matches!(r, Err(TicketError::Audit(_))), "{r:?}");
    let joined = desk.raise(&alert("r", "", 1..2)).await;
    assert!(joined.is_err(), "an alert not recorded is not taken: {joined:?}");
    let after = desk.detail(&operator(), id.as_str()).await.expect("detail");
    assert_eq!(after.ticket, before.ticket);
    assert_eq!(after.history.len(), 1);
    assert_eq!(store.count_tickets().await.expect("count"), 1);
}

async fn listing_filters_and_pages_newest_first(store: Store) {
    let clock = ManualClock::at(T0);
    let desk = desk(&store, SecopsConfig::default(), &clock);
    let mut ids = Vec::new();
    for i in 0..7u64 {
        let mut a = alert(&format!("r{i}"), "", i..i + 1);
        a.severity = if i % 2 == 0 { Severity::Critical } else { Severity::Low };
        ids.push(desk.raise(&a).await.expect("open").ticket_id);
    }
    desk.acknowledge(&operator(), ids[6].as_str()).await.expect("ack");
    let op = operator();
    let crit = TicketFilter { severity: Some("critical".into()), ..TicketFilter::default() };
    let p1 = desk.list(&op, crit.clone(), None, 2).await.expect("p1");
    assert_eq!(p1.items.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), [ids[6].clone(), ids[4].clone()]);
    let p2 = desk.list(&op, crit.clone(), p1.next.as_deref(), 2).await.expect("p2");
    assert_eq!(p2.items.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), [ids[2].clone(), ids[0].clone()]);
    assert!(p2.next.is_none());
    let new_crit = TicketFilter { status: Some("new".into()), ..crit };
    assert_eq!(desk.list(&op, new_crit, None, 50).await.expect("list").items.len(), 3);
    let bad = TicketFilter { status: Some("open".into()), ..TicketFilter::default() };
    assert!(matches!(desk.list(&op, bad, None, 50).await, Err(TicketError::Invalid(_))));
    assert!(matches!(
        desk.list(&op, TicketFilter::default(), Some("'; DROP TABLE tickets"), 50).await,
        Err(TicketError::Invalid(_))
    ));
}
