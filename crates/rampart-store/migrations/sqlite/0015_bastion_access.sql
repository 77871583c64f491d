-- Bastion access beyond standing grants (issue 7, items 3 and 4): target
-- labels and grants on a label, the lockbox tenant of a target,
-- just-in-time and lockbox access requests, and the accesses to a
-- tenant's data that its customer admin sees.

-- Labels: `key=value` or plain names, sorted, comma-separated ('' for none).
ALTER TABLE bastion_targets ADD COLUMN labels TEXT NOT NULL DEFAULT '';
-- The tenant whose data the target holds: access also needs that tenant's
-- customer admin's approval.
ALTER TABLE bastion_targets ADD COLUMN lockbox_tenant TEXT REFERENCES tenants(id);

-- A label can be marked too: every target carrying it holds that tenant's
-- data (a target whose marks name two tenants is refused: fail closed).
CREATE TABLE bastion_lockbox_labels (
    label       TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A grant names a target or a label (exactly one); SQLite cannot drop the
-- NOT NULL of `target_id`, so the table is rebuilt.
CREATE TABLE bastion_grants_v2 (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    target_id   TEXT REFERENCES bastion_targets(id),
    label       TEXT,
    login       TEXT NOT NULL,
    actions     TEXT NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    request_id  TEXT,
    CHECK ((target_id IS NULL) <> (label IS NULL))
);
INSERT INTO bastion_grants_v2 (id, user_id, target_id, label, login, actions, not_before, not_after, created_by, created_at, request_id)
    SELECT id, user_id, target_id, NULL, login, actions, not_before, not_after, created_by, created_at, NULL FROM bastion_grants;
DROP TABLE bastion_grants;
ALTER TABLE bastion_grants_v2 RENAME TO bastion_grants;
CREATE INDEX bastion_grants_user ON bastion_grants(user_id, target_id);

-- Just-in-time (`kind` = 'jit') and lockbox (`kind` = 'lockbox') requests.
-- `status`: pending, approved, denied, expired, revoked; decisions are
-- compare-and-set on a pending row before its deadline.
CREATE TABLE bastion_access_requests (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    requester_id   TEXT NOT NULL REFERENCES users(id),
    requester      TEXT NOT NULL,
    target         TEXT,
    label          TEXT,
    login          TEXT NOT NULL,
    actions        TEXT NOT NULL,
    tenant_id      TEXT,
    reason_code    TEXT NOT NULL,
    reason         TEXT NOT NULL,
    duration_secs  BIGINT NOT NULL,
    status         TEXT NOT NULL,
    decided_by     TEXT,
    comment        TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    decided_at     BIGINT,
    valid_from     BIGINT,
    valid_until    BIGINT,
    grant_id       TEXT
);
CREATE INDEX bastion_access_requests_kind ON bastion_access_requests(kind, status, created_at);
CREATE INDEX bastion_access_requests_tenant ON bastion_access_requests(tenant_id, created_at);

-- One row per session opened on a lockbox target: the access the
-- tenant's transparency view lists (with the session's recording hash).
CREATE TABLE lockbox_accesses (
    session_id   TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    username     TEXT NOT NULL,
    target       TEXT NOT NULL,
    started_at   BIGINT NOT NULL
);
CREATE INDEX lockbox_accesses_tenant ON lockbox_accesses(tenant_id, started_at);
