//! The real AWS CLI and boto3, unmodified, against Rampart's AWS KMS
//! protocol: a full symmetric key lifecycle signed with SigV4 using an access
//! key Rampart issued, including the error names AWS clients expect.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

use rampart_core::Role;
use rampart_testkit::{TestServer, skip_without};
use serde_json::Value;

struct Aws {
    url: String,
    ca: PathBuf,
    key_id: String,
    secret: String,
}

impl Aws {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("aws")
            .arg("--endpoint-url")
            .arg(&self.url)
            .args(["--output", "json"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &self.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CA_BUNDLE", &self.ca)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("run aws")
    }

    fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&out.stdout).expect("json")
    }

    fn fails_with(&self, args: &[&str], aws_type: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(aws_type),
            "aws {args:?} should fail with {aws_type}: {stderr}"
        );
    }
}

fn have_aws() -> bool {
    Command::new("aws").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_runs_a_full_key_lifecycle() {
    if !have_aws() && skip_without("the aws CLI is missing", "pip install awscli") {
        return;
    }
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "awsco").await;
    let cust = server.session_for(&admin, "awsadmin", Role::CustomerAdmin, Some(&tenant)).await;
    let (key_id, secret) = server.access_key(&cust).await;
    let ca = server.data_dir().join("tls/ca.pem");
    let url = server.url.clone();
    let work = tempfile::tempdir().unwrap();
    let aws = Aws { url, ca, key_id, secret };
    let plain = work.path().join("plain.txt");
    std::fs::write(&plain, b"the launch codes").unwrap();
    let fileb = format!("fileb://{}", plain.display());

    // Run the CLI off the async runtime: the server needs its threads.
    let result = tokio::task::spawn_blocking(move || {
        let key = aws.ok(&["kms", "create-key", "--description", "cli test"]);
        let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        assert_eq!(key["KeyMetadata"]["KeyState"], "Enabled");
        assert!(key["KeyMetadata"]["Arn"].as_str().unwrap().starts_with("arn:aws:kms:us-east-1:"));
        aws.ok(&["kms", "create-alias", "--alias-name", "alias/cli", "--target-key-id", &key_id]);

        let enc = aws.ok(&[
            "kms",
            "encrypt",
            "--key-id",
            "alias/cli",
            "--plaintext",
            &fileb,
            "--encryption-context",
            "app=test",
        ]);
        let blob = enc["CiphertextBlob"].as_str().unwrap().to_owned();
        let blob_file = work.path().join("blob.bin");
        std::fs::write(&blob_file, data_encoding::BASE64.decode(blob.as_bytes()).unwrap()).unwrap();
        let blob_arg = format!("fileb://{}", blob_file.display());
        let dec = aws.ok(&["kms", "decrypt", "--ciphertext-blob", &blob_arg, "--encryption-context", "app=test"]);
        assert_eq!(
            data_encoding::BASE64.decode(dec["Plaintext"].as_str().unwrap().as_bytes()).unwrap(),
            b"the launch codes"
        );
        aws.fails_with(
            &["kms", "decrypt", "--ciphertext-blob", &blob_arg, "--encryption-context", "app=other"],
            "InvalidCiphertextException",
        );

        let dk = aws.ok(&["kms", "generate-data-key", "--key-id", &key_id, "--key-spec", "AES_256"]);
        assert_eq!(data_encoding::BASE64.decode(dk["Plaintext"].as_str().unwrap().as_bytes()).unwrap().len(), 32);
        let re = aws.ok(&[
            "kms",
            "re-encrypt",
            "--ciphertext-blob",
            &blob_arg,
            "--source-encryption-context",
            "app=test",
            "--destination-key-id",
            &key_id,
            "--destination-encryption-context",
            "app=moved",
        ]);
        assert!(re["CiphertextBlob"].is_string());

        // Rotation keeps older ciphertexts readable.
        aws.ok(&["kms", "rotate-key-on-demand", "--key-id", &key_id]);
        let again = aws.ok(&["kms", "decrypt", "--ciphertext-blob", &blob_arg, "--encryption-context", "app=test"]);
        assert_eq!(again["Plaintext"], dec["Plaintext"]);

        aws.ok(&["kms", "disable-key", "--key-id", &key_id]);
        aws.fails_with(&["kms", "encrypt", "--key-id", &key_id, "--plaintext", &fileb], "DisabledException");
        let sched = aws.ok(&["kms", "schedule-key-deletion", "--key-id", &key_id, "--pending-window-in-days", "7"]);
        assert_eq!(sched["KeyState"], "PendingDeletion");
        aws.fails_with(
            &["kms", "decrypt", "--ciphertext-blob", &blob_arg, "--encryption-context", "app=test"],
            "KMSInvalidStateException",
        );
        aws.ok(&["kms", "cancel-key-deletion", "--key-id", &key_id]);
        let desc = aws.ok(&["kms", "describe-key", "--key-id", &key_id]);
        assert_eq!(desc["KeyMetadata"]["KeyState"], "Disabled", "cancelled deletion leaves the key disabled");
        let list = aws.ok(&["kms", "list-keys"]);
        assert_eq!(list["Keys"].as_array().map(Vec::len), Some(1));
        let aliases = aws.ok(&["kms", "list-aliases", "--key-id", &key_id]);
        assert_eq!(aliases["Aliases"][0]["AliasName"], "alias/cli");

        // Sign and verify with an asymmetric key; a changed message fails
        // with the error AWS documents, and the public key is SPKI DER.
        let signer = aws.ok(&["kms", "create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY"]);
        let signer_id = signer["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        assert_eq!(signer["KeyMetadata"]["SigningAlgorithms"][0], "ECDSA_SHA_256");
        let sig = aws.ok(&[
            "kms",
            "sign",
            "--key-id",
            &signer_id,
            "--message",
            &fileb,
            "--message-type",
            "RAW",
            "--signing-algorithm",
            "ECDSA_SHA_256",
        ]);
        let sig_file = work.path().join("sig.bin");
        std::fs::write(&sig_file, data_encoding::BASE64.decode(sig["Signature"].as_str().unwrap().as_bytes()).unwrap())
            .unwrap();
        let sig_arg = format!("fileb://{}", sig_file.display());
        let verified = aws.ok(&[
            "kms",
            "verify",
            "--key-id",
            &signer_id,
            "--message",
            &fileb,
            "--message-type",
            "RAW",
            "--signing-algorithm",
            "ECDSA_SHA_256",
            "--signature",
            &sig_arg,
        ]);
        assert_eq!(verified["SignatureValid"], true);
        let other = work.path().join("other.txt");
        std::fs::write(&other, b"the launch codes!").unwrap();
        aws.fails_with(
            &[
                "kms",
                "verify",
                "--key-id",
                &signer_id,
                "--message",
                &format!("fileb://{}", other.display()),
                "--message-type",
                "RAW",
                "--signing-algorithm",
                "ECDSA_SHA_256",
                "--signature",
                &sig_arg,
            ],
            "KMSInvalidSignatureException",
        );
        let public = aws.ok(&["kms", "get-public-key", "--key-id", &signer_id]);
        assert_eq!(public["KeySpec"], "ECC_NIST_P256");
        assert_eq!(data_encoding::BASE64.decode(public["PublicKey"].as_str().unwrap().as_bytes()).unwrap().len(), 91);

        // HMAC keys, a key policy read back, and automatic rotation.
        let mac_key = aws.ok(&["kms", "create-key", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC"]);
        let mac_id = mac_key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let mac = aws.ok(&[
            "kms",
            "generate-mac",
            "--key-id",
            &mac_id,
            "--message",
            &fileb,
            "--mac-algorithm",
            "HMAC_SHA_256",
        ]);
        assert_eq!(mac["MacAlgorithm"], "HMAC_SHA_256");
        let policy = aws.ok(&["kms", "get-key-policy", "--key-id", &mac_id, "--policy-name", "default"]);
        assert!(policy["Policy"].as_str().unwrap().contains(":root"), "{policy}");
        let rot_key = aws.ok(&["kms", "create-key"]);
        let rot_id = rot_key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        aws.ok(&["kms", "enable-key-rotation", "--key-id", &rot_id, "--rotation-period-in-days", "90"]);
        let status = aws.ok(&["kms", "get-key-rotation-status", "--key-id", &rot_id]);
        assert_eq!(
            (status["KeyRotationEnabled"].as_bool(), status["RotationPeriodInDays"].as_u64()),
            (Some(true), Some(90))
        );

        // A wrong secret is refused with the name AWS uses.
        let forged = Aws { secret: "not-the-secret".into(), ..aws };
        forged.fails_with(&["kms", "list-keys"], "InvalidSignatureException");
    })
    .await;
    server.stop().await;
    result.unwrap();
}

/// The same lifecycle from boto3, the Python SDK most AWS automation uses.
const BOTO3_SCRIPT: &str = r#"
import base64, os, sys
import boto3, botocore
kms = boto3.client("kms", endpoint_url=os.environ["RAMPART_URL"], region_name="us-east-1",
                   verify=os.environ["RAMPART_CA"],
                   aws_access_key_id=os.environ["KEY_ID"], aws_secret_access_key=os.environ["KEY_SECRET"])
key = kms.create_key(Description="boto3")["KeyMetadata"]["KeyId"]
kms.create_alias(AliasName="alias/boto3", TargetKeyId=key)
blob = kms.encrypt(KeyId="alias/boto3", Plaintext=b"payload", EncryptionContext={"tenant": "t1"})["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "t1"})["Plaintext"] == b"payload"
def error_of(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None
assert error_of(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "t2"})) == "InvalidCiphertextException"
dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
assert len(dk["Plaintext"]) == 32
assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
kms.rotate_key_on_demand(KeyId=key)
assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "t1"})["Plaintext"] == b"payload"
kms.disable_key(KeyId=key)
assert error_of(lambda: kms.encrypt(KeyId=key, Plaintext=b"x")) == "DisabledException"
kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
kms.cancel_key_deletion(KeyId=key)
assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
signer = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
sig = kms.sign(KeyId=signer, Message=b"release", MessageType="RAW", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
assert kms.verify(KeyId=signer, Message=b"release", MessageType="RAW", SigningAlgorithm="RSASSA_PSS_SHA_256",
                  Signature=sig)["SignatureValid"]
assert error_of(lambda: kms.verify(KeyId=signer, Message=b"rel3ase", MessageType="RAW",
                SigningAlgorithm="RSASSA_PSS_SHA_256", Signature=sig)) == "KMSInvalidSignatureException"
rsa = kms.create_key(KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
ct = kms.encrypt(KeyId=rsa, Plaintext=b"short secret", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
assert kms.decrypt(KeyId=rsa, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"short secret"
hmac = kms.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
tag = kms.generate_mac(KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_512")["Mac"]
assert kms.verify_mac(KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_512", Mac=tag)["MacValid"]
assert error_of(lambda: kms.verify_mac(KeyId=hmac, Message=b"n", MacAlgorithm="HMAC_SHA_512", Mac=tag)) == "KMSInvalidMacException"
wrap = kms.create_key()["KeyMetadata"]["KeyId"]
pair = kms.generate_data_key_pair(KeyId=wrap, KeyPairSpec="ECC_NIST_P256")
assert kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] == pair["PrivateKeyPlaintext"]
assert len(kms.generate_random(NumberOfBytes=32)["Plaintext"]) == 32
kms.tag_resource(KeyId=wrap, Tags=[{"TagKey": "env", "TagValue": "test"}])
assert kms.list_resource_tags(KeyId=wrap)["Tags"] == [{"TagKey": "env", "TagValue": "test"}]
kms.update_alias(AliasName="alias/boto3", TargetKeyId=wrap)
assert [a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/boto3"] == [wrap]
kms.delete_alias(AliasName="alias/boto3")

# Imported key material: a key without material waits in PendingImport;
# the customer wraps 32 bytes under the import public key with OAEP-SHA256.
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
ext = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
assert (ext["KeyState"], ext["Origin"]) == ("PendingImport", "EXTERNAL"), ext
assert error_of(lambda: kms.encrypt(KeyId=ext["KeyId"], Plaintext=b"x")) == "KMSInvalidStateException"
params = kms.get_parameters_for_import(KeyId=ext["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                       WrappingKeySpec="RSA_2048")
public = serialization.load_der_public_key(params["PublicKey"])
material = os.urandom(32)
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
wrapped = public.encrypt(material, oaep)
assert error_of(lambda: kms.import_key_material(KeyId=ext["KeyId"], ImportToken=b"forged" * 6,
    EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")) == "InvalidImportTokenException"
kms.import_key_material(KeyId=ext["KeyId"], ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
assert kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
ext_blob = kms.encrypt(KeyId=ext["KeyId"], Plaintext=b"imported")["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=ext_blob)["Plaintext"] == b"imported"
kms.delete_imported_key_material(KeyId=ext["KeyId"])
assert kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
assert error_of(lambda: kms.decrypt(CiphertextBlob=ext_blob)) == "KMSInvalidStateException"
# Expiring material: only the same material comes back, with its ValidTo;
# the old ciphertext decrypts again.
import datetime
def import_params():
    p = kms.get_parameters_for_import(KeyId=ext["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    return p["ImportToken"], serialization.load_der_public_key(p["PublicKey"])
token, public = import_params()
assert error_of(lambda: kms.import_key_material(KeyId=ext["KeyId"], ImportToken=token,
    EncryptedKeyMaterial=public.encrypt(os.urandom(32), oaep),
    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")) == "IncorrectKeyMaterialException"
valid_to = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).replace(microsecond=0)
assert error_of(lambda: kms.import_key_material(KeyId=ext["KeyId"], ImportToken=token,
    EncryptedKeyMaterial=public.encrypt(material, oaep))) == "ValidationException", "ValidTo is required by default"
kms.import_key_material(KeyId=ext["KeyId"], ImportToken=token, EncryptedKeyMaterial=public.encrypt(material, oaep),
                        ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
meta = kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]
assert (meta["KeyState"], meta["ExpirationModel"], meta["ValidTo"]) == ("Enabled", "KEY_MATERIAL_EXPIRES", valid_to), meta
assert kms.decrypt(CiphertextBlob=ext_blob)["Plaintext"] == b"imported"
print("boto3 lifecycle OK")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_runs_the_same_lifecycle() {
    let have_boto3 = Command::new("python3").args(["-c", "import boto3"]).output().is_ok_and(|o| o.status.success());
    if !have_boto3 && skip_without("boto3 is missing", "pip install boto3") {
        return;
    }
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "botoco").await;
    let cust = server.session_for(&admin, "botoadmin", Role::CustomerAdmin, Some(&tenant)).await;
    let (key_id, secret) = server.access_key(&cust).await;
    let ca = server.data_dir().join("tls/ca.pem");
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", BOTO3_SCRIPT])
            .env("RAMPART_URL", url)
            .env("RAMPART_CA", ca)
            .env("KEY_ID", key_id)
            .env("KEY_SECRET", secret)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    server.stop().await;
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("boto3 lifecycle OK"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key generated and used inside the HSM, through the real AWS CLI against
/// a real `rampart serve` whose keystore is SoftHSM2 over PKCS#11: the
/// custom key store is listed, `create-key --origin AWS_CLOUDHSM` makes a
/// key on the token, it encrypts, decrypts and makes data keys, refuses
/// rotation as AWS does, and a wrong store id is AWS's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_uses_a_key_inside_the_hsm() {
    use std::process::Stdio;
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    if !have_aws() && skip_without("the aws CLI is missing", "pip install awscli") {
        return;
    }
    if !std::path::Path::new(MODULE).exists() && skip_without("SoftHSM2 is missing", "apt-get install softhsm2") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let tokens = work.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = work.path().join("softhsm2.conf");
    std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\n", tokens.display()))
        .unwrap();
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "rampart-e2e", "--so-pin", "so-9876", "--pin", "user-5432"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(init.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&init.stderr));
    let pin_file = work.path().join("pin");
    std::fs::write(&pin_file, "user-5432").unwrap();
    std::fs::set_permissions(&pin_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    let data = work.path().join("data");
    let log = std::fs::File::create(work.path().join("node.log")).unwrap();
    let mut node = rampart_testkit::serve_command(env!("CARGO_BIN_EXE_rampart"))
        .arg("--data-dir")
        .arg(&data)
        .env("SOFTHSM2_CONF", &conf)
        .env("RAMPART_KMS__KEYSTORE", "pkcs11")
        .env("RAMPART_KMS__PKCS11__TOKEN_LABEL", "rampart-e2e")
        .env("RAMPART_KMS__PKCS11__PIN_FILE", &pin_file)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let (info, client) = rampart_testkit::wait_until_serving(&data).await;
    let url = info["url"].as_str().unwrap().to_owned();
    // The bootstrap administrator (who holds kms use and manage) makes an access key.
    let token = rampart_testkit::bootstrap_admin_token(&client, &url, &data).await;
    let key: Value = client
        .post(format!("{url}/api/v1/access-keys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let aws = Aws {
        url,
        ca: data.join("tls/ca.pem"),
        key_id: key["access_key_id"].as_str().unwrap().to_owned(),
        secret: key["secret_access_key"].as_str().unwrap().to_owned(),
    };
    let plain = work.path().join("plain.txt");
    std::fs::write(&plain, b"kept inside").unwrap();
    let fileb = format!("fileb://{}", plain.display());
    let blob_file = work.path().join("blob.bin");

    let result = tokio::task::spawn_blocking(move || {
        let stores = aws.ok(&["kms", "describe-custom-key-stores"]);
        assert_eq!(stores["CustomKeyStores"][0]["CustomKeyStoreId"], "cks-rampart-hsm", "{stores}");
        assert_eq!(stores["CustomKeyStores"][0]["ConnectionState"], "CONNECTED");
        aws.fails_with(
            &["kms", "describe-custom-key-stores", "--custom-key-store-id", "cks-nowhere"],
            "CustomKeyStoreNotFoundException",
        );
        aws.fails_with(
            &["kms", "create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id", "cks-nowhere"],
            "CustomKeyStoreNotFoundException",
        );
        let key =
            aws.ok(&["kms", "create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id", "cks-rampart-hsm"]);
        let meta = &key["KeyMetadata"];
        assert_eq!(
            (meta["Origin"].as_str(), meta["CustomKeyStoreId"].as_str()),
            (Some("AWS_CLOUDHSM"), Some("cks-rampart-hsm"))
        );
        let key_id = meta["KeyId"].as_str().unwrap().to_owned();

        let enc =
            aws.ok(&["kms", "encrypt", "--key-id", &key_id, "--plaintext", &fileb, "--encryption-context", "a=b"]);
        std::fs::write(
            &blob_file,
            data_encoding::BASE64.decode(enc["CiphertextBlob"].as_str().unwrap().as_bytes()).unwrap(),
        )
        .unwrap();
        let blob_arg = format!("fileb://{}", blob_file.display());
        let dec = aws.ok(&["kms", "decrypt", "--ciphertext-blob", &blob_arg, "--encryption-context", "a=b"]);
        assert_eq!(
            data_encoding::BASE64.decode(dec["Plaintext"].as_str().unwrap().as_bytes()).unwrap(),
            b"kept inside"
        );
        aws.fails_with(
            &["kms", "decrypt", "--ciphertext-blob", &blob_arg, "--encryption-context", "a=c"],
            "InvalidCiphertextException",
        );
        let dk = aws.ok(&["kms", "generate-data-key", "--key-id", &key_id, "--key-spec", "AES_256"]);
        assert_eq!(data_encoding::BASE64.decode(dk["Plaintext"].as_str().unwrap().as_bytes()).unwrap().len(), 32);
        aws.fails_with(&["kms", "rotate-key-on-demand", "--key-id", &key_id], "UnsupportedOperationException");
        aws.fails_with(&["kms", "enable-key-rotation", "--key-id", &key_id], "UnsupportedOperationException");
        aws.fails_with(
            &[
                "kms",
                "create-key",
                "--origin",
                "AWS_CLOUDHSM",
                "--custom-key-store-id",
                "cks-rampart-hsm",
                "--key-spec",
                "RSA_2048",
                "--key-usage",
                "SIGN_VERIFY",
            ],
            "UnsupportedOperationException",
        );
    })
    .await;
    let _ = node.kill();
    let _ = node.wait();
    if let Err(e) = result {
        let log = std::fs::read_to_string(work.path().join("node.log")).unwrap_or_default();
        panic!("{e}\nnode log:\n{log}");
    }
}
