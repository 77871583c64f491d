//! The target picker: `ssh -p 2222 USER@host`, with no `:TARGET`, logs in
//! as usual (key, then TOTP), and the interactive shell it asks for shows
//! the targets the user's grants reach now and reads a choice, a number or
//! a name, typed at a prompt. The connection is then bound to that target
//! exactly as if the login had named it: grant, pinned host key, recording
//! and red lines all apply from the first byte the target sees. Exec, SFTP
//! and forwarding cannot ask, so they need the target in the login.

use russh::server;
use russh::{ChannelId, Pty};

use super::Connection;
use super::session::{Chan, Kind};
use crate::grants::Action;

/// The longest choice typed at the prompt.
const MAX_CHOICE: usize = 64;

/// Wrong choices before the channel is closed.
const MAX_ATTEMPTS: u8 = 3;

/// A session channel of a login that named no target, until a target is
/// chosen.
#[derive(Debug, Default)]
pub(super) struct Picker {
    /// The client's terminal, replayed on the target once it is chosen.
    pty: Option<PtyRequest>,
    /// The targets offered, in menu order (empty until the shell request).
    targets: Vec<String>,
    line: Vec<u8>,
    attempts: u8,
    /// Inside an escape sequence (an arrow key, say), which is skipped:
    /// 1 after ESC, 2 inside a CSI or SS3 sequence.
    escape: u8,
}

#[derive(Debug, Clone)]
pub(super) struct PtyRequest {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
    pub pix_width: u32,
    pub pix_height: u32,
    pub modes: Vec<(Pty, u32)>,
}

/// What the typed bytes come to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Typed {
    /// Still typing; echo this.
    Echo(Vec<u8>),
    /// Enter: this choice.
    Chosen(String),
    /// Ctrl-C or Ctrl-D: no target.
    Cancelled,
}

impl Picker {
    pub(super) fn set_pty(&mut self, pty: PtyRequest) {
        self.pty = Some(pty);
    }

    pub(super) fn resize(&mut self, cols: u32, rows: u32) {
        if let Some(p) = self.pty.as_mut() {
            p.cols = cols;
            p.rows = rows;
        }
    }

    /// The menu for `targets` (already sorted).
    pub(super) fn menu(&mut self, username: &str, targets: Vec<String>) -> String {
        let mut text = format!("Rampart bastion: targets {username} may reach now\r\n");
        for (i, t) in targets.iter().enumerate() {
            text.push_str(&format!("  {:>3}) {t}\r\n", i + 1));
        }
        text.push_str(PROMPT);
        self.targets = targets;
        text
    }

    /// Follows keystrokes at the prompt. Pure, so it is unit-tested.
    pub(super) fn typed(&mut self, data: &[u8]) -> Typed {
        let mut echo = Vec::new();
        for &b in data {
            match (self.escape, b) {
                (0, 0x1b) => {
                    self.escape = 1;
                    continue;
                }
                (1, b'[' | b'O') => {
                    self.escape = 2;
                    continue;
                }
                (1, _) => {
                    self.escape = 0;
                    continue;
                }
                (2, 0x40..=0x7e) => {
                    self.escape = 0;
                    continue;
                }
                (2, _) => continue,
                _ => {}
            }
            match b {
                b'\r' | b'\n' => {
                    let choice = String::from_utf8_lossy(&self.line).trim().to_owned();
                    self.line.clear();
                    return Typed::Chosen(choice);
                }
                0x03 | 0x04 => return Typed::Cancelled,
                0x7f | 0x08 if self.line.pop().is_some() => echo.extend_from_slice(b"\x08 \x08"),
                b if (b.is_ascii_graphic() || b == b' ') && self.line.len() < MAX_CHOICE => {
                    self.line.push(b);
                    echo.push(b);
                }
                // Other controls are ignored.
                _ => {}
            }
        }
        Typed::Echo(echo)
    }

    /// The target a choice names: its number in the menu, or its name.
    pub(super) fn resolve(&self, choice: &str) -> Option<String> {
        if let Ok(n) = choice.parse::<usize>() {
            return n.checked_sub(1).and_then(|i| self.targets.get(i)).cloned();
        }
        self.targets.iter().find(|t| *t == choice).cloned()
    }

    /// Counts a wrong choice; `true` when the channel should close.
    fn wrong(&mut self) -> bool {
        self.attempts += 1;
        self.attempts >= MAX_ATTEMPTS
    }
}

const PROMPT: &str = "Target (number or name): ";

impl Connection {
    /// Takes a session channel of a login that named no target.
    pub(super) fn open_picker(&mut self, channel: ChannelId) {
        self.pickers.insert(channel, Picker::default());
    }

