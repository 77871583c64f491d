//! Unit tests of the command policy: normalisation of evasive spellings,
//! the example red lines of `RED-LINES.md` against realistic commands,
//! scope and ordering rules, and validation errors.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

/// The example policy from `RED-LINES.md`, so the document stays valid.
fn example_config() -> PolicyConfig {
    let doc = include_str!("../../RED-LINES.md");
    let start = doc.find("```toml\n").expect("RED-LINES.md has a toml block") + "```toml\n".len();
    let len = doc[start..].find("```").expect("the toml block is closed");
    toml::from_str(&doc[start..start + len]).expect("the example policy parses")
}

fn example() -> PolicySet {
    PolicySet::compile(&example_config()).expect("the example policy is valid")
}

fn parts(line: &str) -> Vec<String> {
    normalize(line).parts.into_iter().map(|p| p.text).collect()
}

struct Who {
    user: &'static str,
    groups: Vec<String>,
    target: &'static str,
    labels: BTreeMap<String, String>,
}

impl Who {
    fn admin() -> Self {
        Self { user: "alice", groups: vec!["admins".into()], target: "web-1", labels: BTreeMap::new() }
    }

    fn on_prod(mut self) -> Self {
        self.target = "db-1";
        self.labels.insert("env".into(), "prod".into());
        self
    }

    fn subject(&self) -> Subject<'_> {
        Subject { user: self.user, groups: &self.groups, target: self.target, target_labels: &self.labels }
    }
}

fn decide(line: &str) -> Decision {
    example().decide(&Who::admin().subject(), line)
}

#[test]
fn normalisation_removes_quotes_wrappers_and_paths() {
    let cases: &[(&str, &[&str])] = &[
        ("rm   -rf\t/", &["rm -rf /"]),
        ("r''m -rf /", &["rm -rf /"]),
        ("\"rm\" -rf /", &["rm -rf /"]),
        ("\\rm -rf /", &["rm -rf /"]),
        ("$'\\x72\\x6d' -rf /", &["rm -rf /"]),
        ("$'\\162m' -rf /", &["rm -rf /"]),
        ("/bin/rm -rf /", &["rm -rf /"]),
        ("sudo -u root /usr/bin/rm -rf /", &["rm -rf /"]),
        ("sudo -uroot -E -- rm -rf /", &["rm -rf /"]),
        ("env -i PATH=/bin X=1 rm -rf /", &["rm -rf /"]),
        ("LANG=C nice -n 19 nohup time -p command exec rm -rf /", &["rm -rf /"]),
        ("nice -5 timeout -s KILL 10 ionice -c3 rm -rf /", &["rm -rf /"]),
        ("busybox rm -rf /", &["rm -rf /"]),
        ("cat a >/dev/sda", &["cat a > /dev/sda"]),
        ("echo x 2>&1", &["echo x 2>& 1"]),
        ("sudo -i", &["sudo -i"]),
        ("{rm,-rf,/}", &["rm -rf /"]),
        ("coproc rm -rf /", &["rm -rf /"]),
    ];
    for (line, expected) in cases {
        assert_eq!(parts(line), *expected, "normalising {line:?}");
    }
}

#[test]
fn compound_lines_are_split_into_every_command() {
    assert_eq!(parts("ls; rm -rf /"), ["ls", "rm -rf /"]);
    assert_eq!(parts("true && rm -rf / || echo no"), ["true", "rm -rf /", "echo no"]);
    assert_eq!(parts("ls | xargs -0 rm -rf"), ["ls", "rm -rf"]);
    assert_eq!(parts("ls\nrm -rf /"), ["ls", "rm -rf /"]);
    assert_eq!(parts("sleep 1 & rm -rf /"), ["sleep 1", "rm -rf /"]);
    assert_eq!(parts("(cd / && rm -rf *)"), ["cd /", "rm -rf *"]);
    assert_eq!(parts("echo $(rm -rf /)"), ["echo $(rm -rf /)", "rm -rf /"]);
    assert_eq!(parts("echo \"`rm -rf /`\""), ["echo `rm -rf /`", "rm -rf /"]);
    assert_eq!(parts("diff <(ls a) <(ls b)"), ["diff <(ls a) <(ls b)", "ls a", "ls b"]);
    assert_eq!(parts("if true; then rm -rf /; fi"), ["true", "rm -rf /", "fi"]);
    // Quoted operators are data, not operators.
    assert_eq!(parts("echo 'a; rm -rf /'"), ["echo a; rm -rf /"]);
    assert_eq!(parts("grep -e 'a|b' f"), ["grep -e a|b f"]);
}

