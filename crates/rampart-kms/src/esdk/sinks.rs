//! Decryption that hands out plaintext only after the whole message,
//! signature included, has verified: into memory ([`decrypt_to_vec`]) or
//! into a file that appears under its name only on success
//! ([`decrypt_to_path`]). These are what callers should use unless they can
//! themselves throw away everything [`decrypt`] wrote when it fails.

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::{DataKeyProvider, EsdkError, Limits, Summary, decrypt};

/// Decrypts a whole message into memory and returns the plaintext only if
/// every check passed; on error the partial plaintext is zeroized. Memory
/// grows with the plaintext, so this suits small messages.
pub fn decrypt_to_vec<P, R>(
    provider: &P,
    reader: R,
    limits: &Limits,
) -> Result<(Zeroizing<Vec<u8>>, Summary), EsdkError>
where
    P: DataKeyProvider + ?Sized,
    R: Read,
{
    let mut sink = ZeroizingSink(Zeroizing::new(Vec::new()));
    let summary = decrypt(provider, reader, &mut sink, limits)?;
    Ok((sink.0, summary))
}

/// Decrypts a message into the file `dest`, with constant memory. The
/// plaintext goes to a new, owner-only (0600) temporary file beside `dest`,
/// which is synced and renamed over `dest` only after the message, signature
/// included, verified; on any error it is removed and `dest` is untouched.
pub fn decrypt_to_path<P, R>(provider: &P, reader: R, dest: &Path, limits: &Limits) -> Result<Summary, EsdkError>
where
    P: DataKeyProvider + ?Sized,
    R: Read,
{
    let temp = temp_path(dest)?;
    let result = decrypt_into_new_file(provider, reader, &temp, limits).and_then(|summary| {
        fs::rename(&temp, dest)?;
        Ok(summary)
    });
    if result.is_err() {
        // Best effort: the file holds unverified plaintext, but failing to
        // remove it must not hide the error that matters.
        let _ = fs::remove_file(&temp);
    }
    result
}

fn decrypt_into_new_file<P, R>(provider: &P, reader: R, temp: &Path, limits: &Limits) -> Result<Summary, EsdkError>
where
    P: DataKeyProvider + ?Sized,
    R: Read,
{
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = BufWriter::new(options.open(temp)?);
    let summary = decrypt(provider, reader, &mut file, limits)?;
    file.into_inner().map_err(|e| EsdkError::Io(e.into_error()))?.sync_all()?;
    Ok(summary)
}

/// A hidden name beside `dest` with a random suffix, so concurrent runs and
/// stale leftovers never collide (`create_new` refuses an existing file).
fn temp_path(dest: &Path) -> Result<PathBuf, EsdkError> {
    let name = dest.file_name().ok_or_else(|| {
        EsdkError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the destination has no file name"))
    })?;
    let mut suffix = [0u8; 8];
    SystemRandom::new().fill(&mut suffix)?;
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}.partial", data_encoding::HEXLOWER.encode(&suffix)));
    Ok(dest.with_file_name(temp))
}

/// A growable buffer that zeroizes every allocation it leaves behind,
/// which a plain `Vec` does not do when it reallocates.
struct ZeroizingSink(Zeroizing<Vec<u8>>);

impl Write for ZeroizingSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let needed = self.0.len().saturating_add(bytes.len());
        if needed > self.0.capacity() {
            let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(self.0.capacity().saturating_mul(2))));
            grown.extend_from_slice(&self.0);
            // The old buffer is zeroized as it drops here.
            self.0 = grown;
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroizing_sink_keeps_all_bytes_across_growth() {
        let mut sink = ZeroizingSink(Zeroizing::new(Vec::new()));
        let mut expected = Vec::new();
        for i in 0..200u16 {
            let chunk = vec![i as u8; usize::from(i)];
            sink.write_all(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
        }
        assert_eq!(sink.0.as_slice(), expected.as_slice());
    }

    #[test]
    fn temp_path_is_a_hidden_sibling() {
        let temp = temp_path(Path::new("/some/dir/out.txt")).unwrap();
        assert_eq!(temp.parent(), Some(Path::new("/some/dir")));
        let name = temp.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".out.txt.") && name.ends_with(".partial"), "{name}");
        assert_ne!(temp, temp_path(Path::new("/some/dir/out.txt")).unwrap());
        assert!(temp_path(Path::new("/")).is_err());
    }
}
