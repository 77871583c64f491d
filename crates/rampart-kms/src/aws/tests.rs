//! The AWS facade against AWS's documented answers: every kind of key
//! (spec × usage) under every operation that cares about the kind, each
//! cell either a success or the exact `__type` the botocore model and the
//! API reference name for it.

use serde_json::{Value, json};

use super::{ArnScope, handle};
use crate::lifecycle::Api;
use crate::service::Caller;
use crate::spec::{KeySpec, KeyType, KeyUsage};
use crate::test_support::{Fixture, caller, fixture};

struct Facade {
    f: Fixture,
    me: Caller,
    scope: ArnScope,
}

impl Facade {
    async fn new() -> Self {
        let f = fixture().await;
        let me = caller(&f.tenant, Api::Aws);
        let scope = ArnScope { region: "us-east-1".into(), account: crate::spec::account_id(Some(&f.tenant)) };
        Facade { f, me, scope }
    }

    /// The body on success, `Err(__type)` on failure.
    async fn call(&self, op: &str, body: Value) -> Result<Value, String> {
        let reply = handle(&self.f.kms, &self.me, &self.scope, op, body.to_string().as_bytes()).await;
        if reply.status == 200 {
            Ok(reply.body)
        } else {
            let kind = reply.body["__type"].as_str().unwrap_or_else(|| panic!("{op}: no __type: {}", reply.body));
            assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{op}: a message");
            Err(kind.to_owned())
        }
    }

    async fn ok(&self, op: &str, body: Value) -> Value {
        self.call(op, body).await.unwrap_or_else(|e| panic!("{op}: {e}"))
    }
}

/// The algorithm a request for this kind of key would name.
fn encryption_algorithm(t: KeyType) -> &'static str {
    if matches!(t.spec(), KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096) {
        "RSAES_OAEP_SHA_256"
    } else {
        "SYMMETRIC_DEFAULT"
    }
}

fn signing_algorithm(t: KeyType) -> &'static str {
    match t.spec() {
        KeySpec::EccNistP384 => "ECDSA_SHA_384",
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => "RSASSA_PSS_SHA_256",
        _ => "ECDSA_SHA_256",
    }
}

fn mac_algorithm(t: KeyType) -> &'static str {
    match t.spec() {
        KeySpec::Hmac384 => "HMAC_SHA_384",
        KeySpec::Hmac512 => "HMAC_SHA_512",
        _ => "HMAC_SHA_256",
    }
}

const USAGE: &str = "InvalidKeyUsageException";
const UNSUPPORTED: &str = "UnsupportedOperationException";