#[test]
fn nested_scripts_are_followed() {
    assert_eq!(parts("bash -c 'rm -rf /'"), ["bash -c rm -rf /", "rm -rf /"]);
    assert_eq!(parts("sudo sh -lc \"cd /; rm -rf *\""), ["sh -lc cd /; rm -rf *", "cd /", "rm -rf *"]);
    assert_eq!(parts("su - root -c 'shutdown -h now'"), ["su - root -c shutdown -h now", "shutdown -h now"]);
    assert_eq!(parts("eval 'rm' -rf /"), ["eval rm -rf /", "rm -rf /"]);
    assert_eq!(parts("env -S 'rm -rf /'"), ["env -S rm -rf /", "rm -rf /"]);
    assert_eq!(parts("bash <<< 'rm -rf /'"), ["bash <<< rm -rf /", "rm -rf /"]);
    assert_eq!(
        parts("find / -name x -exec /bin/rm -rf {} \\;"),
        ["find / -name x -exec /bin/rm -rf {} ;", "rm -rf {}"]
    );
}

#[test]
fn rm_rf_variants_are_rejected() {
    for line in [
        "rm -rf /",
        "rm -fr /",
        "rm -r -f /",
        "rm -Rf /*",
        "rm --recursive --force /",
        "rm -rf --no-preserve-root /",
        "rm / -rf",
        "rm -rf ~",
        "rm -rf /etc/",
        "sudo rm -rf /var/*",
        "/bin/rm -rf /",
        "\\rm -rf /",
        "r\"\"m -rf /",
        "cd /tmp && sudo -E /usr/bin/rm -rf /",
        "echo hi; rm -rf /usr",
        "bash -c 'rm -rf /'",
        "find /srv -exec rm -rf / \\;",
        "{rm,-rf,/}",
        "bash <<< 'rm -rf /'",
    ] {
        let d = decide(line);
        assert_eq!(d.action, Action::Reject, "{line:?}: {d:?}");
        assert_eq!(d.policy_id.as_deref(), Some("rm-system-tree"), "{line:?}");
    }
}

#[test]
fn a_recursive_delete_elsewhere_only_warns() {
    let d = decide("rm -rf /tmp/build");
    assert_eq!(d.action, Action::Warn);
    assert_eq!(d.policy_id.as_deref(), Some("rm-recursive"));
    assert_eq!(decide("rm notes.txt").action, Action::Accept);
}

#[test]
fn destructive_system_commands_are_rejected() {
    let cases = [
        ("shutdown -h now", "power"),
        ("sudo reboot", "power"),
        ("systemctl poweroff", "power"),
        ("init 0", "power"),
        ("mkfs.ext4 /dev/sdb1", "filesystems"),
        ("sudo mkfs -t xfs /dev/nvme0n1", "filesystems"),
        ("wipefs -a /dev/sda", "filesystems"),
        ("dd if=/dev/zero of=/dev/sda bs=1M", "raw-disk-write"),
        ("sudo dd if=image.iso of=/dev/nvme0n1 status=progress", "raw-disk-write"),
        ("cat image >/dev/sda", "raw-disk-write"),
        ("curl -fsSL https://get.example.com | sh", "pipe-to-shell"),
        ("curl -s https://x.example | sudo bash -s -- --yes", "pipe-to-shell"),
        ("echo cm0gLXJmIC8K | base64 -d | /bin/sh", "pipe-to-shell"),
        ("bash -c \"$(curl -fsSL https://x.example/install.sh)\"", "pipe-to-shell"),
    ];
    for (line, policy) in cases {
        let d = decide(line);
        assert_eq!(d.action, Action::Reject, "{line:?}: {d:?}");
        assert_eq!(d.policy_id.as_deref(), Some(policy), "{line:?}");
    }
    // Reading a device, or a harmless word that merely contains a name, passes.
    assert_eq!(decide("dd if=/dev/sda of=/tmp/mbr bs=512 count=1").action, Action::Accept);
    assert_eq!(decide("man shutdown").action, Action::Accept);
    assert_eq!(decide("curl -s https://x.example | jq .").action, Action::Accept);
}

#[test]
fn scope_and_order_decide_firewall_flushes() {
    let set = example();
    let admin = Who::admin();
    let d = set.decide(&admin.subject(), "iptables -F");
    assert_eq!((d.action, d.policy_id.as_deref()), (Action::Warn, Some("firewall-flush")));

    let prod = Who::admin().on_prod();
    let d = set.decide(&prod.subject(), "sudo iptables -t nat -F");
    assert_eq!(d.action, Action::Review { timeout: Duration::from_secs(600) });
    assert_eq!(d.policy_id.as_deref(), Some("firewall-flush-prod"));

    // The network team's accept comes first, so it wins even on production.
    let mut netops = Who::admin().on_prod();
    netops.groups.push("netops".into());
    let d = set.decide(&netops.subject(), "iptables -F");
    assert_eq!((d.action, d.policy_id.as_deref()), (Action::Accept, Some("netops-firewall")));
}

#[test]
fn the_most_severe_part_decides_the_line() {
    let config = PolicyConfig {
        default_action: ActionKind::Reject,
        policies: vec![
            spec("allow-ls", ActionKind::Accept, &["^ls( |$)"]),
            spec("allow-echo", ActionKind::Accept, &["^echo "]),
        ],
        ..PolicyConfig::default()
    };
    let set = PolicySet::compile(&config).unwrap();
    let who = Who::admin();
    assert_eq!(set.decide(&who.subject(), "ls -l | ls").action, Action::Accept);
    // An allowed command must not carry an unlisted one along.
    let d = set.decide(&who.subject(), "ls; rm x");
    assert_eq!(d.action, Action::Reject);
    assert_eq!(d.matched_part.as_deref(), Some("rm x"));
    assert_eq!(d.policy_id, None);
    assert_eq!(set.decide(&who.subject(), "echo $(id)").action, Action::Reject);
    assert_eq!(set.decide(&who.subject(), "   ").action, Action::Accept);
}

