//! The SSH server administrators connect to: `ssh -p 2222 USER:TARGET@host`.
//!
//! Authentication is a registered public key or a user certificate from
//! the bastion's SSH CA (`sshca`), then (when the user has TOTP
//! or a role that needs it) a TOTP code over keyboard-interactive, with the
//! API's throttle and lockout. Each session channel the client opens is a
//! session on the target: the grant is checked first (deny by default),
//! Rampart connects to the target itself (pinned host key, its own
//! credential), and everything is passed through: pty, window changes,
//! shell, exec and the sftp subsystem (which `sftp` and `scp` use), with
//! shell and exec sessions recorded as asciicast v2 and SFTP passed packet
//! by packet through an audit that refuses what the grant does not allow
//! and puts every file (path, bytes, SHA-256) in the ledger. Local port
//! forwarding needs a `port-forward` grant and is audited per connection
//! (`forward.rs`); remote forwarding, socket forwarding, agent forwarding
//! and X11 are refused, each refusal a ledger event, so nothing bypasses
//! the record.

mod conn;
mod forward;
mod picker;
mod session;

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rampart_core::{Event, Id, Outcome};
use rampart_store::{TargetRow, UserRow};
use russh::keys::Certificate;
use russh::server::{self, Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Response, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet, Preferred, Pty, Sig};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::targets::valid_name;
use crate::{Bastion, hostkey, upstream};

use session::{Chan, Kind};

/// Rejected authentication attempts all take this long, so timing does
/// not tell a registered key from an unknown one. Paced here rather than
/// by russh's `auth_rejection_time`, which would also hold the partial
/// success that asks a valid key's owner for the TOTP code: that added
/// 200-300 ms to every two-factor login (seen in `xtask bench bastion`).
const AUTH_REJECTION: Duration = Duration::from_millis(300);

/// A rejection, after the pacing delay.
async fn rejected() -> Auth {
    paced(Auth::reject()).await
}

/// `auth` after the pacing delay if it is a plain rejection; a partial
/// success and prompts go out at once.
async fn paced(auth: Auth) -> Auth {
    if matches!(auth, Auth::Reject { partial_success: false, .. }) {
        tokio::time::sleep(AUTH_REJECTION).await;
    }
    auth
}
/// How long a target has to answer a channel request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The algorithms the bastion speaks, to clients and to targets: X25519
/// key exchange (with the ML-KEM hybrid first), Ed25519 and ECDSA keys,
/// AEAD ciphers only, and OpenSSH's strict key exchange, which closes the
/// Terrapin prefix-truncation attack.
pub fn preferred() -> Preferred {
    use russh::keys::{Algorithm, EcdsaCurve};
    use russh::{cipher, compression, kex, mac};
    Preferred {
        kex: Cow::Borrowed(&[
            kex::MLKEM768X25519_SHA256,
            kex::CURVE25519,
            kex::CURVE25519_PRE_RFC_8731,
            kex::EXTENSION_SUPPORT_AS_CLIENT,
            kex::EXTENSION_SUPPORT_AS_SERVER,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
        ]),
        key: Cow::Owned(vec![
            Algorithm::Ed25519,
            Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 },
            Algorithm::Ecdsa { curve: EcdsaCurve::NistP384 },
            Algorithm::Ecdsa { curve: EcdsaCurve::NistP521 },
        ]),
        host_key_certificates: Cow::Borrowed(&[]),
        cipher: Cow::Borrowed(&[cipher::CHACHA20_POLY1305, cipher::AES_256_GCM, cipher::AES_128_GCM]),
        mac: Cow::Borrowed(&[mac::HMAC_SHA512_ETM, mac::HMAC_SHA256_ETM]),
        compression: Cow::Borrowed(&[compression::NONE]),
    }
}

/// The flow-control window each side of the relay grants its peer per
/// channel: 16 MiB instead of russh's 2 MiB. With 2 MiB, an upload through
/// the bastion ran at about half the speed of the same copy straight to the
/// target, with every process on the machine partly idle: the client had
/// its whole window in flight inside the relay and waited for the next
/// adjustment. At 16 MiB it ran at 80-85 % of direct (docs/benchmarks.md,
/// session 8).
/// Memory does not grow with it: russh reads one packet at a time and the
/// relay's queues are bounded, so unread data waits in the kernel's socket
/// buffer, which has its own limit.
pub(crate) const CHANNEL_WINDOW: u32 = 16 * 1024 * 1024;

