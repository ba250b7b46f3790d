//! The listeners on real sockets on 127.0.0.1: framing, oversized messages,
//! source lookup by peer address, TLS, and drop counting when the store
//! cannot keep up with UDP.

use mamori_event::{Event, Flags};
use mamori_ingest::decode::SourceSettings;
use mamori_ingest::listen::{self, IngestMetrics, ListenerContext, SourceTable};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn context(cap: usize, max: usize) -> (ListenerContext, mpsc::Receiver<Vec<Event>>) {
    let (tx, rx) = mpsc::channel(cap);
    let named = |n: &str| SourceSettings {
        name: n.into(),
        ..SourceSettings::default()
    };
    let sources = SourceTable::new(
        named("default"),
        vec![(("127.0.0.0".parse().unwrap(), 8), named("loopback"))],
    );
    let mut reg = Registry::default();
    let ctx = ListenerContext {
        sources: Arc::new(sources),
        sink: tx,
        metrics: Arc::new(IngestMetrics::new(&mut reg)),
        shutdown: CancellationToken::new(),
        max_message_bytes: max,
        max_connections: 2,
        hold_streams: Arc::new(|| false),
    };
    (ctx, rx)
}

async fn collect(rx: &mut mpsc::Receiver<Vec<Event>>, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(b)) => out.extend(b),
            _ => break,
        }
    }
    out
}

#[tokio::test]
async fn tcp_oversized_line_is_cut_marked_and_the_connection_goes_on() {
    let (ctx, mut rx) = context(16, 100);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let shutdown = ctx.shutdown.clone();
    let task = tokio::spawn(listen::serve_tcp(l, ctx));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let long = format!("<13>Nov 24 10:00:00 host app: {}\n", "x".repeat(10_000));
    s.write_all(long.as_bytes()).await.unwrap();
    s.write_all(b"<13>Nov 24 10:00:01 host app: after\n14 <13>counted ok")
        .await
        .unwrap();
    drop(s);
    let evs = collect(&mut rx, 3).await;
    assert_eq!(evs.len(), 3);
    assert!(evs[0].flags.contains(Flags::TRUNCATED));
    assert!(evs[0].raw.len() <= 100);
    assert!(String::from_utf8_lossy(&evs[1].raw).contains("after"));
    assert_eq!(evs[2].raw, b"<13>counted ok");
    assert!(evs.iter().all(|e| e.source == "loopback"));
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_held_tcp_connection_reads_nothing_until_let_go_and_loses_nothing() {
    let (mut ctx, mut rx) = context(16, 1000);
    let hold = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let h = hold.clone();
    ctx.hold_streams = Arc::new(move || h.load(std::sync::atomic::Ordering::SeqCst));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let shutdown = ctx.shutdown.clone();
    let task = tokio::spawn(listen::serve_tcp(l, ctx));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    for i in 0..200 {
        s.write_all(format!("<13>Nov 24 10:00:00 host app: line {i}\n").as_bytes())
            .await
            .unwrap();
    }
    // Held: the lines wait in the socket, none reaches the sink.
    let early = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    assert!(early.is_err(), "a held connection was read");
    hold.store(false, std::sync::atomic::Ordering::SeqCst);
    drop(s);
    let evs = collect(&mut rx, 200).await;
    assert_eq!(evs.len(), 200);
    assert!(String::from_utf8_lossy(&evs[199].raw).ends_with("line 199"));
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_held_connection_still_stops_at_shutdown() {
    let (mut ctx, _rx) = context(16, 1000);
    ctx.hold_streams = Arc::new(|| true);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let shutdown = ctx.shutdown.clone();
    let task = tokio::spawn(listen::serve_tcp(l, ctx));
    let _s = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the listener stopped")
        .unwrap();
}

#[tokio::test]
async fn tls_listener_takes_octet_counted_frames() {
    let dir = tempfile::tempdir().unwrap();
    let server_cfg = listen::self_signed_tls(dir.path(), &["localhost".into()]).unwrap();
    let (ctx, mut rx) = context(16, 1000);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let shutdown = ctx.shutdown.clone();
    let task = tokio::spawn(listen::serve_tls(l, server_cfg, ctx));

    let pem = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = conn.connect(name, tcp).await.unwrap();
    let msg = "<14>Nov 24 10:00:01 srv01 emr: ログイン失敗";
    tls.write_all(format!("{} {msg}", msg.len()).as_bytes())
        .await
        .unwrap();
    tls.shutdown().await.unwrap();
    let evs = collect(&mut rx, 1).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].raw, msg.as_bytes());
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn udp_overload_is_counted_not_silent() {
    // A sink that is never read: after the channel and the overflow fill,
    // datagrams must be counted as dropped.
    let (ctx, rx) = context(1, 1000);
    let metrics = ctx.metrics.clone();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let shutdown = ctx.shutdown.clone();
    let task = tokio::spawn(listen::serve_udp(sock, ctx));
    let sender = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut sent = 0u64;
    for _ in 0..200 {
        for _ in 0..2000 {
            sender.send_to(b"<13>x", addr).await.unwrap();
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        if metrics.dropped("syslog/udp", "overload") > 0 {
            break;
        }
    }
    let dropped = metrics.dropped("syslog/udp", "overload");
    assert!(dropped > 0, "sent {sent}, nothing counted as dropped");
    shutdown.cancel();
    drop(rx);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_and_counted() {
    let (ctx, mut rx) = context(16, 100);
    let metrics = ctx.metrics.clone();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let shutdown = ctx.shutdown.clone();
    let task = tokio::spawn(listen::serve_tcp(l, ctx));
    // Two idle connections take the two places.
    let a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let b = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = c.write_all(b"<13>refused\n").await;
    for _ in 0..50 {
        if metrics.dropped("syslog/tcp", "too_many_connections") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metrics.dropped("syslog/tcp", "too_many_connections"), 1);
    // When one closes, a new sender gets in.
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut d = tokio::net::TcpStream::connect(addr).await.unwrap();
    d.write_all(b"<13>accepted\n").await.unwrap();
    drop(d);
    let evs = collect(&mut rx, 1).await;
    assert_eq!(evs[0].raw, b"<13>accepted");
    drop(b);
    shutdown.cancel();
    task.await.unwrap();
}
