-- Issue 7, items 1 and 3: the cluster's SSH user certificate authority
-- and the certificates it issued; user groups, and grants to a group.

-- The one user CA (`id` = 'user'): an Ed25519 key whose private half is
-- stored only sealed by the KMS envelope API, so every node shares it.
CREATE TABLE bastion_ssh_ca (
    id               TEXT PRIMARY KEY,
    public_key       TEXT NOT NULL,
    private_sealed   BLOB NOT NULL,
    created_at       BIGINT NOT NULL
);

-- Every certificate issued, for listing and revocation (never the
-- certificate's key material beyond its fingerprint). Times in Unix ms.
CREATE TABLE bastion_ssh_certs (
    serial        BIGINT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    username      TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    valid_after   BIGINT NOT NULL,
    valid_before  BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoked_by    TEXT
);
CREATE INDEX bastion_ssh_certs_user ON bastion_ssh_certs(user_id, fingerprint);

CREATE TABLE user_groups (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE user_group_members (
    group_id  TEXT NOT NULL REFERENCES user_groups(id),
    user_id   TEXT NOT NULL REFERENCES users(id),
    added_by  TEXT NOT NULL,
    added_at  BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX user_group_members_user ON user_group_members(user_id);

-- A grant names a user or a group (exactly one), and a target or a label
-- (exactly one); SQLite cannot drop the NOT NULL of `user_id`, so the
-- table is rebuilt.
CREATE TABLE bastion_grants_v3 (
    id          TEXT PRIMARY KEY,
    user_id     TEXT REFERENCES users(id),
    group_id    TEXT REFERENCES user_groups(id),
    target_id   TEXT REFERENCES bastion_targets(id),
    label       TEXT,
    login       TEXT NOT NULL,
    actions     TEXT NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    request_id  TEXT,
    CHECK ((target_id IS NULL) <> (label IS NULL)),
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
INSERT INTO bastion_grants_v3 (id, user_id, group_id, target_id, label, login, actions, not_before, not_after, created_by, created_at, request_id)
    SELECT id, user_id, NULL, target_id, label, login, actions, not_before, not_after, created_by, created_at, request_id FROM bastion_grants;
DROP TABLE bastion_grants;
ALTER TABLE bastion_grants_v3 RENAME TO bastion_grants;
CREATE INDEX bastion_grants_user ON bastion_grants(user_id, target_id);
CREATE INDEX bastion_grants_group ON bastion_grants(group_id);
