//! Mutual TLS on the syslog TLS listener: client certificates that the
//! deployment's CA (`tls.rs`) issues to registered log sources, and the
//! verifier that accepts only those.
//!
//! A certificate is issued only for the key of a PKCS#10 certificate
//! signing request whose signature verifies, so the private key stays on
//! the host that made it (`rampart source cert` makes one where it runs, or
//! takes `--csr` from the sender's own `openssl req`).
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
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose, SanType, SerialNumber};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::Registry;
use crate::tls::TlsPaths;

/// The URI SAN prefix naming a certificate's source: `rampart:source:ID`.
pub const URI_PREFIX: &str = "rampart:source:";
/// Validity of a certificate when none is asked for.
pub const DEFAULT_DAYS: u32 = 365;
/// The longest validity a certificate can be issued with.
pub const MAX_DAYS: u32 = 3650;

/// A freshly issued certificate (the key stayed with whoever made the
/// request).
#[derive(Debug)]
pub struct Issued {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// SHA-256 of the DER encoding, lower-case hex.
    pub fingerprint: String,
    /// SHA-256 of the certified SubjectPublicKeyInfo (DER), lower-case hex.
    pub public_key_sha256: String,
    /// Unix milliseconds.
    pub not_after: i64,
    pub cert_pem: String,
}

/// SHA-256 of a certificate's DER encoding, lower-case hex: how the
/// registry knows a certificate.
pub fn fingerprint(der: &[u8]) -> String {
    rampart_core::secret::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

/// The largest certificate signing request accepted, PEM.
pub const MAX_CSR_BYTES: usize = 16 * 1024;

/// The public key of a PKCS#10 certificate signing request whose own
/// signature verified: proof that the requester holds the private key,
/// which never reaches Rampart.
///
/// Parsed with RustCrypto's `x509-cert` and verified with aws-lc-rs by
/// hand because rcgen's own CSR parser needs its `x509-parser` feature,
/// which brings ring in as a second crypto library.
#[derive(Debug, Clone)]
pub struct CsrKey {
    /// The subjectPublicKey bits (an EC point, a PKCS#1 RSA key, an
    /// Ed25519 key), which rcgen puts into the certificate's SPKI.
    raw: Vec<u8>,
    alg: &'static rcgen::SignatureAlgorithm,
    spki_der: Vec<u8>,
}

impl rcgen::PublicKeyData for CsrKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &rcgen::SignatureAlgorithm {
        self.alg
    }
}

impl CsrKey {
    /// SHA-256 of the SubjectPublicKeyInfo (DER), lower-case hex.
    pub fn sha256(&self) -> String {
        fingerprint(&self.spki_der)
    }

