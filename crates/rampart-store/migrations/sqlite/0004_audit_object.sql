-- What each audit event was done to, and indexes for searching by it, by
-- actor and by time.
ALTER TABLE audit_events ADD COLUMN object TEXT;
CREATE INDEX audit_events_object ON audit_events(object, seq);
CREATE INDEX audit_events_actor ON audit_events(actor, seq);
CREATE INDEX audit_events_time ON audit_events(time_ms);
