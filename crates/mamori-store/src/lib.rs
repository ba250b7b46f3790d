//! The tamper-evident event store: mamori's source of truth.
//!
//! Events are appended to segment files as zstd-compressed blocks. Every
//! block carries BLAKE3(previous block's hash ‖ its segment's header ‖ its own
//! header ‖ its payload), so the blocks of all segments form one hash chain
//! from a genesis value derived from the node's Ed25519 key. A segment is
//! closed by a *seal*: a block holding a summary (sequence range, per-source
//! counts) signed with the node key. Deleting old segments by retention
//! writes a *retention* record into the chain before the files go, and
//! cutting a torn tail at start-up writes a *repair* record: nothing leaves
//! the store without the chain saying so. [`verify`] recomputes everything
//! and names the segment and block that was changed, truncated, removed,
//! reordered or inserted; a [`Checkpoint`] kept off the machine proves that
//! nothing up to it was cut off the end.
//!
//! One writer thread owns the open segment. Appends are grouped: while one
//! write or fsync runs, new requests queue and go into the next block, so a
//! single fsync acknowledges many [`Durability::Sync`] callers (group
//! commit); [`Durability::Buffered`] data is fsynced within
//! [`StoreOptions::flush_interval`]. A failed write (disk full) is cut back
//! to the last good block and retried every second while
//! [`StoreStats::paused`] is set; callers wait (backpressure). The store's
//! one follower (the indexer of `mamori serve`, [`Store::follow`]) takes
//! the events the writer has just written as they are, without reading
//! them back, while it keeps up.
//!
//! ```
//! use mamori_store::{Store, StoreOptions, Durability, verify, VerifyOptions};
//! use mamori_event::Event;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
//! let range = store
//!     .append_blocking(vec![Event::new(b"hello".to_vec())], Durability::Sync)
//!     .unwrap();
//! assert_eq!((range.start, range.end), (0, 1));
//! let got = store.get(&[0]).unwrap();
//! assert_eq!(got[0].1.raw, b"hello");
//! let cp = store.checkpoint().unwrap();
//! store.shutdown().unwrap();
//!
//! let report = verify(dir.path(), &VerifyOptions { checkpoint: Some(cp) }, &mut |_, _| {}).unwrap();
//! assert!(report.is_ok(), "{report:?}");
//! ```

mod checkpoint;
mod format;
pub mod handoff;
mod keys;
mod recent;
mod scan;
mod verify;
mod writer;

pub use checkpoint::Checkpoint;
pub use verify::{Problem, ProblemKind, VerifyOptions, VerifyReport, verify};

use format::{BlockKind, SEGMENT_HEADER_LEN};
use mamori_event::Event;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Tuning of the store; every field has a sensible default.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// A segment is sealed when it reaches this size.
    pub segment_max_bytes: u64,
    /// Uncompressed bytes of events per block.
    pub block_max_bytes: usize,
    /// Buffered data is fsynced at least this often: the loss window on a crash.
    pub flush_interval: Duration,
    /// zstd level of event blocks.
    pub zstd_level: i32,
    /// A segment holding events is sealed at this age.
    pub seal_after: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            segment_max_bytes: 64 * 1024 * 1024,
            block_max_bytes: 256 * 1024,
            flush_interval: Duration::from_secs(1),
            zstd_level: 3,
            seal_after: Duration::from_secs(3600),
        }
    }
}

/// When an append may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Only once the events are fsynced.
    Sync,
    /// Once written; fsynced within [`StoreOptions::flush_interval`].
    Buffered,
}

/// Sequence numbers given to appended events: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// The first event's sequence number.
    pub start: u64,
    /// One past the last event's sequence number.
    pub end: u64,
}

/// Retention: how many days each source's events are kept at least.
#[derive(Debug, Clone, Default)]
pub struct RetentionPolicy {
    /// Days for sources not listed.
    pub default_days: u32,
    /// Days per source name.
    pub per_source_days: HashMap<String, u32>,
}

