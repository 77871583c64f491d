//! Shell-style glob patterns (`*`, `?`, `[a-z]`, `[!x]`, `\*`) translated
//! into anchored regular expressions, so both pattern kinds share one
//! matching engine with linear-time guarantees. A glob must match the whole
//! normalised command; unlike in file names, `*` also matches `/` and spaces.

/// Why a glob could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// A `[` was never closed.
    #[error("unclosed `[` at character {0}")]
    UnclosedClass(usize),
    /// The pattern ends in a lone backslash.
    #[error("pattern ends with a lone backslash")]
    TrailingBackslash,
}

/// Translates a glob into an anchored regular expression.
pub fn to_regex(glob: &str) -> Result<String, GlobError> {
    let chars: Vec<char> = glob.chars().collect();
    let mut re = String::from("(?s)^");
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '\\' => {
                let Some(&n) = chars.get(i) else { return Err(GlobError::TrailingBackslash) };
                i += 1;
                re.push_str(&regex::escape(n.encode_utf8(&mut [0; 4])));
            }
            '[' => i = class(&chars, i, &mut re)?,
            _ => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    Ok(re)
}

/// Translates a bracket expression starting after its `[`; returns the
/// index after its `]`. Every member is escaped, because the regex crate
/// gives `&&`, `--` and `~~` meanings inside classes that globs lack.
fn class(chars: &[char], start: usize, re: &mut String) -> Result<usize, GlobError> {
    let mut i = start;
    re.push('[');
    if matches!(chars.get(i), Some('!' | '^')) {
        re.push('^');
        i += 1;
    }
    let first = i;
    loop {
        let Some(&c) = chars.get(i) else { return Err(GlobError::UnclosedClass(start - 1)) };
        // A `]` right after the opening bracket is a member, as in the shell.
        if c == ']' && i > first {
            re.push(']');
            return Ok(i + 1);
        }
        let literal = c != '-' || i == first || chars.get(i + 1) == Some(&']');
        if literal {
            re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
        } else {
            re.push('-');
        }
        i += 1;
    }
}
