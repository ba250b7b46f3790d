//! The one-shot commands: import, search, verify, checkpoint, reindex, token, config.

use crate::config::{Config, TEMPLATE};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mamori_i18n::{Lang, t, tf};
use mamori_search::{Index, TimeRange, parse_query, parse_time_bound};
use mamori_store::handoff::{BATCH, Handoff};
use mamori_store::{Checkpoint, Durability, Store, StoreOptions, VerifyOptions};
use mamori_web::output::{OutputFormat, write_events};
use mamori_web::tokens::{TokenKind, TokenStore};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

fn bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_owned());
    pb
}

fn open_store(cfg: &Config) -> Result<Store> {
    Store::open(&cfg.data_dir, StoreOptions::default()).with_context(|| {
        format!(
            "cannot open the store in {} (is `mamori serve` running on it? stop it, or send events to its API)",
            cfg.data_dir.display()
        )
    })
}

fn open_index(cfg: &Config) -> Result<Index> {
    Index::open(&cfg.data_dir.join("index")).with_context(|| {
        format!(
            "cannot open the search index in {}",
            cfg.data_dir.join("index").display()
        )
    })
}

/// Indexes stored events from the index's position up to `upto` (exclusive);
/// returns how many were indexed. It commits at least every
/// [`INDEX_COMMIT_EVERY`], so a crash never throws away more than that much
/// work, and returns early (after a commit) as soon as `stop()` says so.
/// With a `handoff`, the decoded events are published to it in batches, for
/// live detection to take instead of decoding them again.
///
/// With `follow`, the pass does not end at `upto` while enough events have
/// been stored meanwhile (see [`Follow`]).
pub fn index_range(
    store: &Store,
    index: &Index,
    upto: u64,
    follow: Option<Follow>,
    handoff: Option<&Handoff>,
    stop: &dyn Fn() -> bool,
) -> Result<u64> {
    let from = index.indexed_upto();
    let mut upto = upto;
    let pass = handoff.map(|h| h.begin(from, upto));
    let mut batch = Vec::new();
    let publish = |batch: &mut Vec<(u64, mamori_event::Event)>| {
        if let Some(p) = &pass
            && !batch.is_empty()
        {
            p.publish(std::mem::replace(batch, Vec::with_capacity(BATCH)));
        }
    };
    let mut n = 0u64;
    let mut last_commit = std::time::Instant::now();
    // Events added since the last commit (a count, so that a commit made
    // for the time is not followed at once by one for the count).
    let mut uncommitted = 0u64;
    // A live pass (following the writer) takes the events the writer has
    // just written as they are, instead of reading them back. Kept until
    // the pass has committed: while it follows, TCP and TLS senders are
    // held back rather than let the writer run far ahead of it.
    let mut events = if follow.is_some() {
        store.follow(from)
    } else {
        store.scan(from)
    };
    let mut next = from;
    'pass: loop {
        for item in events.by_ref() {
            let (seq, ev) = item?;
            if seq >= upto {
                let stored = *store.committed_seq().borrow();
                let waiting = stored.saturating_sub(seq);
                let flood = store.in_flood();
                match follow {
                    // `seq` itself must be stored (`waiting` at least 1).
                    Some(f) if (waiting >= f.more.max(1) || flood) && !stop() => {
                        if waiting >= f.flood || flood {
                            index.hold_merges(true)?;
                        }
                        upto = stored;
                        if let Some(p) = &pass {
                            p.extend(upto);
                        }
                    }
                    _ => break 'pass,
                }
            }
            index.add(seq, &ev)?;
            next = seq + 1;
            if pass.is_some() {
                batch.push((seq, ev));
                if batch.len() >= BATCH {
                    publish(&mut batch);
                }
            }
            n += 1;
            uncommitted += 1;
            if n.is_multiple_of(1000) {
                if stop() {
                    index.commit(seq + 1)?;
                    return Ok(n);
                }
                if uncommitted >= INDEX_COMMIT_EVENTS || last_commit.elapsed() >= INDEX_COMMIT_EVERY
                {
                    // Published so far, so that detection does not wait for
                    // this batch through the commit, and then left to read the
                    // store for itself while the commit takes its time.
                    publish(&mut batch);
                    let _paused = pass.as_ref().map(|p| p.pause());
                    let _following = follow.map(|_| store.follower_paused());
                    index.commit(seq + 1)?;
                    last_commit = std::time::Instant::now();
                    uncommitted = 0;
                }
            }
        }
        // Everything stored is indexed. In a flood (senders held back for
        // this pass) more comes within moments: the pass waits for it
        // rather than end with a commit and start again.
        if follow.is_none() || !store.in_flood() || stop() {
            break;
        }
        let deadline = std::time::Instant::now() + FLOOD_WAIT;
        let stored = loop {
            let stored = *store.committed_seq().borrow();
            if stored > next || std::time::Instant::now() >= deadline {
                break stored;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        if stored <= next {
            break;
        }
        upto = upto.max(stored);
        if let Some(p) = &pass {
            p.extend(upto);
        }
        events = store.follow(next);
    }
    publish(&mut batch);
    index.commit(upto.max(next))?;
    drop(events);
    Ok(n)
}

/// How long a pass that has indexed everything stored waits for more in a
/// flood before it ends.
const FLOOD_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// When an indexing pass goes on past its end instead of ending there with
/// a commit. A flood is then indexed in one pass, with a commit every
/// [`INDEX_COMMIT_EVERY`] rather than one per pass: each commit waits for
/// all of the index's threads to write their segments, and leaves segments
/// to merge later.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    /// The pass goes on while at least this many events wait beyond it.
    pub more: u64,
    /// With this many waiting, segment merges are held back too (see
    /// `Index::hold_merges`); they are let go after the pass.
    pub flood: u64,
}

