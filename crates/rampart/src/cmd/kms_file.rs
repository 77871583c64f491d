//! `rampart kms encrypt-file` and `decrypt-file`: transparent file
//! encryption in the AWS Encryption SDK v2 message format (streaming,
//! framed, key-committing, signed with ECDSA P-384 by default), with data
//! keys from this server's KMS. The files interoperate with the real
//! `aws-encryption-cli` pointed at Rampart's AWS-compatible endpoint, both
//! ways: the encrypted data key names the KMS key by its ARN, as the SDK's
//! KMS keyring does.
//!
//! Decryption writes to a temporary file beside the output and renames it
//! into place only after the whole message, signature included, verified;
//! on any error nothing is left at the output path.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use rampart_kms::context::EncryptionContext;
use rampart_kms::envelope::AWS_KMS_PROVIDER;
use rampart_kms::esdk::{self, AlgorithmSuite, DataKeyProvider, EncryptOptions, EncryptedDataKey, EsdkError, Limits};
use serde_json::{Map, Value, json};
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use super::kms::segment;
use crate::client::ApiClient;

/// Data keys from the server's native KMS API, for the format layer, which
/// is synchronous: it runs on a blocking thread and waits for each request.
struct ServerKeys {
    client: ApiClient,
    key: Option<String>,
    handle: Handle,
}

fn context_json(context: &EncryptionContext) -> Value {
    Value::Object(context.iter().map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect::<Map<_, _>>())
}

fn key32(b64: &str) -> Result<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(data_encoding::BASE64.decode(b64.as_bytes()).context("the server's key is not base64")?);
    if bytes.len() != 32 {
        return Err(anyhow!("the server returned a data key of {} bytes", bytes.len()));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

fn provider_error(e: anyhow::Error) -> EsdkError {
    EsdkError::provider(format!("{e:#}"))
}

impl DataKeyProvider for ServerKeys {
    fn generate(
        &self,
        _suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<EncryptedDataKey>), EsdkError> {
        let key = self.key.as_deref().ok_or_else(|| provider_error(anyhow!("no key to encrypt under")))?;
        let path = format!("/api/v1/kms/keys/{}/crypto/data-key", segment(key));
        let body = json!({ "bytes": 32, "context": context_json(context) });
        let answer = self.handle.block_on(self.client.post(&path, &body)).map_err(provider_error)?;
        let plaintext = key32(answer["plaintext"].as_str().unwrap_or_default()).map_err(provider_error)?;
        let ciphertext = data_encoding::BASE64
            .decode(answer["ciphertext"].as_str().unwrap_or_default().as_bytes())
            .map_err(|e| provider_error(e.into()))?;
        let arn = answer["arn"].as_str().ok_or_else(|| provider_error(anyhow!("the server named no key ARN")))?;
        let edk = EncryptedDataKey {
            provider_id: AWS_KMS_PROVIDER.to_owned(),
            provider_info: arn.as_bytes().to_vec(),
            ciphertext,
        };
        Ok((plaintext, vec![edk]))
    }

    fn decrypt(
        &self,
        edks: &[EncryptedDataKey],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, EsdkError> {
        let mut last = anyhow!("the file has no data key from an AWS KMS-compatible key");
        for edk in edks.iter().filter(|e| e.provider_id == AWS_KMS_PROVIDER) {
            let Ok(arn) = std::str::from_utf8(&edk.provider_info) else { continue };
            let path = format!("/api/v1/kms/keys/{}/crypto/decrypt", segment(arn));
            let body =
                json!({ "data": data_encoding::BASE64.encode(&edk.ciphertext), "context": context_json(context) });
            match self.handle.block_on(self.client.post(&path, &body)) {
                Ok(answer) => return key32(answer["plaintext"].as_str().unwrap_or_default()).map_err(provider_error),
                // Another key of the message may be ours: keep trying.
                Err(e) => last = e,
            }
        }
        Err(provider_error(last))
    }
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

fn explain(e: EsdkError) -> anyhow::Error {
    match e {
        EsdkError::Provider(inner) => anyhow!("the KMS refused the data key: {inner}"),
        other => anyhow!(other),
    }
}

/// Encrypts `input` to `output` under `key`.
pub async fn encrypt_file(
    client: ApiClient,
    key: String,
    input: PathBuf,
    output: PathBuf,
    pairs: Vec<(String, String)>,
    unsigned: bool,
) -> Result<()> {
    let context = EncryptionContext::from_pairs(pairs).map_err(|e| anyhow!("encryption context: {e}"))?;
    let provider = ServerKeys { client, key: Some(key), handle: Handle::current() };
    let source = File::open(&input).with_context(|| format!("opening {}", input.display()))?;
    let len = source.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(len, "encrypting");
    let reader = BufReader::new(bar.wrap_read(source));
    // Written to a temporary file first, so a failed run leaves no half file.
    let dir = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    let writer = BufWriter::new(tmp.reopen()?);
    let suite = if unsigned { AlgorithmSuite::AesGcmCommitKey } else { AlgorithmSuite::AesGcmCommitKeyEcdsaP384 };
    let options = EncryptOptions { suite, ..EncryptOptions::default() };
    let summary =
        tokio::task::spawn_blocking(move || esdk::encrypt(&provider, &context, reader, writer, &options)).await?;
    bar.finish_and_clear();
    let summary = summary.map_err(explain)?;
    tmp.persist(&output).with_context(|| format!("writing {}", output.display()))?;
    eprintln!("encrypted {} bytes into {}", summary.plaintext_len, output.display());
    Ok(())
}

/// Decrypts `input` to `output`, only once the whole file verified.
pub async fn decrypt_file(client: ApiClient, input: PathBuf, output: PathBuf) -> Result<()> {
    let provider = ServerKeys { client, key: None, handle: Handle::current() };
    let source = File::open(&input).with_context(|| format!("opening {}", input.display()))?;
    let len = source.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(len, "decrypting");
    let reader = BufReader::new(bar.wrap_read(source));
    let out = output.clone();
    let summary =
        tokio::task::spawn_blocking(move || esdk::decrypt_to_path(&provider, reader, &out, &Limits::default())).await?;
    bar.finish_and_clear();
    let summary = summary.map_err(explain)?;
    let context: Vec<String> = summary
        .header
        .encryption_context
        .iter()
        .filter(|(k, _)| !k.starts_with(esdk::RESERVED_CONTEXT_PREFIX))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    eprintln!("decrypted {} bytes into {} (context: {})", summary.plaintext_len, output.display(), context.join(", "));
    Ok(())
}
