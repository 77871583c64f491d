//! The local certificate authority and the server certificate it signs, and
//! the rustls configuration built from them.
//!
//! On first start the data directory gets `tls/ca.pem` (the CA clients
//! trust), `tls/ca-key.pem`, `tls/server.pem` and `tls/server-key.pem`
//! (private keys 0600, ECDSA P-256). When the configured names change, the
//! server certificate is re-issued under the same CA key, so clients that
//! trust `ca.pem` keep working. The same CA issues log sources' client
//! certificates for mutual TLS on the syslog listener (`ingest::certs`).
//!
//! The CA is the deployment's, not the node's ([`share_ca`]): the first node
//! to start on a database stores its CA there, the key sealed with the root
//! secret the nodes share, and every other node adopts it, so each node's
//! server certificate and every source certificate issued through any node
//! chain to one `ca.pem`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Paths of the TLS material in a data directory.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub names: PathBuf,
}

impl TlsPaths {
    pub fn in_dir(dir: &Path) -> Self {
        TlsPaths {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            names: dir.join("server-names.txt"),
        }
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Rampart local CA");
    dn.push(DnType::OrganizationName, "Rampart");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2044, 1, 1);
    params
}

/// Writes a file readable only by its owner, replacing it atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    rampart_core::secret::write_private_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Makes sure the CA and a server certificate for `names` exist.
pub fn ensure(paths: &TlsPaths, names: &[String]) -> Result<()> {
    let ca_key = if paths.ca_key.exists() {
        rampart_core::secret::check_private(&paths.ca_key)?;
        KeyPair::from_pem(&fs::read_to_string(&paths.ca_key)?).context("reading the CA key")?
    } else {
        let key = KeyPair::generate().context("generating the CA key")?;
        write_private(&paths.ca_key, key.serialize_pem().as_bytes())?;
        let cert = ca_params().self_signed(&key).context("self-signing the CA")?;
        fs::write(&paths.ca_cert, cert.pem())?;
        let _ = fs::remove_file(&paths.names);
        key
    };
    let wanted = names.join("\n");
    let current = fs::read_to_string(&paths.names).unwrap_or_default();
    if current == wanted && paths.cert.exists() && paths.key.exists() {
        return Ok(());
    }
    // Same key and subject as the stored CA certificate, so what this signs
    // chains to the ca.pem that clients already trust.
    let issuer = ca_params().self_signed(&ca_key).context("rebuilding the CA issuer")?;
    let mut params = CertificateParams::new(names.to_vec()).context("server certificate names")?;
    params.distinguished_name.push(DnType::CommonName, names.first().map_or("rampart", String::as_str));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2034, 1, 1);
    let key = KeyPair::generate().context("generating the server key")?;
    let cert = params.signed_by(&key, &issuer, &ca_key).context("signing the server certificate")?;
    write_private(&paths.key, key.serialize_pem().as_bytes())?;
    fs::write(&paths.cert, cert.pem())?;
    fs::write(&paths.names, wanted)?;
    Ok(())
}

/// What the CA key's seal is bound to (with its own derived key).
const CA_SEAL_LABEL: &str = "rampart/tls-ca/v1";
const CA_SEAL_AAD: &[u8] = b"tls-ca-key";