#[tokio::test]
async fn every_kind_of_key_answers_every_operation_as_aws_documents() {
    let a = Facade::new().await;
    let symmetric_of = |body: &Value| body["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let sym = symmetric_of(&a.ok("CreateKey", json!({})).await);
    let blob = a.ok("Encrypt", json!({ "KeyId": sym, "Plaintext": "aGk=" })).await["CiphertextBlob"].clone();

    for t in KeyType::all() {
        let created =
            a.ok("CreateKey", json!({ "KeySpec": t.spec().aws_name(), "KeyUsage": t.usage().aws_name() })).await;
        let key = symmetric_of(&created);
        let encrypts = t.usage() == KeyUsage::EncryptDecrypt;
        let signs = t.usage() == KeyUsage::SignVerify;
        let macs = t.usage() == KeyUsage::GenerateVerifyMac;
        let symmetric_encryption = t.spec() == KeySpec::SymmetricDefault;
        let asymmetric = !t.spec().is_symmetric();
        let enc = encryption_algorithm(t);

        // What a successful call of this key's own kind hands back, for
        // the calls that need it (a ciphertext, a signature, a MAC).
        let own_ciphertext = if encrypts {
            a.ok("Encrypt", json!({ "KeyId": key, "Plaintext": "aGk=", "EncryptionAlgorithm": enc })).await
                ["CiphertextBlob"]
                .clone()
        } else {
            blob.clone()
        };
        let message = json!({ "KeyId": key, "Message": "bWVzc2FnZQ==", "MessageType": "RAW" });
        let mut sign = message.clone();
        sign["SigningAlgorithm"] = json!(signing_algorithm(t));
        let signature = if signs { a.ok("Sign", sign.clone()).await["Signature"].clone() } else { json!("c2ln") };
        let mut verify = sign.clone();
        verify["Signature"] = signature;
        let mut mac = json!({ "KeyId": key, "Message": "bWVzc2FnZQ==", "MacAlgorithm": mac_algorithm(t) });
        let tag = if macs { a.ok("GenerateMac", mac.clone()).await["Mac"].clone() } else { json!("bWFj") };

        let table: Vec<(&str, Value, bool, &str)> = vec![
            ("Encrypt", json!({ "KeyId": key, "Plaintext": "aGk=", "EncryptionAlgorithm": enc }), encrypts, USAGE),
            (
                "Decrypt",
                json!({ "KeyId": key, "CiphertextBlob": own_ciphertext, "EncryptionAlgorithm": enc }),
                encrypts,
                USAGE,
            ),
            (
                "ReEncrypt",
                json!({ "CiphertextBlob": blob, "DestinationKeyId": key, "DestinationEncryptionAlgorithm": enc }),
                encrypts,
                USAGE,
            ),
            ("GenerateDataKey", json!({ "KeyId": key, "KeySpec": "AES_256" }), symmetric_encryption, USAGE),
            (
                "GenerateDataKeyWithoutPlaintext",
                json!({ "KeyId": key, "KeySpec": "AES_256" }),
                symmetric_encryption,
                USAGE,
            ),
            (
                "GenerateDataKeyPair",
                json!({ "KeyId": key, "KeyPairSpec": "ECC_NIST_P256" }),
                symmetric_encryption,
                USAGE,
            ),
            (
                "GenerateDataKeyPairWithoutPlaintext",
                json!({ "KeyId": key, "KeyPairSpec": "ECC_NIST_P256" }),
                symmetric_encryption,
                USAGE,
            ),
            ("Sign", sign, signs, USAGE),
            ("Verify", verify, signs, USAGE),
            ("GenerateMac", mac.clone(), macs, USAGE),
            (
                "VerifyMac",
                {
                    mac["Mac"] = tag;
                    mac
                },
                macs,
                USAGE,
            ),
            ("GetPublicKey", json!({ "KeyId": key }), asymmetric, UNSUPPORTED),
            ("GetKeyRotationStatus", json!({ "KeyId": key }), symmetric_encryption, UNSUPPORTED),
            ("EnableKeyRotation", json!({ "KeyId": key }), symmetric_encryption, UNSUPPORTED),
            ("DisableKeyRotation", json!({ "KeyId": key }), symmetric_encryption, UNSUPPORTED),
            ("RotateKeyOnDemand", json!({ "KeyId": key }), symmetric_encryption, UNSUPPORTED),
            // Keys whose material this KMS generated take no imports.
            (
                "GetParametersForImport",
                json!({ "KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048" }),
                false,
                UNSUPPORTED,
            ),
            (
                "ImportKeyMaterial",
                json!({ "KeyId": key, "ImportToken": "dG9rZW4=", "EncryptedKeyMaterial": "a2V5",
                        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE" }),
                false,
                UNSUPPORTED,
            ),
            ("DeleteImportedKeyMaterial", json!({ "KeyId": key }), false, UNSUPPORTED),
        ];
        for (op, body, succeeds, refusal) in table {
            let got = a.call(op, body).await;
            if succeeds {
                assert!(got.is_ok(), "{t} {op}: expected success, got {got:?}");
            } else {
                assert_eq!(got.err().as_deref(), Some(refusal), "{t} {op}");
            }
        }
        // Refusals change nothing: the key is as it was made.
        let described = a.ok("DescribeKey", json!({ "KeyId": key })).await;
        assert_eq!(described["KeyMetadata"]["KeyState"], "Enabled", "{t}");
        assert_eq!(described["KeyMetadata"]["KeyUsage"], t.usage().aws_name(), "{t}");
    }
    let keys = a.f.store.kms_list_keys(Some(&a.f.tenant), None, 100).await.unwrap();
    assert_eq!(keys.items.len(), KeyType::all().count() + 1, "the calls made no keys");
}

/// Wraps 32 bytes of key material under GetParametersForImport's answer.
fn wrap(params: &Value, material: &[u8]) -> String {
    use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
    let der = data_encoding::BASE64.decode(params["PublicKey"].as_str().unwrap().as_bytes()).unwrap();
    let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&der).unwrap()).unwrap();
    let mut out = vec![0; key.ciphertext_size()];
    data_encoding::BASE64.encode(key.encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None).unwrap())
}

