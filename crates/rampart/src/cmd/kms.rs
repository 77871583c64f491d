//! `rampart kms …`: keys, aliases, policies and cryptography through the
//! native `/api/v1/kms` API with the stored session. Binary input comes from
//! files (or `-` for stdin); ciphertexts and signatures are printed as
//! base64, decrypted plaintext is written raw to `--out` or stdout.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::Global;
use crate::client::ApiClient;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum KmsCmd {
    /// Create a key.
    Create {
        /// SYMMETRIC_DEFAULT, HMAC_256|384|512, ECC_NIST_P256|P384, RSA_2048|3072|4096.
        #[arg(long, default_value = "SYMMETRIC_DEFAULT")]
        spec: String,
        /// ENCRYPT_DECRYPT, SIGN_VERIFY or GENERATE_VERIFY_MAC (default: ENCRYPT_DECRYPT).
        #[arg(long)]
        usage: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Give the key an alias (alias/NAME).
        #[arg(long)]
        alias: Option<String>,
        /// Generate and keep the key inside the HSM (SYMMETRIC_DEFAULT only;
        /// needs the PKCS#11 keystore; such a key cannot be rotated).
        #[arg(long)]
        hsm: bool,
    },
    /// List the keys of your tenant.
    List,
    /// Show one key (id, alias/NAME or ARN).
    Show { key: String },
    /// Enable a disabled key.
    Enable { key: String },
    /// Disable a key: it stops working until enabled again.
    Disable { key: String },
    /// Add a new key version now; older versions keep decrypting.
    Rotate { key: String },
    /// Turn automatic rotation on (every PERIOD days) or off.
    Rotation {
        key: String,
        #[arg(long, conflicts_with = "off")]
        period_days: Option<u32>,
        #[arg(long)]
        off: bool,
    },
    /// Schedule the key's destruction after 7-30 days (default 30).
    ScheduleDeletion {
        key: String,
        #[arg(long)]
        days: Option<u32>,
    },
    /// Cancel a scheduled deletion (the key stays disabled).
    CancelDeletion { key: String },
    /// Encrypt a file of up to 4096 bytes; prints the ciphertext (base64).
    Encrypt {
        key: String,
        #[arg(long = "in")]
        input: PathBuf,
        /// Encryption context pairs, KEY=VALUE; the same are needed to decrypt.
        #[arg(long = "context", value_parser = pair)]
        context: Vec<(String, String)>,
    },
    /// Decrypt a ciphertext (base64 or raw bytes in a file); writes the plaintext.
    Decrypt {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long = "context", value_parser = pair)]
        context: Vec<(String, String)>,
        /// Where to write the plaintext (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Sign a file (up to 4096 bytes) or a digest; prints the signature (base64).
    Sign {
        key: String,
        #[arg(long = "in")]
        input: PathBuf,
        /// e.g. ECDSA_SHA_256, RSASSA_PSS_SHA_256.
        #[arg(long)]
        algorithm: String,
        #[arg(long)]
        digest: bool,
    },
    /// Verify a signature (base64 in a file); exits non-zero when invalid.
    Verify {
        key: String,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        algorithm: String,
        #[arg(long)]
        signature: PathBuf,
        #[arg(long)]
        digest: bool,
    },
    /// Print the key's public key (PEM).
    PublicKey { key: String },
    /// Encrypt a file of any size in the AWS Encryption SDK message format
    /// (streaming, key-committing, signed), with a data key from KEY.
    EncryptFile {
        key: String,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Encryption context pairs, KEY=VALUE, bound to the file.
        #[arg(long = "context", value_parser = pair)]
        context: Vec<(String, String)>,
        /// Leave out the ECDSA signature (suite 0x0478 instead of 0x0578).
        #[arg(long)]
        unsigned: bool,
    },
    /// Decrypt a file made by encrypt-file or by the AWS Encryption SDK with this KMS.
    DecryptFile {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Show or replace a key's policy.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Manage aliases.
    #[command(subcommand)]
    Alias(AliasCmd),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    Get {
        key: String,
    },
    /// Replace the policy with the JSON document in FILE.
    Put {
        key: String,
        file: PathBuf,
        /// Accept a policy under which you could not change it again.
        #[arg(long)]
        bypass_lockout_check: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AliasCmd {
    List,
    /// Point alias/NAME at KEY (creating the alias if needed).
    Set {
        name: String,
        key: String,
    },
    Delete {
        name: String,
    },
}

fn pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| "expected KEY=VALUE".to_owned())
}

/// A key reference as one URL path segment.
pub(super) fn segment(key: &str) -> String {
    key.replace('%', "%25").replace('/', "%2F").replace(':', "%3A")
}

fn context(pairs: &[(String, String)]) -> Value {
    let map: Map<String, Value> = pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    Value::Object(map)
}

