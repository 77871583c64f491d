-- Each audit event's position in the tamper-evident ledger.
ALTER TABLE audit_events ADD COLUMN ledger_index BIGINT;
CREATE UNIQUE INDEX audit_events_ledger_index ON audit_events(ledger_index);
