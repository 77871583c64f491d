-- Log search: the registered source and the syslog host of each ingested
-- event as columns (copied from its attributes at insert), each indexed
-- with seq so a field query reads newest first and stops at the page size.
ALTER TABLE audit_events ADD COLUMN source TEXT;
ALTER TABLE audit_events ADD COLUMN host TEXT;
CREATE INDEX audit_events_source ON audit_events(source, seq);
CREATE INDEX audit_events_host ON audit_events(host, seq);

-- Per-source ingest tokens for POST /api/v1/ingest, stored only as their
-- SHA-256 (the tokens are 256-bit random): rotating replaces the hash.
ALTER TABLE log_sources ADD COLUMN ingest_token_hash TEXT;
CREATE UNIQUE INDEX log_sources_ingest_token ON log_sources(ingest_token_hash);
