//! The sockets: a UDP receive loop, and TCP and TLS accept loops whose
//! connections each run one read loop over the pure
//! [`rampart_ingest::Connection`].
//!
//! A read loop keeps the events it has read in a [`Window`], in order, until
//! each is durable. A stream stops reading while its window is full (TCP
//! back-pressure); the UDP loop keeps reading and drops what does not fit.
//! Broken framing, a held or refused source, or a ledger failure close only
//! that connection, after everything read before is durable. A TLS
//! connection that presented a client certificate is attributed to the
//! certificate's source, and closed within a second of its revocation.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use rampart_core::config::IngestConfig;
use rampart_core::time::now_ms;
use rampart_ingest::{Connection, Record};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Ingest, Pending, Prepared, Transport, metrics};

/// How long a TLS client has to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// UDP senders whose parser state (auditd assembly) is kept at once.
const UDP_PEERS: usize = 4096;

/// The events of one read loop that are not durable yet, in arrival order,
/// as batches (each one ledger request).
struct Window {
    pending: FuturesOrdered<BoxFuture<'static, (usize, bool)>>,
    /// Events in the pending batches.
    events: usize,
    limit: usize,
    transport: Transport,
}

impl Window {
    fn new(limit: usize, transport: Transport) -> Self {
        Window { pending: FuturesOrdered::new(), events: 0, limit: limit.max(1), transport }
    }

    fn is_full(&self) -> bool {
        self.events >= self.limit
    }

    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether a batch of `n` more events fits (an empty window takes any).
    fn fits(&self, n: usize) -> bool {
        self.is_empty() || self.events + n <= self.limit
    }

    fn push(&mut self, n: usize, append: BoxFuture<'static, bool>) {
        metrics::in_flight(self.transport, n as f64);
        self.events += n;
        self.pending.push_back(Box::pin(append.map(move |ok| (n, ok))));
    }

    /// The next batch's fate: `Some(true)` durable, `Some(false)` lost.
    async fn next(&mut self) -> Option<bool> {
        let (n, ok) = self.pending.next().await?;
        self.events -= n;
        metrics::in_flight(self.transport, -(n as f64));
        Some(ok)
    }

    /// Waits until every event is settled; false if any was lost.
    async fn drain(&mut self) -> bool {
        let mut all = true;
        while let Some(ok) = self.next().await {
            all &= ok;
        }
        all
    }
}

/// The running listeners and their bound addresses.
#[derive(Debug)]
pub struct Listeners {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    /// Every loop holds a clone; shutdown waits until all are gone.
    alive: mpsc::Sender<()>,
    done: mpsc::Receiver<()>,
    tasks: Vec<JoinHandle<()>>,
    ingest: Ingest,
}

impl Listeners {
    /// Binds every configured listener (a configured one that cannot bind
    /// is an error: a node must not run deaf) and starts serving; `tls` is
    /// the TLS listener's configuration (see `certs::syslog_tls`).
    pub async fn start(ingest: Ingest, config: &IngestConfig, tls: Arc<rustls::ServerConfig>) -> Result<Listeners> {
        let (stop, _) = watch::channel(false);
        let (alive, done) = mpsc::channel(1);
        let mut listeners = Listeners {
            udp: None,
            tcp: None,
            tls: None,
            stop,
            alive,
            done,
            // The registry's housekeeping runs while the listeners do.
            tasks: vec![ingest.spawn_jobs()],
            ingest: ingest.clone(),
        };
        if let Some(addr) = config.udp.addr() {
            let socket = UdpSocket::bind(addr).await.with_context(|| format!("binding syslog UDP {addr}"))?;
            listeners.udp = Some(socket.local_addr()?);
            let (ingest, stop, alive) = (ingest.clone(), listeners.stop.subscribe(), listeners.alive.clone());
            listeners.tasks.push(tokio::spawn(serve_udp(ingest, socket, stop, alive)));
        }
        // One bound for TCP and TLS together.
        let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
        if let Some(addr) = config.tcp.addr() {
            let listener = TcpListener::bind(addr).await.with_context(|| format!("binding syslog TCP {addr}"))?;
            listeners.tcp = Some(listener.local_addr()?);
            let (ingest, stop, alive) = (ingest.clone(), listeners.stop.subscribe(), listeners.alive.clone());
            listeners.tasks.push(tokio::spawn(accept(ingest, listener, None, slots.clone(), stop, alive)));
        }
        if let Some(addr) = config.tls.addr() {
            let listener = TcpListener::bind(addr).await.with_context(|| format!("binding syslog TLS {addr}"))?;
            listeners.tls = Some(listener.local_addr()?);
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            let (ingest, stop, alive) = (ingest.clone(), listeners.stop.subscribe(), listeners.alive.clone());
            listeners.tasks.push(tokio::spawn(accept(ingest, listener, Some(acceptor), slots, stop, alive)));
        }
        for (name, addr) in [("udp", listeners.udp), ("tcp", listeners.tcp), ("tls", listeners.tls)] {
            if let Some(addr) = addr {
                tracing::info!(transport = name, %addr, "syslog listening");
            }
        }
        Ok(listeners)
    }

