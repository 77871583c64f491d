-- Identity: tenants, users, tokens, access keys, login throttling, audit.
-- Times are Unix milliseconds; ids are prefixed UUIDv7 text.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    role                TEXT NOT NULL,
    tenant_id           TEXT REFERENCES tenants(id),
    password_hash       TEXT NOT NULL,
    totp_sealed         BLOB,
    totp_pending_sealed BLOB,
    totp_last_step      BIGINT NOT NULL DEFAULT 0,
    disabled_at         BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id, id);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES users(id),
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    last_used_at  BIGINT
);
CREATE INDEX tokens_user ON tokens(user_id, id);

CREATE TABLE access_keys (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id),
    description    TEXT NOT NULL,
    secret_sealed  BLOB NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    last_used_at   BIGINT
);
CREATE INDEX access_keys_user ON access_keys(user_id, id);

CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    locked_until  BIGINT NOT NULL
);

CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    time_ms      BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    actor        TEXT NOT NULL,
    tenant_id    TEXT,
    source_addr  TEXT,
    attrs        TEXT NOT NULL
);
CREATE INDEX audit_events_kind ON audit_events(kind, seq);