fn read_input(path: &PathBuf) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).context("reading stdin")?;
    } else {
        bytes = Zeroizing::new(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    }
    Ok(bytes)
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Ciphertexts and signatures may be stored as base64 text or as raw bytes.
fn read_blob(path: &PathBuf) -> Result<Vec<u8>> {
    let bytes = read_input(path)?;
    let text = String::from_utf8_lossy(&bytes);
    match data_encoding::BASE64.decode(text.trim().as_bytes()) {
        Ok(decoded) => Ok(decoded),
        Err(_) => Ok(bytes.to_vec()),
    }
}

fn show_key(g: &Global, key: &Value) {
    output::object(g.json, key);
}

pub async fn kms(g: &Global, cmd: KmsCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    let key_path = |key: &str| format!("/api/v1/kms/keys/{}", segment(key));
    match cmd {
        KmsCmd::Create { spec, usage, description, alias, hsm } => {
            let body = json!({ "spec": spec, "usage": usage, "description": description, "alias": alias, "hsm": hsm });
            show_key(g, &client.post("/api/v1/kms/keys", &body).await?);
        }
        KmsCmd::List => {
            let keys = client.get("/api/v1/kms/keys").await?;
            let listing = json!({ "items": keys });
            output::list(g.json, &listing, &["key_id", "spec", "usage", "state", "current_version", "description"]);
        }
        KmsCmd::Show { key } => show_key(g, &client.get(&key_path(&key)).await?),
        KmsCmd::Enable { key } => show_key(g, &client.post(&format!("{}/enable", key_path(&key)), &json!({})).await?),
        KmsCmd::Disable { key } => show_key(g, &client.post(&format!("{}/disable", key_path(&key)), &json!({})).await?),
        KmsCmd::Rotate { key } => show_key(g, &client.post(&format!("{}/rotate", key_path(&key)), &json!({})).await?),
        KmsCmd::Rotation { key, period_days, off } => {
            let (action, body) = if off {
                ("disable-rotation", json!({}))
            } else {
                ("enable-rotation", json!({ "period_days": period_days }))
            };
            show_key(g, &client.post(&format!("{}/{action}", key_path(&key)), &body).await?);
        }
        KmsCmd::ScheduleDeletion { key, days } => {
            let body = json!({ "pending_days": days });
            show_key(g, &client.post(&format!("{}/schedule-deletion", key_path(&key)), &body).await?);
        }
        KmsCmd::CancelDeletion { key } => {
            show_key(g, &client.post(&format!("{}/cancel-deletion", key_path(&key)), &json!({})).await?);
        }
        KmsCmd::Encrypt { key, input, context: ctx } => {
            let data = read_input(&input)?;
            let body = json!({ "data": b64(&data), "context": context(&ctx) });
            let out = client.post(&format!("{}/crypto/encrypt", key_path(&key)), &body).await?;
            if g.json {
                output::object(true, &out);
            } else {
                println!("{}", out["ciphertext"].as_str().unwrap_or_default());
            }
        }
        KmsCmd::Decrypt { input, context: ctx, out } => {
            let blob = read_blob(&input)?;
            let body = json!({ "ciphertext": b64(&blob), "context": context(&ctx) });
            let answer = client.post("/api/v1/kms/decrypt", &body).await?;
            let plain = Zeroizing::new(
                data_encoding::BASE64
                    .decode(answer["plaintext"].as_str().unwrap_or_default().as_bytes())
                    .context("the server's answer is not base64")?,
            );
            match out {
                Some(path) => {
                    rampart_core::secret::write_private_atomic(&path, &plain)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                None => std::io::stdout().write_all(&plain).context("writing stdout")?,
            }
        }
        KmsCmd::Sign { key, input, algorithm, digest } => {
            let data = read_input(&input)?;
            let body = json!({ "data": b64(&data), "algorithm": algorithm,
                "message_type": if digest { "DIGEST" } else { "RAW" } });
            let out = client.post(&format!("{}/crypto/sign", key_path(&key)), &body).await?;
            println!("{}", out["signature"].as_str().unwrap_or_default());
        }
        KmsCmd::Verify { key, input, algorithm, signature, digest } => {
            let data = read_input(&input)?;
            let sig = read_blob(&signature)?;
            let body = json!({ "data": b64(&data), "algorithm": algorithm, "signature": b64(&sig),
                "message_type": if digest { "DIGEST" } else { "RAW" } });
            let out = client.post(&format!("{}/crypto/verify", key_path(&key)), &body).await?;
            if out["valid"] != Value::Bool(true) {
                bail!("the signature is NOT valid");
            }
            eprintln!("the signature is valid");
        }
        KmsCmd::PublicKey { key } => {
            let out = client.post(&format!("{}/crypto/public-key", key_path(&key)), &json!({})).await?;
            let der = out["public_key"].as_str().unwrap_or_default();
            let lines: Vec<String> =
                der.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
            println!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----", lines.join("\n"));
        }
        KmsCmd::EncryptFile { key, input, out, context: ctx, unsigned } => {
            super::kms_file::encrypt_file(client.clone(), key, input, out, ctx, unsigned).await?;
        }
        KmsCmd::DecryptFile { input, out } => super::kms_file::decrypt_file(client.clone(), input, out).await?,
        KmsCmd::Policy(PolicyCmd::Get { key }) => {
            let doc = client.get(&format!("{}/policy", key_path(&key))).await?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        KmsCmd::Policy(PolicyCmd::Put { key, file, bypass_lockout_check }) => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let doc: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
            let query = if bypass_lockout_check { "?bypass_lockout_check=true" } else { "" };
            client.send(Method::PUT, &format!("{}/policy{query}", key_path(&key)), Some(&doc)).await?;
            eprintln!("policy replaced");
        }
        KmsCmd::Alias(AliasCmd::List) => {
            let list = client.get("/api/v1/kms/aliases").await?;
            output::list(g.json, &json!({ "items": list }), &["alias", "key_id"]);
        }
        KmsCmd::Alias(AliasCmd::Set { name, key }) => {
            let name = name.strip_prefix("alias/").unwrap_or(&name).to_owned();
            client
                .send(Method::PUT, &format!("/api/v1/kms/aliases/{}", segment(&name)), Some(&json!({ "key": key })))
                .await?;
            eprintln!("alias/{name} -> {key}");
        }
        KmsCmd::Alias(AliasCmd::Delete { name }) => {
            let name = name.strip_prefix("alias/").unwrap_or(&name).to_owned();
            client.delete(&format!("/api/v1/kms/aliases/{}", segment(&name))).await?;
            eprintln!("deleted alias/{name}");
        }
    }
    Ok(())
}