    /// Stops reading, and waits (up to `grace`) until every event read so
    /// far is durable.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        drop(self.alive);
        if tokio::time::timeout(grace, self.done.recv()).await.is_err() {
            tracing::warn!("syslog connections did not finish within the grace period");
        }
        for task in self.tasks {
            task.abort();
        }
        if let Err(e) = self.ingest.registry.flush_seen().await {
            tracing::warn!(error = %e, "recording when log sources were last seen failed at shutdown");
        }
    }
}

async fn accept(
    ingest: Ingest,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    slots: Arc<tokio::sync::Semaphore>,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let transport = if tls.is_some() { Transport::Tls } else { Transport::Tcp };
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, not spin.
                    tracing::warn!(error = %e, "accepting a syslog connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Closed at once (dropped): the sender retries later.
            metrics::connection_refused(transport);
            // Counted, and logged only at debug: a connection flood must not
            // become a log flood.
            tracing::debug!(%peer, transport = transport.as_str(), "syslog connection refused: ingest.max_connections reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (ingest, stop, alive, tls) = (ingest.clone(), stop.clone(), alive.clone(), tls.clone());
        tokio::spawn(async move {
            let _slot = slot;
            metrics::connections(transport, 1.0);
            match tls {
                None => serve_stream(&ingest, stream, peer, transport, None, stop).await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        // Verified during the handshake (`certs`): the
                        // certificate is a registered source's.
                        let cert = stream.get_ref().1.peer_certificates().and_then(|c| c.first());
                        let identity = cert.map(|c| super::certs::fingerprint(c));
                        serve_stream(&ingest, stream, peer, transport, identity, stop).await
                    }
                    Ok(Err(e)) => {
                        metrics::handshake_failed(transport);
                        tracing::info!(%peer, error = %e, "syslog TLS handshake failed");
                    }
                    Err(_) => {
                        metrics::handshake_failed(transport);
                        tracing::info!(%peer, "syslog TLS handshake timed out");
                    }
                },
            }
            metrics::connections(transport, -1.0);
            drop(alive);
        });
    }
}

