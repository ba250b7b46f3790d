//! `mamori serve`: binds the listeners, opens the store and index, and
//! connects them: listeners → bounded channel → store (group commit) →
//! indexer following the store; the API reads both.

use crate::config::{Config, parse_cidr};
use anyhow::{Context, Result};
use clap::Args;
use mamori_event::Event;
use mamori_i18n::{Lang, t, tf};
use mamori_ingest::listen::{self, IngestMetrics, ListenerContext, SourceTable};
use mamori_search::Index;
use mamori_store::handoff::Handoff;
use mamori_store::{Durability, RetentionPolicy, Store, StoreOptions};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Flags of `mamori serve` (each overrides the configuration file).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Syslog UDP address ("" to turn off).
    #[arg(long)]
    syslog_udp: Option<String>,
    /// Syslog TCP address ("" to turn off).
    #[arg(long)]
    syslog_tcp: Option<String>,
    /// Syslog TLS address ("" to turn off).
    #[arg(long)]
    syslog_tls: Option<String>,
    /// HTTP API address ("" to turn off).
    #[arg(long)]
    http: Option<String>,
    /// Serve the HTTP API without TLS.
    #[arg(long)]
    http_plain: bool,
}

/// Starts the runtime and serves until Ctrl+C or SIGTERM.
pub fn run(mut cfg: Config, args: ServeArgs, lang: Lang) -> Result<()> {
    if let Some(a) = args.syslog_udp {
        cfg.listen.syslog_udp = a;
    }
    if let Some(a) = args.syslog_tcp {
        cfg.listen.syslog_tcp = a;
    }
    if let Some(a) = args.syslog_tls {
        cfg.listen.syslog_tls = a;
    }
    if let Some(a) = args.http {
        cfg.listen.http = a;
    }
    if args.http_plain {
        cfg.listen.http_tls = false;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mamori")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(cfg, lang))
}

struct ServeMetrics {
    store_bytes: Gauge,
    store_events: Gauge,
    store_segments: Gauge,
    store_paused: Gauge,
    index_lag: Gauge,
    index_docs: Gauge,
    index_segments: Gauge,
    index_from_memory: Gauge,
    fsyncs: Gauge,
    fsync_seconds_sum: Gauge<f64, AtomicU64>,
    fsync_seconds_max: Gauge<f64, AtomicU64>,
    events_per_source: prometheus_client::metrics::family::Family<Vec<(String, String)>, Gauge>,
}

impl ServeMetrics {
    fn new(reg: &mut Registry) -> Self {
        let m = ServeMetrics {
            store_bytes: Gauge::default(),
            store_events: Gauge::default(),
            store_segments: Gauge::default(),
            store_paused: Gauge::default(),
            index_lag: Gauge::default(),
            index_docs: Gauge::default(),
            index_segments: Gauge::default(),
            index_from_memory: Gauge::default(),
            fsyncs: Gauge::default(),
            fsync_seconds_sum: Gauge::default(),
            fsync_seconds_max: Gauge::default(),
            events_per_source: Default::default(),
        };
        reg.register(
            "mamori_store_bytes",
            "Bytes of segment files on disk",
            m.store_bytes.clone(),
        );
        reg.register(
            "mamori_store_events",
            "Events in the store (next sequence number)",
            m.store_events.clone(),
        );
        reg.register(
            "mamori_store_segments",
            "Segment files",
            m.store_segments.clone(),
        );
        reg.register(
            "mamori_store_paused",
            "1 while ingestion is paused because the disk is full",
            m.store_paused.clone(),
        );
        reg.register(
            "mamori_index_lag_events",
            "Stored events not yet searchable",
            m.index_lag.clone(),
        );
        reg.register(
            "mamori_index_docs",
            "Events in the search index",
            m.index_docs.clone(),
        );
        reg.register(
            "mamori_index_segments",
            "Segments of the search index (more while a flood holds merges back)",
            m.index_segments.clone(),
        );
        reg.register(
            "mamori_index_events_from_memory",
            "Events the indexer took as the store wrote them, without reading them back",
            m.index_from_memory.clone(),
        );
        reg.register(
            "mamori_store_fsyncs",
            "fsync calls by the store writer",
            m.fsyncs.clone(),
        );
        reg.register(
            "mamori_store_fsync_seconds_sum",
            "Total time spent in fsync",
            m.fsync_seconds_sum.clone(),
        );
        reg.register(
            "mamori_store_fsync_seconds_max",
            "Longest fsync so far",
            m.fsync_seconds_max.clone(),
        );
        reg.register(
            "mamori_store_events_stored",
            "Events stored per source",
            m.events_per_source.clone(),
        );
        m
    }

    fn refresh(&self, store: &Store, index: &Index) {
        let s = store.stats();
        self.store_bytes.set(s.bytes as i64);
        self.store_events.set(s.next_seq as i64);
        self.store_segments.set(s.segments as i64);
        self.store_paused.set(i64::from(s.paused));
        self.fsyncs.set(s.fsync_count as i64);
        self.index_from_memory.set(s.followed_from_memory as i64);
        self.fsync_seconds_sum.set(s.fsync_total.as_secs_f64());
        self.fsync_seconds_max.set(s.fsync_max.as_secs_f64());
        for (source, n) in &s.events_per_source {
            self.events_per_source
                .get_or_create(&vec![("source".to_owned(), source.clone())])
                .set(*n as i64);
        }
        let lag = s.next_seq.saturating_sub(index.indexed_upto());
        self.index_lag.set(lag as i64);
        self.index_docs.set(index.stats().docs as i64);
        self.index_segments.set(index.segments() as i64);
    }
}

async fn serve(cfg: Config, lang: Lang) -> Result<()> {
    let mut stop_signal = StopSignal::install();
    let data = cfg.data_dir.clone();
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    eprintln!(
        "{}",
        tf(
            lang,
            "serve.starting",
            &[("dir", &data.display().to_string())]
        )
    );

    let store = Store::open(
        &data,
        StoreOptions {
            segment_max_bytes: cfg.store.segment_max_mb * 1024 * 1024,
            flush_interval: Duration::from_millis(cfg.store.flush_interval_ms.max(1)),
            zstd_level: cfg.store.zstd_level,
            ..StoreOptions::default()
        },
    )
    .with_context(|| format!("cannot open the store in {}", data.display()))?;
    let index = Index::open(&data.join("index"))
        .with_context(|| format!("cannot open the search index in {}", data.display()))?;

    let mut registry = Registry::default();
    let ingest_metrics = Arc::new(IngestMetrics::new(&mut registry));
    let serve_metrics = Arc::new(ServeMetrics::new(&mut registry));
    let detect_metrics = crate::live::DetectMetrics::new(&mut registry);
    let registry = Arc::new(registry);

    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();

    // Sources.
    let default_settings = cfg.default_settings()?;
    let mut table_entries = Vec::new();
    let mut by_name = HashMap::new();
    for s in &cfg.sources {
        let settings = cfg.settings_for(s)?;
        for a in &s.addresses {
            table_entries.push((parse_cidr(a)?, settings.clone()));
        }
        by_name.insert(s.name.clone(), Arc::new(settings));
    }
    let sources = Arc::new(SourceTable::new(default_settings, table_entries));

    // Listeners → store.
    let (tx, mut rx) = mpsc::channel::<Vec<Event>>(64);
    {
        let store = store.clone();
        tasks.spawn(async move {
            while let Some(batch) = rx.recv().await {
                if let Err(e) = store.append(batch, Durability::Buffered).await {
                    tracing::error!(error = %e, "events could not be stored");
                }
            }
        });
    }
    let ctx = ListenerContext {
        sources: sources.clone(),
        sink: tx.clone(),
        metrics: ingest_metrics.clone(),
        shutdown: shutdown.clone(),
        max_message_bytes: cfg.limits.max_message_bytes,
        max_connections: cfg.limits.max_connections.max(1),
        hold_streams: {
            let store = store.clone();
            Arc::new(move || store.holds_streams())
        },
    };
    let bind_err = |what: &str, addr: &str, flag: &str, e: std::io::Error| {
        anyhow::anyhow!(tf(
            lang,
            "serve.bind_failed",
            &[
                ("what", what),
                ("addr", addr),
                ("error", &e.to_string()),
                ("flag", flag)
            ]
        ))
    };
    let mut listener_tasks = tokio::task::JoinSet::new();
    let mut listeners: Vec<(String, String)> = Vec::new();
    if !cfg.listen.syslog_udp.is_empty() {
        let a = &cfg.listen.syslog_udp;
        let sock = tokio::net::UdpSocket::bind(a)
            .await
            .map_err(|e| bind_err("syslog/udp", a, "syslog-udp", e))?;
        announce(lang, "syslog/udp", sock.local_addr());
        listeners.push(("syslog/udp".into(), addr_of(sock.local_addr())));
        listener_tasks.spawn(listen::serve_udp(sock, ctx.clone()));
    }
    if !cfg.listen.syslog_tcp.is_empty() {
        let a = &cfg.listen.syslog_tcp;
        let l = tokio::net::TcpListener::bind(a)
            .await
            .map_err(|e| bind_err("syslog/tcp", a, "syslog-tcp", e))?;
        announce(lang, "syslog/tcp", l.local_addr());
        listeners.push(("syslog/tcp".into(), addr_of(l.local_addr())));
        listener_tasks.spawn(listen::serve_tcp(l, ctx.clone()));
    }
    let need_tls = !cfg.listen.syslog_tls.is_empty() || cfg.listen.http_tls;
    let tls = if need_tls {
        Some(if cfg.tls.cert.is_empty() {
            let dir = data.join("tls");
            let existed = dir.join("cert.pem").exists();
            let mut names = vec!["localhost".to_owned()];
            names.extend(cfg.tls.hostnames.iter().cloned());
            let c = listen::self_signed_tls(&dir, &names)?;
            if !existed {
                eprintln!(
                    "{}",
                    tf(
                        lang,
                        "serve.tls_selfsigned",
                        &[("path", &dir.join("cert.pem").display().to_string())]
                    )
                );
            }
            c
        } else {
            listen::tls_from_files(cfg.tls.cert.as_ref(), cfg.tls.key.as_ref())?
        })
    } else {
        None
    };
    if !cfg.listen.syslog_tls.is_empty()
        && let Some(tls) = &tls
    {
        let a = &cfg.listen.syslog_tls;
        let l = tokio::net::TcpListener::bind(a)
            .await
            .map_err(|e| bind_err("syslog/tls", a, "syslog-tls", e))?;
        announce(lang, "syslog/tls", l.local_addr());
        listeners.push(("syslog/tls".into(), addr_of(l.local_addr())));
        listener_tasks.spawn(listen::serve_tls(l, tls.clone(), ctx.clone()));
    }
    drop(ctx);
    drop(tx);

    // Indexer: follows the store, and hands what it decodes on to live
    // detection (so that each event is decoded once).
    let handoff = cfg.detect.enabled.then(|| Arc::new(Handoff::new()));
    {
        let store = store.clone();
        let index = index.clone();
        let shutdown = shutdown.clone();
        let handoff = handoff.clone();
        tasks.spawn(async move { follow_store(store, index, handoff, shutdown).await });
    }

    // Live detection: follows the store too.
    let alert_db = mamori_detect::alerts::AlertStore::open(&data.join("alerts.db"))?;
    let mut rule_info = Vec::new();
    if cfg.detect.enabled {
        let detector = crate::live::start_detector(&cfg, &store, &alert_db, lang)?;
        rule_info = detector.rules().rules().to_vec();
        let store = store.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            crate::live::follow_store_detect(store, detector, handoff, detect_metrics, shutdown)
                .await
        });
    } else {
        eprintln!("{}", t(lang, "detect.disabled"));
    }

    // Retention, hourly.
    {
        let store = store.clone();
        let index = index.clone();
        let shutdown = shutdown.clone();
        let policy = RetentionPolicy {
            default_days: cfg.store.retention_days,
            per_source_days: cfg
                .sources
                .iter()
                .filter_map(|s| s.retention_days.map(|d| (s.name.clone(), d)))
                .collect(),
        };
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let (store, index, policy) = (store.clone(), index.clone(), policy.clone());
                let r = tokio::task::spawn_blocking(move || {
                    let report = store.apply_retention(mamori_event::now_ns(), &policy)?;
                    if let Some(first) = report.first_kept_seq {
                        index.delete_seq_below(first)?;
                    }
                    Ok::<_, anyhow::Error>(report)
                })
                .await;
                match r {
                    Ok(Ok(rep)) if !rep.deleted_segments.is_empty() => {
                        tracing::info!(segments = ?rep.deleted_segments, "retention removed old segments (recorded in the chain)")
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
                    Err(e) => tracing::error!(error = %e, "retention task failed"),
                }
            }
        });
    }

    // Checkpoints to another machine.
    if !cfg.checkpoint.syslog_target.is_empty() {
        let target = cfg.checkpoint.syslog_target.clone();
        let every = Duration::from_secs(cfg.checkpoint.interval_minutes.max(1) * 60);
        let store = store.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                // checkpoint() waits for the writer's fsync: not on a runtime thread.
                let s = store.clone();
                let cp = tokio::task::spawn_blocking(move || s.checkpoint()).await;
                match cp
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                {
                    Ok(cp) => {
                        if let Err(e) =
                            crate::commands::send_checkpoint(&target, &cp.to_line()).await
                        {
                            tracing::warn!(target = %target, error = %e, "checkpoint not sent");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "no checkpoint to send"),
                }
            }
        });
    }

    // Tamper check at start and daily, for the dashboard.
    {
        let data = data.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            // First a minute after start (not to slow start-up), then daily.
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + Duration::from_secs(60),
                Duration::from_secs(24 * 3600),
            );
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let d = data.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let mut report = mamori_store::verify(
                        &d,
                        &mamori_store::VerifyOptions::default(),
                        &mut |_, _| {},
                    )?;
                    // The segment being written may end inside a block that
                    // is still being written: not damage.
                    let newest = report.problems.iter().filter_map(|p| p.segment).max();
                    report.problems.retain(|p| {
                        !(p.kind == mamori_store::ProblemKind::Truncated && p.segment == newest)
                    });
                    crate::commands::record_verify(&d, &report);
                    Ok::<_, mamori_store::StoreError>(report.problems.len())
                })
                .await;
                match r {
                    Ok(Ok(0)) => tracing::info!("tamper check: the store is intact"),
                    Ok(Ok(n)) => tracing::error!(
                        problems = n,
                        "tamper check found problems: run mamori verify"
                    ),
                    Ok(Err(e)) => tracing::warn!(error = %e, "tamper check could not run"),
                    Err(e) => tracing::warn!(error = %e, "tamper check task failed"),
                }
            }
        });
    }

    // HTTP API and console.
    if !cfg.listen.http.is_empty() {
        let tokens = Arc::new(mamori_web::tokens::TokenStore::open(&data)?);
        if tokens.list().is_empty() {
            eprintln!("{}", t(lang, "serve.first_token"));
        }
        let users = mamori_web::users::UserStore::open(&data)?;
        let renderer: mamori_web::MetricsRenderer = {
            let (registry, m, store, index) = (
                registry.clone(),
                serve_metrics.clone(),
                store.clone(),
                index.clone(),
            );
            Arc::new(move || {
                m.refresh(&store, &index);
                let mut out = String::new();
                if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
                    tracing::warn!(error = %e, "metrics could not be encoded");
                }
                out
            })
        };
        let state = mamori_web::ApiState {
            store: store.clone(),
            index: index.clone(),
            sources: Arc::new(by_name),
            tokens,
            metrics: renderer,
            metrics_public: cfg.listen.metrics_public,
            lang,
            max_body_bytes: cfg.limits.max_http_body_mb * 1024 * 1024,
            alerts: alert_db.clone(),
            rules: Arc::new(rule_info),
            users: users.clone(),
            secure_cookies: cfg.listen.http_tls,
            listeners: Arc::new(listeners.clone()),
            data_dir: data.clone(),
        };
        let a = &cfg.listen.http;
        let l = tokio::net::TcpListener::bind(a)
            .await
            .map_err(|e| bind_err("http", a, "http", e))?;
        let what = if cfg.listen.http_tls { "https" } else { "http" };
        announce(lang, what, l.local_addr());
        if let Some(token) = users.setup_token()? {
            let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
            let url = format!("{what}://localhost:{port}/#/setup/{token}");
            eprintln!("{}", tf(lang, "serve.setup_link", &[("url", &url)]));
            // Scripts and tests read this line.
            println!("setup {url}");
        }
        let tls = if cfg.listen.http_tls {
            tls.clone()
        } else {
            None
        };
        let router = mamori_web::router(state);
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = mamori_web::serve(l, tls, router, shutdown).await {
                tracing::error!(error = %e, "the HTTP API stopped");
            }
        });
    }

    eprintln!("{}", t(lang, "serve.ready"));
    stop_signal.wait().await;
    eprintln!("{}", t(lang, "serve.stopping"));
    shutdown.cancel();
    while listener_tasks.join_next().await.is_some() {}
    // The listeners are gone, so the channel closes and the store task drains it.
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), drain)
        .await
        .is_err()
    {
        tracing::warn!("some tasks did not stop within 30 s");
    }
    let store2 = store.clone();
    tokio::task::spawn_blocking(move || store2.shutdown())
        .await
        .context("store shutdown task")??;
    eprintln!("{}", t(lang, "serve.stopped"));
    Ok(())
}