    /// The shell request on a picker channel: shows the menu.
    pub(super) async fn show_menu(
        &mut self,
        channel: ChannelId,
        session: &mut server::Session,
    ) -> Result<(), super::ConnError> {
        let Some(user) = self.user.clone() else { return super::reply(session, channel, false) };
        let targets = match self.bastion.reachable_targets(&user, Action::Shell).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "listing a user's targets failed");
                Vec::new()
            }
        };
        super::reply(session, channel, true)?;
        let Some(picker) = self.pickers.get_mut(&channel) else { return Ok(()) };
        if targets.is_empty() {
            let notice = format!("rampart: no grant lets {} open a shell on any target now\r\n", user.username);
            let _ = session.data(channel, bytes::Bytes::from(notice.into_bytes()));
            let _ = session.exit_status_request(channel, 1);
            let _ = session.close(channel);
            self.pickers.remove(&channel);
            return Ok(());
        }
        let menu = picker.menu(&user.username, targets);
        let _ = session.data(channel, bytes::Bytes::from(menu.into_bytes()));
        Ok(())
    }

    /// Keystrokes on a picker channel.
    pub(super) async fn picker_input(&mut self, channel: ChannelId, data: &[u8], session: &mut server::Session) {
        let Some(picker) = self.pickers.get_mut(&channel) else { return };
        if picker.targets.is_empty() {
            return;
        }
        let choice = match picker.typed(data) {
            Typed::Echo(echo) => {
                if !echo.is_empty() {
                    let _ = session.data(channel, bytes::Bytes::from(echo));
                }
                return;
            }
            Typed::Cancelled => {
                let _ = session.data(channel, bytes::Bytes::from_static(b"\r\n"));
                let _ = session.exit_status_request(channel, 130);
                let _ = session.close(channel);
                self.pickers.remove(&channel);
                return;
            }
            Typed::Chosen(choice) => choice,
        };
        let Some(target) = picker.resolve(&choice) else {
            let close = picker.wrong();
            let notice =
                if close { "\r\nrampart: no such target; goodbye\r\n" } else { "\r\nrampart: no such target\r\n" };
            let _ = session.data(channel, bytes::Bytes::from_static(notice.as_bytes()));
            if close {
                let _ = session.exit_status_request(channel, 1);
                let _ = session.close(channel);
                self.pickers.remove(&channel);
            } else {
                let _ = session.data(channel, bytes::Bytes::from_static(PROMPT.as_bytes()));
            }
            return;
        };
        let pty = picker.pty.clone();
        self.pickers.remove(&channel);
        let _ =
            session.data(channel, bytes::Bytes::from(format!("\r\nrampart: connecting to {target}\r\n").into_bytes()));
        if let Err(message) = self.bind_target(channel, &target, pty, session).await {
            let _ =
                session.extended_data(channel, 1, bytes::Bytes::from(format!("rampart: {message}\r\n").into_bytes()));
            let _ = session.exit_status_request(channel, 1);
            let _ = session.close(channel);
        }
    }

    /// Binds the connection to `target` and starts the shell on it, as a
    /// login that named it would have.
    async fn bind_target(
        &mut self,
        channel: ChannelId,
        target: &str,
        pty: Option<PtyRequest>,
        session: &mut server::Session,
    ) -> Result<(), String> {
        self.target_name = target.to_owned();
        let up = match self.open_target().await {
            Ok(up) => up,
            Err((message, reason)) => {
                self.refused(reason, self.event("bastion.session.refused", rampart_core::Outcome::Denied)).await;
                self.target_name.clear();
                return Err(message);
            }
        };
        let target_channel =
            up.channel_open_session().await.map_err(|e| format!("the target refused a session: {e}"))?;
        let mut chan = Chan::start(self, channel, target_channel, session.handle());
        chan.pre_answered = true;
        if let Some(p) = &pty {
            chan.pty = Some((p.term.clone(), p.cols, p.rows));
            let sent = chan.write.request_pty(true, &p.term, p.cols, p.rows, p.pix_width, p.pix_height, &p.modes).await;
            if sent.is_err() || !chan.reply().await {
                return Err("the target refused a terminal".into());
            }
        }
        self.channels.insert(channel, chan);
        self.start_session(channel, Kind::Shell, None, session).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picker() -> Picker {
        let mut p = Picker::default();
        let _ = p.menu("alice", vec!["db".into(), "web-1".into()]);
        p
    }

    #[test]
    fn typing_echoes_edits_and_ends_at_enter() {
        let mut p = picker();
        assert_eq!(p.typed(b"wex"), Typed::Echo(b"wex".to_vec()));
        assert_eq!(p.typed(b"\x7f"), Typed::Echo(b"\x08 \x08".to_vec()));
        assert_eq!(p.typed(b"b-1\x1b[A\r"), Typed::Chosen("web-1".into()), "arrow keys are ignored");
        assert_eq!(p.typed(b"\x7f"), Typed::Echo(Vec::new()), "nothing to erase after Enter");
        assert_eq!(p.typed(b"x\x03"), Typed::Cancelled);
    }

    #[test]
    fn a_choice_is_a_menu_number_or_an_offered_name_only() {
        let p = picker();
        assert_eq!(p.resolve("1").as_deref(), Some("db"));
        assert_eq!(p.resolve("web-1").as_deref(), Some("web-1"));
        for bad in ["0", "3", "-1", "99999999999999999999", "DB", "other", ""] {
            assert_eq!(p.resolve(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_long_choice_is_cut_and_three_wrong_ones_close() {
        let mut p = picker();
        let Typed::Echo(echo) = p.typed(&[b'a'; 500]) else { panic!("still typing") };
        assert_eq!(echo.len(), MAX_CHOICE);
        assert!(!p.wrong() && !p.wrong() && p.wrong());
    }
}