/// What [`Store::apply_retention`] did.
#[derive(Debug, Clone, Default)]
pub struct RetentionReport {
    /// Segments deleted (and recorded in the chain).
    pub deleted_segments: Vec<u64>,
    /// The oldest sequence number still stored, if any.
    pub first_kept_seq: Option<u64>,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// Bytes of segment files.
    pub bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Sequence number the next event gets (= events ever stored).
    pub next_seq: u64,
    /// Ingestion is paused (disk full or write errors).
    pub paused: bool,
    /// fsync calls.
    pub fsync_count: u64,
    /// Time spent in fsync.
    pub fsync_total: Duration,
    /// Longest fsync.
    pub fsync_max: Duration,
    /// Events stored per source since this process started.
    pub events_per_source: Vec<(String, u64)>,
    /// When each source's newest event stored since this process started
    /// was received, ns (the receive time, not the device's clock).
    pub last_received_per_source: Vec<(String, i64)>,
    /// Events the follower ([`Store::follow`]) took as the writer wrote
    /// them, without reading them back.
    pub followed_from_memory: u64,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process has the store open for writing.
    #[error("another mamori process is writing to {0}; stop it first, or send events to its API")]
    Locked(PathBuf),
    /// The store was opened read-only.
    #[error("the store was opened read-only")]
    ReadOnly,
    /// The writer has stopped.
    #[error("the store has been shut down")]
    Closed,
    /// The node key is unusable.
    #[error("node key {path} {detail}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },
    /// A segment could not be read back.
    #[error("{path}: {detail}; run `mamori verify` to see what is damaged")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A checkpoint is unusable.
    #[error("{0}")]
    Checkpoint(String),
    /// No event has this sequence number (removed by retention, or never stored).
    #[error("no stored event has sequence number {0}")]
    NotFound(u64),
    /// The store holds nothing yet.
    #[error("the store is empty: nothing to checkpoint yet")]
    Empty,
}

impl StoreError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where an events block is.
#[derive(Debug, Clone, Copy)]
struct BlockLoc {
    segment: u64,
    offset: u64,
    first_seq: u64,
    count: u32,
}

/// What is known about one segment file.
#[derive(Debug, Clone)]
struct SegInfo {
    path: PathBuf,
    len: u64,
    sealed: bool,
    /// Newest receive time per source (for retention).
    newest_received: HashMap<String, i64>,
    first_seq: u64,
    next_seq: u64,
    last_hash: [u8; 32],
}

/// The newest block of the chain.
#[derive(Debug, Clone, Copy)]
struct LastBlock {
    segment: u64,
    index: u64,
    hash: [u8; 32],
    next_seq: u64,
}

#[derive(Debug, Default)]
struct Directory {
    blocks: Vec<BlockLoc>,
    segments: BTreeMap<u64, SegInfo>,
    last: Option<LastBlock>,
}

impl Directory {
    fn block_for(&self, seq: u64) -> Option<BlockLoc> {
        let i = self
            .blocks
            .partition_point(|b| b.first_seq + u64::from(b.count) <= seq);
        self.blocks
            .get(i)
            .copied()
            .filter(|b| b.first_seq <= seq && seq < b.first_seq + u64::from(b.count))
    }
}

#[derive(Default)]
struct Counters {
    fsync_count: AtomicU64,
    fsync_nanos: AtomicU64,
    fsync_max_nanos: AtomicU64,
    /// Per source: events stored since start, newest receive time.
    per_source: Mutex<HashMap<String, (u64, i64)>>,
}

/// A decompressed events block, by (segment, offset).
type CachedBlock = ((u64, u64), Arc<Vec<u8>>);

struct Shared {
    dir: PathBuf,
    seg_dir: PathBuf,
    directory: RwLock<Directory>,
    committed: tokio::sync::watch::Sender<u64>,
    paused: AtomicBool,
    inject_failures: AtomicU32,
    counters: Counters,
    cache: Mutex<Vec<CachedBlock>>,
    key: keys::NodeKey,
    /// Events just written, for the follower (see [`Store::follow`]).
    recent: recent::Recent,
}