fn addr_of(a: std::io::Result<std::net::SocketAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

fn announce(lang: Lang, what: &str, addr: std::io::Result<std::net::SocketAddr>) {
    if let Ok(a) = addr {
        // Tests and scripts read this line to learn the port when binding port 0.
        eprintln!(
            "{}",
            tf(
                lang,
                "serve.listening",
                &[("what", what), ("addr", &a.to_string())]
            )
        );
        println!("listening {what} {a}");
    }
}

/// Indexes what the store holds beyond the index, then keeps following it.
/// A pass ends with a commit. A pass starts as soon as events arrive after
/// a quiet second; while events keep coming, a pass starts once a second,
/// or at once when [`PASS_BACKLOG`] events wait (a flood), so that the
/// indexer never idles while there is work and a steady trickle makes one
/// commit a second. In a flood a pass goes on past its end (see
/// [`FOLLOW`]), committing every `INDEX_COMMIT_EVERY`. On shutdown it
/// makes one last pass of at most [`FINAL_INDEX_BUDGET`]; what is left is
/// indexed at the next start.
async fn follow_store(
    store: Store,
    index: Index,
    handoff: Option<Arc<Handoff>>,
    shutdown: CancellationToken,
) {
    let mut committed = store.committed_seq();
    loop {
        let started = tokio::time::Instant::now();
        let upto = *committed.borrow_and_update();
        // A flood held back at the senders (see `Store::holds_streams`)
        // leaves little backlog, but is a flood all the same.
        hold_merges_in_flood(&index, upto, store.in_flood()).await;
        let mut failed = false;
        if upto > index.indexed_upto() {
            let (s, i, stop) = (store.clone(), index.clone(), shutdown.clone());
            let h = handoff.clone();
            failed = match tokio::task::spawn_blocking(move || {
                crate::commands::index_range(&s, &i, upto, Some(FOLLOW), h.as_deref(), &|| {
                    stop.is_cancelled()
                })
            })
            .await
            {
                Ok(Ok(_)) => false,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "indexing failed; retrying");
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, "indexing task failed");
                    true
                }
            };
        }
        // Caught up: merges held back run now, not at the next event.
        let stored = *committed.borrow();
        hold_merges_in_flood(&index, stored, false).await;
        tokio::select! {
            _ = shutdown.cancelled() => {
                // One last pass so that what was stored is searchable.
                let upto = *committed.borrow();
                let (s, i) = (store.clone(), index.clone());
                let deadline = std::time::Instant::now() + FINAL_INDEX_BUDGET;
                let r = tokio::task::spawn_blocking(move || {
                    crate::commands::index_range(&s, &i, upto, None, None, &|| std::time::Instant::now() > deadline)
                })
                .await;
                if let Ok(Err(e)) = r {
                    tracing::error!(error = %e, "indexing failed; the rest is indexed at the next start");
                }
                return;
            }
            _ = next_pass(&mut committed, index.indexed_upto(), started, failed) => {}
        }
    }
}

