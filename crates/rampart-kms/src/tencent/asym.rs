//! Tencent Cloud KMS actions of asymmetric keys and the remaining key
//! management: `GetPublicKey`, `SignByAsymmetricKey`,
//! `VerifyByAsymmetricKey`, `AsymmetricRsaDecrypt`, `GenerateRandom`,
//! `UpdateKeyDescription` and automatic rotation. Tencent answers an invalid
//! signature with `SignatureValid: false`, not with an error.

use serde_json::{Value, json};

use super::{DESCRIPTION_MAX_BYTES, Params, TcError, b64};
use crate::material::MessageType;
use crate::service::{Caller, Kms};
use crate::spec::{EncryptionAlgorithm, SigningAlgorithm};

/// Tencent's signing algorithm names, and AWS's names as a fallback for the
/// algorithms Tencent documents no name for (ECDSA with SHA-384, RSA with
/// SHA-384 and SHA-512).
fn signing_algorithm(p: &Params) -> Result<SigningAlgorithm, TcError> {
    let name = p.required("Algorithm")?;
    SigningAlgorithm::ALL
        .iter()
        .copied()
        .find(|a| a.tc_name() == Some(name) || a.aws_name() == name)
        .ok_or_else(|| TcError::new("InvalidParameterValue", "Algorithm is not a signing algorithm of this KMS"))
}

fn message_type(p: &Params) -> Result<MessageType, TcError> {
    match p.nonempty_string("MessageType")? {
        None | Some("RAW") => Ok(MessageType::Raw),
        Some("DIGEST") => Ok(MessageType::Digest),
        Some(_) => Err(TcError::invalid_value("MessageType must be RAW or DIGEST")),
    }
}

fn pem(der: &[u8]) -> String {
    let body = data_encoding::BASE64.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
}

pub(super) async fn dispatch(kms: &Kms, caller: &Caller, action: &str, p: &Params) -> Result<Value, TcError> {
    Ok(match action {
        "GetPublicKey" => {
            let info = kms.get_public_key(caller, &p.key("KeyId")?).await?;
            json!({ "KeyId": info.key_id.to_string(), "PublicKey": b64(&info.der), "PublicKeyPem": pem(&info.der) })
        }
        "SignByAsymmetricKey" => {
            let algorithm = signing_algorithm(p)?;
            let kind = message_type(p)?;
            let message = p.base64("Message", "InvalidParameterValue")?;
            let (_, sig) = kms.sign(caller, &p.key("KeyId")?, &message, kind, algorithm).await?;
            json!({ "Signature": b64(&sig) })
        }
        "VerifyByAsymmetricKey" => {
            let algorithm = signing_algorithm(p)?;
            let kind = message_type(p)?;
            let message = p.base64("Message", "InvalidParameterValue")?;
            let sig = p.base64("SignatureValue", "InvalidParameterValue")?;
            let (_, valid) = kms.verify(caller, &p.key("KeyId")?, &message, kind, algorithm, &sig).await?;
            json!({ "SignatureValid": valid })
        }
        "AsymmetricRsaDecrypt" => {
            match p.required("Algorithm")? {
                "RSAES_OAEP_SHA_256" => {}
                _ => return Err(TcError::unsupported("only RSAES_OAEP_SHA_256 is available")),
            }
            let key = p.key("KeyId")?;
            let ciphertext = p.base64("Ciphertext", "InvalidParameterValue.InvalidCiphertext")?;
            let ctx = crate::context::EncryptionContext::empty();
            let (key_id, plaintext) =
                kms.decrypt(caller, &ciphertext, &ctx, Some(&key), EncryptionAlgorithm::RsaesOaepSha256).await?;
            json!({ "KeyId": key_id.to_string(), "Plaintext": b64(&plaintext) })
        }
        "GenerateRandom" => {
            let n = p.integer("NumberOfBytes")?.ok_or_else(|| TcError::invalid("NumberOfBytes is required"))?;
            let n = usize::try_from(n).map_err(|_| TcError::invalid_value("NumberOfBytes must be 1 to 1024"))?;
            let bytes = kms.generate_random(caller, n).await?;
            json!({ "Plaintext": b64(&bytes) })
        }
        "UpdateKeyDescription" => {
            let text = p.required("Description")?;
            if text.len() > DESCRIPTION_MAX_BYTES {
                return Err(TcError::invalid_value(format!("Description has at most {DESCRIPTION_MAX_BYTES} bytes")));
            }
            kms.update_description(caller, &p.key("KeyId")?, text).await?;
            json!({})
        }
        "EnableKeyRotation" => {
            let days = match p.integer("RotateDays")? {
                Some(d) => Some(u32::try_from(d).map_err(|_| TcError::invalid_value("RotateDays must be 7 to 365"))?),
                None => None,
            };
            kms.enable_key_rotation(caller, &p.key("KeyId")?, days).await?;
            json!({})
        }
        "DisableKeyRotation" => {
            kms.disable_key_rotation(caller, &p.key("KeyId")?).await?;
            json!({})
        }
        "GetKeyRotationStatus" => {
            let status = kms.rotation_status(caller, &p.key("KeyId")?).await?;
            json!({
                "KeyRotationEnabled": status.enabled,
                "RotateDays": status.period_days.unwrap_or(0),
                "NextRotateTime": status.next_rotation_ms.map_or(0, |ms| ms.div_euclid(1000)),
            })
        }
        other => return super::import::dispatch(kms, caller, other, p).await,
    })
}
