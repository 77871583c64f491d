-- Recording retention: when the node removed a session's recording file
-- past `[bastion] recording_retention_days`. The row, like the ledger,
-- keeps the recording's SHA-256 and size; a download answers 410 Gone.
ALTER TABLE bastion_sessions ADD COLUMN recording_expired_at BIGINT;
CREATE INDEX bastion_sessions_retention ON bastion_sessions(ended_at, recording_expired_at);