/// In a flood (the store [`FLOOD_BACKLOG`] or more events ahead of the
/// index at `upto`, or senders `held` back for the indexer), merging
/// segments waits until the index has caught up.
/// Letting them go commits, so off the async threads.
async fn hold_merges_in_flood(index: &Index, upto: u64, held: bool) {
    let flood = upto.saturating_sub(index.indexed_upto()) >= FLOOD_BACKLOG || held;
    if flood != index.merges_held() {
        let i = index.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || i.hold_merges(flood)).await {
            tracing::error!(error = %e, "cannot start the index's merges");
        }
    }
}

/// Waits until the next indexing pass is due (see [`follow_store`]), the
/// index holding the events below `indexed`: some events wait and a second
/// has passed since the last pass started, or [`PASS_BACKLOG`] events wait
/// and the last pass did not fail (a failing pass is retried once a
/// second).
async fn next_pass(
    committed: &mut tokio::sync::watch::Receiver<u64>,
    indexed: u64,
    last_started: tokio::time::Instant,
    failed: bool,
) {
    let due = last_started + PASS_INTERVAL;
    loop {
        let backlog = committed.borrow_and_update().saturating_sub(indexed);
        let now = tokio::time::Instant::now();
        if (backlog > 0 && now >= due) || (backlog >= PASS_BACKLOG && !failed) {
            return;
        }
        if backlog > 0 {
            tokio::select! {
                _ = committed.changed() => {}
                _ = tokio::time::sleep_until(due) => {}
            }
        } else if committed.changed().await.is_err() {
            // The store is gone (shutting down): wait for the stop.
            std::future::pending::<()>().await;
        }
    }
}