impl Shared {
    fn read_dir(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        match self.directory.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    fn write_dir(&self) -> std::sync::RwLockWriteGuard<'_, Directory> {
        match self.directory.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The decompressed payload of the events block at `loc`.
    fn block_payload(&self, loc: BlockLoc) -> Result<Arc<Vec<u8>>, StoreError> {
        let key = (loc.segment, loc.offset);
        if let Ok(c) = self.cache.lock()
            && let Some((_, p)) = c.iter().find(|(k, _)| *k == key)
        {
            return Ok(p.clone());
        }
        let path = self.seg_dir.join(format::segment_file_name(loc.segment));
        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.clone(),
            detail,
        };
        let f = std::fs::File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let mut hb = [0u8; format::BLOCK_HEADER_LEN];
        read_at(&f, &mut hb, loc.offset).map_err(|e| StoreError::io(&path, e))?;
        let h = format::BlockHeader::parse(&hb)
            .ok_or_else(|| corrupt(format!("no block header at offset {}", loc.offset)))?;
        let mut payload = vec![0u8; h.payload_len as usize];
        read_at(
            &f,
            &mut payload,
            loc.offset + format::BLOCK_HEADER_LEN as u64,
        )
        .map_err(|e| StoreError::io(&path, e))?;
        let raw = zstd::bulk::decompress(&payload, h.raw_len as usize).map_err(|e| {
            corrupt(format!(
                "block at offset {} does not decompress: {e}",
                loc.offset
            ))
        })?;
        let raw = Arc::new(raw);
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= 16 {
                c.remove(0);
            }
            c.push((key, raw.clone()));
        }
        Ok(raw)
    }
}

fn read_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, offset)
}

/// Decodes every event of an events block payload.
fn decode_block(raw: &[u8], path: &Path) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let (ev, used) = Event::decode(&raw[pos..]).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("event record unreadable: {e}"),
        })?;
        out.push(ev);
        pos += used;
    }
    Ok(out)
}

/// A handle on the store; clones share one writer.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    writer: Option<writer::WriterHandle>,
}

