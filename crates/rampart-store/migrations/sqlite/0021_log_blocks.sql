-- Log blocks (rampart-store logblock.rs): up to 4,096 log events in one
-- row, their term keys in `summary` (each with a mask of the chunks that
-- hold it) and the events in LZ4-compressed chunks of 128 in `body`.
-- Keyed by the ledger position of the block's first event; a search walks
-- blocks newest first and skips those outside its time range. Event ids
-- (UUIDv7: ordered by creation) span [min_id, max_id], so an event is
-- found by its id in the block or two whose span holds it.
CREATE TABLE log_blocks (
    first_index  INTEGER PRIMARY KEY,
    last_index   BIGINT NOT NULL,
    events       BIGINT NOT NULL,
    min_time_ms  BIGINT NOT NULL,
    max_time_ms  BIGINT NOT NULL,
    min_id       TEXT NOT NULL,
    max_id       TEXT NOT NULL,
    summary      BLOB NOT NULL,
    body         BLOB NOT NULL
);
CREATE INDEX log_blocks_max_id ON log_blocks(max_id);

-- Log events indexed before blocks existed stay rows of audit_events (and
-- are searched there); blocks hold those from this position on.
INSERT INTO audit_index_state (name, value)
SELECT 'blocks_from', COALESCE(MAX(ledger_index), -1) + 1 FROM audit_events;