/// The least time between the starts of two indexing passes while events
/// keep coming.
const PASS_INTERVAL: Duration = Duration::from_secs(1);

/// Events waiting that start an indexing pass at once.
const PASS_BACKLOG: u64 = 8_192;

/// A pass with this many events to index (a second's worth at a rate well
/// above the usual) means a flood: segment merges are held back until the
/// index has caught up (see `Index::hold_merges`).
const FLOOD_BACKLOG: u64 = 20_000;

/// An indexing pass goes on past its end while a pass would start at once
/// after it, holding merges back as a pass starting in a flood would.
const FOLLOW: crate::commands::Follow = crate::commands::Follow {
    more: PASS_BACKLOG,
    flood: FLOOD_BACKLOG,
};

/// How long a stopping server goes on indexing its backlog.
const FINAL_INDEX_BUDGET: Duration = Duration::from_secs(20);

/// SIGTERM and Ctrl+C, caught from the very start of `serve`, so that a stop
/// asked for while it is still starting is a clean stop too.
struct StopSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignal {
    fn install() -> StopSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignal {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            StopSignal {}
        }
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.term) => {}
                _ = recv(&mut self.int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{Instant, timeout};

    /// Whether `next_pass` returns within `within`.
    async fn due(
        committed: &mut tokio::sync::watch::Receiver<u64>,
        indexed: u64,
        last_started: Instant,
        failed: bool,
        within: Duration,
    ) -> bool {
        timeout(within, next_pass(committed, indexed, last_started, failed))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn indexing_passes_start_when_work_waits() {
        let soon = Duration::from_millis(300);
        let (tx, mut rx) = tokio::sync::watch::channel(100u64);
        let long_ago = Instant::now() - 2 * PASS_INTERVAL;
        // Nothing to index: no pass, however long ago the last one was.
        assert!(!due(&mut rx, 100, long_ago, false, soon).await);
        // Events after a quiet second: at once.
        tx.send_replace(101);
        assert!(due(&mut rx, 100, long_ago, false, soon).await);
        // A trickle right after a pass: once a second has passed.
        let just_now = Instant::now();
        assert!(!due(&mut rx, 100, just_now, false, soon).await);
        assert!(due(&mut rx, 100, just_now, false, 2 * PASS_INTERVAL).await);
        assert!(just_now.elapsed() >= PASS_INTERVAL);
        // A flood: at once, unless the last pass failed.
        tx.send_replace(100 + PASS_BACKLOG);
        let just_now = Instant::now();
        assert!(due(&mut rx, 100, just_now, false, soon).await);
        assert!(!due(&mut rx, 100, just_now, true, soon).await);
        // Events that come while it waits start the pass.
        tx.send_replace(100);
        let waiting = tokio::spawn(async move { next_pass(&mut rx, 100, long_ago, false).await });
        tokio::time::sleep(soon).await;
        assert!(!waiting.is_finished());
        tx.send_replace(200);
        assert!(timeout(soon, waiting).await.is_ok());
    }
}
