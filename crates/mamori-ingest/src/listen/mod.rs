//! Syslog listeners: UDP (RFC 5426), TCP (RFC 6587 framing) and TLS
//! (RFC 5425). Each received message is decoded once, with the settings of
//! the source its peer address belongs to, and handed on in batches to a
//! bounded channel (the store's writer). TCP and TLS senders are slowed by
//! back-pressure when the store falls behind, and while
//! [`ListenerContext::hold_streams`] says so (the indexer catching up); UDP
//! cannot be, so a bounded overflow absorbs bursts and what exceeds it is
//! counted as dropped.

mod framing;
mod tls;

pub use framing::{Frame, Framer};
pub use tls::{TlsError, self_signed_tls, tls_from_files};

use crate::decode::{Received, SourceSettings, decode};
use bytes::BytesMut;
use mamori_event::{Event, Flags, now_ns};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

/// Events handed on at most this many at a time.
const BATCH: usize = 1024;
/// UDP batches held while the channel is full before datagrams are dropped.
const UDP_OVERFLOW_BATCHES: usize = 256;
/// Receive buffer asked of the kernel for the UDP socket.
const UDP_RCVBUF: usize = 8 * 1024 * 1024;
/// A TLS handshake that takes longer is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Maps a peer address to its source's settings (longest prefix wins).
#[derive(Debug)]
pub struct SourceTable {
    default: Arc<SourceSettings>,
    entries: Vec<(IpAddr, u8, Arc<SourceSettings>)>,
}

impl SourceTable {
    /// A table of `(network, prefix length)` → settings, with `default` for
    /// every other peer.
    pub fn new(default: SourceSettings, entries: Vec<((IpAddr, u8), SourceSettings)>) -> Self {
        let mut entries: Vec<_> = entries
            .into_iter()
            .map(|((ip, len), s)| (canonical(ip), len, Arc::new(s)))
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.1));
        SourceTable {
            default: Arc::new(default),
            entries,
        }
    }

    /// The settings for a peer.
    pub fn lookup(&self, peer: IpAddr) -> Arc<SourceSettings> {
        let peer = canonical(peer);
        self.entries
            .iter()
            .find(|(net, len, _)| in_network(peer, *net, *len))
            .map(|(_, _, s)| s.clone())
            .unwrap_or_else(|| self.default.clone())
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether `ip` lies in `net/len` (same address family only).
pub fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    listener: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

/// Counters of what the listeners received, marked and dropped.
#[derive(Debug)]
pub struct IngestMetrics {
    received: Family<SourceLabels, Counter>,
    undecoded: Family<SourceLabels, Counter>,
    truncated: Family<SourceLabels, Counter>,
    dropped: Family<DropLabels, Counter>,
    connections: Family<ListenerLabels, Gauge>,
}

impl IngestMetrics {
    /// Registers the ingest metrics in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = IngestMetrics {
            received: Family::default(),
            undecoded: Family::default(),
            truncated: Family::default(),
            dropped: Family::default(),
            connections: Family::default(),
        };
        registry.register(
            "mamori_events_received",
            "Events received per source and listener",
            m.received.clone(),
        );
        registry.register(
            "mamori_events_undecoded",
            "Events no decoder understood (kept raw) per source and listener",
            m.undecoded.clone(),
        );
        registry.register(
            "mamori_events_truncated",
            "Events cut to the size limit per source and listener",
            m.truncated.clone(),
        );
        registry.register(
            "mamori_events_dropped",
            "Messages lost before storage, per listener and reason",
            m.dropped.clone(),
        );
        registry.register(
            "mamori_listener_connections",
            "Open connections per listener",
            m.connections.clone(),
        );
        m
    }

    /// Counts one decoded event.
    pub fn count_event(&self, listener: &str, ev: &Event) {
        let l = SourceLabels {
            source: ev.source.to_string(),
            listener: listener.to_owned(),
        };
        self.received.get_or_create(&l).inc();
        if ev.flags.contains(Flags::UNDECODED) {
            self.undecoded.get_or_create(&l).inc();
        }
        if ev.flags.contains(Flags::TRUNCATED) {
            self.truncated.get_or_create(&l).inc();
        }
    }

    /// Counts `n` messages lost at `listener` for `reason`.
    pub fn count_dropped(&self, listener: &str, reason: &str, n: u64) {
        self.dropped
            .get_or_create(&DropLabels {
                listener: listener.to_owned(),
                reason: reason.to_owned(),
            })
            .inc_by(n);
    }

    /// Total of messages dropped at `listener` for `reason` so far.
    pub fn dropped(&self, listener: &str, reason: &str) -> u64 {
        self.dropped
            .get_or_create(&DropLabels {
                listener: listener.to_owned(),
                reason: reason.to_owned(),
            })
            .get()
    }
}

