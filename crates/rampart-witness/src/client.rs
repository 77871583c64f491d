//! The log's side of c2sp.org/tlog-witness: asking a witness to cosign a
//! checkpoint, and attaching the cosignatures it returns to the checkpoint
//! the log serves.
//!
//! The client does not trust the witness's answer: a 200 body must be
//! signature lines and nothing else, a 409 body a size in the content type
//! the specification names. Whether a cosignature verifies is checked by
//! whoever holds the witness's key, with `cosignature::verify_cosignature`.

use rampart_ledger::Hash;
use rampart_ledger::note::{MAX_SIGNATURES, Note, NoteError};

use crate::protocol::{
    ADD_CHECKPOINT_PATH, AddCheckpointRequest, CONTENT_TYPE_TLOG_SIZE, parse_cosignatures, parse_size_body,
};

/// The largest response body read from a witness: a handful of signature
/// lines, or a size.
const MAX_RESPONSE_LEN: usize = 16 * 1024;

/// What a witness answered to a well-formed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// The witness cosigned: its signature lines, without their newlines.
    Cosigned(Vec<String>),
    /// The witness's latest cosigned size is not the old size sent: retry
    /// from `witness_size` with a proof from there. When `witness_size`
    /// equals the old size sent, the witness holds a different root for that
    /// size, which means the log forked.
    Conflict { witness_size: u64 },
}

/// Why asking a witness failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the witness could not be reached: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the witness refused the checkpoint ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the witness sent a malformed response: {0}")]
    MalformedResponse(&'static str),
    #[error("the cosignatures cannot be attached: {0}")]
    Attach(#[from] NoteError),
}

/// Sends `signed_checkpoint` with `old_size` and the consistency `proof` to
/// the witness whose submission prefix is `url` (for example
/// `http://127.0.0.1:7380`; `/add-checkpoint` is appended).
pub async fn add_checkpoint(
    http: &reqwest::Client,
    url: &str,
    old_size: u64,
    proof: &[Hash],
    signed_checkpoint: &str,
) -> Result<AddOutcome, ClientError> {
    let body = AddCheckpointRequest { old_size, proof: proof.to_vec(), checkpoint: signed_checkpoint.to_owned() };
    let endpoint = format!("{}{ADD_CHECKPOINT_PATH}", url.trim_end_matches('/'));
    let response = http.post(endpoint).body(body.to_string()).send().await?;
    let status = response.status();
    let content_type =
        response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let bytes = read_bounded(response).await?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ClientError::MalformedResponse("not UTF-8"))?;
    match status {
        http::StatusCode::OK => parse_cosignatures(text)
            .map(AddOutcome::Cosigned)
            .ok_or(ClientError::MalformedResponse("a 200 body is one or more signature lines")),
        http::StatusCode::CONFLICT => {
            // Media types are case-insensitive and may carry parameters.
            let media = content_type.split(';').next().unwrap_or_default().trim();
            if !media.eq_ignore_ascii_case(CONTENT_TYPE_TLOG_SIZE) {
                return Err(ClientError::MalformedResponse("a 409 response is not text/x.tlog.size"));
            }
            parse_size_body(text)
                .map(|witness_size| AddOutcome::Conflict { witness_size })
                .ok_or(ClientError::MalformedResponse("a 409 body is a decimal size and a newline"))
        }
        other => {
            // Only a short, printable prefix of the message is kept, since
            // it ends up in the log's own error messages.
            let message: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
            Err(ClientError::Refused { status: other.as_u16(), message })
        }
    }
}

/// Reads a response body of at most [`MAX_RESPONSE_LEN`] bytes, chunk by
/// chunk, so that a witness streaming an endless body cannot exhaust memory.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    if response.content_length().is_some_and(|len| len > MAX_RESPONSE_LEN as u64) {
        return Err(ClientError::MalformedResponse("the response is too large"));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_LEN {
            return Err(ClientError::MalformedResponse("the response is too large"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Appends cosignature `lines` to the signature block of `signed_note`, so
/// the checkpoint a log serves carries them. A line already present is not
/// repeated; every line must be a well-formed note signature line.
pub fn attach_cosignatures(signed_note: &str, lines: &[String]) -> Result<String, ClientError> {
    let mut note = Note::parse(signed_note.as_bytes())?;
    for line in lines {
        let line = line.strip_suffix('\n').unwrap_or(line);
        // Parsing the line as the signature block of a one-line note reuses
        // the ledger's strict signature-line parser.
        let one = Note::parse(format!("x\n\n{line}\n").as_bytes())?;
        let [sig] = one.signatures.as_slice() else {
            return Err(ClientError::MalformedResponse("a cosignature is exactly one signature line"));
        };
        if note.signatures.contains(sig) {
            continue;
        }
        if note.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures { max: MAX_SIGNATURES }.into());
        }
        note.signatures.push(sig.clone());
    }
    Ok(note.to_string())
}

#[cfg(test)]
mod tests {
    use rampart_ledger::{Checkpoint, Signer, leaf_hash};

    use super::*;
    use crate::cosignature::{CosignerKey, cosign, verify_cosignature};

    #[test]
    fn attached_cosignatures_verify_and_leave_the_log_signature_intact() {
        let signer = Signer::generate("example.com/log").unwrap();
        let checkpoint = Checkpoint::new("example.com/log", 3, leaf_hash(b"r")).unwrap();
        let signed = checkpoint.sign(&signer).unwrap();
        let body = checkpoint.to_string();
        let w1 = CosignerKey::generate("witness.example/w1").unwrap();
        let w2 = CosignerKey::generate("witness.example/w2").unwrap();
        let lines = vec![cosign(&body, &w1, 1_700_000_000).unwrap(), cosign(&body, &w2, 1_700_000_001).unwrap()];

        let served = attach_cosignatures(&signed, &lines).unwrap();
        // Attaching again changes nothing.
        assert_eq!(attach_cosignatures(&served, &lines).unwrap(), served);
        let (opened, _) = Checkpoint::open(served.as_bytes(), "example.com/log", &[signer.verifier().clone()]).unwrap();
        assert_eq!(opened, checkpoint);
        let note = Note::parse(served.as_bytes()).unwrap();
        assert_eq!(note.signatures.len(), 3);
        let served_lines: Vec<&str> = served.lines().skip_while(|l| !l.is_empty()).skip(1).collect();
        assert_eq!(verify_cosignature(served_lines[1], &body, w1.verifier()), Ok(1_700_000_000));
        assert_eq!(verify_cosignature(served_lines[2], &body, w2.verifier()), Ok(1_700_000_001));

        for bad in ["", "not a signature", "\u{2014} w1 !!!!", "\u{2014} w1 AAAAAAAA\n\u{2014} w2 AAAAAAAA"] {
            assert!(attach_cosignatures(&signed, &[bad.to_owned()]).is_err(), "{bad:?}");
        }
        assert!(attach_cosignatures("not a note", &lines).is_err());
    }
}
