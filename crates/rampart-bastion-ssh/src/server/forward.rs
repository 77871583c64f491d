//! Local port forwarding (`ssh -L`) through the bastion, for grants that
//! allow `port-forward`. The client's `direct-tcpip` channel is paired with
//! one Rampart opens on its own connection to the target, so the forwarded
//! connection starts from the target, as it would with a plain `ssh -L` to
//! it. Nothing is forwarded unrecorded: the opening (destination,
//! originator, grant) is in the ledger before the channel is accepted, and
//! its close carries the byte counts both ways. The grant is looked at
//! again every few seconds; when it ends, the forwarded connection is cut.
//! The payload is not recorded: it is any protocol, often TLS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rampart_core::{Event, Id, Outcome};
use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, client};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::session::GRANT_RECHECK;
use super::{Connection, Stage, refuse};
use crate::Bastion;
use crate::grants::Action;

/// Where a client asked to forward to, and from where.
pub(super) struct Destination<'a> {
    pub host: &'a str,
    pub port: u32,
    pub originator: &'a str,
    pub originator_port: u32,
}

impl Connection {
    /// Accepts a `direct-tcpip` channel if a grant allows `port-forward`
    /// on the target, and relays it; refuses it (in the ledger) otherwise.
    pub(super) async fn open_forward(&mut self, channel: Channel<Msg>, to: Destination<'_>, reply: ChannelOpenHandle) {
        let refused = self
            .event("bastion.forwarding.refused", Outcome::Denied)
            .attr("kind", "local")
            .attr("host", to.host)
            .attr("port", to.port);
        if self.stage != Stage::Done {
            reply.reject(refuse("not authenticated")).await;
            return;
        }
        if to.port == 0 || to.port > 65_535 || to.host.is_empty() || to.host.len() > 255 {
            self.refused("bad_destination", refused).await;
            reply.reject(refuse("the forwarding destination is not a host and port")).await;
            return;
        }
        let up = match self.open_target().await {
            Ok(up) => up,
            Err((message, reason)) => {
                self.refused(reason, refused).await;
                reply.reject(refuse(&message)).await;
                return;
            }
        };
        let (Some(user), Some(target)) = (self.user.clone(), self.target.clone()) else {
            reply.reject(refuse("not authenticated")).await;
            return;
        };
        let Some(grant) = self.grant_for(&user, &target, Action::PortForward).await else {
            self.refused("port_forwarding_not_granted", refused).await;
            reply.reject(refuse("port forwarding is not granted through the Rampart bastion")).await;
            return;
        };
        let id = Id::new("fwd");
        let base = self
            .event("bastion.forward", Outcome::Success)
            .attr("forward", id.as_str())
            .attr("host", to.host)
            .attr("port", to.port)
            .attr("originator", format!("{}:{}", to.originator, to.originator_port));
        let mut opened = base.clone();
        opened.kind = "bastion.forward.opened".into();
        if let Err(e) = self.bastion.audit().record(opened.attr("grant", grant.id.as_str())).await {
            tracing::error!(error = %e, "recording a port forward failed; refusing it");
            reply.reject(refuse("the forwarding could not be recorded, so it was not opened")).await;
            return;
        }
        let remote = match up.channel_open_direct_tcpip(to.host, to.port, to.originator, to.originator_port).await {
            Ok(c) => c,
            Err(e) => {
                let event = self.event("bastion.forwarding.refused", Outcome::Failure).attr("forward", id.as_str());
                self.refused("target_refused_forwarding", event).await;
                reply.reject(refuse(&format!("the target refused to forward: {e}"))).await;
                return;
            }
        };
        reply.accept().await;
        let bastion = self.bastion.clone();
        tokio::spawn(relay(bastion, base, channel, remote, user, target));
    }
}

/// Bytes carried one way so far.
#[derive(Default)]
struct Counts {
    from_client: AtomicU64,
    from_target: AtomicU64,
}

async fn pipe(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, count: &AtomicU64) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Relays until either side closes or the grant ends, then records the
/// close with the byte counts.
async fn relay(
    bastion: Bastion,
    base: Event,
    client_side: Channel<Msg>,
    target_side: Channel<client::Msg>,
    user: rampart_store::UserRow,
    target: rampart_store::TargetRow,
) {
    let counts = Arc::new(Counts::default());
    let (client_read, client_write) = tokio::io::split(client_side.into_stream());
    let (target_read, target_write) = tokio::io::split(target_side.into_stream());
    let copy = async {
        tokio::join!(
            pipe(client_read, target_write, &counts.from_client),
            pipe(target_read, client_write, &counts.from_target),
        );
    };
    let watch = async {
        loop {
            tokio::time::sleep(GRANT_RECHECK).await;
            match bastion.authorize(&user, &target, Some(Action::PortForward)).await {
                Ok(Some(_)) => {}
                Ok(None) => return "grant_ended",
                Err(e) => {
                    tracing::warn!(error = %e, "re-checking a port forward's grant failed; cutting it");
                    return "grant_unverifiable";
                }
            }
        }
    };
    let reason = tokio::select! {
        () = copy => None,
        reason = watch => Some(reason),
    };
    let mut closed = base;
    closed.id = Id::new("evt");
    closed.time_ms = rampart_core::time::now_ms();
    closed.kind = "bastion.forward.closed".into();
    let mut closed = closed
        .attr("bytes_from_client", counts.from_client.load(Ordering::Relaxed))
        .attr("bytes_from_target", counts.from_target.load(Ordering::Relaxed));
    if let Some(reason) = reason {
        closed.outcome = Outcome::Denied;
        closed = closed.attr("reason", reason);
    }
    if let Err(e) = bastion.audit().record(closed).await {
        tracing::error!(error = %e, "recording the close of a port forward failed");
    }
}
