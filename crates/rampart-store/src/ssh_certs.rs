//! The bastion's SSH user certificate authority and the certificates it
//! issued. The CA's private key is stored only sealed (a KMS envelope);
//! this module never sees it in the clear. Certificates are kept by serial
//! (with the certified key's fingerprint, never the key) for listing and
//! revocation.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

const CERT_COLUMNS: &str =
    "serial, user_id, username, key_id, fingerprint, valid_after, valid_before, created_at, revoked_at, revoked_by";

/// The stored CA: its public key in OpenSSH form and its sealed private key.
#[derive(Clone)]
pub struct SshCaRow {
    pub public_key: String,
    pub private_sealed: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for SshCaRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshCaRow").field("public_key", &self.public_key).finish_non_exhaustive()
    }
}

/// A certificate the CA issued.
#[derive(Debug, Clone)]
pub struct SshCertRow {
    /// The certificate's serial (positive, below 2^63).
    pub serial: i64,
    pub user_id: Id,
    pub username: String,
    pub key_id: String,
    /// `SHA256:…` of the certified public key.
    pub fingerprint: String,
    /// Unix ms.
    pub valid_after: i64,
    /// Unix ms.
    pub valid_before: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

fn cert(row: &AnyRow) -> Result<SshCertRow> {
    Ok(SshCertRow {
        serial: row.try_get("serial")?,
        user_id: Id::from_trusted(row.try_get("user_id")?),
        username: row.try_get("username")?,
        key_id: row.try_get("key_id")?,
        fingerprint: row.try_get("fingerprint")?,
        valid_after: row.try_get("valid_after")?,
        valid_before: row.try_get("valid_before")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        revoked_by: row.try_get("revoked_by")?,
    })
}

impl Store {
    /// The user CA, if one was created.
    pub async fn ssh_user_ca(&self) -> Result<Option<SshCaRow>> {
        let row = sqlx::query("SELECT public_key, private_sealed, created_at FROM bastion_ssh_ca WHERE id = 'user'")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SshCaRow {
                public_key: r.try_get("public_key")?,
                private_sealed: r.try_get("private_sealed")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Stores the user CA unless another node stored one first; whether
    /// this one was stored.
    pub async fn insert_ssh_user_ca(&self, ca: &SshCaRow) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO bastion_ssh_ca (id, public_key, private_sealed, created_at) VALUES ('user', $1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ca.public_key)
        .bind(ca.private_sealed.clone())
        .bind(ca.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_ssh_cert(&self, c: &SshCertRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO bastion_ssh_certs ({CERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(c.serial)
        .bind(c.user_id.as_str())
        .bind(&c.username)
        .bind(&c.key_id)
        .bind(&c.fingerprint)
        .bind(c.valid_after)
        .bind(c.valid_before)
        .bind(c.created_at)
        .bind(c.revoked_at)
        .bind(c.revoked_by.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_ssh_cert(&self, serial: i64) -> Result<Option<SshCertRow>> {
        let row = sqlx::query(&format!("SELECT {CERT_COLUMNS} FROM bastion_ssh_certs WHERE serial = $1"))
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(cert).transpose()
    }

    /// Certificates, newest first; only those still valid at `now` (Unix ms)
    /// when `now` is given.
    pub async fn list_ssh_certs(&self, valid_at: Option<i64>) -> Result<Vec<SshCertRow>> {
        let rows = match valid_at {
            Some(now) => {
                sqlx::query(&format!(
                    "SELECT {CERT_COLUMNS} FROM bastion_ssh_certs WHERE valid_before > $1 \
                     ORDER BY created_at DESC LIMIT 10000"
                ))
                .bind(now)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {CERT_COLUMNS} FROM bastion_ssh_certs ORDER BY created_at DESC LIMIT 10000"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(cert).collect()
    }

    /// Whether `user` holds an unrevoked certificate for the key with this
    /// fingerprint that is valid at `now` (Unix ms).
    pub async fn has_live_ssh_cert(&self, user: &Id, fingerprint: &str, now: i64) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM bastion_ssh_certs WHERE user_id = $1 AND fingerprint = $2 \
             AND revoked_at IS NULL AND valid_after <= $3 AND valid_before > $3",
        )
        .bind(user.as_str())
        .bind(fingerprint)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Marks a certificate revoked; `NotFound` if there is none, `Conflict`
    /// if it already was.
    pub async fn revoke_ssh_cert(&self, serial: i64, by: &str, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE bastion_ssh_certs SET revoked_at = $1, revoked_by = $2 WHERE serial = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(by)
        .bind(serial)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return match self.find_ssh_cert(serial).await? {
                Some(_) => Err(StoreError::Conflict("the certificate is already revoked".into())),
                None => Err(StoreError::NotFound),
            };
        }
        Ok(())
    }
}
