//! The C2SP tlog-witness wire format (c2sp.org/tlog-witness): the
//! `add-checkpoint` request body, and the status codes and bodies a witness
//! answers with. Pure: no file or network I/O, so the witness, the client and
//! tests share one definition of every byte.
//!
//! A request body is `old <size>\n`, up to 63 consistency proof lines of one
//! base64 hash each, an empty line, then the signed checkpoint note. Parsing is
//! strict and bounded because the body comes from anyone who can reach the
//! witness: no signature has been checked when it is read.

use std::fmt;

use data_encoding::BASE64;
use http::StatusCode;
use rampart_ledger::note::MAX_NOTE_LEN;
use rampart_ledger::{HASH_LEN, Hash};

/// The most consistency proof lines a request may carry, as the specification
/// bounds them; a proof between trees of up to 2^64 leaves needs fewer.
pub const MAX_PROOF_LINES: usize = 63;

/// The longest request header: `old `, twenty digits and a newline, then the
/// proof lines of 44 base64 characters and a newline each, then the empty
/// line.
pub const MAX_HEADER_LEN: usize = 4 + 20 + 1 + MAX_PROOF_LINES * 45 + 1;

/// The largest request body accepted: the longest header and the largest note
/// the ledger accepts. Anything longer is refused before it is parsed.
pub const MAX_BODY_LEN: usize = MAX_HEADER_LEN + MAX_NOTE_LEN;

/// The content type of a 409 Conflict body, as the specification requires.
pub const CONTENT_TYPE_TLOG_SIZE: &str = "text/x.tlog.size";

/// The content type of a 200 body of cosignature lines and of error messages.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";

/// The path of the call, under the witness's submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";

/// Why a request body was refused as malformed (400 Bad Request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("the body is not valid UTF-8")]
    NotUtf8,
    #[error("no empty line between the old size and proof lines and the checkpoint")]
    MissingBlankLine,
    #[error("the first line is not `old <size>`")]
    BadOldLine,
    #[error("the old size is not a decimal number without leading zeros that fits in 64 bits")]
    BadOldSize,
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    #[error("consistency proof line {line} is not the base64 of a 32-byte hash")]
    BadProofLine { line: usize },
    #[error("the checkpoint after the empty line is empty")]
    MissingCheckpoint,
}

/// An `add-checkpoint` request: the size the client believes the witness last
/// cosigned, a consistency proof from it, and the signed checkpoint note
/// exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: String,
}

impl AddCheckpointRequest {
    /// Parses a request body. Only the framing is checked here; the note and
    /// its signatures are checked by the witness against its known logs.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        if body.len() > MAX_BODY_LEN {
            return Err(RequestError::TooLarge { len: body.len(), max: MAX_BODY_LEN });
        }
        let body = std::str::from_utf8(body).map_err(|_| RequestError::NotUtf8)?;
        // Header lines are never empty, so the first empty line ends them;
        // the note after it may hold empty lines of its own.
        let (header, checkpoint) = body.split_once("\n\n").ok_or(RequestError::MissingBlankLine)?;
        if checkpoint.is_empty() {
            return Err(RequestError::MissingCheckpoint);
        }
        let mut lines = header.split('\n');
        let old = lines.next().and_then(|l| l.strip_prefix("old ")).ok_or(RequestError::BadOldLine)?;
        let old_size = parse_decimal(old).ok_or(RequestError::BadOldSize)?;
        let mut proof = Vec::new();
        for (i, line) in lines.enumerate() {
            if proof.len() == MAX_PROOF_LINES {
                return Err(RequestError::TooManyProofLines);
            }
            proof.push(parse_hash(line).ok_or(RequestError::BadProofLine { line: i + 1 })?);
        }
        Ok(Self { old_size, proof, checkpoint: checkpoint.to_owned() })
    }
}

/// The body in its wire form, as a client sends it.
impl fmt::Display for AddCheckpointRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "old {}", self.old_size)?;
        for hash in &self.proof {
            writeln!(f, "{}", BASE64.encode(hash))?;
        }
        writeln!(f)?;
        f.write_str(&self.checkpoint)
    }
}

/// A decimal number as the specification writes sizes: ASCII digits only, no
/// sign, no leading zero except for "0" itself, within u64.
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// A hash in canonical padded standard base64, exactly 32 bytes.
fn parse_hash(line: &str) -> Option<Hash> {
    let bytes = BASE64.decode(line.as_bytes()).ok()?;
    let mut hash = [0u8; HASH_LEN];
    if bytes.len() != HASH_LEN {
        return None;
    }
    hash.copy_from_slice(&bytes);
    Some(hash)
}