impl Store {
    /// Opens (or creates) the store in `dir` for writing: makes the node key
    /// at first start, cuts a torn tail back to the last good block (and
    /// records the repair in the chain), and starts the writer thread.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        let seg_dir = dir.join("segments");
        std::fs::create_dir_all(&seg_dir).map_err(|e| StoreError::io(&seg_dir, e))?;
        let lock_path = seg_dir.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(dir.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&lock_path, e)),
        }
        let key = keys::NodeKey::load(dir, true)?;
        let (directory, repair) = load_directory(&seg_dir, &key, true)?;
        let shared = Arc::new(new_shared(dir, seg_dir, directory, key));
        let writer = writer::start(shared.clone(), opts, repair, lock)?;
        Ok(Store {
            shared,
            writer: Some(writer),
        })
    }

    /// Opens the store for reading only (search, checkpoint export) while a
    /// server may be writing to it. Nothing is repaired or written.
    pub fn open_read_only(dir: &Path) -> Result<Store, StoreError> {
        let seg_dir = dir.join("segments");
        let key = keys::NodeKey::load(dir, false)?;
        let (directory, _) = load_directory(&seg_dir, &key, false)?;
        Ok(Store {
            shared: Arc::new(new_shared(dir, seg_dir, directory, key)),
            writer: None,
        })
    }

    fn writer(&self) -> Result<&writer::WriterHandle, StoreError> {
        self.writer.as_ref().ok_or(StoreError::ReadOnly)
    }

    /// Appends events; they get consecutive sequence numbers.
    pub async fn append(&self, events: Vec<Event>, d: Durability) -> Result<SeqRange, StoreError> {
        self.writer()?.append(events, d).await
    }

    /// [`Store::append`] for callers outside an async runtime.
    pub fn append_blocking(
        &self,
        events: Vec<Event>,
        d: Durability,
    ) -> Result<SeqRange, StoreError> {
        self.writer()?.append_blocking(events, d)
    }

    /// The sequence number after the newest readable event; changes as the writer writes.
    pub fn committed_seq(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.committed.subscribe()
    }

    /// Events with sequence numbers from `from_seq` on, in order.
    pub fn scan(&self, from_seq: u64) -> Scan {
        Scan {
            shared: self.shared.clone(),
            next: from_seq,
            buf: Vec::new(),
            pos: 0,
            done: false,
            follows: false,
        }
    }

    /// [`Store::scan`] for the store's one follower (the indexer of
    /// `mamori serve`): from the first call on, the writer keeps the
    /// batches it has just written, decoded, and this scan takes its events
    /// from them rather than read them back while it keeps up; see
    /// [`Store::holds_streams`].
    pub fn follow(&self, from_seq: u64) -> Scan {
        self.shared.recent.follower_at(from_seq);
        self.shared.recent.set_reading(true);
        let mut scan = self.scan(from_seq);
        scan.follows = true;
        scan
    }

    /// Whether stream listeners (TCP, TLS) should hold back before reading
    /// more: the follower keeps up with the writer, and a few thousand
    /// events it has yet to take are waiting, or it fell a little behind
    /// (at most 65,536 events) and reads those from disk to be back in
    /// step. Holding them back then costs the senders a moment and saves
    /// reading events back from disk. False when there is no follower,
    /// when it is further behind (rebuilding) or when it has not moved for
    /// a second.
    pub fn holds_streams(&self) -> bool {
        self.shared.recent.holds_streams()
    }

    /// The follower is busy with other work for a moment (an index
    /// commit) until the guard is dropped: meanwhile senders are held back
    /// only once most of what memory keeps for it is full, so that
    /// receiving goes on while it is busy, and it counts as moving for up
    /// to five seconds (a long commit does not let the writer run far
    /// past it).
    pub fn follower_paused(&self) -> FollowerPaused {
        self.shared.recent.set_paused(true);
        FollowerPaused {
            shared: self.shared.clone(),
        }
    }

    /// Whether stream listeners were held back (see
    /// [`Store::holds_streams`]) within the last second: events come in
    /// faster than the follower takes them, though it keeps up.
    pub fn in_flood(&self) -> bool {
        self.shared.recent.in_flood()
    }

    /// The events with these sequence numbers, in the order asked. Numbers no
    /// longer stored (retention) are left out.
    pub fn get(&self, seqs: &[u64]) -> Result<Vec<(u64, Event)>, StoreError> {
        let mut out = Vec::with_capacity(seqs.len());
        let mut decoded: HashMap<(u64, u64), Vec<Event>> = HashMap::new();
        for &seq in seqs {
            let Some(loc) = self.shared.read_dir().block_for(seq) else {
                continue;
            };
            let key = (loc.segment, loc.offset);
            let evs = match decoded.entry(key) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let raw = self.shared.block_payload(loc)?;
                    let path = self
                        .shared
                        .seg_dir
                        .join(format::segment_file_name(loc.segment));
                    v.insert(decode_block(&raw, &path)?)
                }
            };
            if let Some(ev) = evs.get((seq - loc.first_seq) as usize) {
                out.push((seq, ev.clone()));
            }
        }
        Ok(out)
    }

    /// A signed checkpoint of the newest block (after an fsync).
    pub fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        if let Some(w) = &self.writer {
            w.sync()?;
        }
        let last = self.shared.read_dir().last.ok_or(StoreError::Empty)?;
        let mut cp = Checkpoint {
            v: 1,
            segment: last.segment,
            block: last.index,
            seq: last.next_seq,
            hash: hex::encode(last.hash),
            time: mamori_event::format_rfc3339(mamori_event::now_ns()),
            node_key: hex::encode(self.shared.key.public()),
            signature: String::new(),
        };
        cp.signature = hex::encode(self.shared.key.sign(cp.signed_text().as_bytes()));
        Ok(cp)
    }

    /// Deletes the oldest sealed segments whose every source is past its
    /// retention (a minimum keep), recording each deletion in the chain first.
    pub fn apply_retention(
        &self,
        now_ns: i64,
        policy: &RetentionPolicy,
    ) -> Result<RetentionReport, StoreError> {
        self.writer()?.retention(now_ns, policy.clone())
    }

    /// Figures for `/metrics`.
    pub fn stats(&self) -> StoreStats {
        let d = self.shared.read_dir();
        let c = &self.shared.counters;
        StoreStats {
            bytes: d.segments.values().map(|s| s.len).sum(),
            segments: d.segments.len() as u64,
            next_seq: *self.shared.committed.borrow(),
            paused: self.shared.paused.load(Ordering::Relaxed),
            fsync_count: c.fsync_count.load(Ordering::Relaxed),
            fsync_total: Duration::from_nanos(c.fsync_nanos.load(Ordering::Relaxed)),
            fsync_max: Duration::from_nanos(c.fsync_max_nanos.load(Ordering::Relaxed)),
            events_per_source: c
                .per_source
                .lock()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.0)).collect())
                .unwrap_or_default(),
            last_received_per_source: c
                .per_source
                .lock()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.1)).collect())
                .unwrap_or_default(),
            followed_from_memory: self.shared.recent.taken(),
        }
    }

    /// Writes and fsyncs everything pending and stops the writer. Other
    /// clones can no longer append.
    pub fn shutdown(&self) -> Result<(), StoreError> {
        match &self.writer {
            Some(w) => w.shutdown(),
            None => Ok(()),
        }
    }

    /// Makes the next `n` writes fail as if the disk were full (for tests).
    #[doc(hidden)]
    pub fn inject_write_failures(&self, n: u32) {
        self.shared.inject_failures.store(n, Ordering::SeqCst);
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

fn new_shared(dir: &Path, seg_dir: PathBuf, directory: Directory, key: keys::NodeKey) -> Shared {
    let next = directory.last.map(|l| l.next_seq).unwrap_or(0);
    let (committed, _) = tokio::sync::watch::channel(next);
    Shared {
        dir: dir.to_path_buf(),
        seg_dir,
        directory: RwLock::new(directory),
        committed,
        paused: AtomicBool::new(false),
        inject_failures: AtomicU32::new(0),
        counters: Counters::default(),
        cache: Mutex::new(Vec::new()),
        key,
        recent: recent::Recent::default(),
    }
}

/// What must be cut from the open segment at start-up, and recorded.
#[derive(Debug, Clone)]
pub(crate) struct Repair {
    pub segment: u64,
    pub cut_at: u64,
    pub bytes_removed: u64,
    pub reason: String,
}

/// Builds the block directory from the segment files. With `repair`, a torn
/// or damaged tail of the newest segment is cut off (and returned to be
/// recorded); without, it is only left out.
fn load_directory(
    seg_dir: &Path,
    key: &keys::NodeKey,
    repair: bool,
) -> Result<(Directory, Option<Repair>), StoreError> {
    let segs = scan::list_segments(seg_dir).map_err(|e| StoreError::io(seg_dir, e))?;
    let mut d = Directory::default();
    let mut fix = None;
    let n = segs.len();
    for (i, (num, path)) in segs.into_iter().enumerate() {
        let newest = i + 1 == n;
        let sc = scan::scan_segment(&path, newest, &[BlockKind::Seal], &mut |_| {})
            .map_err(|e| StoreError::io(&path, e))?;
        if sc.header.as_ref().map(|h| h.segment) != Some(num) {
            if newest && repair && sc.len < SEGMENT_HEADER_LEN as u64 {
                // A segment file whose header never reached the disk: remove it.
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                fix = Some(Repair {
                    segment: num,
                    cut_at: 0,
                    bytes_removed: sc.len,
                    reason: "segment header incomplete after a crash; file removed".into(),
                });
                continue;
            }
            return Err(StoreError::Corrupt {
                path,
                detail: "not a segment of this store (header missing or numbered differently)"
                    .into(),
            });
        }
        if sc.header.as_ref().map(|h| h.node_key) != Some(key.public()) {
            return Err(StoreError::Corrupt {
                path,
                detail: "segment written with another node key".into(),
            });
        }
        // In the newest segment, the first block whose hash is wrong ends the good part.
        let mut good = sc.blocks.len();
        if newest && let Some(bad) = sc.blocks.iter().position(|b| b.hash_ok == Some(false)) {
            good = bad;
        }
        let good_end = if good == 0 {
            SEGMENT_HEADER_LEN as u64
        } else {
            sc.blocks[good - 1].offset + sc.blocks[good - 1].header.total_len()
        };
        if newest && (good < sc.blocks.len() || sc.tail != scan::Tail::Clean) {
            if repair {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::io(&path, e))?;
                f.set_len(good_end).map_err(|e| StoreError::io(&path, e))?;
                f.sync_all().map_err(|e| StoreError::io(&path, e))?;
                tracing::warn!(
                    segment = num,
                    offset = good_end,
                    bytes = sc.len - good_end,
                    "cut a torn tail off the newest segment (a crash during a write); the repair is recorded in the chain"
                );
                fix = Some(Repair {
                    segment: num,
                    cut_at: good_end,
                    bytes_removed: sc.len - good_end,
                    reason: if good < sc.blocks.len() {
                        "block with a wrong hash at the end of the newest segment".into()
                    } else {
                        "incomplete block at the end of the newest segment".into()
                    },
                });
            }
        } else if !newest && sc.tail != scan::Tail::Clean {
            return Err(StoreError::Corrupt {
                path,
                detail: "a sealed segment ends in the middle of a block".into(),
            });
        }
        let blocks = &sc.blocks[..good];
        let mut info = SegInfo {
            path: path.clone(),
            len: good_end,
            sealed: blocks
                .last()
                .is_some_and(|b| b.header.kind == BlockKind::Seal),
            newest_received: HashMap::new(),
            first_seq: blocks.first().map(|b| b.header.first_seq).unwrap_or(0),
            next_seq: 0,
            last_hash: [0; 32],
        };
        for b in blocks {
            let h = &b.header;
            let next = h.first_seq + u64::from(h.count);
            if h.kind == BlockKind::Events {
                d.blocks.push(BlockLoc {
                    segment: num,
                    offset: b.offset,
                    first_seq: h.first_seq,
                    count: h.count,
                });
            }
            if h.kind == BlockKind::Seal
                && let Some(p) = &b.payload
                && let Some(summary) = writer::SealSummary::parse(p)
            {
                info.newest_received = summary.newest_received;
            }
            info.next_seq = next;
            info.last_hash = h.hash;
            d.last = Some(LastBlock {
                segment: num,
                index: b.index,
                hash: h.hash,
                next_seq: next,
            });
        }
        d.segments.insert(num, info);
    }
    Ok((d, fix))
}

