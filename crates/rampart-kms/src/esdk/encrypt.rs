//! Streaming encryption: reads plaintext one frame at a time and writes the
//! message as it goes, so memory stays at one frame whatever the input size.
//!
//! Where the spec leaves a choice, this writes what the Python SDK writes,
//! because the Python SDK (and so the CLI) refuses the alternative: a
//! plaintext that is an exact multiple of the frame length (including the
//! empty plaintext's zero) ends with an empty final frame, since Python
//! rejects a final frame as long as the frame length. Deciding this needs
//! no look-ahead: a full read is a regular frame, a short one is the last.

use std::io::{ErrorKind, Read, Write};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::frame::{FINAL_FRAME_MARKER, HEADER_IV, body_aad, frame_iv};
use super::header::Header;
use super::sign::Signer;
use super::suite::derive_keys;
use super::{
    AlgorithmSuite, DEFAULT_FRAME_LENGTH, DEFAULT_MAX_ENCRYPTED_DATA_KEYS, DataKeyProvider, EsdkError, KEY_LEN,
    MAX_FRAME_LENGTH, PUBLIC_KEY_CONTEXT_KEY, RESERVED_CONTEXT_PREFIX, Summary,
};
use crate::context::EncryptionContext;

/// How to encrypt. The default is what the CLI does by default: suite
/// 0x0578, 4096-byte frames, at most 10 encrypted data keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptOptions {
    pub suite: AlgorithmSuite,
    /// Plaintext bytes per frame, 1 to [`MAX_FRAME_LENGTH`].
    pub frame_length: u32,
    /// The provider may return at most this many encrypted data keys, so
    /// nothing is written that a decryptor with the same limit refuses.
    pub max_encrypted_data_keys: u16,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        EncryptOptions {
            suite: AlgorithmSuite::default(),
            frame_length: DEFAULT_FRAME_LENGTH,
            max_encrypted_data_keys: DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
        }
    }
}

/// Encrypts everything `reader` yields into one message written to
/// `writer`, under a fresh data key from `provider`, bound to `context`.
/// For signed suites the returned header's context also holds the
/// verification key. On error the output is incomplete and useless.
pub fn encrypt<P, R, W>(
    provider: &P,
    context: &EncryptionContext,
    mut reader: R,
    writer: W,
    options: &EncryptOptions,
) -> Result<Summary, EsdkError>
where
    P: DataKeyProvider + ?Sized,
    R: Read,
    W: Write,
{
    let frame_length = options.frame_length;
    if frame_length == 0 || frame_length > MAX_FRAME_LENGTH {
        return Err(EsdkError::FrameLength { found: frame_length, max: MAX_FRAME_LENGTH });
    }
    if let Some((key, _)) = context.iter().find(|(key, _)| key.starts_with(RESERVED_CONTEXT_PREFIX)) {
        return Err(EsdkError::ReservedContextKey(key.to_owned()));
    }
    let signer = if options.suite.is_signed() { Some(Signer::generate()?) } else { None };
    let context = match &signer {
        Some(signer) => {
            let public_key = signer.public_key_base64()?;
            EncryptionContext::from_pairs(context.iter().chain([(PUBLIC_KEY_CONTEXT_KEY, public_key.as_str())]))?
        }
        None => context.clone(),
    };

    let (data_key, encrypted_data_keys) = provider.generate(options.suite, &context)?;
    if encrypted_data_keys.is_empty() {
        return Err(EsdkError::Malformed("the data key provider returned no encrypted data key"));
    }
    if encrypted_data_keys.len() > usize::from(options.max_encrypted_data_keys) {
        return Err(EsdkError::TooManyEncryptedDataKeys {
            found: encrypted_data_keys.len(),
            max: options.max_encrypted_data_keys,
        });
    }
    let mut message_id = [0u8; KEY_LEN];
    SystemRandom::new().fill(&mut message_id)?;
    let keys = derive_keys(options.suite, &data_key, &message_id)?;
    drop(data_key);

    let header = Header::new(options.suite, message_id, context, encrypted_data_keys, frame_length, keys.commitment)?;
    let header_tag = keys.content.seal_in_place_separate_tag(
        Nonce::assume_unique_for_key(HEADER_IV),
        Aad::from(header.as_bytes()),
        &mut [],
    )?;
    let mut out = Output { writer, signer };
    out.put(header.as_bytes())?;
    out.put(header_tag.as_ref())?;
    let plaintext_len = write_frames(&mut reader, &mut out, &keys.content, &message_id, frame_length)?;
    if let Some(signer) = out.signer.take() {
        let signature = signer.sign()?;
        let len = u16::try_from(signature.len()).map_err(|_| EsdkError::Crypto)?;
        out.writer.write_all(&len.to_be_bytes())?;
        out.writer.write_all(&signature)?;
    }
    out.writer.flush()?;
    Ok(Summary { header, plaintext_len })
}

/// The writer, with the signer (if any) seeing every byte it is given.
struct Output<W> {
    writer: W,
    signer: Option<Signer>,
}

impl<W: Write> Output<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EsdkError> {
        if let Some(signer) = &mut self.signer {
            signer.update(bytes);
        }
        self.writer.write_all(bytes)?;
        Ok(())
    }
}

/// Encrypts the body frame by frame and returns the plaintext length.
fn write_frames<R: Read, W: Write>(
    reader: &mut R,
    out: &mut Output<W>,
    key: &LessSafeKey,
    message_id: &[u8; KEY_LEN],
    frame_length: u32,
) -> Result<u64, EsdkError> {
    let frame_len = usize::try_from(frame_length).map_err(|_| EsdkError::Crypto)?;
    // Plaintext passes through this buffer and is encrypted in place; it is
    // allocated once, so no reallocation leaves plaintext behind.
    let mut buf = Zeroizing::new(vec![0u8; frame_len]);
    let mut plaintext_len = 0u64;
    let mut sequence = 1u32;
    loop {
        let n = read_full(reader, &mut buf)?;
        let is_final = n < frame_len;
        // A regular frame numbered 0xFFFFFFFF would read as the final-frame
        // marker, so the last regular frame is 0xFFFFFFFE.
        if !is_final && sequence == FINAL_FRAME_MARKER {
            return Err(EsdkError::TooManyFrames);
        }
        let content = buf.get_mut(..n).ok_or(EsdkError::Crypto)?;
        let len = u32::try_from(n).map_err(|_| EsdkError::Crypto)?;
        let iv = frame_iv(sequence);
        let aad = body_aad(message_id, is_final, sequence, u64::from(len));
        let tag = key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), content)?;
        if is_final {
            out.put(&FINAL_FRAME_MARKER.to_be_bytes())?;
        }
        out.put(&sequence.to_be_bytes())?;
        out.put(&iv)?;
        if is_final {
            out.put(&len.to_be_bytes())?;
        }
        out.put(content)?;
        out.put(tag.as_ref())?;
        plaintext_len += u64::from(len);
        if is_final {
            return Ok(plaintext_len);
        }
        sequence = sequence.checked_add(1).ok_or(EsdkError::TooManyFrames)?;
    }
}

/// Fills `buf` from `reader`, stopping early only at end of input, and
/// returns how many bytes it got.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, EsdkError> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(EsdkError::Io(e)),
        }
    }
    Ok(filled)
}