/// Makes this node's CA the deployment's (see the module documentation).
/// With no CA in the database yet, stores this node's (unless another node
/// stores one at the same moment: then that one is adopted). With a
/// different one there, writes it to `tls/` and re-issues the server
/// certificate for `names` under it. Returns whether the local CA was
/// replaced.
pub async fn share_ca(
    store: &rampart_store::Store,
    root: &rampart_core::secret::RootSecret,
    paths: &TlsPaths,
    names: &[String],
) -> Result<bool> {
    let sealer = root.sealer(CA_SEAL_LABEL);
    let local = fs::read_to_string(&paths.ca_cert).with_context(|| format!("reading {}", paths.ca_cert.display()))?;
    let stored = match store.tls_ca().await.context("reading the deployment's CA")? {
        Some(row) => row,
        None => {
            rampart_core::secret::check_private(&paths.ca_key)?;
            let key = zeroize::Zeroizing::new(fs::read(&paths.ca_key)?);
            let row = rampart_store::TlsCaRow {
                cert_pem: local.clone(),
                key_sealed: sealer.seal(CA_SEAL_AAD, &key).context("sealing the CA key")?,
                created_at: rampart_core::time::now_ms(),
            };
            if store.insert_tls_ca(&row).await.context("storing the deployment's CA")? {
                tracing::info!("stored this node's CA as the deployment's");
                return Ok(false);
            }
            store.tls_ca().await?.context("the CA another node stored vanished")?
        }
    };
    if stored.cert_pem == local {
        return Ok(false);
    }
    let key_pem = sealer.open(CA_SEAL_AAD, &stored.key_sealed).context(
        "unsealing the deployment's CA key: every node of a deployment needs its root secret \
         (copy DIR/secrets/ from a running node)",
    )?;
    let key_pem = std::str::from_utf8(&key_pem).context("the deployment's CA key is not PEM")?;
    let key = KeyPair::from_pem(key_pem).context("reading the deployment's CA key")?;
    let ca_der = rustls_pemfile::certs(&mut stored.cert_pem.as_bytes())
        .next()
        .context("the deployment's CA holds no certificate")??;
    if spki_of(&ca_der)? != key.public_key_der() {
        bail!("the deployment's CA certificate and its sealed key do not belong together");
    }
    tracing::warn!(
        replaced = %crate::ingest::certs::fingerprint(
            &rustls_pemfile::certs(&mut local.as_bytes()).next().context("the local CA holds no certificate")??
        ),
        adopted = %crate::ingest::certs::fingerprint(&ca_der),
        "this node's CA differs from the deployment's: adopting the deployment's and re-issuing the server certificate"
    );
    write_private(&paths.ca_key, key_pem.as_bytes())?;
    fs::write(&paths.ca_cert, &stored.cert_pem)?;
    let _ = fs::remove_file(&paths.names);
    ensure(paths, names)?;
    Ok(true)
}

/// The DER SubjectPublicKeyInfo of a certificate.
pub fn spki_of(cert_der: &[u8]) -> Result<Vec<u8>> {
    use x509_cert::der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(cert_der).context("parsing a certificate")?;
    cert.tbs_certificate.subject_public_key_info.to_der().context("encoding a public key")
}

/// The CA as an issuer: its certificate rebuilt from the stored key (same
/// key and subject as `ca.pem`, so what it signs chains to it) and the key.
pub fn ca_issuer(paths: &TlsPaths) -> Result<(rcgen::Certificate, KeyPair)> {
    rampart_core::secret::check_private(&paths.ca_key)?;
    let key = KeyPair::from_pem(&fs::read_to_string(&paths.ca_key)?).context("reading the CA key")?;
    let issuer = ca_params().self_signed(&key).context("rebuilding the CA issuer")?;
    Ok((issuer, key))
}

/// The CA certificates in `ca.pem`, for verifying what the CA issued.
pub fn ca_certs(paths: &TlsPaths) -> Result<Vec<CertificateDer<'static>>> {
    Ok(rustls_pemfile::certs(&mut fs::read(&paths.ca_cert)?.as_slice()).collect::<Result<_, _>>()?)
}

/// The rustls server configuration: TLS 1.2 and 1.3 with aws-lc-rs, ALPN for
/// HTTP/2 and HTTP/1.1.
pub fn server_config(paths: &TlsPaths) -> Result<Arc<ServerConfig>> {
    let mut config = server_config_with(paths, None)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The node's certificate with `client_auth` checking client certificates
/// (none asked for without it), and no ALPN: the syslog TLS listener's
/// configuration.
pub fn server_config_with(
    paths: &TlsPaths,
    client_auth: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<ServerConfig> {
    rampart_core::secret::check_private(&paths.key)?;
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut fs::read(&paths.cert)?.as_slice()).collect::<Result<_, _>>()?;
    let ca: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut fs::read(&paths.ca_cert)?.as_slice()).collect::<Result<_, _>>()?;
    let Some(key): Option<PrivateKeyDer<'static>> = rustls_pemfile::private_key(&mut fs::read(&paths.key)?.as_slice())?
    else {
        bail!("{} holds no private key", paths.key.display());
    };
    let chain = certs.into_iter().chain(ca).collect();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_auth {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    builder.with_single_cert(chain, key).context("loading the server certificate")
}
