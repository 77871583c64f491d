//! Command red lines in the live proxy: the policy set from
//! `[bastion] red_lines` (a TOML file in the format of
//! `crates/rampart-bastion/RED-LINES.md`), and the per-channel gate that
//! holds each Enter of an interactive shell until the line it submits has
//! been decided and recorded.
//!
//! The gate follows the keystrokes with the line tracker and the target's
//! output with the line tracker's mode detection and the vt100 screen. For
//! a line the tracker is sure of, the tracker's text is decided; for an
//! uncertain one (completion, history, unknown keys, full-screen programs)
//! both the tracker's text and the command read off the screen are
//! decided, and the more severe verdict wins. Every submitted line becomes
//! a `bastion.command` event in the ledger *before* its Enter reaches the
//! target; if that record cannot be made, the line is refused.
//!
//! `review` pauses an interactive session: the line waits in a review
//! (`crate::reviews`) until a reviewer other than the requester approves
//! it, or is refused when denied or when the time runs out. An exec
//! command has no terminal to pause, so a `review` verdict refuses it,
//! saying to run it interactively.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rampart_bastion::linetrack::{Doubts, LineTracker, Shell};
use rampart_bastion::policy::{Action as Verdict, ActionKind, Decision, PolicyConfig, PolicySet, Subject};
use rampart_bastion::screen::ScreenTracker;

/// The largest red-line file read, in bytes.
const MAX_FILE: u64 = 4 << 20;

/// Loads and compiles the red lines; `None` is the empty set (accept
/// everything). Every problem in the file is reported, with the policy it
/// is in.
pub fn load(path: Option<&Path>) -> Result<PolicySet, String> {
    let Some(path) = path else {
        return PolicySet::compile(&PolicyConfig::default()).map_err(|e| e.to_string());
    };
    let shown = path.display();
    let size = std::fs::metadata(path).map_err(|e| format!("bastion.red_lines {shown}: {e}"))?.len();
    if size > MAX_FILE {
        return Err(format!("bastion.red_lines {shown}: the file is larger than {MAX_FILE} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("bastion.red_lines {shown}: {e}"))?;
    let config: PolicyConfig = toml::from_str(&text).map_err(|e| format!("bastion.red_lines {shown}: {e}"))?;
    PolicySet::compile(&config).map_err(|e| format!("bastion.red_lines {shown}: {e}"))
}

/// Who is typing where, as the policies scope it.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub user: String,
    pub groups: Vec<String>,
    pub target: String,
    pub target_labels: BTreeMap<String, String>,
}

impl Scope {
    fn subject(&self) -> Subject<'_> {
        Subject { user: &self.user, groups: &self.groups, target: &self.target, target_labels: &self.target_labels }
    }
}

/// The verdict on one submitted line, with what the audit trail records.
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// The decision that applies (the more severe of tracker and screen).
    pub decision: Decision,
    /// The line as the keystrokes built it.
    pub line: String,
    /// The command read off the screen, when the line was uncertain.
    pub screen: Option<String>,
    pub certain: bool,
    pub doubts: Vec<&'static str>,
}

impl Verdicts {
    /// Whether the Enter may reach the target.
    pub fn lets_through(&self) -> bool {
        matches!(self.decision.action, Verdict::Accept | Verdict::Warn)
    }

    pub fn action_name(&self) -> &'static str {
        match self.decision.action.kind() {
            ActionKind::Accept => "accept",
            ActionKind::Warn => "warn",
            ActionKind::Review => "review",
            ActionKind::Reject => "reject",
        }
    }

    /// What the administrator is told when the line is refused.
    pub fn refusal(&self) -> String {
        let policy = self.decision.policy_id.as_deref().unwrap_or("default");
        let why = match self.decision.action {
            Verdict::Review { .. } => format!(
                "needs a reviewer's approval ({}), which a command without a terminal cannot wait for; \
                 run it in an interactive shell",
                self.decision.reason
            ),
            _ => self.decision.reason.clone(),
        };
        format!("\r\nrampart: command refused by red line {policy:?}: {why}\r\n")
    }
}

