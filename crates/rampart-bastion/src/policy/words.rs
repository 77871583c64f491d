//! Turning the raw text of one simple command into words the way the shell
//! would see them after quote removal: `r''m`, `"rm"`, `\rm` and `$'\x72m'`
//! all become `rm`. Expansions the shell would perform at run time
//! (`$VAR`, `${…}`, `$(…)`, backticks) cannot be known here; they are kept
//! verbatim and the word is marked dynamic, so a policy can match them and
//! the wrapper logic never mistakes them for a literal command name.
//! Redirection operators become words of their own (`>/dev/sda` is
//! `>` `/dev/sda`) so patterns need not care about spacing.

/// One word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    /// The word contains an expansion whose value only exists at run time.
    pub dynamic: bool,
}

/// Splits raw command text into words with quotes removed.
pub(crate) fn words(raw: &str) -> Vec<Word> {
    let chars: Vec<char> = raw.chars().collect();
    let mut lexer = Lexer { chars: &chars, pos: 0, out: Vec::new(), cur: String::new(), open: false, dynamic: false };
    lexer.run();
    lexer.out
}

struct Lexer<'a> {
    chars: &'a [char],
    pos: usize,
    out: Vec<Word>,
    cur: String,
    /// A word has started, even if it is still empty (`''` is a word).
    open: bool,
    dynamic: bool,
}

