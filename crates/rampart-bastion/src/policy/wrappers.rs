//! Removing the words in front of a command that only change how it runs
//! (`sudo`, `env VAR=x`, `nice -n 5`, `/usr/bin/`…), so a red line written
//! for `rm` also catches `sudo -u root /bin/rm`. Commands that take another
//! command as a string (`sh -c`, `sh <<< …`, `su -c`, `eval`, `env -S`)
//! or as trailing words (`find -exec`) hand that command back to be
//! checked on its own. A brace list in command position (`{rm,-rf,/}`) is
//! expanded first, as bash would.

use super::words::Word;

/// A command found inside another one, to be normalised and checked too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inner {
    /// A string the shell will parse again (`sh -c STRING`, `eval …`).
    Script(String),
    /// Words that already form a command (`find … -exec rm {} ;`).
    Words(Vec<Word>),
}

/// Each wrapper with the short options that take an argument, the long
/// options that take one, and how many operands precede the command.
struct Wrapper {
    name: &'static str,
    short_with_arg: &'static str,
    long_with_arg: &'static [&'static str],
    operands: usize,
}

const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        name: "sudo",
        short_with_arg: "ughpCDrtUTR",
        long_with_arg: &[
            "user",
            "group",
            "host",
            "prompt",
            "close-from",
            "chdir",
            "role",
            "type",
            "other-user",
            "command-timeout",
            "chroot",
        ],
        operands: 0,
    },
    Wrapper { name: "doas", short_with_arg: "uC", long_with_arg: &[], operands: 0 },
    Wrapper { name: "env", short_with_arg: "uCS", long_with_arg: &["unset", "chdir", "split-string"], operands: 0 },
    Wrapper { name: "command", short_with_arg: "", long_with_arg: &[], operands: 0 },
    Wrapper { name: "builtin", short_with_arg: "", long_with_arg: &[], operands: 0 },
    Wrapper { name: "exec", short_with_arg: "a", long_with_arg: &[], operands: 0 },
    Wrapper { name: "nice", short_with_arg: "n", long_with_arg: &["adjustment"], operands: 0 },
    Wrapper { name: "nohup", short_with_arg: "", long_with_arg: &[], operands: 0 },
    Wrapper { name: "time", short_with_arg: "fo", long_with_arg: &["format", "output"], operands: 0 },
    Wrapper { name: "timeout", short_with_arg: "sk", long_with_arg: &["signal", "kill-after"], operands: 1 },
    Wrapper { name: "stdbuf", short_with_arg: "ioe", long_with_arg: &["input", "output", "error"], operands: 0 },
    Wrapper { name: "ionice", short_with_arg: "cn", long_with_arg: &["class", "classdata"], operands: 0 },
    Wrapper { name: "setsid", short_with_arg: "", long_with_arg: &[], operands: 0 },
    Wrapper { name: "busybox", short_with_arg: "", long_with_arg: &[], operands: 0 },
    Wrapper { name: "chroot", short_with_arg: "", long_with_arg: &["userspec", "groups"], operands: 1 },
    Wrapper {
        name: "xargs",
        short_with_arg: "aEdIiLlnPs",
        long_with_arg: &["arg-file", "delimiter", "eof", "replace", "max-lines", "max-args", "max-procs", "max-chars"],
        operands: 0,
    },
];

/// Shell keywords that may precede a simple command in a compound one.
const KEYWORDS: &[&str] = &["!", "{", "if", "then", "else", "elif", "do", "while", "until", "coproc"];

/// Shells whose `-c` option runs the next argument as a script.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "su"];

/// Strips wrappers until the first word is the real command, and collects
/// commands nested inside arguments.
pub(crate) fn strip(mut words: Vec<Word>, inner: &mut Vec<Inner>) -> Vec<Word> {
    // Every round that changes something removes a word or expands a brace
    // list into shorter words, so the total length bounds the rounds; the
    // bound only guards against a mistake in that reasoning.
    let rounds = words.iter().map(|w| w.text.len() + 1).sum::<usize>() + 1;
    for _ in 0..rounds {
        let before = words.clone();
        words = strip_once(words, inner);
        if words == before {
            break;
        }
    }
    if let Some(first) = words.first_mut() {
        basename(first);
    }
    nested_in_arguments(&words, inner);
    words
}

fn strip_once(words: Vec<Word>, inner: &mut Vec<Inner>) -> Vec<Word> {
    let Some(first) = words.first() else { return words };
    if first.dynamic {
        return words;
    }
    if let Some(mut expanded) = brace_list(first) {
        expanded.extend(words.into_iter().skip(1));
        return expanded;
    }
    let mut head = first.clone();
    basename(&mut head);
    if is_assignment(first) || KEYWORDS.contains(&head.text.as_str()) {
        return words.into_iter().skip(1).collect();
    }
    let Some(wrapper) = WRAPPERS.iter().find(|w| w.name == head.text) else { return words };
    let rest = skip_options(wrapper, &words[1..], inner);
    // `env` also takes assignments before the command.
    let skip_assignments = if wrapper.name == "env" { rest.iter().take_while(|w| is_assignment(w)).count() } else { 0 };
    let command = &rest[(skip_assignments + wrapper.operands).min(rest.len())..];
    if command.is_empty() {
        // `sudo -i` or a bare `env` runs no command given here; keep the
        // wrapper so a policy can still match it.
        return words;
    }
    command.to_vec()
}