/// Decides `line` (and, if given, the command read off the screen) for
/// `scope`: the more severe verdict wins.
pub fn decide(set: &PolicySet, scope: &Scope, line: &str, screen: Option<&str>) -> Decision {
    let typed = set.decide(&scope.subject(), line);
    match screen {
        Some(seen) if seen != line => {
            let shown = set.decide(&scope.subject(), seen);
            if shown.action.kind() > typed.action.kind() { shown } else { typed }
        }
        _ => typed,
    }
}

fn doubt_names(d: &Doubts) -> Vec<&'static str> {
    let all = [
        (d.completion, "completion"),
        (d.history, "history"),
        (d.unknown_key, "unknown_key"),
        (d.overflow, "overflow"),
        (d.invalid_utf8, "invalid_utf8"),
        (d.full_screen, "full_screen"),
        (d.unexpected_paste, "unexpected_paste"),
    ];
    all.into_iter().filter_map(|(on, name)| on.then_some(name)).collect()
}

/// What the handler does with one piece of client input.
#[derive(Debug)]
pub enum Step {
    /// Send these bytes to the target.
    Forward(Vec<u8>),
    /// A line was submitted: decide it; send `enter` only if it passes.
    Submit { verdicts: Box<Verdicts>, enter: Vec<u8> },
}

/// The gate of one interactive channel. Shared by the handler (input) and
/// the pump (output); every critical section is short and never awaits.
#[derive(Debug, Clone)]
pub struct Gate {
    inner: Arc<Mutex<Trackers>>,
    policies: Arc<PolicySet>,
    scope: Arc<Scope>,
}

#[derive(Debug)]
struct Trackers {
    line: LineTracker,
    screen: ScreenTracker,
}

