-- The term index of log search (rampart-store terms.rs): one row per event
-- and pivot field (User, src_ip, …), keyed by a 64-bit hash of the field's
-- path and value. The key leads with a coarse bucket of event_seq so new
-- rows go into the newest bucket's part of the B-tree; a field query reads
-- the term's rows bucket by bucket, newest first.
CREATE TABLE log_terms (
    bucket      BIGINT NOT NULL,
    term        BIGINT NOT NULL,
    event_seq   BIGINT NOT NULL,
    PRIMARY KEY (bucket, term, event_seq)
) WITHOUT ROWID;

-- Events already stored have no terms yet: a backfill walks down from the
-- newest of them and lowers 'terms_from' until it is 1 (every event has
-- its terms); until then searches read the events instead.
INSERT INTO audit_index_state (name, value)
SELECT 'terms_from', COALESCE(MAX(seq), 0) + 1 FROM audit_events;
