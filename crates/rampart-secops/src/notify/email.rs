//! Email over SMTP: STARTTLS by default (the connection is upgraded before
//! the envelope, or nothing is sent), implicit TLS, or plain text to a
//! trusted local relay — never with credentials (configuration refuses
//! that, and so does [`Email::new`]). Built on lettre with the workspace's
//! rustls and aws-lc-rs.

use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rampart_core::alert::Severity;
use rampart_core::config::secops::{SmtpConfig, SmtpSecurity};
use secrecy::{ExposeSecret, SecretString};

use super::NotifyError;

/// The configured relay and recipients.
pub struct Email {
    host: String,
    port: u16,
    security: SmtpSecurity,
    ca_pem: Option<Vec<u8>>,
    credentials: Option<(String, SecretString)>,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
    pub min_severity: Severity,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("credentials", &self.credentials.as_ref().map(|(u, _)| (u, "[redacted]")))
            .finish_non_exhaustive()
    }
}

impl Email {
    pub fn from_config(c: &SmtpConfig) -> Result<Self, NotifyError> {
        let ca_pem = match &c.ca_file {
            Some(p) => Some(
                std::fs::read(p)
                    .map_err(|e| NotifyError::Config(format!("secops.smtp.ca_file {}: {e}", p.display())))?,
            ),
            None => None,
        };
        let credentials = match (&c.username, &c.password_file) {
            (Some(u), Some(p)) => Some((u.clone(), super::webhook::read_secret_file(p, "secops.smtp.password_file")?)),
            _ => None,
        };
        Email::new(c, ca_pem, credentials)
    }

    pub fn new(
        c: &SmtpConfig,
        ca_pem: Option<Vec<u8>>,
        credentials: Option<(String, SecretString)>,
    ) -> Result<Self, NotifyError> {
        if c.security == SmtpSecurity::None && credentials.is_some() {
            return Err(NotifyError::Config("secops.smtp: credentials are never sent without TLS".into()));
        }
        let mailbox =
            |a: &str| a.parse::<Mailbox>().map_err(|e| NotifyError::Config(format!("secops.smtp: address {a:?}: {e}")));
        let email = Email {
            host: c.host.clone(),
            port: c.port,
            security: c.security,
            ca_pem,
            credentials,
            from: mailbox(&c.from)?,
            to: c.to.iter().map(|a| mailbox(a)).collect::<Result<_, _>>()?,
            timeout: Duration::from_millis(c.timeout_ms),
            min_severity: c.min_severity,
        };
        // Fail at start, not at the first alert, on a bad CA file.
        email.tls_parameters()?;
        Ok(email)
    }

    fn tls_parameters(&self) -> Result<TlsParameters, NotifyError> {
        let mut b = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.ca_pem {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| NotifyError::Config(format!("secops.smtp.ca_file: not a PEM certificate: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| NotifyError::Config(format!("secops.smtp TLS: {e}")))
    }

    /// Sends the notification as a plain-text mail to every recipient.
    pub async fn deliver(&self, delivery_id: &str, payload: &serde_json::Value) -> Result<(), String> {
        let (subject, body) = render(delivery_id, payload);
        let mut message = Message::builder().from(self.from.clone()).subject(subject).header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message.body(body).map_err(|e| format!("email: {e}"))?;
        let tls = match self.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(self.tls_parameters().map_err(|e| e.to_string())?),
            SmtpSecurity::Tls => Tls::Wrapper(self.tls_parameters().map_err(|e| e.to_string())?),
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
            .port(self.port)
            .tls(tls)
            .hello_name(ClientId::Domain(super::syslog::hostname()))
            .timeout(Some(self.timeout));
        if let Some((user, password)) = &self.credentials {
            transport = transport.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
        }
        let transport: AsyncSmtpTransport<Tokio1Executor> = transport.build();
        let sent = transport.send(message).await;
        sent.map(|_| ()).map_err(|e| format!("email via {}:{}: {e}", self.host, self.port))
    }
}

/// Subject and body of the mail for a notification payload.
pub fn render(delivery_id: &str, p: &serde_json::Value) -> (String, String) {
    let t = &p["ticket"];
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let what = match p["type"].as_str().unwrap_or("") {
        "ticket.opened" => "new ticket",
        "ticket.joined" => "more events",
        "ticket.escalated" => "SLA missed, escalated",
        "ticket.acknowledged" => "acknowledged",
        "ticket.resolved" => "resolved",
        "ticket.assigned" => "assigned",
        _ => "status changed",
    };
    // Header injection is impossible (lettre encodes the subject), but a
    // title with line breaks would still read badly.
    let title: String = s(&t["title"]).chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let subject = format!("[Rampart] {} {}: {}", s(&t["severity"]).to_uppercase(), what, title);
    let mut body = format!(
        "Ticket {id}: {title}\n\nSeverity:  {sev}\nStatus:    {status}\nQueue:     {queue}\nAssignee:  {assignee}\n\
         Rule:      {rule}\nEvents:    {count} (first {first}, last {last})\n",
        id = s(&t["id"]),
        sev = s(&t["severity"]),
        status = s(&t["status"]),
        queue = s(&t["queue"]),
        assignee = s(&t["assignee"]),
        rule = s(&t["rule_id"]),
        count = t["event_count"],
        first = s(&t["first_seen"]),
        last = s(&t["last_seen"]),
    );
    if let Some(r) = t["resolution"].as_str() {
        body.push_str(&format!("Resolution: {r}\n"));
    }
    if let Some(idx) = p["alert"]["ledger_indexes"].as_array() {
        let list: Vec<String> = idx.iter().take(20).map(|v| v.to_string()).collect();
        body.push_str(&format!("Ledger indexes: {}\n", list.join(", ")));
    }
    body.push_str(&format!(
        "\n`rampart tickets show {}` has the events, comments and history.\nDelivery {delivery_id}\n",
        s(&t["id"])
    ));
    (subject, body)
}
