-- The log source registry: every server, network device, database and
-- application that sends logs, with the Sigma logsource its events carry,
-- the parser for its lines, and the heartbeat it is expected to keep.
-- status 'pending' holds a source's messages until it is reviewed;
-- silent_since marks a silence already reported (one source.silent per
-- silence), cleared when the source speaks again.
CREATE TABLE log_sources (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    source_type     TEXT NOT NULL,
    owner           TEXT,
    product         TEXT,
    service         TEXT,
    category        TEXT,
    parser          TEXT NOT NULL,
    heartbeat_secs  BIGINT,
    reviewed        BIGINT NOT NULL,
    status          TEXT NOT NULL,
    last_seen       BIGINT,
    silent_since    BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX log_sources_heartbeat ON log_sources(heartbeat_secs, silent_since);
