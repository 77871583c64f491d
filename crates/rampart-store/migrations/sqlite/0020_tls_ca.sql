-- The deployment's TLS certificate authority, shared by every node on this
-- database: it signs each node's server certificate and log sources'
-- client certificates, so a certificate issued through one node is trusted
-- by all. The private key is stored only sealed with the root secret that
-- the nodes of a deployment share.
CREATE TABLE tls_ca (
    id          TEXT PRIMARY KEY,
    cert_pem    TEXT NOT NULL,
    key_sealed  BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);