/// Skips a wrapper's options and returns the words after them. `env -S`
/// hands its string back as a script, since env splits and runs it.
fn skip_options<'a>(wrapper: &Wrapper, args: &'a [Word], inner: &mut Vec<Inner>) -> &'a [Word] {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if text == "--" {
            return &args[i + 1..];
        }
        if arg.dynamic || !text.starts_with('-') || text == "-" && wrapper.name != "env" {
            break;
        }
        i += 1;
        if text == "-" {
            continue;
        }
        if let Some(long) = text.strip_prefix("--") {
            if wrapper.long_with_arg.contains(&long) {
                if long == "split-string"
                    && let Some(script) = args.get(i)
                {
                    inner.push(Inner::Script(script.text.clone()));
                }
                i += 1;
            } else if let Some(value) = long.strip_prefix("split-string=") {
                inner.push(Inner::Script(value.to_owned()));
            }
            continue;
        }
        // A cluster of short flags: the first flag that takes an argument
        // consumes the rest of the cluster, or the next word if none is left.
        let flags: Vec<char> = text.chars().skip(1).collect();
        if wrapper.name == "nice" && flags.iter().all(char::is_ascii_digit) {
            continue;
        }
        if let Some(at) = flags.iter().position(|f| wrapper.short_with_arg.contains(*f)) {
            let attached: String = flags[at + 1..].iter().collect();
            let value = if attached.is_empty() {
                i += 1;
                args.get(i - 1).map(|w| w.text.clone())
            } else {
                Some(attached)
            };
            if wrapper.name == "env"
                && flags[at] == 'S'
                && let Some(script) = value
            {
                inner.push(Inner::Script(script));
            }
        }
    }
    &args[i.min(args.len())..]
}

/// The scripts a shell gets as text: the operand after `-c` (which may be
/// clustered, as in `bash -lc`) and a here-string (`sh <<< "…"`).
fn shell_scripts(args: &[Word], inner: &mut Vec<Inner>) {
    let mut saw_c = false;
    let mut taken = false;
    let mut iter = args.iter();
    while let Some(word) = iter.next() {
        let text = word.text.as_str();
        match text {
            "<<<" => {
                if let Some(script) = iter.next() {
                    inner.push(Inner::Script(script.text.clone()));
                }
            }
            "--command" => saw_c = true,
            // Other long options (`--login`) and the end of options (`--`).
            _ if text.starts_with("--") => {}
            _ if text.len() > 1 && text.starts_with('-') => saw_c |= text.contains('c'),
            _ if saw_c && !taken => {
                inner.push(Inner::Script(word.text.clone()));
                taken = true;
            }
            _ => {}
        }
    }
}

/// Bash expands `{rm,-rf,/}` into the words `rm -rf /` before running
/// anything, so a brace list in command position is expanded here too.
/// Lists with nested braces are left alone; empty elements vanish as in
/// the shell.
fn brace_list(word: &Word) -> Option<Vec<Word>> {
    let list = word.text.strip_prefix('{')?.strip_suffix('}')?;
    if word.dynamic || !list.contains(',') || list.contains(['{', '}']) {
        return None;
    }
    Some(list.split(',').filter(|s| !s.is_empty()).map(|s| Word { text: s.to_owned(), dynamic: false }).collect())
}

fn is_assignment(word: &Word) -> bool {
    let Some((name, _)) = word.text.split_once('=') else { return false };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `/bin/rm` and `./rm` run a file called `rm`; compare by that name.
fn basename(word: &mut Word) {
    if word.dynamic {
        return;
    }
    if let Some((_, base)) = word.text.rsplit_once('/')
        && !base.is_empty()
    {
        word.text = base.to_owned();
    }
}

/// Finds commands carried in arguments: `sh -c`, `su -c`, `eval` and the
/// `-exec` family of `find`.
fn nested_in_arguments(words: &[Word], inner: &mut Vec<Inner>) {
    let Some(first) = words.first() else { return };
    let name = first.text.as_str();
    if name == "eval" && words.len() > 1 {
        let script: Vec<&str> = words[1..].iter().map(|w| w.text.as_str()).collect();
        inner.push(Inner::Script(script.join(" ")));
    } else if SHELLS.contains(&name) {
        shell_scripts(&words[1..], inner);
    } else if name == "find" {
        let mut iter = words.iter().skip(1);
        while let Some(word) = iter.next() {
            if matches!(word.text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                let command: Vec<Word> =
                    iter.by_ref().take_while(|w| !matches!(w.text.as_str(), ";" | "+")).cloned().collect();
                inner.push(Inner::Words(command));
            }
        }
    }
}