/// Why a witness refused to cosign, each with the status code the
/// specification assigns to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// 400: the body is malformed, or the old size exceeds the checkpoint's.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 403: no signature on the checkpoint verifies against a key the witness
    /// trusts for its origin.
    #[error("the checkpoint is not signed by a known key for its origin: {0}")]
    Forbidden(String),
    /// 404: the witness knows no log with this origin.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 409: the old size is not the size the witness last cosigned, or the
    /// sizes match but the root hashes do not. Carries the witness's size.
    #[error("the witness last cosigned size {size}")]
    Conflict { size: u64 },
    /// 422: the consistency proof does not verify.
    #[error("the consistency proof does not verify: {0}")]
    BadProof(String),
}

impl Rejection {
    /// The HTTP status code the specification requires.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnknownOrigin(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::BadProof(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The content type of the response body.
    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => CONTENT_TYPE_TLOG_SIZE,
            _ => CONTENT_TYPE_TEXT,
        }
    }

    /// The response body: the decimal size and a newline for a conflict, as
    /// the specification requires, else a one-line explanation.
    pub fn body(&self) -> String {
        match self {
            Self::Conflict { size } => format_size_body(*size),
            other => format!("{other}\n"),
        }
    }
}

impl From<RequestError> for Rejection {
    fn from(err: RequestError) -> Self {
        Self::BadRequest(err.to_string())
    }
}

/// The body of a 409 response: the size in decimal and a newline.
pub fn format_size_body(size: u64) -> String {
    format!("{size}\n")
}

/// Parses the body of a 409 response.
pub fn parse_size_body(body: &str) -> Option<u64> {
    parse_decimal(body.strip_suffix('\n')?)
}

