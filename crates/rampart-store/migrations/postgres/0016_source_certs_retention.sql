-- Client certificates for mutual TLS on the syslog TLS listener: each is
-- issued by the node's CA to one registered source and names it. The
-- listener accepts a certificate only while its row exists, is not
-- revoked and has not expired, and its source is still registered; it is
-- looked up by the SHA-256 of its DER encoding. The private key is handed
-- out once and never stored.
CREATE TABLE log_source_certs (
    serial          TEXT PRIMARY KEY,
    source_id       TEXT NOT NULL,
    fingerprint     TEXT NOT NULL UNIQUE,
    issued_at       BIGINT NOT NULL,
    not_after       BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX log_source_certs_source ON log_source_certs(source_id);

-- Retention per source: events of the source older than this many days are
-- pruned from the searchable index (the ledger keeps them, so their
-- inclusion proofs still verify). NULL keeps them.
ALTER TABLE log_sources ADD COLUMN retention_days BIGINT;

-- Facts about the search index itself. 'pruned_through' is the highest
-- ledger index the index held when retention last pruned it: re-indexing
-- from the ledger at start resumes after it even when pruning removed the
-- newest rows, so pruned events do not come back.
CREATE TABLE audit_index_state (
    name            TEXT PRIMARY KEY,
    value           BIGINT NOT NULL
);
