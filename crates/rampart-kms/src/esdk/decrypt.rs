//! Streaming decryption, in the order that releases nothing unverified:
//! parse the header within the limits; refuse non-committing suites (the
//! parser does); get the data key from the provider; check the commitment
//! key in constant time; check the header tag; then per frame, check its
//! position and its AES-GCM tag before writing its plaintext; finally check
//! the footer signature (0x0578) and that nothing follows the message.
//!
//! The last two checks come after plaintext was written, so **every `Err`
//! means: discard everything written to `writer`.** A message cut off after
//! some frames is an `Err` too (`Truncated`), never a short success.

use std::io::{ErrorKind, Read, Write};

use aws_lc_rs::aead::{Aad, Nonce};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use zeroize::Zeroizing;

use super::error::read_error;
use super::frame::{FINAL_FRAME_MARKER, HEADER_IV, IV_LEN, TAG_LEN, body_aad};
use super::header::read_header;
use super::sign::Verifier;
use super::suite::{MessageKeys, derive_keys};
use super::{DataKeyProvider, EsdkError, Header, Limits, PUBLIC_KEY_CONTEXT_KEY, Summary};

/// Decrypts one message from `reader` into `writer`, getting the data key
/// from `provider`. Returns the header (check its encryption context if you
/// expect one) and the plaintext length.
///
/// Plaintext is written frame by frame, each frame only after its tag
/// verified. For signed messages (0x0578) the signature is checked after
/// the last frame has been written, so on **any** error the caller MUST
/// discard what was written: it may be a prefix of the plaintext, or the
/// plaintext of a message whose signature does not verify. Use
/// [`decrypt_to_vec`](super::decrypt_to_vec) or
/// [`decrypt_to_path`](super::decrypt_to_path) to get output only on success.
pub fn decrypt<P, R, W>(provider: &P, mut reader: R, mut writer: W, limits: &Limits) -> Result<Summary, EsdkError>
where
    P: DataKeyProvider + ?Sized,
    R: Read,
    W: Write,
{
    let header = read_header(&mut reader, limits)?;
    let public_key = header.encryption_context.get(PUBLIC_KEY_CONTEXT_KEY);
    let verifier = match (header.suite.is_signed(), public_key) {
        (true, Some(encoded)) => Some(Verifier::from_public_key_base64(encoded)?),
        (true, None) => return Err(EsdkError::MissingPublicKey),
        (false, Some(_)) => return Err(EsdkError::UnexpectedPublicKey),
        (false, None) => None,
    };

    let data_key = provider.decrypt(&header.encrypted_data_keys, &header.encryption_context)?;
    let keys = derive_keys(header.suite, &data_key, &header.message_id)?;
    drop(data_key);
    verify_slices_are_equal(&keys.commitment, &header.commitment).map_err(|_| EsdkError::Commitment)?;

    let mut input = Input { reader, verifier };
    if let Some(verifier) = &mut input.verifier {
        verifier.update(header.as_bytes());
    }
    let mut header_tag = [0u8; TAG_LEN];
    input.fill(&mut header_tag)?;
    keys.content
        .open_in_place(Nonce::assume_unique_for_key(HEADER_IV), Aad::from(header.as_bytes()), &mut header_tag)
        .map_err(|_| EsdkError::HeaderAuth)?;

    let plaintext_len = read_frames(&mut input, &mut writer, &keys, &header)?;

    if let Some(verifier) = input.verifier.take() {
        // The footer is not part of what it signs, so it bypasses the hash.
        let mut len = [0u8; 2];
        input.reader.read_exact(&mut len).map_err(read_error)?;
        let mut signature = vec![0u8; usize::from(u16::from_be_bytes(len))];
        input.reader.read_exact(&mut signature).map_err(read_error)?;
        verifier.verify(&signature)?;
    }
    ensure_at_end(&mut input.reader)?;
    writer.flush()?;
    Ok(Summary { header, plaintext_len })
}

/// Reads, checks and writes every frame; returns the plaintext length.
fn read_frames<R: Read, W: Write>(
    input: &mut Input<R>,
    writer: &mut W,
    keys: &MessageKeys,
    header: &Header,
) -> Result<u64, EsdkError> {
    let frame_len = usize::try_from(header.frame_length).map_err(|_| EsdkError::Crypto)?;
    // Allocated once at full size (the header, now authenticated, bounds
    // it), so later frames never reallocate and leave plaintext behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(frame_len + TAG_LEN));
    let mut expected = 1u32;
    let mut plaintext_len = 0u64;
    loop {
        let first = input.u32()?;
        let is_final = first == FINAL_FRAME_MARKER;
        let sequence = if is_final { input.u32()? } else { first };
        if sequence != expected {
            return Err(EsdkError::FrameOrder { expected, found: sequence });
        }
        let mut iv = [0u8; IV_LEN];
        input.fill(&mut iv)?;
        let len = if is_final { input.u32()? } else { header.frame_length };
        if len > header.frame_length {
            return Err(EsdkError::Malformed("final frame longer than the frame length"));
        }
        let content_len = usize::try_from(len).map_err(|_| EsdkError::Crypto)?;
        buf.clear();
        buf.resize(content_len + TAG_LEN, 0);
        input.fill(&mut buf)?;
        let aad = body_aad(&header.message_id, is_final, sequence, u64::from(len));
        let plaintext = keys
            .content
            .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf)
            .map_err(|_| EsdkError::FrameAuth(sequence))?;
        writer.write_all(plaintext)?;
        plaintext_len += u64::from(len);
        if is_final {
            return Ok(plaintext_len);
        }
        expected = expected.checked_add(1).ok_or(EsdkError::TooManyFrames)?;
    }
}

/// The message after the header, with the verifier (if any) seeing every
/// byte read through it.
struct Input<R> {
    reader: R,
    verifier: Option<Verifier>,
}

impl<R: Read> Input<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EsdkError> {
        self.reader.read_exact(buf).map_err(read_error)?;
        if let Some(verifier) = &mut self.verifier {
            verifier.update(buf);
        }
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, EsdkError> {
        let mut bytes = [0u8; 4];
        self.fill(&mut bytes)?;
        Ok(u32::from_be_bytes(bytes))
    }
}

/// Refuses bytes after the message: they are not covered by any tag or
/// signature, and a file with them is not what the SDK wrote.
fn ensure_at_end<R: Read>(reader: &mut R) -> Result<(), EsdkError> {
    let mut probe = [0u8; 1];
    loop {
        return match reader.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(EsdkError::TrailingData),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => Err(EsdkError::Io(e)),
        };
    }
}