/// The longest indexing work a crash can undo.
pub const INDEX_COMMIT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// The most events a pass adds between two commits.
pub const INDEX_COMMIT_EVENTS: u64 = 100_000;

/// `mamori import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files or folders (.evtx, .jsonl/.ndjson, syslog text).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// File the events under this configured source (default: "import").
    #[arg(long)]
    source: Option<String>,
}

pub fn import(cfg: &Config, args: ImportArgs, lang: Lang) -> Result<()> {
    let mut settings = match &args.source {
        Some(name) => {
            let s = cfg
                .sources
                .iter()
                .find(|s| &s.name == name)
                .with_context(|| tf(lang, "token.unknown_source", &[("name", name)]))?;
            cfg.settings_for(s)?
        }
        None => cfg.default_settings()?,
    };
    if args.source.is_none() {
        settings.name = "import".into();
    }
    let files = mamori_ingest::import::plan(&args.paths)?;
    if files.is_empty() {
        let list: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        bail!(tf(lang, "import.nothing", &[("paths", &list.join(", "))]));
    }
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let store = open_store(cfg)?;
    let index = open_index(cfg)?;
    let pb = bar(total, "import");
    let mut progress = |p: mamori_ingest::import::ImportProgress| pb.set_position(p.bytes_done);
    let mut sink = |events: Vec<mamori_event::Event>| {
        store
            .append_blocking(events, Durability::Buffered)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let report = mamori_ingest::import::import_paths(&files, &settings, &mut progress, &mut sink)?;
    pb.finish_and_clear();
    store.shutdown()?;
    let upto = *store.committed_seq().borrow();
    index_range(&store, &index, upto, None, None, &|| false)?;
    for (path, reason) in &report.failed_files {
        eprintln!(
            "{}",
            tf(
                lang,
                "import.failed_file",
                &[("path", &path.display().to_string()), ("reason", reason)]
            )
        );
    }
    println!(
        "{}",
        tf(
            lang,
            "import.done",
            &[
                ("events", &report.events.to_string()),
                ("files", &report.files.to_string())
            ]
        )
    );
    Ok(())
}

/// `mamori search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query, e.g. 'user.name:yamada AND event.outcome:failure' (empty: everything).
    #[arg(default_value = "")]
    query: String,
    /// From: 2d, 36h, 15m, 2026-11-24, 2026-11-24T10:00:00+09:00 …
    #[arg(long)]
    from: Option<String>,
    /// To (same forms as --from).
    #[arg(long)]
    to: Option<String>,
    /// Most events to print.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// table, ndjson or csv.
    #[arg(long, default_value = "table")]
    format: OutputFormat,
}

