//! The AWS operations of asymmetric and HMAC keys and of key-less random
//! bytes: `Sign`, `Verify`, `GetPublicKey`, `GenerateMac`, `VerifyMac`,
//! `GenerateDataKeyPair` (with and without plaintext) and `GenerateRandom`,
//! with the shapes and error types of botocore's KMS model. Operations it
//! does not know go on to the management calls.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ArnScope, KeyOnly, Reply, arn_of, b64, context, error, key_ref, kms_error, parse, unb64};
use crate::material::MessageType;
use crate::service::{Caller, Kms, KmsError};
use crate::spec::{KeySpec, MacAlgorithm, SigningAlgorithm};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Sign {
    key_id: String,
    message: String,
    message_type: Option<String>,
    signing_algorithm: String,
    signature: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Mac {
    key_id: String,
    message: String,
    mac_algorithm: String,
    mac: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyPair {
    key_id: String,
    key_pair_spec: String,
    encryption_context: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Random {
    number_of_bytes: Option<usize>,
}

fn message_type(text: Option<&str>) -> Result<MessageType, Reply> {
    match text {
        None | Some("RAW") => Ok(MessageType::Raw),
        Some("DIGEST") => Ok(MessageType::Digest),
        Some(_) => Err(error(400, "ValidationException", "MessageType must be RAW or DIGEST")),
    }
}

fn validation<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, Reply> {
    r.map_err(|err| error(400, "ValidationException", &err.to_string()))
}

/// Handles the operations of this module, or passes on to the management calls.
pub(super) async fn dispatch(
    kms: &Kms,
    caller: &Caller,
    scope: &ArnScope,
    operation: &str,
    body: &[u8],
) -> Result<Value, Reply> {
    let e = |err: KmsError| kms_error(&err);
    Ok(match operation {
        "Sign" | "Verify" => {
            let r: Sign = parse(body)?;
            let algorithm: SigningAlgorithm = validation(r.signing_algorithm.parse())?;
            let kind = message_type(r.message_type.as_deref())?;
            let message = zeroize::Zeroizing::new(unb64("Message", &r.message)?);
            let key = key_ref(&r.key_id)?;
            if operation == "Sign" {
                let (key_id, sig) = kms.sign(caller, &key, &message, kind, algorithm).await.map_err(e)?;
                json!({ "KeyId": arn_of(scope, key_id), "Signature": b64(&sig), "SigningAlgorithm": algorithm.aws_name() })
            } else {
                let Some(sig) = r.signature.as_deref() else {
                    return Err(error(400, "ValidationException", "Signature is required"));
                };
                let sig = unb64("Signature", sig)?;
                let (key_id, valid) = kms.verify(caller, &key, &message, kind, algorithm, &sig).await.map_err(e)?;
                if !valid {
                    return Err(error(400, "KMSInvalidSignatureException", "the signature is not valid"));
                }
                json!({ "KeyId": arn_of(scope, key_id), "SignatureValid": true, "SigningAlgorithm": algorithm.aws_name() })
            }
        }
        "GenerateMac" | "VerifyMac" => {
            let r: Mac = parse(body)?;
            let algorithm: MacAlgorithm = validation(r.mac_algorithm.parse())?;
            let message = zeroize::Zeroizing::new(unb64("Message", &r.message)?);
            let key = key_ref(&r.key_id)?;
            if operation == "GenerateMac" {
                let (key_id, mac) = kms.generate_mac(caller, &key, &message, algorithm).await.map_err(e)?;
                json!({ "KeyId": arn_of(scope, key_id), "Mac": b64(&mac), "MacAlgorithm": algorithm.aws_name() })
            } else {
                let Some(mac) = r.mac.as_deref() else {
                    return Err(error(400, "ValidationException", "Mac is required"));
                };
                let mac = unb64("Mac", mac)?;
                let (key_id, valid) = kms.verify_mac(caller, &key, &message, algorithm, &mac).await.map_err(e)?;
                if !valid {
                    return Err(error(400, "KMSInvalidMacException", "the MAC is not valid"));
                }
                json!({ "KeyId": arn_of(scope, key_id), "MacValid": true, "MacAlgorithm": algorithm.aws_name() })
            }
        }
        "GetPublicKey" => {
            let r: KeyOnly = parse(body)?;
            let info = kms.get_public_key(caller, &key_ref(&r.key_id)?).await.map_err(e)?;
            let t = info.key_type;
            let mut out = json!({
                "KeyId": arn_of(scope, info.key_id),
                "PublicKey": b64(&info.der),
                "KeySpec": t.spec().aws_name(),
                "CustomerMasterKeySpec": t.spec().aws_name(),
                "KeyUsage": t.usage().aws_name(),
            });
            if !t.encryption_algorithms().is_empty() {
                out["EncryptionAlgorithms"] =
                    json!(t.encryption_algorithms().iter().map(|a| a.aws_name()).collect::<Vec<_>>());
            }
            if !t.signing_algorithms().is_empty() {
                out["SigningAlgorithms"] =
                    json!(t.signing_algorithms().iter().map(|a| a.aws_name()).collect::<Vec<_>>());
            }
            out
        }
        "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
            let r: DataKeyPair = parse(body)?;
            let spec: KeySpec = validation(r.key_pair_spec.parse())?;
            let ctx = context(r.encryption_context)?;
            let with_plaintext = operation == "GenerateDataKeyPair";
            let (key_id, pair) = kms
                .generate_data_key_pair(caller, &key_ref(&r.key_id)?, spec, &ctx, with_plaintext)
                .await
                .map_err(e)?;
            let mut out = json!({
                "KeyId": arn_of(scope, key_id),
                "KeyPairSpec": spec.aws_name(),
                "PrivateKeyCiphertextBlob": b64(&pair.private_ciphertext),
                "PublicKey": b64(&pair.public_key),
            });
            if let Some(private) = &pair.private_plaintext {
                out["PrivateKeyPlaintext"] = json!(b64(private));
            }
            out
        }
        "GenerateRandom" => {
            let r: Random = parse(body)?;
            let Some(n) = r.number_of_bytes else {
                return Err(error(400, "ValidationException", "NumberOfBytes is required"));
            };
            let bytes = kms.generate_random(caller, n).await.map_err(e)?;
            json!({ "Plaintext": b64(&bytes) })
        }
        other => return super::manage::dispatch(kms, caller, scope, other, body).await,
    })
}
