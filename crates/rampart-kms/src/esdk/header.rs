//! The version-2 message header: parsing (from a slice or a stream, with
//! every length bounded), serialization, and the encryption context
//! encoding the header and the raw AES keyring share. All integers are
//! big-endian:
//!
//! ```text
//! version 0x02 | suite id (2) | message id (32) | context length (2) | context
//! | data key count (2) | data keys | content type 0x02 | frame length (4)
//! | commitment key (32)
//! context   = pair count (2), then per pair sorted by key bytes:
//!             key length (2) | key | value length (2) | value   (empty context: no bytes)
//! data key  = provider id length (2) | provider id | info length (2) | info
//!             | ciphertext length (2) | ciphertext
//! ```
//!
//! The header is followed by its 16-byte authentication tag, which the
//! decryptor checks against the exact bytes it read, so fields this parser
//! does not re-encode identically (an unsorted context from another
//! implementation) still authenticate.

use std::collections::BTreeMap;
use std::io::Read;

use super::error::read_error;
use super::{AlgorithmSuite, EncryptedDataKey, EsdkError, KEY_LEN, Limits};
use crate::context::EncryptionContext;

const VERSION_2: u8 = 0x02;
const CONTENT_NON_FRAMED: u8 = 0x01;
const CONTENT_FRAMED: u8 = 0x02;

/// A parsed header. `serialized` holds the exact bytes it was parsed from
/// (or written as), which the header tag and the signature cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub suite: AlgorithmSuite,
    pub message_id: [u8; KEY_LEN],
    pub encryption_context: EncryptionContext,
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    pub frame_length: u32,
    /// The commitment key: public, derived from the data key.
    pub commitment: [u8; KEY_LEN],
    serialized: Vec<u8>,
}

impl Header {
    /// Builds and serializes a header to write.
    pub(super) fn new(
        suite: AlgorithmSuite,
        message_id: [u8; KEY_LEN],
        encryption_context: EncryptionContext,
        encrypted_data_keys: Vec<EncryptedDataKey>,
        frame_length: u32,
        commitment: [u8; KEY_LEN],
    ) -> Result<Self, EsdkError> {
        let mut header = Header {
            suite,
            message_id,
            encryption_context,
            encrypted_data_keys,
            frame_length,
            commitment,
            serialized: Vec::new(),
        };
        header.serialized = header.serialize()?;
        Ok(header)
    }

    /// The header's bytes as they appear in the message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.serialized
    }

    fn serialize(&self) -> Result<Vec<u8>, EsdkError> {
        let mut out = vec![VERSION_2];
        out.extend_from_slice(&self.suite.id().to_be_bytes());
        out.extend_from_slice(&self.message_id);
        put_u16_bytes(&mut out, &serialize_context(&self.encryption_context)?, "encryption context too long")?;
        let count = u16::try_from(self.encrypted_data_keys.len())
            .map_err(|_| EsdkError::Malformed("too many encrypted data keys"))?;
        out.extend_from_slice(&count.to_be_bytes());
        for key in &self.encrypted_data_keys {
            put_u16_bytes(&mut out, key.provider_id.as_bytes(), "provider id too long")?;
            put_u16_bytes(&mut out, &key.provider_info, "provider info too long")?;
            put_u16_bytes(&mut out, &key.ciphertext, "encrypted data key too long")?;
        }
        out.push(CONTENT_FRAMED);
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        out.extend_from_slice(&self.commitment);
        Ok(out)
    }
}

/// Parses the header at the start of `bytes` (which may hold the rest of the
/// message too) under the default [`Limits`]. Safe on any input.
pub fn parse_header(bytes: &[u8]) -> Result<Header, EsdkError> {
    parse_header_with(bytes, &Limits::default())
}

/// [`parse_header`] under the given limits.
pub fn parse_header_with(mut bytes: &[u8], limits: &Limits) -> Result<Header, EsdkError> {
    read_header(&mut bytes, limits)
}

