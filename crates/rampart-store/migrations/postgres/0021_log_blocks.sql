-- Log blocks (rampart-store logblock.rs): up to 4,096 log events in one
-- row, their term keys in `summary` (each with a mask of the chunks that
-- hold it) and the events in LZ4-compressed chunks of 128 in `body`.
-- Keyed by the ledger position of the block's first event; a search walks
-- blocks newest first and skips those outside its time range.
CREATE TABLE log_blocks (
    first_index  BIGINT PRIMARY KEY,
    last_index   BIGINT NOT NULL,
    events       BIGINT NOT NULL,
    min_time_ms  BIGINT NOT NULL,
    max_time_ms  BIGINT NOT NULL,
    summary      BYTEA NOT NULL,
    body         BYTEA NOT NULL
);
