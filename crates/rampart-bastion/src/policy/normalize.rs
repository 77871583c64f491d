//! Command normalisation: from a submitted line to the list of simple
//! commands the shell would run, each in a canonical form (quotes removed,
//! wrappers and paths stripped, whitespace collapsed). Policies match these
//! forms, so trivial rewrites of a command do not slip past a red line.
//! Everything here is bounded: the input length, the number of parts and
//! the nesting of `sh -c` inside `sh -c`. When a bound cuts the work short
//! the result says so, and the policy refuses rather than guess.

use super::split::{Segment, split};
use super::words::{Word, words};
use super::wrappers::{Inner, strip};

/// Lines longer than this (in bytes) are checked only up to here.
pub const MAX_LINE: usize = 64 * 1024;
/// At most this many parts are produced for one line.
pub const MAX_PARTS: usize = 256;
/// `sh -c`, `eval` and `find -exec` are followed this deep.
pub const MAX_DEPTH: usize = 8;

/// One simple command of a line, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The canonical form that patterns match, e.g. `rm -rf /`.
    pub text: String,
    /// The text as typed, for the audit trail.
    pub raw: String,
}

/// A normalised command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// Every simple command: each top-level one followed by those nested in
    /// its arguments (`sh -c`, `eval`, `find -exec`), then the bodies of
    /// command substitutions.
    pub parts: Vec<Part>,
    /// The top-level pipeline with each command normalised and operators
    /// kept, e.g. `curl -s https://x | sh`; line-scoped patterns match this.
    pub line: String,
    /// A bound was hit, so some of the line was not examined.
    pub incomplete: bool,
}

/// Normalises a submitted command line.
pub fn normalize(command: &str) -> Normalized {
    let mut out = Normalized::default();
    let mut end = command.len().min(MAX_LINE);
    while !command.is_char_boundary(end) {
        end -= 1;
    }
    if end < command.len() {
        out.incomplete = true;
    }
    let mut line = Vec::new();
    add_script(&command[..end], 0, &mut out, Some(&mut line));
    out.line = line.join(" ");
    out
}

/// Splits a script and adds its parts. Only the outermost call collects
/// the pipeline text; nested scripts are checked part by part.
fn add_script(script: &str, depth: usize, out: &mut Normalized, mut line: Option<&mut Vec<String>>) {
    let split = split(script);
    out.incomplete |= split.incomplete;
    for Segment { raw, op, nested } in split.segments {
        let text = add_words(words(&raw), &raw, depth, out);
        if !nested && let Some(line) = line.as_deref_mut() {
            if !text.is_empty() {
                line.push(text);
            }
            if let Some(op) = op.filter(|op| *op != "\n") {
                line.push(op.to_owned());
            } else if op.is_some() {
                line.push(";".to_owned());
            }
        }
    }
}

/// Normalises one simple command, adds it (and anything nested in its
/// arguments) to the output, and returns its canonical text.
fn add_words(words: Vec<Word>, raw: &str, depth: usize, out: &mut Normalized) -> String {
    let mut inner = Vec::new();
    let stripped = strip(words, &mut inner);
    let text: Vec<&str> = stripped.iter().map(|w| w.text.as_str()).collect();
    let text = text.join(" ");
    if !text.is_empty() {
        if out.parts.len() >= MAX_PARTS {
            out.incomplete = true;
            return text;
        }
        out.parts.push(Part { text: text.clone(), raw: raw.trim().to_owned() });
    }
    for nested in inner {
        if depth >= MAX_DEPTH {
            out.incomplete = true;
            break;
        }
        match nested {
            Inner::Script(script) => add_script(&script, depth + 1, out, None),
            Inner::Words(words) => {
                let raw: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
                let raw = raw.join(" ");
                add_words(words, &raw, depth + 1, out);
            }
        }
    }
    text
}
