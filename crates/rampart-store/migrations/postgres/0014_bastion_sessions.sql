-- The bastion's sessions, for listing, showing, playing and terminating
-- them. The ledger holds each session's start and end (with the
-- recording's SHA-256); this table indexes them and carries termination
-- requests to whichever node holds the session.
CREATE TABLE bastion_sessions (
    id                TEXT PRIMARY KEY,
    connection_id     TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    username          TEXT NOT NULL,
    target            TEXT NOT NULL,
    action            TEXT NOT NULL,
    login             TEXT NOT NULL,
    command           TEXT,
    recording         TEXT,
    started_at        BIGINT NOT NULL,
    ended_at          BIGINT,
    outcome           TEXT,
    reason            TEXT,
    recording_sha256  TEXT,
    recording_bytes   BIGINT,
    terminate_by      TEXT,
    terminate_at      BIGINT
);
CREATE INDEX bastion_sessions_started ON bastion_sessions(started_at);
CREATE INDEX bastion_sessions_live ON bastion_sessions(ended_at, started_at);
