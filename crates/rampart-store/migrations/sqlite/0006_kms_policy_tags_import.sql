-- Key Management Service, second step: where a key's material came from
-- (AWS_KMS: generated here; EXTERNAL: imported by the customer), its key
-- policy (NULL: the default policy), its tags, and the one-time wrapping
-- keys handed out by GetParametersForImport.
ALTER TABLE kms_keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'AWS_KMS';
ALTER TABLE kms_keys ADD COLUMN policy TEXT;
ALTER TABLE kms_keys ADD COLUMN material_expires_at BIGINT;

CREATE TABLE kms_tags (
    key_id     TEXT NOT NULL REFERENCES kms_keys(id),
    tag_key    TEXT NOT NULL,
    tag_value  TEXT NOT NULL,
    PRIMARY KEY (key_id, tag_key)
);

-- The private half of an import wrapping key pair, itself wrapped by the
-- keystore; deleted when used, replaced or expired.
CREATE TABLE kms_import_tokens (
    key_id      TEXT PRIMARY KEY REFERENCES kms_keys(id),
    token       TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    algorithm   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