/// A running SSH listener.
#[derive(Debug)]
pub struct Listening {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Listening {
    /// Stops accepting connections (sessions in progress end with the process).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Binds the configured address and serves SSH until stopped.
pub async fn start(bastion: Bastion) -> Result<Listening, String> {
    let key = hostkey::load_or_create(&bastion.inner.paths.host_key)?;
    let idle = Duration::from_secs(bastion.config().idle_timeout_secs);
    let config = Arc::new(server::Config {
        server_id: russh::SshId::Standard(Cow::Borrowed("SSH-2.0-Rampart")),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::KeyboardInteractive][..]),
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        preferred: preferred(),
        max_auth_attempts: 6,
        inactivity_timeout: Some(idle),
        keepalive_interval: Some(Duration::from_secs(30)),
        nodelay: true,
        window_size: CHANNEL_WINDOW,
        ..server::Config::default()
    });
    let listen = bastion.config().listen;
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("binding the SSH bastion on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let task = tokio::spawn(async move {
        loop {
            let (socket, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an SSH connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let handler = Connection::new(bastion.clone(), peer);
            let config = config.clone();
            tokio::spawn(async move {
                match server::run_stream(config, socket, handler).await {
                    Ok(running) => {
                        if let Err(e) = running.await {
                            tracing::debug!(%peer, error = %e, "SSH connection ended with an error");
                        }
                    }
                    Err(e) => tracing::debug!(%peer, error = %e, "SSH handshake failed"),
                }
            });
        }
    });
    tracing::info!(%addr, "SSH bastion listening");
    Ok(Listening { addr, task })
}

/// The longest environment value passed to a target.
const MAX_ENV_VALUE: usize = 4096;

/// Environment requests taken per channel; more are refused unrecorded.
const MAX_ENV_VARS: usize = 64;

/// Why a connection's handler stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for a public key.
    Key,
    /// The key was accepted; a TOTP code is due.
    Totp,
    /// Fully authenticated.
    Done,
}

/// One client connection.
pub struct Connection {
    bastion: Bastion,
    peer: SocketAddr,
    id: Id,
    stage: Stage,
    /// The SSH user string the key was proved for (`USER:TARGET`).
    ssh_user: String,
    user: Option<UserRow>,
    target_name: String,
    key_fingerprint: String,
    /// The certificate the login was made with, if it was.
    cert: Option<crate::sshca::CertLogin>,
    target: Option<TargetRow>,
    upstream: Option<Arc<upstream::Connection>>,
    channels: HashMap<ChannelId, Chan>,
    /// Session channels of a login that named no target, at the picker.
    pickers: HashMap<ChannelId, picker::Picker>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).field("peer", &self.peer).finish_non_exhaustive()
    }
}

/// Splits `USER:TARGET`, or takes `USER` alone (the target is then picked
/// after login, and is `""` here); anything else is not a bastion login.
pub fn parse_login(ssh_user: &str) -> Option<(&str, &str)> {
    let (user, target) = ssh_user.split_once(':').unwrap_or((ssh_user, ""));
    let user_ok = !user.is_empty() && user.len() <= 64 && !user.chars().any(char::is_control);
    let target_ok = valid_name(target) || !ssh_user.contains(':');
    (user_ok && target_ok).then_some((user, target))
}

fn methods(kinds: &[MethodKind]) -> Option<MethodSet> {
    Some(MethodSet::from(kinds))
}

fn refuse(reason: &str) -> ChannelOpenFailure {
    ChannelOpenFailure::Other { code: 1, reason: reason.to_owned() }
}

