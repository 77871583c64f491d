-- The SSH bastion: users' registered public keys, targets (with their
-- credential sealed by the KMS envelope API) and grants.
CREATE TABLE ssh_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    fingerprint  TEXT NOT NULL UNIQUE,
    public_key   TEXT NOT NULL,
    comment      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX ssh_keys_user ON ssh_keys(user_id, id);

CREATE TABLE bastion_targets (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    address            TEXT NOT NULL,
    port               INTEGER NOT NULL,
    host_key           TEXT NOT NULL,
    login              TEXT NOT NULL,
    credential_kind    TEXT NOT NULL,
    credential_sealed  BYTEA NOT NULL,
    created_at         BIGINT NOT NULL
);

CREATE TABLE bastion_grants (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    target_id   TEXT NOT NULL REFERENCES bastion_targets(id),
    login       TEXT NOT NULL,
    actions     TEXT NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX bastion_grants_user ON bastion_grants(user_id, target_id);
