-- The ticket desk (rampart-secops): one model for alarm, vulnerability and
-- incident work. `version` is the compare-and-set counter every change
-- checks. `dedup_open` holds the tenant-qualified de-duplication key while
-- the ticket accepts joining alerts, and NULL once it is resolved, closed or
-- superseded; its unique index makes "one open ticket per key" hold across
-- concurrent alerts and nodes. Times are Unix milliseconds.
CREATE TABLE tickets (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    title              TEXT NOT NULL,
    severity           TEXT NOT NULL,
    status             TEXT NOT NULL,
    queue              TEXT NOT NULL,
    assignee           TEXT,
    tenant_id          TEXT,
    rule_id            TEXT,
    pack               TEXT,
    dedup_key          TEXT,
    dedup_open         TEXT UNIQUE,
    description        TEXT NOT NULL,
    tags               TEXT NOT NULL,
    event_count        BIGINT NOT NULL,
    first_seen_ms      BIGINT NOT NULL,
    last_seen_ms       BIGINT NOT NULL,
    ack_due_ms         BIGINT,
    resolve_due_ms     BIGINT,
    ack_missed_ms      BIGINT,
    resolve_missed_ms  BIGINT,
    acknowledged_at    BIGINT,
    resolved_at        BIGINT,
    resolution         TEXT,
    last_notified_ms   BIGINT,
    version            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
-- Every filter of the listing walks an index in id (creation) order.
CREATE INDEX tickets_status ON tickets(status, id);
CREATE INDEX tickets_severity ON tickets(severity, id);
CREATE INDEX tickets_queue ON tickets(queue, id);
CREATE INDEX tickets_assignee ON tickets(assignee, id);
CREATE INDEX tickets_kind ON tickets(kind, id);
CREATE INDEX tickets_tenant ON tickets(tenant_id, id);
CREATE INDEX tickets_ack_due ON tickets(ack_due_ms);
CREATE INDEX tickets_resolve_due ON tickets(resolve_due_ms);

-- The events that raised a ticket, by ledger index: the first and the
-- latest `secops.keep_events` are kept (tickets.event_count counts all).
CREATE TABLE ticket_events (
    seq           BIGSERIAL PRIMARY KEY,
    ticket_id     TEXT NOT NULL REFERENCES tickets(id),
    ledger_index  BIGINT NOT NULL,
    time_ms       BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    UNIQUE (ticket_id, ledger_index)
);
CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id, seq);

CREATE TABLE ticket_comments (
    id          TEXT PRIMARY KEY,
    ticket_id   TEXT NOT NULL REFERENCES tickets(id),
    author      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX ticket_comments_ticket ON ticket_comments(ticket_id, id);

-- Every change of a ticket, with the ledger index of its audit event
-- (recorded before the change took effect).
CREATE TABLE ticket_history (
    seq           BIGSERIAL PRIMARY KEY,
    ticket_id     TEXT NOT NULL REFERENCES tickets(id),
    time_ms       BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    detail        TEXT NOT NULL,
    ledger_index  BIGINT
);
CREATE INDEX ticket_history_ticket ON ticket_history(ticket_id, seq);

-- The notification outbox: a row is written in the same transaction as
-- the ticket change it announces, so nothing acknowledged is lost across a
-- restart. status: pending, delivered or dead (the dead-letter list).
-- lease_until keeps one node's attempt from being duplicated by another.
CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,
    ticket_id        TEXT,
    event            TEXT NOT NULL,
    channel          TEXT NOT NULL,
    target           TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_ms  BIGINT NOT NULL,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX notifications_due ON notifications(status, next_attempt_ms);
CREATE INDEX notifications_status ON notifications(status, id);
