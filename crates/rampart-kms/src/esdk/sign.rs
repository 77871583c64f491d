//! The message signature of suite 0x0578: ECDSA P-384 over SHA-384 of every
//! byte from the header through the last frame, DER-encoded in the footer
//! behind a two-byte length. The verification key travels in the
//! encryption context as base64 of the compressed SEC 1 point, so it is
//! itself covered by the header tag.
//!
//! Both sides hash as the bytes stream past and sign or verify the digest
//! at the end, so a message of any size needs constant memory. A fresh
//! key pair signs each message and is dropped after signing.

use aws_lc_rs::digest::{self, SHA384};
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair, ParsedPublicKey,
};
use data_encoding::BASE64;

use super::EsdkError;

/// The length of the SDK's P-384 signatures. DER makes the length vary
/// with the leading bits of `r` and `s`; the SDK always writes 103 bytes
/// (the Python SDK negates `s` until it gets them, other SDKs check for
/// it), so this signer draws signatures until one has that length.
pub(super) const SIGNATURE_LEN: usize = 103;
/// Each draw has that length with probability about one half, so 64 draws
/// all missing it would mean a broken backend, not bad luck.
const MAX_SIGNING_ATTEMPTS: usize = 64;
/// SEC 1 compressed point length on P-384: a tag byte and the x coordinate.
const COMPRESSED_POINT_LEN: usize = 49;

/// Hashes the message as it is written and signs it at the end.
pub(super) struct Signer {
    key: EcdsaKeyPair,
    hash: digest::Context,
}

impl Signer {
    pub(super) fn generate() -> Result<Self, EsdkError> {
        Ok(Signer {
            key: EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING)?,
            hash: digest::Context::new(&SHA384),
        })
    }

    /// The value of the `aws-crypto-public-key` context entry.
    pub(super) fn public_key_base64(&self) -> Result<String, EsdkError> {
        let point: EcPublicKeyCompressedBin<'static> = self.key.public_key().as_be_bytes()?;
        Ok(BASE64.encode(point.as_ref()))
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    pub(super) fn sign(self) -> Result<Vec<u8>, EsdkError> {
        let digest = self.hash.finish();
        for _ in 0..MAX_SIGNING_ATTEMPTS {
            let signature = self.key.sign_digest(&digest)?;
            if signature.as_ref().len() == SIGNATURE_LEN {
                return Ok(signature.as_ref().to_vec());
            }
        }
        Err(EsdkError::Crypto)
    }
}

/// Hashes the message as it is read and checks the footer signature.
pub(super) struct Verifier {
    key: ParsedPublicKey,
    hash: digest::Context,
}

impl Verifier {
    /// Parses the context entry: canonical base64 of a compressed P-384
    /// point that lies on the curve.
    pub(super) fn from_public_key_base64(encoded: &str) -> Result<Self, EsdkError> {
        const BAD: EsdkError = EsdkError::Malformed("the aws-crypto-public-key value is not a compressed P-384 point");
        let point = BASE64.decode(encoded.as_bytes()).map_err(|_| BAD)?;
        if point.len() != COMPRESSED_POINT_LEN || !matches!(point.first(), Some(0x02 | 0x03)) {
            return Err(BAD);
        }
        let key = ParsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, point).map_err(|_| BAD)?;
        Ok(Verifier { key, hash: digest::Context::new(&SHA384) })
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    pub(super) fn verify(self, signature: &[u8]) -> Result<(), EsdkError> {
        let digest = self.hash.finish();
        self.key.verify_digest_sig(&digest, signature).map_err(|_| EsdkError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_streamed_input_with_fixed_length_signatures() {
        for _ in 0..8 {
            let mut signer = Signer::generate().unwrap();
            let public = signer.public_key_base64().unwrap();
            assert_eq!(BASE64.decode(public.as_bytes()).unwrap().len(), COMPRESSED_POINT_LEN);
            signer.update(b"header");
            signer.update(b"body");
            let signature = signer.sign().unwrap();
            assert_eq!(signature.len(), SIGNATURE_LEN);

            let mut verifier = Verifier::from_public_key_base64(&public).unwrap();
            verifier.update(b"head");
            verifier.update(b"erbody");
            verifier.verify(&signature).unwrap();

            let mut tampered = Verifier::from_public_key_base64(&public).unwrap();
            tampered.update(b"headerbodY");
            assert!(matches!(tampered.verify(&signature), Err(EsdkError::Signature)));
        }
    }

    #[test]
    fn bad_public_keys_are_refused() {
        let good = Signer::generate().unwrap().public_key_base64().unwrap();
        let mut point = BASE64.decode(good.as_bytes()).unwrap();
        for bad in ["", "not base64!", "AAAA"] {
            assert!(Verifier::from_public_key_base64(bad).is_err(), "{bad:?}");
        }
        point[0] = 0x04;
        assert!(Verifier::from_public_key_base64(&BASE64.encode(&point)).is_err(), "not compressed");
        // An x coordinate of all ones is larger than the field prime, so no
        // point has it.
        let off_curve = [&[0x02][..], &[0xFF; 48]].concat();
        assert!(Verifier::from_public_key_base64(&BASE64.encode(&off_curve)).is_err(), "x >= p");
    }
}
