//! Sigma string values: wildcard parsing with `\` escapes, the `windash`
//! and encoding transforms, and reducing a value to the cheapest shape that
//! matches it (exact, prefix, suffix, substring, or a glob regex).

use data_encoding::BASE64;

use super::modifiers::{Kind, Transform};

/// One unit of a Sigma string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// A literal character.
    Lit(char),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Parses wildcards and escapes the way pySigma does: `\*`, `\?` and `\\`
/// are literal; a backslash before anything else is itself literal.
pub fn parse_wildcards(s: &str) -> Vec<Tok> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    out.push(Tok::Lit(n));
                    chars.next();
                }
                _ => out.push(Tok::Lit('\\')),
            },
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            c => out.push(Tok::Lit(c)),
        }
    }
    out
}

/// Tokens that are all literal, for values that take no wildcards.
pub fn literal(s: &str) -> Vec<Tok> {
    s.chars().map(Tok::Lit).collect()
}

fn is_word(c: Option<Tok>) -> bool {
    matches!(c, Some(Tok::Lit(ch)) if ch.is_alphanumeric() || ch == '_')
}

/// The dash variants `windash` produces (pySigma's set).
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// `windash`: replaces each `-` or `/` that starts a word (no word character
/// before, one after) by each dash variant, the same variant throughout.
pub fn windash(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let positions: Vec<usize> = (0..toks.len())
        .filter(|&i| {
            matches!(toks[i], Tok::Lit('-' | '/'))
                && !is_word(i.checked_sub(1).map(|p| toks[p]))
                && is_word(toks.get(i + 1).copied())
        })
        .collect();
    if positions.is_empty() {
        return vec![toks.to_vec()];
    }
    DASHES
        .iter()
        .map(|&dash| {
            let mut v = toks.to_vec();
            for &p in &positions {
                v[p] = Tok::Lit(dash);
            }
            v
        })
        .collect()
}

/// A value part-way through the transforms: text, or bytes from UTF-16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Text with wildcards.
    Text(Vec<Tok>),
    /// Encoded bytes awaiting base64.
    Bytes(Vec<u8>),
}

fn plain_text(toks: &[Tok]) -> Result<String, String> {
    toks.iter()
        .map(|t| match t {
            Tok::Lit(c) => Ok(*c),
            _ => {
                Err("wildcards cannot be encoded; use contains/startswith/endswith around the encoded value"
                    .to_string())
            }
        })
        .collect()
}

fn bytes_of(data: &Data) -> Result<Vec<u8>, String> {
    match data {
        Data::Text(t) => Ok(plain_text(t)?.into_bytes()),
        Data::Bytes(b) => Ok(b.clone()),
    }
}

/// The three base64 renderings of `value` at byte offsets 0, 1 and 2 within
/// a larger encoded text, trimmed to the characters that do not depend on
/// the neighbouring bytes.
pub fn base64_offsets(value: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    let mut out = Vec::new();
    for (shift, start) in START.iter().enumerate() {
        let mut buf = vec![b' '; shift];
        buf.extend_from_slice(value);
        let enc = BASE64.encode(&buf);
        let end = match (value.len() + shift) % 3 {
            0 => enc.len(),
            1 => enc.len().saturating_sub(3),
            _ => enc.len().saturating_sub(2),
        };
        if *start < end {
            out.push(enc[*start..end].to_string());
        }
    }
    out.dedup();
    out
}

