-- Key Management Service, third step: imported key material that expires.
-- material_expires_at (from 0006) is now enforced: a sweep deletes expired
-- material and the key waits for an import again. The fingerprint names
-- the material a key was first given (a keyed hash of the material, bound
-- to the key id; never the material), so that after expiry or deletion
-- only the same material can be imported again. The index serves the sweep.
ALTER TABLE kms_keys ADD COLUMN material_fingerprint TEXT;
CREATE INDEX kms_keys_material_expiry ON kms_keys(material_expires_at);