/// One stream connection's read loop; `identity` is the fingerprint of
/// the client certificate it authenticated with.
async fn serve_stream<S: AsyncRead + Unpin>(
    ingest: &Ingest,
    mut stream: S,
    peer: SocketAddr,
    transport: Transport,
    identity: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conn = Connection::new(ingest.source_config());
    let mut window = Window::new(ingest.config().max_in_flight, transport);
    // Large reads make large batches: one ledger request per read under
    // load.
    let mut buf = vec![0u8; 64 * 1024];
    let mut records = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let mut end = false;
        tokio::select! {
            biased;
            done = window.next(), if !window.is_empty() => {
                if done == Some(false) {
                    // The ledger refused: stop taking what cannot be kept.
                    end = true;
                }
            }
            _ = stop.changed() => {
                // Shutting down: release what the parser holds, read no more.
                conn.tick(i64::MAX, &mut records);
                end = true;
            }
            _ = tick.tick() => {
                conn.tick(now_ms(), &mut records);
                if let Some(fp) = &identity
                    && ingest.registry.by_cert(fp).is_none()
                {
                    tracing::info!(%peer, "closing a syslog connection whose client certificate was revoked");
                    end = true;
                }
            }
            read = stream.read(&mut buf), if !window.is_full() => {
                let now = now_ms();
                let framed = match read {
                    Ok(0) => {
                        end = true;
                        conn.finish(now, &mut records)
                    }
                    Ok(n) => conn.push(buf.get(..n).unwrap_or_default(), now, &mut records),
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "syslog connection read failed");
                        end = true;
                        Ok(())
                    }
                };
                if let Err(e) = framed {
                    tracing::warn!(%peer, transport = transport.as_str(), error = %e,
                        "broken syslog framing; closing the connection");
                    metrics::framing_error(transport);
                    end = true;
                }
            }
        }
        if !take(ingest, &mut records, &mut window, peer, transport, identity.as_deref()).await {
            tracing::info!(%peer, "closing a syslog connection whose messages are not taken (held, refused or unstorable)");
            end = true;
        }
        if end {
            break;
        }
    }
    window.drain().await;
}

/// Hands `records` to the window as batches (one ledger request each, at
/// most `max_in_flight` events), waiting for room; false when the
/// connection should close (a record was held or refused, or the ledger
/// refused a batch). Every record read is still handed over or counted:
/// the others of a relay's batch are stored even if one source is refused.
async fn take(
    ingest: &Ingest,
    records: &mut Vec<Record>,
    window: &mut Window,
    peer: SocketAddr,
    transport: Transport,
    identity: Option<&str>,
) -> bool {
    let now = now_ms();
    let most = window.limit.min(rampart_ledger::service::MAX_BATCH);
    let mut keep_open = true;
    let mut batch = Vec::new();
    for record in records.drain(..) {
        let prepared = match identity {
            None => ingest.prepare(record, peer, transport, now).await,
            Some(fp) => match ingest.registry.by_cert(fp) {
                Some((source, serial)) => ingest.prepare_certified(source, &serial, record, peer, transport, now),
                None => {
                    // Revoked since the handshake.
                    metrics::dropped(metrics::UNREGISTERED, "certificate");
                    Prepared::Refused
                }
            },
        };
        match prepared {
            Prepared::Store(pending) => {
                batch.push(*pending);
                if batch.len() >= most {
                    keep_open &= hand_over(ingest, std::mem::take(&mut batch), window).await;
                }
            }
            Prepared::Refused => keep_open = false,
        }
    }
    if !batch.is_empty() {
        keep_open &= hand_over(ingest, batch, window).await;
    }
    keep_open
}

/// Waits until `batch` fits in the window and starts storing it; false if a
/// batch that settled meanwhile was lost.
async fn hand_over(ingest: &Ingest, batch: Vec<Pending>, window: &mut Window) -> bool {
    let mut ok = true;
    while !window.fits(batch.len()) {
        if window.next().await == Some(false) {
            ok = false;
        }
    }
    let n = batch.len();
    window.push(n, Box::pin(ingest.store(batch).map(|stored| stored.is_some())));
    ok
}

