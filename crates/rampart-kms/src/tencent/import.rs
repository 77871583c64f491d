//! Tencent Cloud KMS actions for keys with imported material (`Type` 2 at
//! `CreateKey`, origin `EXTERNAL`): `GetParametersForImport`,
//! `ImportKeyMaterial` and `DeleteImportedKeyMaterial`, with Tencent's
//! parameter names, Unix-second times (`ValidTo` 0 or absent: the material
//! does not expire) and error codes. The wrapping is RSAES-OAEP-SHA-256
//! under an RSA-2048 key; Tencent's other wrapping algorithms
//! (`RSAES_PKCS1_V1_5`, `RSAES_OAEP_SHA_1`) are refused as unsupported.

use serde_json::{Value, json};

use super::{Params, TcError, b64, secs};
use crate::service::{Caller, ImportError, Kms};
use crate::spec::KeySpec;

/// Tencent's `ValidTo` in milliseconds: absent or 0 means no expiry.
fn valid_to(p: &Params) -> Result<Option<i64>, TcError> {
    match p.integer("ValidTo")? {
        None | Some(0) => Ok(None),
        Some(s) if s > 0 => Ok(Some(s.saturating_mul(1000))),
        Some(_) => Err(TcError::invalid_value("ValidTo must be a Unix time in the future, or 0")),
    }
}

