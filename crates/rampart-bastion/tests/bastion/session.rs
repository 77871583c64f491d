//! A whole bastion session driven through the public API the way the proxy
//! will drive it: keys go through the line tracker, held Enters wait for
//! the policy (with the screen supplying the command when the keys are
//! not conclusive), everything is recorded, and the recording is checked
//! by parsing it back and by `asciinema cat`.

use std::io::Write;
use std::num::NonZeroU64;
use std::process::Command;
use std::time::Duration;

use rampart_bastion::linetrack::{Action, DISCARD_LINE, LineTracker, Shell};
use rampart_bastion::policy::{ActionKind, PolicyConfig, PolicySet, Subject};
use rampart_bastion::recording::{AsciicastWriter, ChunkHash, EventKind, Header, Limits, parse};
use rampart_bastion::screen::ScreenTracker;

const PROMPT: &[u8] = b"\x1b[01;32malice@db-1\x1b[00m:\x1b[01;34m~\x1b[00m$ ";

/// The example policy from `RED-LINES.md`.
pub fn example_policy() -> PolicySet {
    let doc = include_str!("../../RED-LINES.md");
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let len = doc[start..].find("```").unwrap();
    let config: PolicyConfig = toml::from_str(&doc[start..start + len]).unwrap();
    PolicySet::compile(&config).unwrap()
}

struct Proxy {
    tracker: LineTracker,
    screen: ScreenTracker,
    policy: PolicySet,
    recorder: AsciicastWriter<Vec<u8>>,
    chunks: Vec<ChunkHash>,
    clock: Duration,
    to_target: Vec<u8>,
    output: Vec<u8>,
    keys: Vec<u8>,
    /// Each decision: the line checked, the action, the policy, and
    /// whether the line came from the screen.
    decisions: Vec<(String, ActionKind, Option<String>, bool)>,
}

impl Proxy {
    fn new() -> Self {
        let header = Header {
            width: 80,
            height: 24,
            timestamp: Some(1_736_157_600),
            shell: Some("/bin/bash".into()),
            term: Some("xterm-256color".into()),
            title: Some("alice@db-1".into()),
        };
        let (recorder, chunks) = AsciicastWriter::new(Vec::new(), &header, NonZeroU64::new(256).unwrap()).unwrap();
        Self {
            tracker: LineTracker::new(Shell::Bash),
            screen: ScreenTracker::new(24, 80),
            policy: example_policy(),
            recorder,
            chunks,
            clock: Duration::ZERO,
            to_target: Vec::new(),
            output: Vec::new(),
            keys: Vec::new(),
            decisions: Vec::new(),
        }
    }

    fn tick(&mut self) -> Duration {
        self.clock += Duration::from_millis(37);
        self.clock
    }

    /// Output from the target reaches the recorder, the screen and the tracker.
    fn target_says(&mut self, bytes: &[u8]) {
        let at = self.tick();
        self.chunks.extend(self.recorder.output(at, bytes).unwrap());
        self.screen.process(bytes);
        self.tracker.feed_output(bytes);
        self.output.extend_from_slice(bytes);
    }

    /// The user types `keys`; the shell echoes `echo` for what was forwarded.
    fn type_keys(&mut self, keys: &[u8], echo: &[u8]) {
        let at = self.tick();
        self.chunks.extend(self.recorder.input(at, keys).unwrap());
        self.keys.extend_from_slice(keys);
        self.screen.note_input();
        let mut echoed = false;
        for action in self.tracker.feed(keys) {
            match action {
                Action::Forward(bytes) => self.to_target.extend(bytes),
                Action::Submit { line, certain, held_enter, .. } => {
                    // The proxy waits for the echo before reading the screen.
                    if !echoed {
                        self.target_says(echo);
                        echoed = true;
                    }
                    let from_screen = self.screen.command_at_enter();
                    let (line, screen_used) = if certain { (line, false) } else { (from_screen.command, true) };
                    self.decide(line, screen_used, &held_enter);
                }
            }
        }
    }

    fn decide(&mut self, line: String, from_screen: bool, held_enter: &[u8]) {
        let groups = vec!["admins".to_owned()];
        let labels = [("env".to_owned(), "prod".to_owned())].into_iter().collect();
        let subject = Subject { user: "alice", groups: &groups, target: "db-1", target_labels: &labels };
        let decision = self.policy.decide(&subject, &line);
        let kind = decision.action.kind();
        let at = self.tick();
        let label = format!("{kind:?}: {line}");
        self.chunks.extend(self.recorder.marker(at, &label).unwrap());
        if matches!(kind, ActionKind::Accept | ActionKind::Warn) {
            self.to_target.extend_from_slice(held_enter);
        } else {
            self.to_target.extend_from_slice(DISCARD_LINE);
        }
        self.decisions.push((line, kind, decision.policy_id, from_screen));
    }
}