pub fn search(cfg: &Config, args: SearchArgs, lang: Lang) -> Result<ExitCode> {
    let query = parse_query(&args.query)
        .map_err(|e| anyhow::anyhow!(tf(lang, "search.bad_query", &[("error", &e.to_string())])))?;
    let now = mamori_event::now_ns();
    let bound = |s: &Option<String>| -> Result<Option<i64>> {
        s.as_deref()
            .map(|s| {
                parse_time_bound(s, now).map_err(|e| {
                    anyhow::anyhow!(tf(lang, "search.bad_query", &[("error", &e.to_string())]))
                })
            })
            .transpose()
    };
    let range = TimeRange {
        from_ns: bound(&args.from)?,
        to_ns: bound(&args.to)?,
    };
    let index_dir = cfg.data_dir.join("index");
    let index = Index::open_read_only(&index_dir).with_context(|| {
        format!(
            "cannot read the search index in {} (run `mamori reindex` if it is missing)",
            index_dir.display()
        )
    })?;
    let store = Store::open_read_only(&cfg.data_dir)
        .with_context(|| format!("cannot read the store in {}", cfg.data_dir.display()))?;
    let result = index.search(&query, range, args.limit, 0)?;
    let seqs: Vec<u64> = result.hits.iter().map(|h| h.seq).collect();
    let events = store.get(&seqs)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if events.is_empty() && args.format == OutputFormat::Table {
        eprintln!("{}", t(lang, "search.none"));
        return Ok(ExitCode::from(1));
    }
    write_events(&mut out, args.format, &events, terminal_width())?;
    out.flush()?;
    if args.format == OutputFormat::Table {
        eprintln!(
            "{}",
            tf(
                lang,
                "search.count",
                &[
                    ("shown", &events.len().to_string()),
                    ("total", &result.total.to_string())
                ]
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(160)
}

/// `mamori verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A checkpoint exported earlier (`mamori checkpoint export > FILE`):
    /// proves that nothing up to it was removed.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
}

pub fn verify(cfg: &Config, args: VerifyArgs, lang: Lang) -> Result<ExitCode> {
    let checkpoint = match &args.checkpoint {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the checkpoint file {}", p.display()))?;
            Some(Checkpoint::parse(text.trim()).with_context(|| {
                format!(
                    "{} is not a mamori checkpoint (make one with `mamori checkpoint export`)",
                    p.display()
                )
            })?)
        }
        None => None,
    };
    let cp_seq = checkpoint.as_ref().map(|c| c.seq);
    let pb = bar(0, "verify");
    let mut progress = |done: u64, total: u64| {
        pb.set_length(total);
        pb.set_position(done);
    };
    let report = mamori_store::verify(&cfg.data_dir, &VerifyOptions { checkpoint }, &mut progress)?;
    pb.finish_and_clear();
    record_verify(&cfg.data_dir, &report);
    println!(
        "{}",
        tf(
            lang,
            "verify.summary",
            &[
                ("segments", &report.segments.to_string()),
                ("blocks", &report.blocks.to_string()),
                ("events", &report.events.to_string())
            ]
        )
    );
    if report.is_ok() {
        println!("{}", t(lang, "verify.ok"));
        if let Some(seq) = cp_seq {
            println!(
                "{}",
                tf(lang, "verify.checkpoint_ok", &[("seq", &seq.to_string())])
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &report.problems {
            println!("  {p}");
        }
        println!(
            "{}",
            tf(
                lang,
                "verify.problems",
                &[("count", &report.problems.len().to_string())]
            )
        );
        Ok(ExitCode::from(1))
    }
}

/// Keeps the outcome of a verify in `<data>/last-verify.json`, where the
/// console's dashboard reads it.
pub fn record_verify(data_dir: &std::path::Path, report: &mamori_store::VerifyReport) {
    let j = serde_json::json!({
        "time": mamori_event::format_rfc3339(mamori_event::now_ns()),
        "ok": report.is_ok(),
        "problems": report.problems.len(),
        "events": report.events,
        "segments": report.segments,
    });
    let path = data_dir.join("last-verify.json");
    let tmp = data_dir.join("last-verify.json.tmp");
    if std::fs::write(&tmp, j.to_string())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .is_err()
    {
        tracing::warn!(path = %path.display(), "the verify result could not be recorded");
    }
}

/// `mamori checkpoint …`.
#[derive(Debug, Subcommand)]
pub enum CheckpointAction {
    /// Print the latest signed checkpoint (keep it off this machine).
    Export,
}

pub fn checkpoint(cfg: &Config, action: CheckpointAction) -> Result<()> {
    match action {
        CheckpointAction::Export => {
            let store = Store::open_read_only(&cfg.data_dir)
                .with_context(|| format!("cannot read the store in {}", cfg.data_dir.display()))?;
            println!("{}", store.checkpoint()?.to_line());
            Ok(())
        }
    }
}

/// Sends one checkpoint line as an RFC 5424 syslog message to
/// `udp://host:port` or `tcp://host:port`.
pub async fn send_checkpoint(target: &str, line: &str) -> Result<()> {
    let (scheme, addr) = target
        .split_once("://")
        .with_context(|| format!("checkpoint target {target:?} must look like udp://host:514"))?;
    let host = hostname();
    let msg = format!(
        "<110>1 {} {host} mamori - checkpoint - {line}",
        mamori_event::format_rfc3339(mamori_event::now_ns())
    );
    match scheme {
        "udp" => {
            let sock = tokio::net::UdpSocket::bind(if addr.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            })
            .await?;
            sock.send_to(msg.as_bytes(), addr).await?;
        }
        "tcp" => {
            use tokio::io::AsyncWriteExt;
            let mut s = tokio::net::TcpStream::connect(addr).await?;
            s.write_all(format!("{} {msg}", msg.len()).as_bytes())
                .await?;
            s.shutdown().await?;
        }
        other => bail!("checkpoint target scheme {other:?}: use udp:// or tcp://"),
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

pub fn reindex(cfg: &Config, lang: Lang) -> Result<()> {
    let store = open_store(cfg)?;
    let index = open_index(cfg)?;
    index.clear()?;
    let upto = *store.committed_seq().borrow();
    let n = index_range(&store, &index, upto, None, None, &|| false)?;
    store.shutdown()?;
    println!(
        "{}",
        tf(lang, "reindex.done", &[("events", &n.to_string())])
    );
    Ok(())
}

/// `mamori token …`.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token; prints it once.
    Add {
        /// An ingest token for this configured source (POST /api/v1/ingest).
        #[arg(long, conflicts_with = "api")]
        source: Option<String>,
        /// An API token (search, metrics) with this name.
        #[arg(long)]
        api: Option<String>,
        /// Name of the token (default: the source name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List tokens (names and kinds; tokens themselves are never stored).
    List,
    /// Remove a token by name.
    Remove {
        /// The token's name.
        name: String,
    },
}

pub fn token(cfg: &Config, action: TokenAction, lang: Lang) -> Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let store = TokenStore::open(&cfg.data_dir)?;
    match action {
        TokenAction::Add { source, api, name } => {
            let (name, kind) = match (source, api) {
                (Some(src), _) => {
                    if !cfg.sources.iter().any(|s| s.name == src) {
                        bail!(tf(lang, "token.unknown_source", &[("name", &src)]));
                    }
                    (
                        name.unwrap_or_else(|| src.clone()),
                        TokenKind::Ingest { source: src },
                    )
                }
                (None, Some(api)) => (name.unwrap_or(api), TokenKind::Api),
                (None, None) => bail!("say which token: --source NAME or --api NAME"),
            };
            let tok = store.add(&name, kind)?;
            eprintln!("{}", t(lang, "token.created"));
            println!("{tok}");
        }
        TokenAction::List => {
            for r in store.list() {
                let kind = match r.kind {
                    TokenKind::Ingest { source } => format!("ingest ({source})"),
                    TokenKind::Api => "api".into(),
                };
                println!("{}\t{}\t{}", r.name, kind, r.created);
            }
        }
        TokenAction::Remove { name } => store.remove(&name)?,
    }
    Ok(())
}

/// `mamori config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Write a commented configuration file with every default.
    Init {
        /// Where to write it.
        #[arg(default_value = "mamori.toml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

pub fn config(action: ConfigAction, lang: Lang) -> Result<()> {
    match action {
        ConfigAction::Init { path, force } => {
            let shown = path.display().to_string();
            if path.exists() && !force {
                bail!(tf(lang, "config.exists", &[("path", &shown)]));
            }
            std::fs::write(&path, TEMPLATE).with_context(|| format!("cannot write {shown}"))?;
            println!("{}", tf(lang, "config.written", &[("path", &shown)]));
            Ok(())
        }
    }
}