/// Reads exactly one header from a stream, consuming nothing after it.
pub(super) fn read_header(reader: &mut impl Read, limits: &Limits) -> Result<Header, EsdkError> {
    let mut r = Tee { reader, raw: Vec::new(), max: limits.max_header_len };
    let version = r.u8()?;
    if version != VERSION_2 {
        return Err(EsdkError::UnsupportedVersion(version));
    }
    let suite = AlgorithmSuite::from_id(r.u16()?)?;
    let message_id = r.array()?;
    let context_len = r.u16()?;
    let encryption_context = deserialize_context(&r.bytes(usize::from(context_len))?)?;
    let count = r.u16()?;
    if count == 0 {
        return Err(EsdkError::Malformed("a message needs at least one encrypted data key"));
    }
    if count > limits.max_encrypted_data_keys {
        return Err(EsdkError::TooManyEncryptedDataKeys {
            found: usize::from(count),
            max: limits.max_encrypted_data_keys,
        });
    }
    let mut encrypted_data_keys = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let provider_id =
            String::from_utf8(r.u16_bytes()?).map_err(|_| EsdkError::Malformed("provider id is not UTF-8"))?;
        let provider_info = r.u16_bytes()?;
        let ciphertext = r.u16_bytes()?;
        encrypted_data_keys.push(EncryptedDataKey { provider_id, provider_info, ciphertext });
    }
    match r.u8()? {
        CONTENT_FRAMED => {}
        CONTENT_NON_FRAMED => return Err(EsdkError::NonFramed),
        _ => return Err(EsdkError::Malformed("unknown content type")),
    }
    let frame_length = u32::from_be_bytes(r.array()?);
    if frame_length == 0 || frame_length > limits.max_frame_length {
        return Err(EsdkError::FrameLength { found: frame_length, max: limits.max_frame_length });
    }
    let commitment = r.array()?;
    Ok(Header {
        suite,
        message_id,
        encryption_context,
        encrypted_data_keys,
        frame_length,
        commitment,
        serialized: r.raw,
    })
}

/// Reads fields from a stream and keeps a copy of every byte read, up to a
/// bound checked before anything is read or allocated.
struct Tee<'r, R> {
    reader: &'r mut R,
    raw: Vec<u8>,
    max: usize,
}