impl Gate {
    pub fn new(policies: Arc<PolicySet>, scope: Scope, cols: u32, rows: u32) -> Gate {
        let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        Gate {
            inner: Arc::new(Mutex::new(Trackers {
                line: LineTracker::new(Shell::Bash),
                screen: ScreenTracker::new(clamp(rows), clamp(cols)),
            })),
            policies,
            scope: Arc::new(scope),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Trackers> {
        // Trackers hold no invariant a panic elsewhere could break halfway.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows the target's output.
    pub fn output(&self, data: &[u8]) {
        let mut t = self.lock();
        t.line.feed_output(data);
        t.screen.process(data);
    }

    pub fn resize(&self, cols: u32, rows: u32) {
        let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        self.lock().screen.resize(clamp(rows), clamp(cols));
    }

    /// Splits the client's input at each Enter and decides each line.
    pub fn input(&self, data: &[u8]) -> Vec<Step> {
        let mut t = self.lock();
        t.screen.note_input();
        let actions = t.line.feed(data);
        let mut steps = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                rampart_bastion::linetrack::Action::Forward(bytes) => steps.push(Step::Forward(bytes)),
                rampart_bastion::linetrack::Action::Submit { line, certain, held_enter, doubts, pasted: _ } => {
                    let seen = t.screen.command_at_enter().command;
                    let screen = (!certain).then_some(seen);
                    let decision = decide(&self.policies, &self.scope, &line, screen.as_deref());
                    let verdicts = Verdicts { decision, line, screen, certain, doubts: doubt_names(&doubts) };
                    steps.push(Step::Submit { verdicts: Box::new(verdicts), enter: held_enter });
                }
            }
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(toml_text: &str) -> Arc<PolicySet> {
        let config: PolicyConfig = toml::from_str(toml_text).unwrap();
        Arc::new(PolicySet::compile(&config).unwrap())
    }

    const POLICIES: &str = r#"
[[policies]]
id = "no-touch-marker"
description = "the test's forbidden marker"
action = "reject"
regex = ['^touch .*forbidden']

[[policies]]
id = "warn-echo"
action = "warn"
glob = ["echo warned*"]

[[policies]]
id = "reviewed"
action = "review"
glob = ["systemctl restart *"]
"#;

    fn gate() -> Gate {
        let scope = Scope { user: "admin".into(), target: "db".into(), ..Scope::default() };
        Gate::new(set(POLICIES), scope, 80, 24)
    }

    fn submitted(steps: &[Step]) -> Vec<(&str, &'static str)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Submit { verdicts, .. } => Some((verdicts.line.as_str(), verdicts.action_name())),
                Step::Forward(_) => None,
            })
            .collect()
    }

    #[test]
    fn each_enter_is_held_and_decided() {
        let g = gate();
        let steps = g.input(b"touch /tmp/forbidden\r");
        assert_eq!(submitted(&steps), vec![("touch /tmp/forbidden", "reject")]);
        let Step::Submit { verdicts, enter } = &steps[1] else { panic!("{steps:?}") };
        assert_eq!(enter, b"\r");
        assert!(!verdicts.lets_through());
        assert!(verdicts.refusal().contains("no-touch-marker"), "{}", verdicts.refusal());
        let steps = g.input(b"echo warned-1\rls -l\r");
        assert_eq!(submitted(&steps), vec![("echo warned-1", "warn"), ("ls -l", "accept")]);
        // Review cannot be asked for yet: refused, and the reason says so.
        let steps = g.input(b"systemctl restart nginx\r");
        let Step::Submit { verdicts, .. } = &steps[1] else { panic!("{steps:?}") };
        assert_eq!(verdicts.action_name(), "review");
        assert!(!verdicts.lets_through());
        assert!(verdicts.refusal().contains("reviewer"), "{}", verdicts.refusal());
    }

    #[test]
    fn evasions_by_editing_and_wrappers_are_seen() {
        let g = gate();
        // Typed with a typo fixed by backspace, and wrapped in sudo.
        let steps = g.input(b"sudo touch /tmp/forbiddem\x7fn\r");
        assert_eq!(submitted(&steps), vec![("sudo touch /tmp/forbidden", "reject")]);
        // Split over several reads.
        assert!(submitted(&g.input(b"touch /tmp/for")).is_empty());
        assert_eq!(submitted(&g.input(b"bidden\r")), vec![("touch /tmp/forbidden", "reject")]);
    }

    #[test]
    fn an_uncertain_line_is_also_decided_as_the_screen_shows_it() {
        let set = set(POLICIES);
        let scope = Scope::default();
        // The keystrokes say "touch /tmp/x" (say, after a completion), the
        // screen says the forbidden command: the severer verdict wins.
        let d = decide(&set, &scope, "touch /tmp/x", Some("touch /tmp/forbidden"));
        assert_eq!(d.policy_id.as_deref(), Some("no-touch-marker"));
        let d = decide(&set, &scope, "touch /tmp/forbidden", Some("ls"));
        assert_eq!(d.policy_id.as_deref(), Some("no-touch-marker"));
        assert_eq!(decide(&set, &scope, "ls", None).action, Verdict::Accept);
    }

    #[test]
    fn loading_reports_every_problem_and_refuses_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("red-lines.toml");
        std::fs::write(&path, "[[policies]]\nid = \"bad\"\naction = \"reject\"\nregex = ['(']\n").unwrap();
        let e = load(Some(&path)).unwrap_err();
        assert!(e.contains("bad") && e.contains("red-lines.toml"), "{e}");
        std::fs::write(&path, "policies = 3").unwrap();
        assert!(load(Some(&path)).is_err());
        assert!(load(Some(&dir.path().join("missing.toml"))).unwrap_err().contains("missing.toml"));
        let big = vec![b'#'; usize::try_from(MAX_FILE).unwrap() + 1];
        std::fs::write(&path, big).unwrap();
        assert!(load(Some(&path)).unwrap_err().contains("larger"));
        std::fs::write(&path, POLICIES).unwrap();
        assert_eq!(
            load(Some(&path)).unwrap().decide(&Scope::default().subject(), "touch forbidden").action,
            Verdict::Reject
        );
        assert_eq!(load(None).unwrap().default_action(), Verdict::Accept);
    }
}