/// A pause of the follower; see [`Store::follower_paused`].
pub struct FollowerPaused {
    shared: Arc<Shared>,
}

impl Drop for FollowerPaused {
    fn drop(&mut self) {
        self.shared.recent.set_paused(false);
    }
}

/// Iterator over stored events in sequence order (see [`Store::scan`]).
pub struct Scan {
    shared: Arc<Shared>,
    next: u64,
    buf: Vec<Event>,
    pos: usize,
    done: bool,
    /// Made by [`Store::follow`]: takes events from the writer's recent
    /// batches when it can.
    follows: bool,
}

impl Drop for Scan {
    fn drop(&mut self) {
        if self.follows {
            self.shared.recent.set_reading(false);
        }
    }
}

impl Iterator for Scan {
    type Item = Result<(u64, Event), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.pos < self.buf.len() {
                let ev = std::mem::take(&mut self.buf[self.pos]);
                self.pos += 1;
                let seq = self.next;
                self.next += 1;
                return Some(Ok((seq, ev)));
            }
            if self.follows
                && let Some((first, evs)) = self.shared.recent.take(self.next)
            {
                self.pos = (self.next - first) as usize;
                self.buf = evs;
                continue;
            }
            // Find the block holding `next`, or the first one after it.
            let loc = {
                let d = self.shared.read_dir();
                let i = d
                    .blocks
                    .partition_point(|b| b.first_seq + u64::from(b.count) <= self.next);
                d.blocks.get(i).copied()
            };
            let Some(loc) = loc else {
                self.done = true;
                return None;
            };
            let raw = match self.shared.block_payload(loc) {
                Ok(r) => r,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let path = self
                .shared
                .seg_dir
                .join(format::segment_file_name(loc.segment));
            match decode_block(&raw, &path) {
                Ok(evs) => {
                    if self.next < loc.first_seq {
                        self.next = loc.first_seq;
                    }
                    self.pos = (self.next - loc.first_seq) as usize;
                    self.buf = evs;
                    if self.pos >= self.buf.len() {
                        // A block holding fewer events than its header says: skip it.
                        self.next = loc.first_seq + u64::from(loc.count);
                        self.buf.clear();
                        self.pos = 0;
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