async fn serve_udp(ingest: Ingest, socket: UdpSocket, mut stop: watch::Receiver<bool>, alive: mpsc::Sender<()>) {
    let max = ingest.config().max_message_bytes;
    let local = socket.local_addr().ok();
    let mut peers: HashMap<IpAddr, Connection> = HashMap::new();
    let mut queue = UdpQueue::new(ingest.config().udp_queue);
    let mut buf = vec![0u8; 65_536];
    let mut records = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            biased;
            _ = queue.window.next(), if !queue.window.is_empty() => continue,
            _ = stop.changed() => break,
            _ = tick.tick() => {
                queue.prune();
                if let Some(local) = local
                    && let Some(drops) = super::kernel::read_udp_drops(local)
                {
                    metrics::udp_kernel_drops(local, drops);
                }
                let now = now_ms();
                for (ip, conn) in &mut peers {
                    conn.tick(now, &mut records);
                    datagram_records(&ingest, &mut records, &mut queue, SocketAddr::new(*ip, 0)).await;
                }
            }
            received = socket.recv_from(&mut buf) => {
                let (n, peer) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "syslog UDP receive failed");
                        continue;
                    }
                };
                if peers.len() >= UDP_PEERS && !peers.contains_key(&peer.ip()) {
                    // Forget idle state rather than grow without bound.
                    for conn in peers.values_mut() {
                        conn.tick(i64::MAX, &mut records);
                    }
                    datagram_records(&ingest, &mut records, &mut queue, peer).await;
                    peers.clear();
                }
                let conn = peers.entry(peer.ip()).or_insert_with(|| Connection::new(ingest.source_config()));
                let datagram = buf.get(..n.min(max)).unwrap_or_default();
                conn.push_datagram(datagram, now_ms(), &mut records);
                if n > max {
                    for r in &mut records {
                        r.syslog.flags.truncated = true;
                    }
                }
                datagram_records(&ingest, &mut records, &mut queue, peer).await;
            }
        }
    }
    for conn in peers.values_mut() {
        conn.tick(i64::MAX, &mut records);
    }
    datagram_records(&ingest, &mut records, &mut queue, SocketAddr::from(([0, 0, 0, 0], 0))).await;
    queue.window.drain().await;
    drop(alive);
}

/// The UDP loop's queue: one window, of which each source may hold a
/// quarter, so a flood from one sender leaves room for the others.
struct UdpQueue {
    window: Window,
    share: usize,
    held: HashMap<String, Arc<AtomicUsize>>,
}

impl UdpQueue {
    fn new(limit: usize) -> Self {
        UdpQueue { window: Window::new(limit, Transport::Udp), share: (limit / 4).max(1), held: HashMap::new() }
    }

    /// Forgets sources that hold nothing, so the map stays small.
    fn prune(&mut self) {
        self.held.retain(|_, n| n.load(Ordering::Relaxed) > 0);
    }
}