#[tokio::test]
async fn imported_material_expiry_reads_as_aws_documents_it() {
    let a = Facade::new().await;
    let key = a.ok("CreateKey", json!({ "Origin": "EXTERNAL" })).await["KeyMetadata"]["KeyId"].clone();
    let describe = async || a.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"].clone();
    let meta = describe().await;
    assert_eq!((meta["KeyState"].as_str(), meta["Origin"].as_str()), (Some("PendingImport"), Some("EXTERNAL")));
    assert!(meta.get("ExpirationModel").is_none() && meta.get("ValidTo").is_none(), "no material, no expiry");

    let params = a
        .ok(
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048" }),
        )
        .await;
    let material = [0x42; 32];
    let import = |model: Option<&str>, valid_to: Option<f64>| {
        let mut body = json!({
            "KeyId": key,
            "ImportToken": params["ImportToken"],
            "EncryptedKeyMaterial": wrap(&params, &material),
        });
        if let Some(m) = model {
            body["ExpirationModel"] = json!(m);
        }
        if let Some(t) = valid_to {
            body["ValidTo"] = json!(t);
        }
        body
    };
    let now = rampart_core::time::now_ms() as f64 / 1000.0;
    let in_a_day = (now + 86_400.0).floor();
    // ExpirationModel defaults to KEY_MATERIAL_EXPIRES, which needs a
    // ValidTo in the future (at most 365 days on); DOES_NOT_EXPIRE takes none.
    for (model, valid_to) in [
        (None, None),
        (Some("KEY_MATERIAL_EXPIRES"), None),
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(in_a_day)),
        (Some("SOMETIMES"), Some(in_a_day)),
        (None, Some(now - 10.0)),
        (None, Some(now + 400.0 * 86_400.0)),
        (None, Some(f64::MAX)),
    ] {
        let got = a.call("ImportKeyMaterial", import(model, valid_to)).await;
        assert_eq!(got.err().as_deref(), Some("ValidationException"), "{model:?} {valid_to:?}");
    }
    assert_eq!(describe().await["KeyState"], "PendingImport", "refusals change nothing");

    a.ok("ImportKeyMaterial", import(None, Some(in_a_day))).await;
    let meta = describe().await;
    assert_eq!(meta["KeyState"], "Enabled");
    assert_eq!(meta["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert_eq!(meta["ValidTo"].as_f64(), Some(in_a_day));

    // Expired (by the sweep, with its clock injected): PendingImport again.
    let due = (in_a_day * 1000.0) as i64;
    assert_eq!(a.f.kms.expire_due_material(due).await.unwrap(), 1);
    let meta = describe().await;
    assert_eq!(meta["KeyState"], "PendingImport");
    assert!(meta.get("ExpirationModel").is_none() && meta.get("ValidTo").is_none());
    let refused = a.call("Encrypt", json!({ "KeyId": key, "Plaintext": "aGk=" })).await;
    assert_eq!(refused.err().as_deref(), Some("KMSInvalidStateException"));

    // The token was spent by the import: a new one, and other material is
    // refused with the name AWS gives it.
    let spent = a.call("ImportKeyMaterial", import(Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), None)).await;
    assert_eq!(spent.err().as_deref(), Some("InvalidImportTokenException"));
    let params = a
        .ok(
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048" }),
        )
        .await;
    let other = json!({
        "KeyId": key, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": wrap(&params, &[0x43; 32]),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    });
    assert_eq!(a.call("ImportKeyMaterial", other).await.err().as_deref(), Some("IncorrectKeyMaterialException"));
    let short = json!({
        "KeyId": key, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": wrap(&params, &[0x42; 16]),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    });
    assert_eq!(a.call("ImportKeyMaterial", short).await.err().as_deref(), Some("IncorrectKeyMaterialException"));
    let same = json!({
        "KeyId": key, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": wrap(&params, &material),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    });
    a.ok("ImportKeyMaterial", same).await;
    let meta = describe().await;
    assert_eq!(
        (meta["KeyState"].as_str(), meta["ExpirationModel"].as_str()),
        (Some("Enabled"), Some("KEY_MATERIAL_DOES_NOT_EXPIRE"))
    );
    assert!(meta.get("ValidTo").is_none());
}

/// `ACTIONS` is what the dispatch answers, so the list cannot drift from it:
/// each listed operation reaches a handler (an empty body is refused by the
/// operation, never as unknown), and an unlisted one is unknown.
#[tokio::test]
async fn every_listed_action_is_dispatched_and_nothing_else() {
    let a = Facade::new().await;
    let mut seen = std::collections::BTreeSet::new();
    for op in super::ACTIONS {
        assert!(seen.insert(op), "{op} is listed twice");
        let got = a.call(op, json!({})).await;
        assert_ne!(got.err().as_deref(), Some("UnknownOperationException"), "{op} is listed but not dispatched");
    }
    for op in ["ArchiveKey", "CreateGrant", "Encrypt ", ""] {
        assert_eq!(a.call(op, json!({})).await.err().as_deref(), Some("UnknownOperationException"), "{op:?}");
    }
}