/// Applies one transform to every variant.
pub fn apply(variants: Vec<Data>, t: Transform) -> Result<Vec<Data>, String> {
    let mut out = Vec::new();
    for data in variants {
        match t {
            Transform::Windash => match &data {
                Data::Text(toks) => out.extend(windash(toks).into_iter().map(Data::Text)),
                Data::Bytes(_) => return Err("`windash` cannot apply to encoded bytes".into()),
            },
            Transform::Utf16Le | Transform::Utf16Be | Transform::Utf16 => {
                let Data::Text(toks) = &data else { return Err("value is already encoded".into()) };
                let text = plain_text(toks)?;
                let mut bytes = Vec::with_capacity(text.len() * 2 + 2);
                if t == Transform::Utf16 {
                    bytes.extend_from_slice(&[0xFF, 0xFE]);
                }
                for unit in text.encode_utf16() {
                    let pair = if t == Transform::Utf16Be { unit.to_be_bytes() } else { unit.to_le_bytes() };
                    bytes.extend_from_slice(&pair);
                }
                out.push(Data::Bytes(bytes));
            }
            Transform::Base64 => out.push(Data::Text(literal(&BASE64.encode(&bytes_of(&data)?)))),
            Transform::Base64Offset => {
                let variants = base64_offsets(&bytes_of(&data)?);
                if variants.is_empty() {
                    return Err("value too short for `base64offset`".into());
                }
                out.extend(variants.iter().map(|v| Data::Text(literal(v))));
            }
        }
    }
    Ok(out)
}

/// The cheapest way to match one string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Equal to the whole value.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Ends with.
    Suffix(String),
    /// Contains.
    Contains(String),
    /// Any text at all (`*`).
    AnyText,
    /// Needs a regex; the source is anchored.
    Glob(String),
}

/// Wraps tokens in wildcards as the match kind asks.
pub fn wrap(mut toks: Vec<Tok>, kind: Kind) -> Vec<Tok> {
    if matches!(kind, Kind::Contains | Kind::EndsWith) {
        toks.insert(0, Tok::Star);
    }
    if matches!(kind, Kind::Contains | Kind::StartsWith) {
        toks.push(Tok::Star);
    }
    toks
}

/// Classifies tokens; with `lower`, literals are lowercased for matching
/// against lowercased event text.
pub fn shape(toks: &[Tok], lower: bool) -> Shape {
    let mut t: Vec<Tok> = Vec::with_capacity(toks.len());
    for &tok in toks {
        if tok == Tok::Star && t.last() == Some(&Tok::Star) {
            continue;
        }
        t.push(tok);
    }
    let lit = |s: &[Tok]| -> Option<String> {
        s.iter().map(|t| if let Tok::Lit(c) = t { Some(*c) } else { None }).collect::<Option<String>>()
    };
    let fold = |s: String| if lower { s.to_lowercase() } else { s };
    if t == [Tok::Star] {
        return Shape::AnyText;
    }
    if let Some(s) = lit(&t) {
        return Shape::Exact(fold(s));
    }
    let starts = t.first() == Some(&Tok::Star);
    let ends = t.last() == Some(&Tok::Star) && t.len() > 1;
    let inner = &t[usize::from(starts)..t.len() - usize::from(ends)];
    if let Some(s) = lit(inner) {
        match (starts, ends) {
            (true, true) => return Shape::Contains(fold(s)),
            (true, false) => return Shape::Suffix(fold(s)),
            (false, true) => return Shape::Prefix(fold(s)),
            (false, false) => {}
        }
    }
    let mut re = String::from("(?s)^");
    for tok in &t {
        match tok {
            Tok::Lit(c) => {
                let s = c.to_string();
                re.push_str(&regex::escape(&if lower { s.to_lowercase() } else { s }));
            }
            Tok::Star => re.push_str(".*"),
            Tok::One => re.push('.'),
        }
    }
    re.push('$');
    Shape::Glob(re)
}