    /// The key of the PEM request `pem`, if its signature verifies with it.
    /// Accepted: ECDSA P-256 and P-384 (SHA-256 or SHA-384), Ed25519, and
    /// RSA of 2048 to 8192 bits with PKCS#1 v1.5 and SHA-256, -384 or -512.
    /// The request's subject, extensions and other attributes are not used:
    /// the certificate names the source as the registry knows it.
    pub fn from_pem(pem: &str) -> Result<CsrKey, String> {
        use aws_lc_rs::signature as sig;
        use x509_cert::der::asn1::ObjectIdentifier;
        use x509_cert::der::oid::db::{rfc5912, rfc8410};
        use x509_cert::der::{DecodePem, Encode};

        if pem.len() > MAX_CSR_BYTES {
            return Err(format!("the certificate signing request is over {MAX_CSR_BYTES} bytes"));
        }
        let req = x509_cert::request::CertReq::from_pem(pem.trim().as_bytes()).map_err(|e| {
            format!(
                "the certificate signing request does not parse (expected PKCS#10 PEM, BEGIN CERTIFICATE REQUEST): {e}"
            )
        })?;
        let spki = &req.info.public_key;
        let curve = match &spki.algorithm.parameters {
            Some(p) if spki.algorithm.oid == rfc5912::ID_EC_PUBLIC_KEY => {
                Some(p.decode_as::<ObjectIdentifier>().map_err(|_| "the request's EC key names no curve".to_owned())?)
            }
            _ => None,
        };
        let is_rsa = spki.algorithm.oid == rfc5912::RSA_ENCRYPTION;
        let unsupported = || {
            format!(
                "the request's key or signature algorithm ({} signed with {}) is not supported: use ECDSA P-256 or \
                 P-384, Ed25519, or RSA 2048 to 8192 bits with PKCS#1 v1.5",
                spki.algorithm.oid, req.algorithm.oid
            )
        };
        let (verify, alg): (&'static dyn sig::VerificationAlgorithm, &'static rcgen::SignatureAlgorithm) =
            match (spki.algorithm.oid, curve, req.algorithm.oid) {
                (rfc5912::ID_EC_PUBLIC_KEY, Some(rfc5912::SECP_256_R_1), rfc5912::ECDSA_WITH_SHA_256) => {
                    (&sig::ECDSA_P256_SHA256_ASN1, &rcgen::PKCS_ECDSA_P256_SHA256)
                }
                (rfc5912::ID_EC_PUBLIC_KEY, Some(rfc5912::SECP_256_R_1), rfc5912::ECDSA_WITH_SHA_384) => {
                    (&sig::ECDSA_P256_SHA384_ASN1, &rcgen::PKCS_ECDSA_P256_SHA256)
                }
                (rfc5912::ID_EC_PUBLIC_KEY, Some(rfc5912::SECP_384_R_1), rfc5912::ECDSA_WITH_SHA_384) => {
                    (&sig::ECDSA_P384_SHA384_ASN1, &rcgen::PKCS_ECDSA_P384_SHA384)
                }
                (rfc5912::ID_EC_PUBLIC_KEY, Some(rfc5912::SECP_384_R_1), rfc5912::ECDSA_WITH_SHA_256) => {
                    (&sig::ECDSA_P384_SHA256_ASN1, &rcgen::PKCS_ECDSA_P384_SHA384)
                }
                (rfc8410::ID_ED_25519, None, rfc8410::ID_ED_25519) if spki.algorithm.parameters.is_none() => {
                    (&sig::ED25519, &rcgen::PKCS_ED25519)
                }
                (_, _, rfc5912::SHA_256_WITH_RSA_ENCRYPTION) if is_rsa => {
                    (&sig::RSA_PKCS1_2048_8192_SHA256, &rcgen::PKCS_RSA_SHA256)
                }
                (_, _, rfc5912::SHA_384_WITH_RSA_ENCRYPTION) if is_rsa => {
                    (&sig::RSA_PKCS1_2048_8192_SHA384, &rcgen::PKCS_RSA_SHA256)
                }
                (_, _, rfc5912::SHA_512_WITH_RSA_ENCRYPTION) if is_rsa => {
                    (&sig::RSA_PKCS1_2048_8192_SHA512, &rcgen::PKCS_RSA_SHA256)
                }
                _ => return Err(unsupported()),
            };
        let raw = spki.subject_public_key.as_bytes().ok_or_else(unsupported)?;
        let signature = req.signature.as_bytes().ok_or("the request's signature is not whole bytes")?;
        let signed = req.info.to_der().map_err(|e| format!("re-encoding the request: {e}"))?;
        sig::UnparsedPublicKey::new(verify, raw).verify(&signed, signature).map_err(|_| {
            "the request's signature does not verify with its own public key (RSA keys must have 2048 to 8192 bits)"
                .to_owned()
        })?;
        let spki_der = spki.to_der().map_err(|e| format!("re-encoding the request's key: {e}"))?;
        Ok(CsrKey { raw: raw.to_vec(), alg, spki_der })
    }
}

/// Issues a client certificate for the source `id` named `name` to the key
/// of a verified certificate signing request, valid from five minutes
/// before `now_ms` (clock skew) for `days` days, with a random 128-bit
/// serial.
pub fn issue(paths: &TlsPaths, id: &str, name: &str, key: &CsrKey, days: u32, now_ms: i64) -> Result<Issued> {
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
    let cert = params.signed_by(key, &issuer, &ca_key).context("signing the client certificate")?;
    Ok(Issued {
        serial: rampart_core::secret::hex(&serial),
        fingerprint: fingerprint(cert.der()),
        public_key_sha256: key.sha256(),
        not_after: (now_ms / 1000 + i64::from(days) * 86_400) * 1000,
        cert_pem: cert.pem(),
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
