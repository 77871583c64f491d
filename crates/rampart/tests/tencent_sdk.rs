//! The real Tencent Cloud SDK for Python (`tencentcloud-sdk-python-kms`),
//! unmodified, against Rampart's Tencent KMS API 3.0 with TC3-HMAC-SHA256
//! signatures: a key lifecycle including ArchiveKey (encrypt refused,
//! decrypt still works) and CancelKeyArchive, asymmetric keys, and imported
//! key material (GetParametersForImport, ImportKeyMaterial with ValidTo,
//! DeleteImportedKeyMaterial).

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;

use rampart_core::Role;
use rampart_testkit::{TestServer, skip_without};

const SCRIPT: &str = r#"
import base64, json, os
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.kms.v20190118 import kms_client, models

http = HttpProfile(endpoint=os.environ["RAMPART_HOST"], protocol="https", certification=os.environ["RAMPART_CA"])
client = kms_client.KmsClient(credential.Credential(os.environ["KEY_ID"], os.environ["KEY_SECRET"]),
                              "ap-guangzhou", ClientProfile(httpProfile=http))

def call(action, **params):
    req = getattr(models, action + "Request")()
    req.from_json_string(json.dumps(params))
    return json.loads(getattr(client, action)(req).to_json_string())

def code_of(action, **params):
    try:
        call(action, **params)
    except TencentCloudSDKException as e:
        return e.code
    return None

key = call("CreateKey", Alias="tc-sdk", Description="sdk test")["KeyId"]
ctx = json.dumps({"app": "tc"})
blob = call("Encrypt", KeyId=key, Plaintext=base64.b64encode(b"secret").decode(), EncryptionContext=ctx)["CiphertextBlob"]
out = call("Decrypt", CiphertextBlob=blob, EncryptionContext=ctx)
assert base64.b64decode(out["Plaintext"]) == b"secret", out
assert code_of("Decrypt", CiphertextBlob=blob, EncryptionContext=json.dumps({"app": "other"})) is not None

call("ArchiveKey", KeyId=key)
assert code_of("Encrypt", KeyId=key, Plaintext=base64.b64encode(b"x").decode()) is not None, "archived keys do not encrypt"
assert base64.b64decode(call("Decrypt", CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"]) == b"secret"
call("CancelKeyArchive", KeyId=key)
call("Encrypt", KeyId=key, Plaintext=base64.b64encode(b"x").decode())

dk = call("GenerateDataKey", KeyId=key, KeySpec="AES_256")
assert len(base64.b64decode(dk["Plaintext"])) == 32
call("DisableKey", KeyId=key)
assert code_of("Encrypt", KeyId=key, Plaintext=base64.b64encode(b"x").decode()) is not None, "disabled keys do not encrypt"
call("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
call("CancelKeyDeletion", KeyId=key)

# Asymmetric keys: sign and verify (a changed message is reported invalid,
# as Tencent does, not refused), the public key, RSA decryption of a
# ciphertext made with the published public key, rotation settings.
signer = call("CreateKey", Alias="tc-signer", KeyUsage="ASYMMETRIC_SIGN_VERIFY_ECC")["KeyId"]
msg = base64.b64encode(b"release 1.0").decode()
sig = call("SignByAsymmetricKey", KeyId=signer, Algorithm="ECC_P256_R1", Message=msg, MessageType="RAW")["Signature"]
assert call("VerifyByAsymmetricKey", KeyId=signer, Algorithm="ECC_P256_R1", Message=msg, MessageType="RAW",
            SignatureValue=sig)["SignatureValid"] is True
other = base64.b64encode(b"release 1.1").decode()
assert call("VerifyByAsymmetricKey", KeyId=signer, Algorithm="ECC_P256_R1", Message=other, MessageType="RAW",
            SignatureValue=sig)["SignatureValid"] is False
pem = call("GetPublicKey", KeyId=signer)["PublicKeyPem"]
assert pem.startswith("-----BEGIN PUBLIC KEY-----"), pem
assert len(base64.b64decode(call("GenerateRandom", NumberOfBytes=24)["Plaintext"])) == 24
key2 = call("CreateKey", Alias="tc-rotating")["KeyId"]
call("EnableKeyRotation", KeyId=key2, RotateDays=30)
assert call("GetKeyRotationStatus", KeyId=key2)["KeyRotationEnabled"] is True
call("UpdateKeyDescription", KeyId=key2, Description="rotated monthly")
assert call("DescribeKey", KeyId=key2)["KeyMetadata"]["Description"] == "rotated monthly"

# Imported key material (CreateKey Type 2): 32 random bytes wrapped with the
# import public key (RSAES-OAEP-SHA-256), imported with an expiry, used,
# deleted (encryption refused), refused when other material comes, and
# restored by the same material, old ciphertexts and all.
import time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
ext = call("CreateKey", Alias="tc-imported", Type=2)
assert ext["KeyState"] == "PendingImport", ext
ext_id = ext["KeyId"]
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
def import_material(material, **extra):
    params = call("GetParametersForImport", KeyId=ext_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                  WrappingKeySpec="RSA_2048")
    assert params["ParametersValidTo"] > time.time(), params
    public = serialization.load_der_public_key(base64.b64decode(params["PublicKey"]))
    wrapped = base64.b64encode(public.encrypt(material, oaep)).decode()
    return dict(KeyId=ext_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped, **extra)
material = os.urandom(32)
valid_to = int(time.time()) + 86400
call("ImportKeyMaterial", **import_material(material, ValidTo=valid_to))
meta = call("DescribeKey", KeyId=ext_id)["KeyMetadata"]
assert (meta["KeyState"], meta["Origin"], meta["ValidTo"]) == ("Enabled", "EXTERNAL", valid_to), meta
ext_blob = call("Encrypt", KeyId=ext_id, Plaintext=base64.b64encode(b"imported").decode())["CiphertextBlob"]
assert base64.b64decode(call("Decrypt", CiphertextBlob=ext_blob)["Plaintext"]) == b"imported"
call("DeleteImportedKeyMaterial", KeyId=ext_id)
assert call("DescribeKey", KeyId=ext_id)["KeyMetadata"]["KeyState"] == "PendingImport"
assert code_of("Encrypt", KeyId=ext_id, Plaintext=base64.b64encode(b"x").decode()) == "ResourceUnavailable.CmkStateNotSupport"
assert code_of("ImportKeyMaterial", **import_material(os.urandom(32))) == "InvalidParameterValue.MaterialNotMatch"
call("ImportKeyMaterial", **import_material(material))
assert base64.b64decode(call("Decrypt", CiphertextBlob=ext_blob)["Plaintext"]) == b"imported"
print("tencent lifecycle OK")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tencent_cloud_sdk_runs_a_key_lifecycle_with_archiving() {
    let have_sdk = Command::new("python3")
        .args(["-c", "import tencentcloud.kms.v20190118"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_sdk && skip_without("tencentcloud-sdk-python-kms is missing", "pip install tencentcloud-sdk-python-kms") {
        return;
    }
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "tcco").await;
    let cust = server.session_for(&admin, "tcadmin", Role::CustomerAdmin, Some(&tenant)).await;
    let (key_id, secret) = server.access_key(&cust).await;
    let ca = server.data_dir().join("tls/ca.pem");
    let host = server.url.trim_start_matches("https://").to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", SCRIPT])
            .env("RAMPART_HOST", host)
            .env("RAMPART_CA", ca)
            .env("KEY_ID", key_id)
            .env("KEY_SECRET", secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    server.stop().await;
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("tencent lifecycle OK"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