/// The longest run of literal characters, which any match must contain.
pub fn longest_literal(toks: &[Tok]) -> String {
    let mut best = String::new();
    let mut cur = String::new();
    for t in toks {
        if let Tok::Lit(c) = t {
            cur.push(*c);
        } else {
            if cur.len() > best.len() {
                best = std::mem::take(&mut cur);
            }
            cur.clear();
        }
    }
    if cur.len() > best.len() { cur } else { best }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(toks: &[Tok]) -> String {
        toks.iter()
            .map(|t| match t {
                Tok::Lit(c) => *c,
                Tok::Star => '*',
                Tok::One => '?',
            })
            .collect()
    }

    #[test]
    fn escapes_follow_pysigma() {
        assert_eq!(parse_wildcards(r"a\*b"), vec![Tok::Lit('a'), Tok::Lit('*'), Tok::Lit('b')]);
        assert_eq!(parse_wildcards(r"C:\Windows\*").last(), Some(&Tok::Lit('*')));
        assert_eq!(parse_wildcards(r"C:\Windows\\*"), {
            let mut v = literal(r"C:\Windows\");
            v.push(Tok::Star);
            v
        });
        assert_eq!(parse_wildcards(r"\\\\srv"), literal(r"\\srv"));
        assert_eq!(parse_wildcards(r"a\\*"), vec![Tok::Lit('a'), Tok::Lit('\\'), Tok::Star]);
        assert_eq!(parse_wildcards("a?c"), vec![Tok::Lit('a'), Tok::One, Tok::Lit('c')]);
    }

    #[test]
    fn shapes_are_the_cheapest_that_fit() {
        let s = |v: &str, k| shape(&wrap(parse_wildcards(v), k), true);
        assert_eq!(s("Cmd.EXE", Kind::Eq), Shape::Exact("cmd.exe".into()));
        assert_eq!(s("cmd", Kind::Contains), Shape::Contains("cmd".into()));
        assert_eq!(s("*cmd*", Kind::Eq), Shape::Contains("cmd".into()));
        assert_eq!(s("\\cmd.exe", Kind::EndsWith), Shape::Suffix("\\cmd.exe".into()));
        assert_eq!(s("c:\\", Kind::StartsWith), Shape::Prefix("c:\\".into()));
        assert_eq!(s("*", Kind::Eq), Shape::AnyText);
        assert_eq!(s("a*b", Kind::Eq), Shape::Glob("(?s)^a.*b$".into()));
        assert_eq!(s("a?", Kind::Contains), Shape::Glob("(?s)^.*a..*$".into()));
        assert_eq!(s("", Kind::Eq), Shape::Exact(String::new()));
    }

    #[test]
    fn windash_varies_only_flag_dashes() {
        let v = windash(&literal(" -enc x-y /c"));
        let texts: Vec<String> = v.iter().map(|t| text(t)).collect();
        assert_eq!(texts.len(), 5);
        assert!(texts.contains(&" /enc x-y /c".to_string()));
        assert!(texts.contains(&" \u{2013}enc x-y \u{2013}c".to_string()));
        assert_eq!(windash(&literal("x-y")).len(), 1);
    }

    #[test]
    fn base64offset_matches_pysigma_vectors() {
        // pySigma renders `/bin/sh` as these three offsets.
        assert_eq!(base64_offsets(b"/bin/sh"), vec!["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"]);
        assert_eq!(BASE64.encode(b"cmd"), "Y21k");
    }

    #[test]
    fn utf16_then_base64_encodes_wide_text() {
        let d = apply(vec![Data::Text(literal("cmd"))], Transform::Utf16Le).unwrap();
        assert_eq!(d, vec![Data::Bytes(vec![0x63, 0, 0x6d, 0, 0x64, 0])]);
        let d = apply(d, Transform::Base64).unwrap();
        assert_eq!(d, vec![Data::Text(literal("YwBtAGQA"))]);
        let bom = apply(vec![Data::Text(literal("a"))], Transform::Utf16).unwrap();
        assert_eq!(bom, vec![Data::Bytes(vec![0xFF, 0xFE, 0x61, 0])]);
        let be = apply(vec![Data::Text(literal("a"))], Transform::Utf16Be).unwrap();
        assert_eq!(be, vec![Data::Bytes(vec![0, 0x61])]);
    }

    #[test]
    fn encoding_wildcards_is_an_error() {
        assert!(apply(vec![Data::Text(parse_wildcards("a*b"))], Transform::Base64).is_err());
        assert!(apply(vec![Data::Text(literal(""))], Transform::Base64Offset).is_err());
    }

    #[test]
    fn longest_literal_is_found() {
        assert_eq!(longest_literal(&parse_wildcards("ab*cdef?g")), "cdef");
    }
}
