//! Webhooks: the notification's JSON as the body of a POST, signed with
//! HMAC-SHA256 under the endpoint's own secret.
//!
//! `X-Rampart-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>` lets the receiver check both origin and freshness (reject
//! old `t` to stop replays); `X-Rampart-Delivery` is the notification id,
//! the same on every retry, so a receiver can drop duplicates. Redirects
//! are not followed: a signed payload goes only where it was configured to.
//! `docs/notifications.md` has a verification snippet.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;
use rampart_core::alert::Severity;
use rampart_core::config::secops::WebhookConfig;
use secrecy::{ExposeSecret, SecretString};

use super::NotifyError;

pub const SIGNATURE_HEADER: &str = "X-Rampart-Signature";
pub const DELIVERY_HEADER: &str = "X-Rampart-Delivery";
pub const EVENT_HEADER: &str = "X-Rampart-Event";

/// One configured endpoint.
pub struct Webhook {
    pub name: String,
    url: String,
    secret: SecretString,
    pub min_severity: Severity,
    client: reqwest::Client,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a token of the receiving service; the secret is
        // never shown.
        f.debug_struct("Webhook").field("name", &self.name).field("secret", &"[redacted]").finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn from_config(c: &WebhookConfig) -> Result<Self, NotifyError> {
        let secret = read_secret_file(&c.secret_file, &format!("secops.webhooks.{}.secret_file", c.name))?;
        Webhook::new(&c.name, &c.url, secret, Duration::from_millis(c.timeout_ms), c.min_severity)
    }

    pub fn new(
        name: &str,
        url: &str,
        secret: SecretString,
        timeout: Duration,
        min_severity: Severity,
    ) -> Result<Self, NotifyError> {
        if secret.expose_secret().len() < 16 {
            return Err(NotifyError::Config(format!("secops.webhooks.{name}: the secret must be at least 16 bytes")));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rampart/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Config(format!("secops.webhooks.{name}: {e}")))?;
        Ok(Webhook { name: name.into(), url: url.into(), secret, min_severity, client })
    }

    /// POSTs `body`, signed at `unix_secs`. Any 2xx is a delivery.
    pub async fn deliver(&self, delivery_id: &str, event: &str, body: &str, unix_secs: i64) -> Result<(), String> {
        let signature = sign(self.secret.expose_secret().as_bytes(), unix_secs, body.as_bytes());
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(DELIVERY_HEADER, delivery_id)
            .header(EVENT_HEADER, event)
            .body(body.to_owned())
            .send()
            .await
            // Without the URL: it may hold the receiver's token.
            .map_err(|e| format!("webhook {}: {}", self.name, e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("webhook {}: the receiver answered HTTP {}", self.name, status.as_u16()))
        }
    }
}

/// `t=<unix_secs>,v1=<hex HMAC-SHA256(secret, "<unix_secs>.<body>")>`.
pub fn sign(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(unix_secs.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={unix_secs},v1={}", rampart_core::secret::hex(ctx.sign().as_ref()))
}

/// Reads a secret file: private to the service account, trailing newline
/// dropped, never empty.
pub fn read_secret_file(path: &std::path::Path, key: &str) -> Result<SecretString, NotifyError> {
    rampart_core::secret::check_private(path).map_err(|e| NotifyError::Config(format!("{key}: {e}")))?;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| NotifyError::Config(format!("{key} {}: {e}", path.display())))?,
    );
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(NotifyError::Config(format!("{key} {} is empty", path.display())));
    }
    Ok(SecretString::from(secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_time_and_body_under_the_secret() {
        let a = sign(b"0123456789abcdef", 1_700_000_000, b"{\"a\":1}");
        assert!(a.starts_with("t=1700000000,v1=") && a.len() == "t=1700000000,v1=".len() + 64, "{a}");
        assert_ne!(a, sign(b"0123456789abcdeX", 1_700_000_000, b"{\"a\":1}"));
        assert_ne!(a, sign(b"0123456789abcdef", 1_700_000_001, b"{\"a\":1}"));
        assert_ne!(a, sign(b"0123456789abcdef", 1_700_000_000, b"{\"a\":2}"));
    }

    #[test]
    fn a_short_secret_is_refused() {
        let w = Webhook::new("x", "https://h/", SecretString::from("short"), Duration::from_secs(1), Severity::Low);
        assert!(w.is_err_and(|e| e.to_string().contains("16 bytes")));
    }
}