pub(super) async fn dispatch(kms: &Kms, caller: &Caller, action: &str, p: &Params) -> Result<Value, TcError> {
    Ok(match action {
        "GetParametersForImport" => {
            let key = p.key("KeyId")?;
            match p.required("WrappingAlgorithm")? {
                "RSAES_OAEP_SHA_256" => {}
                "RSAES_PKCS1_V1_5" | "RSAES_OAEP_SHA_1" => {
                    return Err(TcError::unsupported("only the RSAES_OAEP_SHA_256 wrapping algorithm is available"));
                }
                _ => return Err(TcError::invalid_value("WrappingAlgorithm is not a wrapping algorithm")),
            }
            if p.required("WrappingKeySpec")? != "RSA_2048" {
                return Err(TcError::invalid_value("WrappingKeySpec must be RSA_2048"));
            }
            let params = kms.get_parameters_for_import(caller, &key, KeySpec::Rsa2048).await?;
            json!({
                "KeyId": params.key_id.to_string(),
                "ImportToken": b64(&params.import_token),
                "PublicKey": b64(&params.public_key),
                "ParametersValidTo": secs(params.valid_to_ms),
            })
        }
        "ImportKeyMaterial" => {
            let key = p.key("KeyId")?;
            let invalid_token = ImportError::InvalidToken.tc_code();
            let token = p.base64("ImportToken", invalid_token)?;
            let material = p.base64("EncryptedKeyMaterial", ImportError::Undecryptable.tc_code())?;
            let valid_to = valid_to(p)?;
            kms.import_key_material(caller, &key, &token, &material, valid_to).await?;
            json!({})
        }
        "DeleteImportedKeyMaterial" => {
            kms.delete_imported_key_material(caller, &p.key("KeyId")?).await?;
            json!({})
        }
        other => return Err(super::unknown_action(other)),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::lifecycle::Api;
    use crate::service::Caller;
    use crate::test_support::{Fixture, caller, fixture};

    struct Tc {
        f: Fixture,
        me: Caller,
    }

    impl Tc {
        /// The Response on success, `Err(code)` on failure.
        async fn call(&self, action: &str, body: Value) -> Result<Value, String> {
            let out = super::super::handle(&self.f.kms, &self.me, action, body.to_string().as_bytes(), "req").await;
            let response = out["Response"].clone();
            match response["Error"]["Code"].as_str() {
                Some(code) => Err(code.to_owned()),
                None => Ok(response),
            }
        }

        async fn ok(&self, action: &str, body: Value) -> Value {
            self.call(action, body).await.unwrap_or_else(|e| panic!("{action}: {e}"))
        }

        async fn err(&self, action: &str, body: Value) -> String {
            self.call(action, body).await.err().unwrap_or_else(|| panic!("{action} should fail"))
        }
    }

    fn b64(bytes: &[u8]) -> String {
        data_encoding::BASE64.encode(bytes)
    }

    /// Wraps key material under GetParametersForImport's public key.
    fn wrap(params: &Value, material: &[u8]) -> String {
        use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
        let der = data_encoding::BASE64.decode(params["PublicKey"].as_str().unwrap().as_bytes()).unwrap();
        let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&der).unwrap()).unwrap();
        let mut out = vec![0; key.ciphertext_size()];
        b64(key.encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None).unwrap())
    }

    fn now_secs() -> i64 {
        rampart_core::time::now_ms() / 1000
    }

    #[tokio::test]
    async fn external_keys_take_material_through_tencents_actions() {
        let f = fixture().await;
        let tc = Tc { me: caller(&f.tenant, Api::Tencent), f };
        let created = tc.ok("CreateKey", json!({ "Alias": "imported", "Type": 2 })).await;
        assert_eq!(created["KeyState"], "PendingImport");
        let key = created["KeyId"].as_str().unwrap().to_owned();
        let meta = tc.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"].clone();
        assert_eq!((meta["Origin"].as_str(), meta["ValidTo"].as_i64()), (Some("EXTERNAL"), Some(0)));
        let plain = tc.ok("CreateKey", json!({ "Alias": "plain" })).await["KeyId"].clone();
        let described = tc.ok("DescribeKey", json!({ "KeyId": plain })).await;
        assert_eq!(described["KeyMetadata"]["Origin"], "TENCENT_KMS");

        let get = |alg: &str, spec: &str| json!({ "KeyId": key, "WrappingAlgorithm": alg, "WrappingKeySpec": spec });
        assert_eq!(tc.err("GetParametersForImport", get("RSAES_OAEP_SHA_1", "RSA_2048")).await, "UnsupportedOperation");
        assert_eq!(tc.err("GetParametersForImport", get("ROT13", "RSA_2048")).await, "InvalidParameterValue");
        assert_eq!(
            tc.err("GetParametersForImport", get("RSAES_OAEP_SHA_256", "RSA_4096")).await,
            "InvalidParameterValue"
        );
        assert_eq!(tc.err("GetParametersForImport", json!({ "KeyId": key })).await, "MissingParameter");
        let not_external =
            json!({ "KeyId": plain, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048" });
        assert_eq!(tc.err("GetParametersForImport", not_external).await, "UnsupportedOperation.NotExternalCmk");
        let before = now_secs();
        let params = tc.ok("GetParametersForImport", get("RSAES_OAEP_SHA_256", "RSA_2048")).await;
        assert_eq!(params["KeyId"], key.as_str());
        let valid = params["ParametersValidTo"].as_i64().unwrap();
        assert!((before + 86_399..=now_secs() + 86_400).contains(&valid), "24 hours, in Unix seconds");

        let material = [0x61; 32];
        let import = |params: &Value, material: &[u8], valid_to: Value| {
            json!({
                "KeyId": key,
                "ImportToken": params["ImportToken"],
                "EncryptedKeyMaterial": wrap(params, material),
                "ValidTo": valid_to,
            })
        };
        // Refusals with Tencent's codes; none of them spends the token.
        let mut forged = import(&params, &material, json!(0));
        forged["ImportToken"] = json!(b64(b"forged token"));
        assert_eq!(tc.err("ImportKeyMaterial", forged).await, "InvalidParameterValue");
        let mut garbled = import(&params, &material, json!(0));
        garbled["EncryptedKeyMaterial"] = json!(b64(&[1; 256]));
        assert_eq!(tc.err("ImportKeyMaterial", garbled).await, "InvalidParameter.DecryptMaterialError");
        let short = import(&params, &[0x61; 16], json!(0));
        assert_eq!(tc.err("ImportKeyMaterial", short).await, "InvalidParameterValue.InvalidImportKeyMaterial");
        for past in [json!(1), json!(now_secs() - 1), json!(-5), json!(2_147_443_201_i64)] {
            let body = import(&params, &material, past.clone());
            assert_eq!(tc.err("ImportKeyMaterial", body).await, "InvalidParameterValue", "ValidTo {past}");
        }
        let refused = tc.err("Encrypt", json!({ "KeyId": key, "Plaintext": b64(b"x") })).await;
        assert_eq!(refused, "ResourceUnavailable.CmkStateNotSupport", "still pending import");

        let valid_to = now_secs() + 3600;
        assert_eq!(
            tc.ok("ImportKeyMaterial", import(&params, &material, json!(valid_to))).await.as_object().map(|o| o.len()),
            Some(1)
        );
        let meta = tc.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"].clone();
        assert_eq!((meta["KeyState"].as_str(), meta["ValidTo"].as_i64()), (Some("Enabled"), Some(valid_to)));
        let blob =
            tc.ok("Encrypt", json!({ "KeyId": key, "Plaintext": b64(b"tencent") })).await["CiphertextBlob"].clone();

        // Expired: pending import, with Tencent's state code.
        assert_eq!(tc.f.kms.expire_due_material(valid_to * 1000).await.unwrap(), 1);
        let meta = tc.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"].clone();
        assert_eq!((meta["KeyState"].as_str(), meta["ValidTo"].as_i64()), (Some("PendingImport"), Some(0)));
        let refused = tc.err("Decrypt", json!({ "CiphertextBlob": blob })).await;
        assert_eq!(refused, "ResourceUnavailable.CmkStateNotSupport");

        // Only the same material again; then the old ciphertext decrypts.
        let params = tc.ok("GetParametersForImport", get("RSAES_OAEP_SHA_256", "RSA_2048")).await;
        let other = import(&params, &[0x62; 32], json!(0));
        assert_eq!(tc.err("ImportKeyMaterial", other).await, "InvalidParameterValue.MaterialNotMatch");
        tc.ok("ImportKeyMaterial", import(&params, &material, Value::Null)).await;
        let out = tc.ok("Decrypt", json!({ "CiphertextBlob": blob })).await;
        assert_eq!(data_encoding::BASE64.decode(out["Plaintext"].as_str().unwrap().as_bytes()).unwrap(), b"tencent");
        assert_eq!(tc.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"]["ValidTo"], 0, "no expiry");

        // Deleted on demand: pending import again, encryption refused.
        tc.ok("DeleteImportedKeyMaterial", json!({ "KeyId": key })).await;
        assert_eq!(tc.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"]["KeyState"], "PendingImport");
        let refused = tc.err("Encrypt", json!({ "KeyId": key, "Plaintext": b64(b"x") })).await;
        assert_eq!(refused, "ResourceUnavailable.CmkStateNotSupport");
        assert_eq!(
            tc.err("DeleteImportedKeyMaterial", json!({ "KeyId": plain })).await,
            "UnsupportedOperation.NotExternalCmk"
        );
    }

    /// `ACTIONS` is what the dispatch answers: each listed action reaches a
    /// handler (an empty body is refused by the action, never as unknown).
    #[tokio::test]
    async fn every_listed_action_is_dispatched() {
        let f = fixture().await;
        let tc = Tc { me: caller(&f.tenant, Api::Tencent), f };
        let mut seen = std::collections::BTreeSet::new();
        for action in super::super::ACTIONS {
            assert!(seen.insert(action), "{action} is listed twice");
            let got = tc.call(action, json!({})).await;
            assert_ne!(got.err().as_deref(), Some("InvalidAction"), "{action} is listed but not dispatched");
        }
    }
}