impl server::Handler for Connection {
    type Error = ConnError;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        // A login that is not `USER` or `USER:TARGET` can never succeed;
        // offer only the method that can carry a message saying how to log in.
        let next = if parse_login(user).is_some() { MethodKind::PublicKey } else { MethodKind::KeyboardInteractive };
        Ok(Auth::Reject { proceed_with_methods: methods(&[next]), partial_success: false })
    }

    async fn auth_publickey_offered(&mut self, user: &str, offer: PublicKeyOffer<'_>) -> Result<Auth, Self::Error> {
        if self.stage != Stage::Key {
            return Ok(rejected().await);
        }
        // Only say "try it" for a key this user registered, or one the
        // bastion's CA certified for them (russh passes a certificate's key
        // here); an unknown key is not a failed attempt (clients offer
        // every key they hold).
        let known = self.key_owner(user, offer.public_key).await.is_some()
            || self.cert_holder(user, offer.public_key).await.is_some();
        Ok(if known { Auth::Accept } else { rejected().await })
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        if self.stage != Stage::Key {
            return Ok(rejected().await);
        }
        let Some(owner) = self.key_owner(user, key.public_key).await else { return Ok(rejected().await) };
        let Some((_, target)) = parse_login(user) else { return Ok(rejected().await) };
        self.target_name = target.to_owned();
        self.key_fingerprint = key.public_key.fingerprint(Default::default()).to_string();
        self.cert = None;
        Ok(self.proved(user, owner).await)
    }

    async fn auth_openssh_certificate(&mut self, user: &str, certificate: &Certificate) -> Result<Auth, Self::Error> {
        // russh has checked the certificate's own signature and window and
        // that the client holds its key; whose CA signed it, for whom and
        // whether it still stands is checked here.
        if self.stage != Stage::Key {
            return Ok(rejected().await);
        }
        let Some((username, target)) = parse_login(user) else { return Ok(rejected().await) };
        let Some(owner) = self.active_user(username).await else { return Ok(rejected().await) };
        self.target_name = target.to_owned();
        self.key_fingerprint = certificate.public_key().fingerprint(Default::default()).to_string();
        match self.bastion.check_user_cert(&owner, certificate).await {
            Ok(login) => {
                self.cert = Some(login);
                Ok(self.proved(user, owner).await)
            }
            Err(reason) => {
                let event = Event::new("bastion.login.refused", Outcome::Denied, owner.username.as_str())
                    .object(target)
                    .source(self.source())
                    .attr("connection", self.id.as_str())
                    .attr("target", target)
                    .attr("auth_method", "certificate")
                    .attr("certificate_serial", certificate.serial().to_string())
                    .attr("certificate_key_id", certificate.key_id())
                    .attr("key_fingerprint", self.key_fingerprint.as_str());
                self.refused(reason, event).await;
                Ok(rejected().await)
            }
        }
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if parse_login(user).is_none() {
            // Not a bastion login: say how to log in (OpenSSH prints the
            // instructions), ask nothing, and refuse.
            if response.is_some() {
                return Ok(rejected().await);
            }
            return Ok(Auth::Partial {
                name: Cow::Borrowed("Rampart bastion"),
                instructions: Cow::Borrowed(
                    "Log in as USER or USER:TARGET, for example: ssh -p 2222 alice:db-1@bastion (TARGET is a registered target)",
                ),
                prompts: Cow::Borrowed(&[]),
            });
        }
        // The code is only asked after the key, for the same login.
        if self.stage != Stage::Totp || user != self.ssh_user {
            return Ok(rejected().await);
        }
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: Cow::Borrowed("Rampart"),
                instructions: Cow::Borrowed("Second factor"),
                prompts: Cow::Owned(vec![(Cow::Owned(format!("TOTP code for {}: ", self.username())), false)]),
            });
        };
        let code = response.next().and_then(|b| String::from_utf8(b.to_vec()).ok()).unwrap_or_default();
        let code = SecretString::from(code.trim().to_owned());
        let again =
            Auth::Reject { proceed_with_methods: methods(&[MethodKind::KeyboardInteractive]), partial_success: false };
        let Some(owner) = self.user.clone() else { return Ok(rejected().await) };
        if self.locked(&owner.username).await {
            self.refused("locked_out", self.event("bastion.login.refused", Outcome::Denied)).await;
            return Ok(paced(again).await);
        }
        match self.bastion.inner.auth.ssh_check_totp(&owner, &code, Some(self.peer.ip())).await {
            Ok(true) => Ok(self.logged_in("totp").await),
            Ok(false) => Ok(paced(again).await),
            Err(e) => {
                tracing::error!(error = %e, "checking a TOTP code failed");
                Ok(paced(again).await)
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        let id = channel.id();
        // Client data reaches us through the handler's callbacks; the
        // channel object is not read.
        drop(channel);
        if self.stage != Stage::Done {
            reply.reject(refuse("not authenticated")).await;
            return Ok(());
        }
        if self.target_name.is_empty() && self.upstream.is_none() {
            self.open_picker(id);
            reply.accept().await;
            return Ok(());
        }
        let up = match self.open_target().await {
            Ok(up) => up,
            Err((message, reason)) => {
                self.refused(reason, self.event("bastion.session.refused", Outcome::Denied)).await;
                reply.reject(refuse(&message)).await;
                return Ok(());
            }
        };
        let target_channel = match up.channel_open_session().await {
            Ok(c) => c,
            Err(e) => {
                self.refused("target_channel_failed", self.event("bastion.session.refused", Outcome::Failure)).await;
                reply.reject(refuse(&format!("the target refused a session: {e}"))).await;
                return Ok(());
            }
        };
        let chan = Chan::start(self, id, target_channel, session.handle());
        self.channels.insert(id, chan);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        pix_width: u32,
        pix_height: u32,
        modes: &[(Pty, u32)],
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        if let Some(picker) = self.pickers.get_mut(&channel) {
            picker.set_pty(picker::PtyRequest {
                term: term.to_owned(),
                cols: col_width,
                rows: row_height,
                pix_width,
                pix_height,
                modes: modes.to_vec(),
            });
            return reply(session, channel, true);
        }
        let Some(chan) = self.channels.get_mut(&channel) else { return Ok(()) };
        chan.pty = Some((term.to_owned(), col_width, row_height));
        let sent = chan.write.request_pty(true, term, col_width, row_height, pix_width, pix_height, modes).await;
        let ok = sent.is_ok() && chan.reply().await;
        reply(session, channel, ok)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        let allowed = self.bastion.config().env_allowed(name) && value.len() <= MAX_ENV_VALUE && !value.contains('\0');
        let Some(chan) = self.channels.get_mut(&channel) else { return reply(session, channel, false) };
        // Names only, cut short: a hostile client's megabyte "name" is not
        // worth an event of that size.
        let shown: String = name.chars().take(64).collect();
        if chan.env.len() + chan.env_refused.len() >= MAX_ENV_VARS {
            return reply(session, channel, false);
        }
        if !allowed {
            chan.env_refused.push(shown);
            return reply(session, channel, false);
        }
        let sent = chan.write.set_env(true, name, value).await;
        let ok = sent.is_ok() && chan.reply().await;
        if ok {
            chan.env.push(shown)
        } else {
            chan.env_refused.push(shown)
        }
        reply(session, channel, ok)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut server::Session) -> Result<(), Self::Error> {
        if self.pickers.contains_key(&channel) {
            return self.show_menu(channel, session).await;
        }
        self.start_session(channel, Kind::Shell, None, session).await
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        if self.pickers.remove(&channel).is_some() {
            return self.needs_target(channel, session).await;
        }
        self.start_session(channel, Kind::Exec, Some(data), session).await
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        if self.pickers.remove(&channel).is_some() {
            return self.needs_target(channel, session).await;
        }
        if name != "sftp" {
            let event = self.event("bastion.session.refused", Outcome::Denied).attr("subsystem", name);
            self.refused("subsystem_not_allowed", event).await;
            return reply(session, channel, false);
        }
        self.start_session(channel, Kind::Sftp, None, session).await
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        if self.pickers.contains_key(&channel) {
            self.picker_input(channel, data, session).await;
            return Ok(());
        }
        let Some(chan) = self.channels.get_mut(&channel) else { return Ok(()) };
        if chan.record_input(data).is_err() {
            self.cut(channel, session).await;
            return Ok(());
        }
        match chan.forward_input(data).await {
            Ok(notices) => {
                for notice in notices {
                    let _ = session.data(channel, bytes::Bytes::from(notice.into_bytes()));
                }
            }
            Err(()) => {
                let _ = session.close(channel);
            }
        }
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        col_width: u32,
        row_height: u32,
        pix_width: u32,
        pix_height: u32,
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        if let Some(picker) = self.pickers.get_mut(&channel) {
            picker.resize(col_width, row_height);
            return Ok(());
        }
        let Some(chan) = self.channels.get_mut(&channel) else { return Ok(()) };
        if chan.record_resize(col_width, row_height).is_err() {
            self.cut(channel, session).await;
            return Ok(());
        }
        let _ = chan.write.window_change(col_width, row_height, pix_width, pix_height).await;
        Ok(())
    }

    async fn signal(
        &mut self,
        channel: ChannelId,
        signal: Sig,
        _session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        if let Some(chan) = self.channels.get(&channel) {
            let _ = chan.write.signal(signal).await;
        }
        Ok(())
    }

    async fn channel_eof(&mut self, channel: ChannelId, _session: &mut server::Session) -> Result<(), Self::Error> {
        // After the data still queued for the target, never before it.
        if let Some(chan) = self.channels.get(&channel) {
            let _ = chan.to_target.send(session::ToTarget::Eof).await;
        }
        Ok(())
    }

    async fn channel_close(&mut self, channel: ChannelId, _session: &mut server::Session) -> Result<(), Self::Error> {
        self.pickers.remove(&channel);
        if let Some(chan) = self.channels.remove(&channel) {
            let _ = chan.to_target.send(session::ToTarget::Close).await;
        }
        Ok(())
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut server::Session,
    ) -> Result<bool, Self::Error> {
        self.refused("agent_forwarding_not_granted", self.event("bastion.forwarding.refused", Outcome::Denied)).await;
        Ok(false)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single: bool,
        _protocol: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        self.refused("x11_forwarding_not_granted", self.event("bastion.forwarding.refused", Outcome::Denied)).await;
        reply(session, channel, false)
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        let to = forward::Destination {
            host: host_to_connect,
            port: port_to_connect,
            originator: originator_address,
            originator_port,
        };
        self.open_forward(channel, to, reply).await;
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        let event = self
            .event("bastion.forwarding.refused", Outcome::Denied)
            .attr("kind", "streamlocal")
            .attr("path", socket_path);
        self.refused("port_forwarding_not_granted", event).await;
        reply.reject(refuse("socket forwarding is not granted through the Rampart bastion")).await;
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut server::Session,
    ) -> Result<bool, Self::Error> {
        let event = self
            .event("bastion.forwarding.refused", Outcome::Denied)
            .attr("kind", "remote")
            .attr("host", address)
            .attr("port", *port);
        self.refused("port_forwarding_not_granted", event).await;
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        socket_path: &str,
        _session: &mut server::Session,
    ) -> Result<bool, Self::Error> {
        let event = self
            .event("bastion.forwarding.refused", Outcome::Denied)
            .attr("kind", "remote_streamlocal")
            .attr("path", socket_path);
        self.refused("port_forwarding_not_granted", event).await;
        Ok(false)
    }
}