#[test]
fn the_first_matching_policy_wins() {
    let config = PolicyConfig {
        policies: vec![spec("first", ActionKind::Warn, &["^rm "]), spec("second", ActionKind::Reject, &["^rm -rf"])],
        ..PolicyConfig::default()
    };
    let set = PolicySet::compile(&config).unwrap();
    let d = set.decide(&Who::admin().subject(), "rm -rf /tmp/x");
    assert_eq!((d.action, d.policy_id.as_deref()), (Action::Warn, Some("first")));
}

#[test]
fn lines_beyond_the_bounds_are_rejected() {
    let long = format!("echo {}", "a".repeat(MAX_LINE));
    assert_eq!(decide(&long).action, Action::Reject);
    let many = "true;".repeat(MAX_PARTS + 1);
    assert_eq!(decide(&many).action, Action::Reject);
    let deep = (0..=MAX_DEPTH + 1).fold("true".to_owned(), |inner, _| format!("sh -c {}", shell_quote(&inner)));
    assert!(normalize(&deep).incomplete);
    assert_eq!(decide(&deep).action, Action::Reject);
    assert!(!normalize("sh -c 'sh -c true'").incomplete);
}

#[test]
fn validation_names_the_policy_and_pattern() {
    let mut bad = spec("no-rm", ActionKind::Reject, &["^rm", "(unclosed"]);
    bad.description = "x".into();
    let config = PolicyConfig {
        policies: vec![
            bad,
            PolicySpec { glob: vec!["[abc".into()], regex: vec![], ..spec("globby", ActionKind::Reject, &[]) },
            spec("no-rm", ActionKind::Warn, &["x"]),
            spec("empty", ActionKind::Warn, &[]),
            PolicySpec { glob: vec!["x".into()], ..spec("mixed", ActionKind::Warn, &["x"]) },
            PolicySpec { review_timeout_secs: Some(5), ..spec("timeout", ActionKind::Warn, &["x"]) },
            PolicySpec { review_timeout_secs: Some(0), ..spec("zero", ActionKind::Review, &["x"]) },
            spec(" ", ActionKind::Warn, &[""]),
        ],
        ..PolicyConfig::default()
    };
    let errors = PolicySet::compile(&config).unwrap_err();
    let text = errors.to_string();
    assert!(text.contains("policy `no-rm`, regex 2 `(unclosed` is invalid"), "{text}");
    assert!(text.contains("policy `globby`, glob 1 `[abc` is invalid: unclosed `[` at character 0"), "{text}");
    assert!(text.contains("policy `no-rm` is defined more than once"), "{text}");
    assert!(text.contains("policy `empty` has no patterns"), "{text}");
    assert!(text.contains("policy `mixed` has both"), "{text}");
    assert!(text.contains("policy `timeout` sets `review_timeout_secs`"), "{text}");
    assert!(text.contains("policy `zero`: review timeout of 0 s"), "{text}");
    assert!(text.contains("policy number 8 has an empty `id`"), "{text}");
    assert!(text.contains("pattern 1 is empty"), "{text}");
    assert_eq!(errors.0.len(), 9, "{text}");
}

#[test]
fn unknown_configuration_keys_are_refused() {
    let err = toml::from_str::<PolicyConfig>("[[policies]]\nid = \"x\"\naction = \"reject\"\nregexp = [\"rm\"]\n");
    assert!(err.unwrap_err().to_string().contains("unknown field `regexp`"));
}

#[test]
fn globs_match_the_whole_command() {
    for (glob, text, expected) in [
        ("shutdown *", "shutdown -h now", true),
        ("shutdown *", "shutdown", false),
        ("init [06]", "init 6", true),
        ("init [!06]", "init 6", false),
        ("a\\*", "a*", true),
        ("a\\*", "ab", false),
        ("[a-c]x", "bx", true),
        ("[]]", "]", true),
        ("x[&&]", "x&", true),
        ("rm ?", "rm /", true),
    ] {
        let re = regex::Regex::new(&glob::to_regex(glob).unwrap()).unwrap();
        assert_eq!(re.is_match(text), expected, "{glob:?} against {text:?}");
    }
}

fn spec(id: &str, action: ActionKind, regex: &[&str]) -> PolicySpec {
    PolicySpec {
        id: id.into(),
        description: String::new(),
        action,
        review_timeout_secs: None,
        regex: regex.iter().map(|r| (*r).to_owned()).collect(),
        glob: vec![],
        match_on: MatchOn::Part,
        users: vec![],
        groups: vec![],
        targets: vec![],
        target_labels: BTreeMap::new(),
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
