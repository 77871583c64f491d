//! Splitting a command line into the simple commands a POSIX shell would
//! run. The splitter follows quoting well enough to know which `;`, `&&`,
//! `||`, `|`, `&`, newline and parenthesis are operators, and it lifts the
//! bodies of command substitutions (`$(…)`, backticks, `<(…)`, `>(…)`) out
//! as commands of their own, because the shell runs them too. It is not a
//! full shell grammar: where it is unsure it splits more rather than less,
//! so a misparse produces an extra part to check, never a hidden one.

/// One simple command as typed, with the operator that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    /// The raw text of the command, quotes and escapes untouched.
    pub raw: String,
    /// The control operator after the command, if any (`;`, `&&`, `|`, …).
    pub op: Option<&'static str>,
    /// True for bodies of command substitutions, which are not part of the
    /// top-level pipeline text.
    pub nested: bool,
}

/// Where a nested sequence stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    Paren,
    Backtick,
}

/// The result of splitting one command line.
#[derive(Debug, Default)]
pub(crate) struct Split {
    pub segments: Vec<Segment>,
    /// Set when a bound (nesting depth) stopped the splitter from looking
    /// inside some part of the line.
    pub incomplete: bool,
}

/// Nesting deeper than this is not split further; the line is then marked
/// incomplete, which the policy treats as a reason to refuse.
const MAX_NESTING: usize = 16;

/// Splits `line` into segments. Top-level segments come first, in order,
/// followed by the bodies of substitutions in the order they closed.
pub(crate) fn split(line: &str) -> Split {
    let chars: Vec<char> = line.chars().collect();
    let mut splitter = Splitter { chars: &chars, pos: 0, depth: 0, nested: Vec::new(), incomplete: false };
    let mut segments = splitter.sequence(End::Eof);
    segments.append(&mut splitter.nested);
    Split { segments, incomplete: splitter.incomplete }
}

struct Splitter<'a> {
    chars: &'a [char],
    pos: usize,
    depth: usize,
    nested: Vec<Segment>,
    incomplete: bool,
}

impl Splitter<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Consumes `c` if it is next, so two-character operators are read whole.
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn sequence(&mut self, end: End) -> Vec<Segment> {
        let mut segments = Vec::new();
        let mut cur = String::new();
        let mut parens = 0usize;
        let nested = end != End::Eof;
        let flush = |cur: &mut String, op: Option<&'static str>, segments: &mut Vec<Segment>| {
            segments.push(Segment { raw: std::mem::take(cur), op, nested });
        };
        while let Some(c) = self.bump() {
            match c {
                '\'' => {
                    cur.push(c);
                    self.single_quoted(&mut cur);
                }
                '"' => {
                    cur.push(c);
                    self.double_quoted(&mut cur);
                }
                '\\' => match self.bump() {
                    // A backslash-newline is a line continuation: both vanish.
                    Some('\n') => {}
                    Some(n) => {
                        cur.push('\\');
                        cur.push(n);
                    }
                    None => cur.push('\\'),
                },
                '$' if self.peek() == Some('\'') => {
                    cur.push('$');
                    self.pos += 1;
                    cur.push('\'');
                    self.ansi_quoted(&mut cur);
                }
                '$' | '<' | '>' if self.peek() == Some('(') => {
                    self.pos += 1;
                    cur.push(c);
                    cur.push('(');
                    self.substitution(End::Paren, &mut cur);
                }
                '`' if end == End::Backtick => break,
                '`' => {
                    cur.push('`');
                    self.substitution(End::Backtick, &mut cur);
                }
                ')' if parens == 0 && end == End::Paren => break,
                ')' => {
                    parens = parens.saturating_sub(1);
                    flush(&mut cur, Some(")"), &mut segments);
                }
                '(' => {
                    parens += 1;
                    flush(&mut cur, Some("("), &mut segments);
                }
                ';' => {
                    let op = if self.eat(';') { ";;" } else { ";" };
                    flush(&mut cur, Some(op), &mut segments);
                }
                '\n' | '\r' => flush(&mut cur, Some("\n"), &mut segments),
                // `2>&1`, `>&2` and `&>file` are redirections, not operators.
                '&' if cur.ends_with(['<', '>']) || self.peek() == Some('>') => cur.push('&'),
                '&' => {
                    let op = if self.eat('&') { "&&" } else { "&" };
                    flush(&mut cur, Some(op), &mut segments);
                }
                // `>|` overrides noclobber; it is a redirection too.
                '|' if cur.ends_with('>') => cur.push('|'),
                '|' => {
                    let op = if self.eat('|') {
                        "||"
                    } else if self.eat('&') {
                        "|&"
                    } else {
                        "|"
                    };
                    flush(&mut cur, Some(op), &mut segments);
                }
                _ => cur.push(c),
            }
        }
        flush(&mut cur, None, &mut segments);
        segments
    }

    fn single_quoted(&mut self, cur: &mut String) {
        while let Some(c) = self.bump() {
            cur.push(c);
            if c == '\'' {
                return;
            }
        }
    }

    fn ansi_quoted(&mut self, cur: &mut String) {
        while let Some(c) = self.bump() {
            cur.push(c);
            match c {
                '\\' => {
                    if let Some(n) = self.bump() {
                        cur.push(n);
                    }
                }
                '\'' => return,
                _ => {}
            }
        }
    }

    /// Double quotes do not stop substitutions: `"$(rm -rf /)"` runs rm.
    fn double_quoted(&mut self, cur: &mut String) {
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    cur.push('\\');
                    if let Some(n) = self.bump() {
                        cur.push(n);
                    }
                }
                '$' if self.peek() == Some('(') => {
                    self.pos += 1;
                    cur.push_str("$(");
                    self.substitution(End::Paren, cur);
                }
                '`' => {
                    cur.push('`');
                    self.substitution(End::Backtick, cur);
                }
                '"' => {
                    cur.push('"');
                    return;
                }
                _ => cur.push(c),
            }
        }
    }

    /// Splits the body of a substitution as a sequence of its own, records
    /// its segments as nested, and appends the raw text to the enclosing word.
    fn substitution(&mut self, end: End, cur: &mut String) {
        let start = self.pos;
        if self.depth >= MAX_NESTING {
            self.incomplete = true;
            self.skip_to(end);
        } else {
            self.depth += 1;
            let mut inner = self.sequence(end);
            self.depth -= 1;
            self.nested.append(&mut inner);
        }
        cur.extend(&self.chars[start..self.pos]);
    }

    /// Skips to the end of a substitution without splitting it, for input
    /// nested beyond the bound. Quotes are ignored here; the line is already
    /// marked incomplete, so precision no longer matters.
    fn skip_to(&mut self, end: End) {
        let mut depth = 0usize;
        while let Some(c) = self.bump() {
            match (end, c) {
                (End::Backtick, '`') => return,
                (End::Paren, '(') => depth += 1,
                (End::Paren, ')') if depth == 0 => return,
                (End::Paren, ')') => depth -= 1,
                _ => {}
            }
        }
    }
}