/// The body of a 200 response: the cosignature lines, each ending in a
/// newline.
pub fn format_cosignatures(lines: &[String]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Splits the body of a 200 response into its signature lines (without their
/// newlines), refusing a body that is empty, lacks its final newline, or holds
/// a line that is not a note signature line. The signatures themselves are
/// checked by whoever trusts the witness keys.
pub fn parse_cosignatures(body: &str) -> Option<Vec<String>> {
    let body = body.strip_suffix('\n')?;
    let lines: Vec<String> = body.split('\n').map(str::to_owned).collect();
    // A response carries one line per witness key; a dozen is generous, and
    // the bound stops a hostile witness from inflating the note we serve.
    if lines.len() > 16 || lines.iter().any(|l| !l.starts_with("\u{2014} ") || l.contains('\r')) {
        return None;
    }
    Some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = "old 20852014\n\
        PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
        jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
        5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
        /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
        \n\
        example.com/behind-the-sofa\n\
        20852163\n\
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
        \n\
        \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
        \u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

    fn hash_b64(byte: u8) -> String {
        BASE64.encode(&[byte; HASH_LEN])
    }

    #[test]
    fn the_specification_example_parses_and_formats_back_byte_for_byte() {
        let req = AddCheckpointRequest::parse(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(req.old_size, 20852014);
        assert_eq!(req.proof.len(), 4);
        assert_eq!(BASE64.encode(&req.proof[0]), "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=");
        assert!(req.checkpoint.starts_with("example.com/behind-the-sofa\n20852163\n"));
        assert!(req.checkpoint.ends_with("+qbSzm9Q=\n"));
        assert_eq!(req.to_string(), SPEC_EXAMPLE);
    }

    #[test]
    fn format_then_parse_round_trips() {
        let note = "o\n3\nAAAA\n\n\u{2014} o AAAA\n".to_owned();
        for proof in [vec![], vec![[1u8; 32]], vec![[2u8; 32]; MAX_PROOF_LINES]] {
            let req = AddCheckpointRequest { old_size: 7, proof, checkpoint: note.clone() };
            assert_eq!(AddCheckpointRequest::parse(req.to_string().as_bytes()).unwrap(), req);
        }
        let zero = AddCheckpointRequest { old_size: 0, proof: vec![], checkpoint: note };
        assert!(zero.to_string().starts_with("old 0\n\n"));
        assert_eq!(AddCheckpointRequest::parse(zero.to_string().as_bytes()).unwrap(), zero);
    }

    #[test]
    fn every_malformed_body_gets_its_own_error() {
        let h = hash_b64(1);
        let cp = "o\n1\nAAAA\n\n\u{2014} o AAAA\n";
        let too_many = format!("old 1\n{}\n{cp}", format!("{h}\n").repeat(MAX_PROOF_LINES + 1));
        let cases: Vec<(&str, Vec<u8>, RequestError)> = vec![
            (
                "oversized",
                format!("old 1\n\n{}", "x".repeat(MAX_BODY_LEN)).into_bytes(),
                RequestError::TooLarge { len: MAX_BODY_LEN + 7, max: MAX_BODY_LEN },
            ),
            ("not UTF-8", b"old 1\n\n\xff\n".to_vec(), RequestError::NotUtf8),
            ("no blank line", format!("old 1\n{h}\n").into_bytes(), RequestError::MissingBlankLine),
            ("no checkpoint", b"old 1\n\n".to_vec(), RequestError::MissingCheckpoint),
            ("leading blank line", format!("\nold 1\n\n{cp}").into_bytes(), RequestError::BadOldLine),
            ("no old line", format!("{h}\n\n{cp}").into_bytes(), RequestError::BadOldLine),
            ("capitalised", format!("Old 1\n\n{cp}").into_bytes(), RequestError::BadOldLine),
            ("two spaces", format!("old  1\n\n{cp}").into_bytes(), RequestError::BadOldSize),
            ("leading zero", format!("old 01\n\n{cp}").into_bytes(), RequestError::BadOldSize),
            ("sign", format!("old +1\n\n{cp}").into_bytes(), RequestError::BadOldSize),
            ("empty size", format!("old \n\n{cp}").into_bytes(), RequestError::BadOldSize),
            ("overflow", format!("old 18446744073709551616\n\n{cp}").into_bytes(), RequestError::BadOldSize),
            ("carriage return", format!("old 1\r\n\n{cp}").into_bytes(), RequestError::BadOldSize),
            ("too many proof lines", too_many.into_bytes(), RequestError::TooManyProofLines),
            (
                "bad base64",
                format!("old 1\n{h}\n{}!\n\n{cp}", &h[..43]).into_bytes(),
                RequestError::BadProofLine { line: 2 },
            ),
            (
                "unpadded base64",
                format!("old 1\n{}\n\n{cp}", h.trim_end_matches('=')).into_bytes(),
                RequestError::BadProofLine { line: 1 },
            ),
            (
                "short hash",
                format!("old 1\n{}\n\n{cp}", BASE64.encode(&[1u8; 31])).into_bytes(),
                RequestError::BadProofLine { line: 1 },
            ),
            (
                "long hash",
                format!("old 1\n{}\n\n{cp}", BASE64.encode(&[1u8; 33])).into_bytes(),
                RequestError::BadProofLine { line: 1 },
            ),
            (
                "space in proof line",
                format!("old 1\n {h}\n\n{cp}").into_bytes(),
                RequestError::BadProofLine { line: 1 },
            ),
        ];
        for (what, body, want) in cases {
            assert_eq!(AddCheckpointRequest::parse(&body), Err(want), "{what}");
        }
        // The largest valid header is within the bound the server enforces.
        let max = format!("old {}\n{}\n", u64::MAX, format!("{h}\n").repeat(MAX_PROOF_LINES));
        assert_eq!(max.len(), MAX_HEADER_LEN);
        assert_eq!(AddCheckpointRequest::parse(format!("{max}{cp}").as_bytes()).unwrap().old_size, u64::MAX);
    }

    #[test]
    fn rejections_carry_the_status_codes_and_bodies_of_the_specification() {
        let conflict = Rejection::Conflict { size: 20852014 };
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        assert_eq!(conflict.content_type(), "text/x.tlog.size");
        assert_eq!(conflict.body(), "20852014\n");
        assert_eq!(parse_size_body(&conflict.body()), Some(20852014));
        assert_eq!(Rejection::BadRequest("x".into()).status(), StatusCode::BAD_REQUEST);
        assert_eq!(Rejection::Forbidden("x".into()).status(), StatusCode::FORBIDDEN);
        assert_eq!(Rejection::UnknownOrigin("x".into()).status(), StatusCode::NOT_FOUND);
        assert_eq!(Rejection::BadProof("x".into()).status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(Rejection::from(RequestError::NotUtf8).status(), StatusCode::BAD_REQUEST);
        for bad in ["", "5", "05\n", "5\n\n", "-5\n", "five\n"] {
            assert_eq!(parse_size_body(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cosignature_bodies_round_trip_and_junk_is_refused() {
        let lines = vec!["\u{2014} w1 AAAA".to_owned(), "\u{2014} w2 BBBB".to_owned()];
        let body = format_cosignatures(&lines);
        assert_eq!(body, "\u{2014} w1 AAAA\n\u{2014} w2 BBBB\n");
        assert_eq!(parse_cosignatures(&body), Some(lines));
        for bad in ["", "\n", "\u{2014} w1 AAAA", "- w1 AAAA\n", "\u{2014} w1 AAAA\n\n", "\u{2014} w1 A\r\n"] {
            assert_eq!(parse_cosignatures(bad), None, "{bad:?}");
        }
    }
}