impl<R: Read> Tee<'_, R> {
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, EsdkError> {
        if self.raw.len().saturating_add(n) > self.max {
            return Err(EsdkError::HeaderTooLarge { max: self.max });
        }
        let mut field = vec![0u8; n];
        self.reader.read_exact(&mut field).map_err(read_error)?;
        self.raw.extend_from_slice(&field);
        Ok(field)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EsdkError> {
        let field = self.bytes(N)?;
        field.try_into().map_err(|_| EsdkError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, EsdkError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, EsdkError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u16_bytes(&mut self) -> Result<Vec<u8>, EsdkError> {
        let len = self.u16()?;
        self.bytes(usize::from(len))
    }
}

fn put_u16_bytes(out: &mut Vec<u8>, field: &[u8], too_long: &'static str) -> Result<(), EsdkError> {
    let len = u16::try_from(field.len()).map_err(|_| EsdkError::Malformed(too_long))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
    Ok(())
}

/// The SDK's encryption context encoding: nothing for the empty context,
/// else the pair count and each pair, in the map's order, which is bytewise
/// key order as the format requires.
pub(super) fn serialize_context(context: &EncryptionContext) -> Result<Vec<u8>, EsdkError> {
    if context.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let count = u16::try_from(context.len()).map_err(|_| EsdkError::Malformed("too many context pairs"))?;
    out.extend_from_slice(&count.to_be_bytes());
    for (key, value) in context.iter() {
        put_u16_bytes(&mut out, key.as_bytes(), "context key too long")?;
        put_u16_bytes(&mut out, value.as_bytes(), "context value too long")?;
    }
    Ok(out)
}

/// Parses the encoding above. Like the Python SDK it accepts pairs in any
/// order (the header tag covers the bytes as read), but it refuses a pair
/// count of zero, duplicate keys, invalid UTF-8 and bytes left over; the
/// result must also fit the KMS's own context limits.
fn deserialize_context(bytes: &[u8]) -> Result<EncryptionContext, EsdkError> {
    const BAD: EsdkError = EsdkError::Malformed("encryption context encoding");
    if bytes.is_empty() {
        return Ok(EncryptionContext::empty());
    }
    let mut rest = bytes;
    let count = take_u16(&mut rest).ok_or(BAD)?;
    if count == 0 {
        return Err(EsdkError::Malformed("encryption context with a pair count of zero"));
    }
    let mut map = BTreeMap::new();
    for _ in 0..count {
        let key = take_str(&mut rest).ok_or(BAD)?;
        let value = take_str(&mut rest).ok_or(BAD)?;
        if map.insert(key, value).is_some() {
            return Err(EsdkError::Malformed("duplicate encryption context key"));
        }
    }
    if !rest.is_empty() {
        return Err(EsdkError::Malformed("bytes after the encryption context"));
    }
    Ok(EncryptionContext::from_map(map)?)
}

fn take_u16(rest: &mut &[u8]) -> Option<u16> {
    let (len, tail) = rest.split_first_chunk::<2>()?;
    *rest = tail;
    Some(u16::from_be_bytes(*len))
}

fn take_str(rest: &mut &[u8]) -> Option<String> {
    let len = usize::from(take_u16(rest)?);
    let (field, tail) = rest.split_at_checked(len)?;
    *rest = tail;
    String::from_utf8(field.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edk() -> EncryptedDataKey {
        EncryptedDataKey { provider_id: "p".into(), provider_info: b"i".to_vec(), ciphertext: b"ct".to_vec() }
    }

    fn sample(context: EncryptionContext) -> Header {
        Header::new(AlgorithmSuite::AesGcmCommitKey, [3; 32], context, vec![edk()], 4096, [4; 32]).unwrap()
    }

    #[test]
    fn layout_is_as_documented() {
        let context = EncryptionContext::from_pairs([("b", "2"), ("a", "1")]).unwrap();
        let header = sample(context.clone());
        let mut expected = vec![0x02, 0x04, 0x78];
        expected.extend_from_slice(&[3; 32]);
        // Sorted: "a" before "b", though given in the other order.
        expected.extend_from_slice(&[0, 14, 0, 2, 0, 1, b'a', 0, 1, b'1', 0, 1, b'b', 0, 1, b'2']);
        expected.extend_from_slice(&[0, 1, 0, 1, b'p', 0, 1, b'i', 0, 2, b'c', b't']);
        expected.extend_from_slice(&[0x02, 0, 0, 0x10, 0]);
        expected.extend_from_slice(&[4; 32]);
        assert_eq!(header.as_bytes(), expected.as_slice());

        let mut message = expected.clone();
        message.extend_from_slice(b"rest of the message");
        assert_eq!(parse_header(&message).unwrap(), header);
    }

    #[test]
    fn empty_context_is_no_bytes() {
        let header = sample(EncryptionContext::empty());
        assert_eq!(&header.as_bytes()[35..37], &[0, 0]);
        assert_eq!(parse_header(header.as_bytes()).unwrap().encryption_context, EncryptionContext::empty());
    }

    #[test]
    fn unsorted_context_is_accepted_but_duplicates_and_zero_counts_are_not() {
        let unsorted = [0, 2, 0, 1, b'b', 0, 0, 0, 1, b'a', 0, 0];
        let parsed = deserialize_context(&unsorted).unwrap();
        assert_eq!(parsed.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b"]);
        assert!(deserialize_context(&[0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0]).is_err());
        assert!(deserialize_context(&[0, 0]).is_err());
        assert!(deserialize_context(&[0, 1, 0, 1, b'a', 0, 0, 9]).is_err(), "trailing byte");
        assert!(deserialize_context(&[0, 1, 0, 1, 0xff, 0, 0]).is_err(), "not UTF-8");
    }

    #[test]
    fn limits_are_enforced() {
        let header = sample(EncryptionContext::empty());
        let bytes = header.as_bytes();
        let strict = Limits { max_encrypted_data_keys: 0, ..Limits::default() };
        assert!(matches!(
            parse_header_with(bytes, &strict),
            Err(EsdkError::TooManyEncryptedDataKeys { found: 1, max: 0 })
        ));
        let small = Limits { max_header_len: bytes.len() - 1, ..Limits::default() };
        assert!(matches!(parse_header_with(bytes, &small), Err(EsdkError::HeaderTooLarge { .. })));
        let frames = Limits { max_frame_length: 4095, ..Limits::default() };
        assert!(matches!(parse_header_with(bytes, &frames), Err(EsdkError::FrameLength { found: 4096, .. })));
        for cut in 0..bytes.len() {
            assert!(matches!(parse_header(&bytes[..cut]), Err(EsdkError::Truncated)), "cut at {cut}");
        }
    }

    #[test]
    fn version_1_and_non_framed_messages_are_refused() {
        let mut bytes = sample(EncryptionContext::empty()).as_bytes().to_vec();
        bytes[0] = 0x01;
        assert!(matches!(parse_header(&bytes), Err(EsdkError::UnsupportedVersion(1))));
        bytes[0] = 0x02;
        bytes[1..3].copy_from_slice(&[0x03, 0x78]);
        assert!(matches!(parse_header(&bytes), Err(EsdkError::NonCommittingSuite(0x0378))));
        bytes[1..3].copy_from_slice(&[0x04, 0x78]);
        let content_type_at = bytes.len() - 32 - 4 - 1;
        bytes[content_type_at] = 0x01;
        assert!(matches!(parse_header(&bytes), Err(EsdkError::NonFramed)));
    }
}