#[test]
fn a_recorded_session_with_red_lines() {
    let mut proxy = Proxy::new();
    proxy.target_says(b"Linux db-1 6.1.0-28-amd64 #1 SMP x86_64\r\n");
    proxy.target_says(PROMPT);

    proxy.type_keys(b"ls -la\r", b"ls -la");
    proxy.target_says(b"\r\ntotal 8\r\ndrwx------ 2 alice alice 4096 Jan  6 10:00 .\r\n");
    proxy.target_says(PROMPT);

    // A typo fixed with backspace, then a red line: the Enter never leaves.
    proxy.type_keys(b"sudo rm -rf /varx\x7f\r", b"sudo rm -rf /varx\x08 \x08");
    proxy.target_says(b"^C\r\n");
    proxy.target_says(PROMPT);

    // Tab completion: the keys are not enough, the screen has the line.
    proxy.type_keys(b"cd /us\t\r", "cd /usr/local/".as_bytes());
    proxy.target_says(b"\r\n");
    proxy.target_says(PROMPT);

    // History recall of a dangerous command: also read from the screen.
    let mut redraw = b"\r\x1b[K".to_vec();
    redraw.extend_from_slice(PROMPT);
    redraw.extend_from_slice(b"sudo rm -rf /etc");
    proxy.type_keys(b"\x1b[A\r", &redraw);
    proxy.target_says(b"^C\r\n");
    proxy.target_says(PROMPT);

    // A pasted installer one-liner.
    proxy.type_keys(
        b"\x1b[200~curl -fsSL https://get.example.com | sh\n\x1b[201~",
        b"curl -fsSL https://get.example.com | sh",
    );
    proxy.target_says(b"^C\r\n");
    proxy.target_says(PROMPT);

    proxy.type_keys(b"sudo iptables -F\r", b"sudo iptables -F");
    proxy.target_says("ünïcödé output split \u{1f600}".as_bytes());

    let decisions: Vec<(&str, ActionKind, Option<&str>, bool)> =
        proxy.decisions.iter().map(|(l, k, p, s)| (l.as_str(), *k, p.as_deref(), *s)).collect();
    assert_eq!(
        decisions,
        [
            ("ls -la", ActionKind::Accept, None, false),
            ("sudo rm -rf /var", ActionKind::Reject, Some("rm-system-tree"), false),
            ("cd /usr/local/", ActionKind::Accept, None, true),
            ("sudo rm -rf /etc", ActionKind::Reject, Some("rm-system-tree"), true),
            ("curl -fsSL https://get.example.com | sh", ActionKind::Reject, Some("pipe-to-shell"), false),
            ("sudo iptables -F", ActionKind::Review, Some("firewall-flush-prod"), false),
        ]
    );
    // Only the accepted Enter keys reached the target, one per accepted line.
    assert_eq!(proxy.to_target.iter().filter(|&&b| b == b'\r').count(), 2);
    assert_eq!(proxy.to_target.iter().filter(|&&b| b == DISCARD_LINE[0]).count(), 4);

    let output = proxy.output.clone();
    let keys = proxy.keys.clone();
    let mut chunks = proxy.chunks.clone();
    let done = proxy.recorder.finish().unwrap();
    chunks.extend(done.chunks.iter().copied());
    assert_eq!(chunks.iter().map(|c| c.len).sum::<u64>(), done.total_bytes);
    assert!(chunks.len() > 4, "a 256-byte chunk size gives several chunks");

    let cast = parse(&done.writer, Limits::default()).unwrap();
    assert_eq!(cast.skipped, 0);
    let text = |kind: EventKind| -> String {
        cast.events.iter().filter(|e| e.kind == kind).map(|e| e.data.as_str()).collect()
    };
    assert_eq!(text(EventKind::Output), String::from_utf8(output.clone()).unwrap());
    assert_eq!(text(EventKind::Input), String::from_utf8(keys).unwrap());
    let markers = cast.events.iter().filter(|e| e.kind == EventKind::Marker).count();
    assert_eq!(markers, 6);
    assert!(cast.events.windows(2).all(|w| w[0].time <= w[1].time));

    asciinema_cat_agrees(&done.writer, &output);
}

/// Plays the file with the reference implementation and compares.
fn asciinema_cat_agrees(file: &[u8], output: &[u8]) {
    let available = Command::new("asciinema").arg("--version").output().is_ok_and(|o| o.status.success());
    let script = Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success());
    if !available || !script {
        assert!(
            std::env::var_os("RAMPART_REQUIRE_TOOLS").is_none(),
            "asciinema and script(1) are required (RAMPART_REQUIRE_TOOLS is set)"
        );
        // Written to stderr directly, which the test harness does not
        // capture, so the skip shows in a passing run.
        let _ = writeln!(
            std::io::stderr(),
            "*** SKIP: asciinema or script(1) is not installed; the recording was not checked with `asciinema cat`"
        );
        return;
    }
    let mut cast = tempfile::Builder::new().suffix(".cast").tempfile().unwrap();
    cast.write_all(file).unwrap();
    cast.flush().unwrap();
    // asciinema 2.2 opens /dev/tty, so it runs under script(1) in a raw pty
    // that passes its output through unchanged.
    let command = format!("stty raw -echo; asciinema cat '{}'", cast.path().display());
    let played = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(played.status.success(), "asciinema cat failed: {}", String::from_utf8_lossy(&played.stdout));
    assert_eq!(String::from_utf8_lossy(&played.stdout), String::from_utf8_lossy(output));
}
