-- Key Management Service: keys, their material versions (always stored
-- wrapped by a keystore), and aliases. A key belongs to one tenant
-- (tenant_id NULL: the operator organisation).
CREATE TABLE kms_keys (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT,
    spec                  TEXT NOT NULL,
    key_usage             TEXT NOT NULL,
    state                 TEXT NOT NULL,
    deletion_at           BIGINT,
    description           TEXT NOT NULL,
    current_material      BIGINT NOT NULL,
    rotation_period_days  BIGINT,
    next_rotation_at      BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX kms_keys_tenant ON kms_keys(tenant_id, id);
CREATE INDEX kms_keys_deletion ON kms_keys(deletion_at);

CREATE TABLE kms_materials (
    key_id       TEXT NOT NULL REFERENCES kms_keys(id),
    material_id  BIGINT NOT NULL,
    keystore     TEXT NOT NULL,
    wrapped      BLOB NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (key_id, material_id)
);

CREATE TABLE kms_aliases (
    scope       TEXT NOT NULL,
    alias       TEXT NOT NULL,
    key_id      TEXT NOT NULL REFERENCES kms_keys(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, alias)
);
