//! Mutual TLS on the syslog TLS listener: client certificates that the
//! node's CA (`tls.rs`) issues to registered log sources, and the verifier
//! that accepts only those.
//!
//! A certificate names its source twice: the common name is the source's
//! name and a URI SAN `rampart:source:ID` its id. What the listener trusts
//! is neither but the registry: a certificate is accepted only if it
//! chains to the node's CA (webpki: signature, validity, `clientAuth`) and
//! its SHA-256 fingerprint is one the registry lists as issued, unrevoked,
//! unexpired and of a registered source. A connection so authenticated has
//! its events attributed to that source, whatever host name its syslog
//! headers carry. Everything else is refused during the handshake.

use std::sync::Arc;

use anyhow::{Context, Result};
use rampart_core::config::ClientAuth;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType, SerialNumber};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use secrecy::SecretString;

use super::Registry;
use crate::tls::TlsPaths;

/// The URI SAN prefix naming a certificate's source: `rampart:source:ID`.
pub const URI_PREFIX: &str = "rampart:source:";
/// Validity of a certificate when none is asked for.
pub const DEFAULT_DAYS: u32 = 365;
/// The longest validity a certificate can be issued with.
pub const MAX_DAYS: u32 = 3650;

/// A freshly issued certificate and its private key (handed out once,
/// never stored).
#[derive(Debug)]
pub struct Issued {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// SHA-256 of the DER encoding, lower-case hex.
    pub fingerprint: String,
    /// Unix milliseconds.
    pub not_after: i64,
    pub cert_pem: String,
    pub key_pem: SecretString,
}

/// SHA-256 of a certificate's DER encoding, lower-case hex: how the
/// registry knows a certificate.
pub fn fingerprint(der: &[u8]) -> String {
    rampart_core::secret::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

/// Issues a client certificate for the source `id` named `name`, valid
/// from five minutes before `now_ms` (clock skew) for `days` days, with a
/// fresh ECDSA P-256 key and a random 128-bit serial.
pub fn issue(paths: &TlsPaths, id: &str, name: &str, days: u32, now_ms: i64) -> Result<Issued> {
    let (issuer, ca_key) = crate::tls::ca_issuer(paths)?;
    let mut serial = rampart_core::secret::random_bytes::<16>().context("drawing a serial number")?.to_vec();
    // A positive DER integer without a leading zero byte.
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f).max(1);
    }
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.distinguished_name.push(DnType::OrganizationName, "Rampart log source");
    let uri = format!("{URI_PREFIX}{id}");
    params.subject_alt_names = vec![SanType::URI(uri.try_into().context("the source id as a URI")?)];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000).context("the current time")?;
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(days));
    let key = KeyPair::generate().context("generating the client key")?;
    let cert = params.signed_by(&key, &issuer, &ca_key).context("signing the client certificate")?;
    Ok(Issued {
        serial: rampart_core::secret::hex(&serial),
        fingerprint: fingerprint(cert.der()),
        not_after: (now_ms / 1000 + i64::from(days) * 86_400) * 1000,
        cert_pem: cert.pem(),
        key_pem: SecretString::from(key.serialize_pem()),
    })
}

/// webpki's chain check, then the registry's: only certificates issued to
/// a registered source and neither revoked nor expired.
#[derive(Debug)]
struct SourceCertVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    registry: Registry,
    mandatory: bool,
}

impl ClientCertVerifier for SourceCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.webpki.verify_client_cert(end_entity, intermediates, now)?;
        let fp = fingerprint(end_entity);
        if self.registry.by_cert(&fp).is_none() {
            tracing::info!(fingerprint = %fp, "syslog client certificate refused: revoked, expired, or not issued to a registered source");
            return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The syslog TLS listener's configuration for `[ingest] tls_client_auth`.
pub fn syslog_tls(paths: &TlsPaths, mode: ClientAuth, registry: &Registry) -> Result<Arc<rustls::ServerConfig>> {
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match mode {
        ClientAuth::Off => None,
        ClientAuth::Optional | ClientAuth::Required => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in crate::tls::ca_certs(paths)? {
                roots.add(cert).context("the CA certificate")?;
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if mode == ClientAuth::Optional {
                builder = builder.allow_unauthenticated();
            }
            let webpki = builder.build().context("the client certificate verifier")?;
            Some(Arc::new(SourceCertVerifier {
                webpki,
                registry: registry.clone(),
                mandatory: mode == ClientAuth::Required,
            }))
        }
    };
    let checks_clients = verifier.is_some();
    let mut config = crate::tls::server_config_with(paths, verifier)?;
    if checks_clients {
        // A resumed session skips the client certificate check, so a
        // certificate revoked since its first handshake could come back
        // on a ticket: every connection does a full handshake instead.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}