impl Lexer<'_> {
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

    fn end_word(&mut self) {
        if self.open {
            self.out.push(Word { text: std::mem::take(&mut self.cur), dynamic: self.dynamic });
        }
        self.open = false;
        self.dynamic = false;
    }

    fn run(&mut self) {
        while let Some(c) = self.bump() {
            match c {
                ' ' | '\t' | '\n' | '\r' => self.end_word(),
                '\'' => {
                    self.open = true;
                    while let Some(q) = self.bump() {
                        if q == '\'' {
                            break;
                        }
                        self.cur.push(q);
                    }
                }
                '"' => {
                    self.open = true;
                    self.double_quoted();
                }
                '\\' => {
                    self.open = true;
                    if let Some(n) = self.bump() {
                        self.cur.push(n);
                    }
                }
                '$' if self.peek() == Some('\'') => {
                    self.open = true;
                    self.pos += 1;
                    self.ansi_quoted();
                }
                '$' if self.peek() == Some('"') => {
                    self.open = true;
                    self.pos += 1;
                    self.double_quoted();
                }
                '$' => {
                    self.open = true;
                    self.dollar();
                }
                '`' => {
                    self.open = true;
                    self.backtick();
                }
                '<' | '>' if self.peek() == Some('(') => {
                    self.open = true;
                    self.cur.push(c);
                    self.balanced('(', ')');
                }
                '<' | '>' => self.redirection(c),
                _ => {
                    self.open = true;
                    self.cur.push(c);
                }
            }
        }
        self.end_word();
    }

    /// Inside double quotes a backslash only escapes `$`, `` ` ``, `"`, `\`
    /// and newline; expansions still happen.
    fn double_quoted(&mut self) {
        while let Some(c) = self.bump() {
            match c {
                '"' => return,
                '\\' => match self.bump() {
                    Some('\n') => {}
                    Some(n @ ('$' | '`' | '"' | '\\')) => self.cur.push(n),
                    Some(n) => {
                        self.cur.push('\\');
                        self.cur.push(n);
                    }
                    None => self.cur.push('\\'),
                },
                '$' => self.dollar(),
                '`' => self.backtick(),
                _ => self.cur.push(c),
            }
        }
    }

    /// Handles the text after a `$`: a substitution, a parameter, or a
    /// plain dollar sign.
    fn dollar(&mut self) {
        match self.peek() {
            Some('(') => {
                self.cur.push('$');
                self.balanced('(', ')');
                self.dynamic = true;
            }
            Some('{') => {
                self.cur.push('$');
                self.balanced('{', '}');
                self.dynamic = true;
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                self.cur.push('$');
                while let Some(n) = self.peek().filter(|n| n.is_ascii_alphanumeric() || *n == '_') {
                    self.cur.push(n);
                    self.pos += 1;
                }
                self.dynamic = true;
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.cur.push('$');
                self.cur.push(c);
                self.pos += 1;
                self.dynamic = true;
            }
            _ => self.cur.push('$'),
        }
    }

    fn backtick(&mut self) {
        self.cur.push('`');
        while let Some(c) = self.bump() {
            self.cur.push(c);
            match c {
                '\\' => {
                    if let Some(n) = self.bump() {
                        self.cur.push(n);
                    }
                }
                '`' => break,
                _ => {}
            }
        }
        self.dynamic = true;
    }

    /// Copies a bracketed expansion verbatim, counting nesting and skipping
    /// quoted text so a `)` inside quotes does not close it.
    fn balanced(&mut self, open: char, close: char) {
        let mut depth = 0usize;
        while let Some(c) = self.bump() {
            self.cur.push(c);
            if c == open {
                depth += 1;
            } else if c == close {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return;
                }
            } else if c == '\'' || c == '"' {
                while let Some(q) = self.bump() {
                    self.cur.push(q);
                    if q == c {
                        break;
                    }
                }
            } else if c == '\\'
                && let Some(n) = self.bump()
            {
                self.cur.push(n);
            }
        }
    }

    /// A redirection operator (with an optional file-descriptor number in
    /// front, as in `2>&1`) becomes a word of its own.
    fn redirection(&mut self, first: char) {
        let fd_prefix =
            self.open && !self.dynamic && !self.cur.is_empty() && self.cur.chars().all(|c| c.is_ascii_digit());
        let mut op = if fd_prefix { std::mem::take(&mut self.cur) } else { String::new() };
        if !fd_prefix {
            self.end_word();
        }
        self.open = false;
        self.cur.clear();
        op.push(first);
        while let Some(n) = self.peek().filter(|n| matches!(n, '<' | '>' | '&' | '|' | '-')) {
            op.push(n);
            self.pos += 1;
        }
        self.out.push(Word { text: op, dynamic: false });
    }

    /// Decodes bash's `$'…'` quoting, which turns escapes into characters:
    /// `$'\x72\x6d'` is `rm`.
    fn ansi_quoted(&mut self) {
        while let Some(c) = self.bump() {
            match c {
                '\'' => return,
                '\\' => self.ansi_escape(),
                _ => self.cur.push(c),
            }
        }
    }

    fn ansi_escape(&mut self) {
        let Some(c) = self.bump() else {
            self.cur.push('\\');
            return;
        };
        let simple = match c {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'e' | 'E' => Some('\x1b'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' | '\'' | '"' | '?' => Some(c),
            _ => None,
        };
        if let Some(s) = simple {
            self.cur.push(s);
            return;
        }
        let decoded = match c {
            '0'..='7' => {
                self.pos -= 1;
                self.number(8, 3)
            }
            'x' => self.number(16, 2),
            'u' => self.number(16, 4),
            'U' => self.number(16, 8),
            'c' => self.bump().map(|n| u32::from(n) & 0x1f),
            _ => None,
        };
        match decoded.and_then(char::from_u32) {
            Some(d) => self.cur.push(d),
            None => {
                // Bash keeps an escape it does not understand as typed.
                self.cur.push('\\');
                self.cur.push(c);
            }
        }
    }

    fn number(&mut self, radix: u32, max_digits: usize) -> Option<u32> {
        let mut value: Option<u32> = None;
        for _ in 0..max_digits {
            let Some(d) = self.peek().and_then(|c| c.to_digit(radix)) else { break };
            self.pos += 1;
            value = Some(value.unwrap_or(0).saturating_mul(radix).saturating_add(d));
        }
        value
    }
}