impl Connection {
    /// Refuses exec or SFTP on a login that named no target: only an
    /// interactive shell can ask which.
    async fn needs_target(&mut self, channel: ChannelId, session: &mut server::Session) -> Result<(), ConnError> {
        self.refused("no_target_named", self.event("bastion.session.refused", Outcome::Denied)).await;
        let notice = "rampart: name the target for a command or file transfer: ssh -p 2222 USER:TARGET@host\r\n";
        let _ = session.extended_data(channel, 1, bytes::Bytes::from_static(notice.as_bytes()));
        reply(session, channel, false)
    }

    /// Answers a request on a session channel, unless the picker already
    /// did (its shell request was answered when the menu was shown): then
    /// a failure closes the channel instead.
    fn answer(&self, session: &mut server::Session, channel: ChannelId, ok: bool) -> Result<(), ConnError> {
        if self.channels.get(&channel).is_some_and(|c| c.pre_answered) {
            if !ok {
                let _ = session.close(channel);
            }
            return Ok(());
        }
        reply(session, channel, ok)
    }
}

/// Answers a channel request the client wanted a reply to.
fn reply(session: &mut server::Session, channel: ChannelId, ok: bool) -> Result<(), ConnError> {
    if ok {
        session.channel_success(channel)?
    } else {
        session.channel_failure(channel)?
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_login;

    #[test]
    fn a_bastion_login_is_user_colon_target_or_user_alone() {
        assert_eq!(parse_login("alice:db-1"), Some(("alice", "db-1")));
        assert_eq!(parse_login("alice:db.prod_2"), Some(("alice", "db.prod_2")));
        assert_eq!(parse_login("alice"), Some(("alice", "")), "the target is picked after login");
        for bad in ["", "alice:", ":db", "alice:DB", "alice:db/../x", "alice:db:1", "a\u{7}:db", "alice:-db", "a\u{7}"]
        {
            assert_eq!(parse_login(bad), None, "{bad:?}");
        }
        assert_eq!(parse_login(&format!("{}:db", "a".repeat(65))), None);
        assert_eq!(parse_login(&format!("alice:{}", "d".repeat(64))), None);
    }
}