/// Hands datagram records to the queue, dropping (and counting) what does
/// not fit, in all or in the source's share: a UDP sender cannot be slowed
/// down.
async fn datagram_records(ingest: &Ingest, records: &mut Vec<Record>, queue: &mut UdpQueue, peer: SocketAddr) {
    let now = now_ms();
    for record in records.drain(..) {
        let name = rampart_ingest::source::source_name(&record, peer.ip());
        let held = queue.held.entry(name.clone()).or_default().clone();
        if queue.window.is_full() || held.load(Ordering::Relaxed) >= queue.share {
            let label = if ingest.registry.is_registered(&name) { name } else { metrics::UNREGISTERED.to_owned() };
            metrics::dropped(&label, "udp_overflow");
            continue;
        }
        if let Prepared::Store(pending) = ingest.prepare(record, peer, Transport::Udp, now).await {
            held.fetch_add(1, Ordering::Relaxed);
            let append = ingest.store(vec![*pending]);
            queue.window.push(
                1,
                Box::pin(async move {
                    let stored = append.await.is_some();
                    held.fetch_sub(1, Ordering::Relaxed);
                    stored
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rampart_core::audit::{Appended, Audit, AuditError, AuditSink};
    use rampart_core::config::{IngestConfig, UnknownSources};
    use rampart_core::{Event, audit};
    use rampart_store::{Store, TableAuditSink};
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::ingest::Registry;

    /// A ledger stand-in whose appends complete only as permits are
    /// given: a ledger that is slow to make events durable.
    #[derive(Debug)]
    struct Gate {
        open: tokio::sync::Semaphore,
        waiting: AtomicUsize,
        most_waiting: AtomicUsize,
        stored: Mutex<Vec<String>>,
    }

    impl AuditSink for Gate {
        fn append<'a>(&'a self, event: &'a Event) -> audit::BoxFuture<'a, Result<Appended, AuditError>> {
            Box::pin(async move {
                let now = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_waiting.fetch_max(now, Ordering::SeqCst);
                self.open.acquire().await.expect("gate").forget();
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                let mut stored = self.stored.lock().expect("lock");
                stored.push(event.attrs["message"].as_str().unwrap_or_default().to_owned());
                Ok(Appended::at(stored.len() as u64))
            })
        }
    }

    /// An ingest service over a real registry (SQLite) whose ledger is `Gate`.
    async fn gated(config: IngestConfig) -> (Ingest, Arc<Gate>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(&dir.path().join("t.db"), 2).await.expect("store");
        let audit = Audit::new(Arc::new(TableAuditSink(store.clone())), Duration::from_secs(2));
        let registry = Registry::load(store, audit, UnknownSources::Register, 10).await.expect("registry");
        let gate = Arc::new(Gate {
            open: tokio::sync::Semaphore::new(0),
            waiting: AtomicUsize::new(0),
            most_waiting: AtomicUsize::new(0),
            stored: Mutex::default(),
        });
        (Ingest::new(gate.clone(), registry, config), gate, dir)
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let started = std::time::Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(5), "timed out waiting: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_flooding_udp_sender_leaves_room_for_the_others() {
        let (ingest, gate, _dir) = gated(IngestConfig { udp_queue: 8, ..IngestConfig::off() }).await;
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        let (_stop, stop) = watch::channel(false);
        let (alive, _done) = mpsc::channel(1);
        tokio::spawn(serve_udp(ingest, socket, stop, alive));

        let flooder = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        for i in 0..50 {
            let line = format!("<13>1 2026-01-01T00:00:00Z flood app - - - flood {i:02}");
            flooder.send_to(line.as_bytes(), addr).await.expect("send");
        }
        until("the flooder's share is in flight", || gate.waiting.load(Ordering::SeqCst) == 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let quiet = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        quiet.send_to(b"<13>1 2026-01-01T00:00:00Z quiet app - - - still here", addr).await.expect("send");
        until("the quiet sender's line is in flight", || gate.waiting.load(Ordering::SeqCst) == 3).await;
        gate.open.add_permits(100);
        until("stored", || gate.stored.lock().expect("lock").len() == 3).await;
        let stored = gate.stored.lock().expect("lock").clone();
        assert!(stored.contains(&"still here".to_owned()), "{stored:?}");
        assert_eq!(gate.most_waiting.load(Ordering::SeqCst), 3, "a quarter of the queue for the flooder");
    }

    #[tokio::test]
    async fn a_connection_reads_no_further_while_its_window_is_not_durable() {
        let (ingest, gate, _dir) = gated(IngestConfig { max_in_flight: 2, ..IngestConfig::off() }).await;

        let (mut sender, receiver) = tokio::io::duplex(256);
        let (_stop, stop) = watch::channel(false);
        let peer = SocketAddr::from(([127, 0, 0, 1], 9));
        let task = tokio::spawn(async move { serve_stream(&ingest, receiver, peer, Transport::Tcp, None, stop).await });
        let lines: String = (0..50).map(|i| format!("<13>1 2026-01-01T00:00:00Z h app - - - line {i:02}\n")).collect();

        // Nothing is durable: the receiver stops reading, the pipe fills,
        // and the sender blocks.
        let write = sender.write_all(lines.as_bytes());
        tokio::pin!(write);
        let blocked = tokio::time::timeout(Duration::from_millis(500), &mut write).await;
        assert!(blocked.is_err(), "the sender must be held back while events are not durable");
        assert!(gate.stored.lock().expect("lock").is_empty());
        assert!(gate.most_waiting.load(Ordering::SeqCst) <= 2, "at most max_in_flight events in flight");

        // Durable again: everything arrives, nothing was dropped.
        gate.open.add_permits(1000);
        tokio::time::timeout(Duration::from_secs(5), write)
            .await
            .expect("the sender proceeds once events are durable")
            .expect("write");
        drop(sender);
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("connection ends").expect("join");
        let stored = gate.stored.lock().expect("lock").clone();
        let expected: Vec<String> = (0..50).map(|i| format!("line {i:02}")).collect();
        assert_eq!(stored, expected, "every line, once, in order");
        assert!(gate.most_waiting.load(Ordering::SeqCst) <= 2, "at most max_in_flight events in flight");
    }
}