/// What every listener needs.
#[derive(Clone)]
pub struct ListenerContext {
    /// Peer → source settings.
    pub sources: Arc<SourceTable>,
    /// Where decoded batches go (the store's writer).
    pub sink: mpsc::Sender<Vec<Event>>,
    /// Counters.
    pub metrics: Arc<IngestMetrics>,
    /// Stops the listener when cancelled.
    pub shutdown: CancellationToken,
    /// Longest message kept whole; longer ones are cut and marked.
    pub max_message_bytes: usize,
    /// Open TCP/TLS connections per listener; more are refused and counted
    /// (a flood of idle connections must not exhaust file descriptors).
    pub max_connections: usize,
    /// While this answers true, TCP and TLS connections wait before reading
    /// more (the sender is slowed, nothing is lost): `mamori serve` holds
    /// them while its indexer catches up with events it can take as they
    /// were written. UDP is never held, since a datagram not read in time
    /// is lost.
    pub hold_streams: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl ListenerContext {
    fn decode(&self, bytes: &[u8], truncated: bool, peer: IpAddr, listener: &str) -> Event {
        let settings = self.sources.lookup(peer);
        let rx = Received {
            received_ns: now_ns(),
            peer: Some(peer),
        };
        // Each source's settings carry its size limit; stream frames were
        // already cut to `max_message_bytes` by the framer.
        let mut ev = decode(bytes, &settings, &rx);
        if truncated {
            ev.flags.insert(Flags::TRUNCATED);
        }
        self.metrics.count_event(listener, &ev);
        ev
    }
}

/// Receives syslog datagrams on `sock` until shutdown.
pub async fn serve_udp(sock: UdpSocket, ctx: ListenerContext) {
    const L: &str = "syslog/udp";
    if let Err(e) = socket2::SockRef::from(&sock).set_recv_buffer_size(UDP_RCVBUF) {
        tracing::warn!(error = %e, "could not enlarge the UDP receive buffer");
    }
    let mut buf = vec![0u8; 65_536];
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    let mut overflow: VecDeque<Vec<Event>> = VecDeque::new();
    loop {
        // Hand on what is waiting before blocking for more.
        while let Some(b) = overflow.pop_front() {
            match ctx.sink.try_send(b) {
                Ok(()) => {}
                Err(TrySendError::Full(b)) => {
                    overflow.push_front(b);
                    break;
                }
                Err(TrySendError::Closed(_)) => return,
            }
        }
        let got = if batch.is_empty() && overflow.is_empty() {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                r = sock.recv_from(&mut buf) => Some(r),
            }
        } else {
            match sock.try_recv_from(&mut buf) {
                Ok(r) => Some(Ok(r)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                Err(e) => Some(Err(e)),
            }
        };
        match got {
            Some(Ok((n, peer))) => {
                let bytes = &buf[..n];
                let truncated = n >= buf.len();
                batch.push(ctx.decode(bytes, truncated, peer.ip(), L));
                if batch.len() < BATCH {
                    continue;
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "UDP receive error");
                continue;
            }
            None => {
                if batch.is_empty() {
                    // Only overflow waits: give the store a moment.
                    tokio::select! {
                        _ = ctx.shutdown.cancelled() => break,
                        _ = sock.readable() => {}
                        _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    }
                    continue;
                }
            }
        }
        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
        if overflow.is_empty() {
            match ctx.sink.try_send(full) {
                Ok(()) => continue,
                Err(TrySendError::Full(b)) => overflow.push_back(b),
                Err(TrySendError::Closed(_)) => return,
            }
        } else if overflow.len() < UDP_OVERFLOW_BATCHES {
            overflow.push_back(full);
        } else {
            ctx.metrics.count_dropped(L, "overload", full.len() as u64);
        }
    }
    overflow.push_back(batch);
    for b in overflow {
        if !b.is_empty() && ctx.sink.send(b).await.is_err() {
            return;
        }
    }
}

/// Accepts syslog-over-TCP connections on `listener` until shutdown.
pub async fn serve_tcp(listener: TcpListener, ctx: ListenerContext) {
    accept_loop(listener, ctx, None).await
}

/// Accepts syslog-over-TLS connections (RFC 5425) on `listener` until shutdown.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    ctx: ListenerContext,
) {
    accept_loop(listener, ctx, Some(tokio_rustls::TlsAcceptor::from(config))).await
}

