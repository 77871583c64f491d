//! The framed body's building blocks: the IV of each frame and the
//! associated data that binds a frame to its message, position and length.
//!
//! ```text
//! regular frame = sequence number (4) | IV (12) | ciphertext (frame length) | tag (16)
//! final frame   = 0xFFFFFFFF | sequence number (4) | IV (12) | content length (4)
//!                 | ciphertext (content length) | tag (16)
//! body AAD      = message id (32) | "AWSKMSEncryptionClient Frame" or
//!                 "AWSKMSEncryptionClient Final Frame" | sequence number (4) | length (8)
//! ```
//!
//! Sequence numbers start at 1 and the final frame is marked both by the
//! `0xFFFFFFFF` prefix and by its own AAD string, so a regular frame cannot
//! be passed off as the last one (which would truncate the message
//! undetected). The content strings are the SDK's own ("Frame", not
//! "Framed String" as some prose has it); the header tag uses the same key
//! with the all-zero IV, which no frame uses, since frame IVs are the
//! sequence number (at least 1) in the last four bytes.

use super::KEY_LEN;

pub(super) const IV_LEN: usize = 12;
pub(super) const TAG_LEN: usize = 16;
/// The first four bytes of a final frame.
pub(super) const FINAL_FRAME_MARKER: u32 = u32::MAX;
/// The IV of the header authentication tag.
pub(super) const HEADER_IV: [u8; IV_LEN] = [0; IV_LEN];

const FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Frame";
const FINAL_FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Final Frame";

/// The deterministic IV of frame `sequence`: eight zero bytes, then the
/// sequence number, as every SDK writes it.
pub(super) fn frame_iv(sequence: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[IV_LEN - 4..].copy_from_slice(&sequence.to_be_bytes());
    iv
}

/// The associated data of one frame.
pub(super) fn body_aad(message_id: &[u8; KEY_LEN], is_final: bool, sequence: u32, length: u64) -> Vec<u8> {
    let label = if is_final { FINAL_FRAME_AAD } else { FRAME_AAD };
    let mut aad = Vec::with_capacity(KEY_LEN + label.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(label);
    aad.extend_from_slice(&sequence.to_be_bytes());
    aad.extend_from_slice(&length.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iv_and_aad_layout() {
        assert_eq!(frame_iv(1), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(frame_iv(0x0102_0304)[8..], [1, 2, 3, 4]);
        assert_ne!(frame_iv(1), HEADER_IV);

        let aad = body_aad(&[0xAA; 32], false, 2, 4096);
        assert_eq!(&aad[..32], &[0xAA; 32]);
        assert_eq!(&aad[32..60], b"AWSKMSEncryptionClient Frame");
        assert_eq!(&aad[60..], &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        let last = body_aad(&[0xAA; 32], true, 2, 0);
        assert_eq!(&last[32..last.len() - 12], b"AWSKMSEncryptionClient Final Frame");
    }
}
