//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys: the text, the
//! blank line, and one line per signature, `— <key name> <base64(key ID ||
//! signature)>`. Parsing is strict because a note is untrusted input until a
//! signature on it verifies; keys and their encodings live in `note/keys.rs`.

mod keys;

use std::fmt;

use data_encoding::BASE64;

pub use keys::{Signer, Verifier, is_valid_key_name, key_id_for, split_key_for};

/// The largest note accepted, in bytes. Checkpoints are a few hundred bytes;
/// the bound leaves room for the 16 post-quantum signatures of up to 5 kB the
/// specification asks verifiers to accept, and stops a peer from making us
/// scan megabytes.
pub const MAX_NOTE_LEN: usize = 256 * 1024;

/// The most signature lines a note may carry; the specification requires
/// accepting at least 16.
pub const MAX_SIGNATURES: usize = 100;

/// An em dash (U+2014) and a space open every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note or a key was refused. Messages name keys but never hold key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the note has more than {max} signatures")]
    TooManySignatures { max: usize },
    #[error("invalid note text: {0}")]
    InvalidText(&'static str),
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    #[error("unsupported key type 0x{0:02x}; only Ed25519 (0x01) is supported")]
    UnsupportedKeyType(u8),
    #[error("the key ID does not match the key name and public key")]
    KeyIdMismatch,
    #[error("the Ed25519 key could not be created")]
    KeyGeneration,
    #[error("more than one trusted key is named {name} with ID {key_id:08x}")]
    AmbiguousVerifier { name: String, key_id: u32 },
    #[error("the signature by trusted key {name} ({key_id:08x}) does not verify")]
    BadSignature { name: String, key_id: u32 },
    #[error("the note carries no signature by a trusted key")]
    NoVerifiedSignature,
}

/// One signature line: the key's name and ID, and the signature bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

/// A note as written on the wire, signatures not yet checked. Only
/// [`open`] says whether its text can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<Signature>,
}

/// A note with at least one good signature by a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    verified: Vec<Signature>,
    unverified: Vec<Signature>,
}

/// Checks the rules a note text must follow: non-empty, valid UTF-8 (which
/// `&str` guarantees), no ASCII control character but newline, and a final
/// newline.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::InvalidText("the text must end with a newline"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::InvalidText("the text contains a control character"));
    }
    Ok(())
}

impl Note {
    /// An unsigned note holding `text`.
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Self { text: text.to_owned(), signatures: Vec::new() })
    }

    /// Adds `signer`'s signature over the text, as a log or a cosigning
    /// witness does.
    pub fn add_signature(&mut self, signer: &Signer) -> Result<(), NoteError> {
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures { max: MAX_SIGNATURES });
        }
        let signature = signer.sign(self.text.as_bytes()).to_vec();
        self.signatures.push(Signature { name: signer.name().to_owned(), key_id: signer.key_id(), signature });
        Ok(())
    }

    /// Splits a signed note into its text and signature lines, refusing
    /// anything the specification does not allow. Signatures are not
    /// checked here.
    pub fn parse(msg: &[u8]) -> Result<Self, NoteError> {
        if msg.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge { len: msg.len(), max: MAX_NOTE_LEN });
        }
        let msg = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed("not valid UTF-8"))?;
        if msg.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed("contains an ASCII control character"));
        }
        // The text may itself hold blank lines, so the last one is the split.
        let split = msg.rfind("\n\n").ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&msg[..=split], &msg[split + 2..]);
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::Malformed("the signature block is empty or lacks its final newline"));
        };
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures { max: MAX_SIGNATURES });
            }
            signatures.push(parse_signature_line(line)?);
        }
        Ok(Self { text: text.to_owned(), signatures })
    }
}

fn parse_signature_line(line: &str) -> Result<Signature, NoteError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(NoteError::Malformed("a signature line does not start with an em dash and a space"))?;
    let (name, b64) =
        rest.split_once(' ').ok_or(NoteError::Malformed("a signature line has no space after the key name"))?;
    if !is_valid_key_name(name) {
        return Err(NoteError::Malformed("a signature line has an invalid key name"));
    }
    let raw = BASE64.decode(b64.as_bytes()).map_err(|_| NoteError::Malformed("a signature is not valid base64"))?;
    // Four bytes of key ID and at least one of signature.
    let Some((id, signature)) = raw.split_first_chunk::<4>().filter(|(_, sig)| !sig.is_empty()) else {
        return Err(NoteError::Malformed("a signature is too short"));
    };
    Ok(Signature { name: name.to_owned(), key_id: u32::from_be_bytes(*id), signature: signature.to_vec() })
}

/// The note in its wire form: the text, a blank line, the signature lines.
impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            let mut raw = Vec::with_capacity(4 + sig.signature.len());
            raw.extend_from_slice(&sig.key_id.to_be_bytes());
            raw.extend_from_slice(&sig.signature);
            writeln!(f, "{SIG_PREFIX}{} {}", sig.name, BASE64.encode(&raw))?;
        }
        Ok(())
    }
}

/// Signs `text` with `signer` and returns the signed note.
pub fn sign(text: &str, signer: &Signer) -> Result<String, NoteError> {
    let mut note = Note::new(text)?;
    note.add_signature(signer)?;
    Ok(note.to_string())
}

/// Parses `msg` and checks its signatures against `verifiers`.
///
/// As the specification requires, signatures by unknown keys are kept aside
/// unverified, every signature by a known key must verify (one bad one
/// rejects the whole note), and at least one must be present.
pub fn open(msg: &[u8], verifiers: &[Verifier]) -> Result<VerifiedNote, NoteError> {
    let note = Note::parse(msg)?;
    let mut verified: Vec<Signature> = Vec::new();
    let mut unverified: Vec<Signature> = Vec::new();
    for sig in note.signatures {
        let mut known = verifiers.iter().filter(|v| v.name() == sig.name && v.key_id() == sig.key_id);
        let Some(verifier) = known.next() else {
            if !unverified.contains(&sig) {
                unverified.push(sig);
            }
            continue;
        };
        if known.next().is_some() {
            return Err(NoteError::AmbiguousVerifier { name: sig.name, key_id: sig.key_id });
        }
        if !verifier.verify(note.text.as_bytes(), &sig.signature) {
            return Err(NoteError::BadSignature { name: sig.name, key_id: sig.key_id });
        }
        if !verified.iter().any(|v| v.name == sig.name && v.key_id == sig.key_id) {
            verified.push(sig);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::NoVerifiedSignature);
    }
    Ok(VerifiedNote { text: note.text, verified, unverified })
}

impl VerifiedNote {
    /// The text, now backed by a trusted signature.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signatures by trusted keys, one per key, all verified.
    pub fn verified(&self) -> &[Signature] {
        &self.verified
    }

    /// The signatures by keys the caller did not list, unchecked.
    pub fn unverified(&self) -> &[Signature] {
        &self.unverified
    }

    /// The text, consuming the note.
    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests;