async fn accept_loop(
    listener: TcpListener,
    ctx: ListenerContext,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let name = if tls.is_some() {
        "syslog/tls"
    } else {
        "syslog/tcp"
    };
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= ctx.max_connections {
            tracing::warn!(listener = name, %peer, "too many connections; refused");
            ctx.metrics.count_dropped(name, "too_many_connections", 1);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            let gauge = ctx
                .metrics
                .connections
                .get_or_create(&ListenerLabels {
                    listener: name.to_owned(),
                })
                .clone();
            gauge.inc();
            match tls {
                None => read_stream(stream, peer, &ctx, name).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => read_stream(s, peer, &ctx, name).await,
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "TLS handshake failed");
                            ctx.metrics.count_dropped(name, "tls_handshake", 1);
                        }
                        Err(_) => {
                            tracing::info!(%peer, "TLS handshake timed out");
                            ctx.metrics.count_dropped(name, "tls_handshake", 1);
                        }
                    }
                }
            }
            gauge.dec();
        });
    }
    // Let open connections finish what they have read.
    while conns.join_next().await.is_some() {}
}

/// How often a held connection asks whether it may read again.
const HOLD_POLL: Duration = Duration::from_millis(5);

/// Waits while [`ListenerContext::hold_streams`] says so; false if the
/// listener is shut down meanwhile.
async fn held(ctx: &ListenerContext) -> bool {
    while (ctx.hold_streams)() {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return false,
            _ = tokio::time::sleep(HOLD_POLL) => {}
        }
    }
    true
}

async fn read_stream<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    ctx: &ListenerContext,
    listener: &str,
) {
    let mut framer = Framer::new(ctx.max_message_bytes);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut batch = Vec::with_capacity(BATCH);
    let ip = peer.ip();
    loop {
        if !held(ctx).await {
            break;
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        let read = tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            r = stream.read_buf(&mut buf) => r,
        };
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection read error");
                break;
            }
        };
        if n == 0 {
            break;
        }
        while let Some(f) = framer.next_frame(&mut buf) {
            batch.push(ctx.decode(&f.bytes, f.truncated, ip, listener));
            if batch.len() >= BATCH {
                let b = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if ctx.sink.send(b).await.is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let b = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if ctx.sink.send(b).await.is_err() {
                return;
            }
        }
    }
    while let Some(f) = framer.finish(&mut buf) {
        batch.push(ctx.decode(&f.bytes, f.truncated, ip, listener));
    }
    if !batch.is_empty() {
        let _ = ctx.sink.send(batch).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_mapped_v4_matches() {
        let named = |n: &str| SourceSettings {
            name: n.into(),
            ..SourceSettings::default()
        };
        let t = SourceTable::new(
            named("default"),
            vec![
                (("10.0.0.0".parse().unwrap(), 8), named("lan")),
                (("10.1.2.3".parse().unwrap(), 32), named("rtx")),
                (("fd00::".parse().unwrap(), 8), named("v6")),
            ],
        );
        assert_eq!(t.lookup("10.1.2.3".parse().unwrap()).name, "rtx");
        assert_eq!(t.lookup("10.9.9.9".parse().unwrap()).name, "lan");
        assert_eq!(t.lookup("::ffff:10.1.2.3".parse().unwrap()).name, "rtx");
        assert_eq!(t.lookup("fd12::1".parse().unwrap()).name, "v6");
        assert_eq!(t.lookup("192.168.0.1".parse().unwrap()).name, "default");
    }
}
