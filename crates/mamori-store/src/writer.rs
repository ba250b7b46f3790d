//! The writer thread: the only code that appends to segment files.

use crate::format::*;
use crate::{
    BlockLoc, Durability, LastBlock, Repair, RetentionPolicy, RetentionReport, SegInfo, SeqRange,
    Shared, StoreError, StoreOptions, decode_block,
};
use mamori_event::Event;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Req {
    Append {
        events: Vec<Event>,
        durability: Durability,
        reply: Reply<SeqRange>,
    },
    Sync(Reply<()>),
    Retention {
        now_ns: i64,
        policy: RetentionPolicy,
        reply: Reply<RetentionReport>,
    },
    Shutdown(Reply<()>),
}

/// The summary a seal signs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealSummary {
    /// Segment number.
    pub segment: u64,
    /// First sequence number in the segment.
    pub first_seq: u64,
    /// Sequence number after the segment.
    pub next_seq: u64,
    /// Blocks before the seal.
    pub blocks: u64,
    /// BLAKE3 of the segment header, hex.
    pub header_hash: String,
    /// Events per source.
    pub events_per_source: HashMap<String, u64>,
    /// Newest receive time per source, ns.
    pub newest_received: HashMap<String, i64>,
    /// Newest event time in the segment.
    pub max_time: i64,
}

impl SealSummary {
    /// Parses a seal payload (summary JSON followed by a 64-byte signature).
    pub fn parse(payload: &[u8]) -> Option<SealSummary> {
        let json = payload.get(..payload.len().checked_sub(64)?)?;
        serde_json::from_slice(json).ok()
    }
    /// The bytes the seal's signature covers.
    pub fn signed_bytes(prev_hash: &[u8; 32], json: &[u8]) -> Vec<u8> {
        let mut m = b"mamori-seal-v1".to_vec();
        m.extend_from_slice(prev_hash);
        m.extend_from_slice(json);
        m
    }
}

/// A record in the chain that segments were deleted by retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetentionRecord {
    /// When, RFC 3339.
    pub time: String,
    /// The deleted segments.
    pub deleted: Vec<DeletedSegment>,
}

/// One deleted segment, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedSegment {
    /// Its number.
    pub segment: u64,
    /// Its first sequence number.
    pub first_seq: u64,
    /// The sequence number after it.
    pub next_seq: u64,
    /// Hash of its last block (its seal), hex.
    pub last_hash: String,
}

/// The writer's handle.
#[derive(Clone)]
pub struct WriterHandle {
    tx: SyncSender<Req>,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl WriterHandle {
    fn send(&self, req: Req) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let mut req = req;
        // A full queue means the writer is behind: wait (backpressure).
        loop {
            match self.tx.try_send(req) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(r)) => {
                    req = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
            }
        }
    }

    pub async fn append(
        &self,
        events: Vec<Event>,
        durability: Durability,
    ) -> Result<SeqRange, StoreError> {
        let (reply, rx) = oneshot::channel();
        let req = Req::Append {
            events,
            durability,
            reply,
        };
        // try_send in a loop without blocking the async runtime's thread.
        let mut req = Some(req);
        while let Some(r) = req.take() {
            if self.closed.load(Ordering::SeqCst) {
                return Err(StoreError::Closed);
            }
            match self.tx.try_send(r) {
                Ok(()) => {}
                Err(TrySendError::Full(r)) => {
                    req = Some(r);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
            }
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub fn append_blocking(
        &self,
        events: Vec<Event>,
        durability: Durability,
    ) -> Result<SeqRange, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Req::Append {
            events,
            durability,
            reply,
        })?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    pub fn sync(&self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Req::Sync(reply))?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    pub fn retention(
        &self,
        now_ns: i64,
        policy: RetentionPolicy,
    ) -> Result<RetentionReport, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Req::Retention {
            now_ns,
            policy,
            reply,
        })?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    pub fn shutdown(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.send(Req::Shutdown(reply))?;
        let r = rx.blocking_recv().map_err(|_| StoreError::Closed)?;
        self.closed.store(true, Ordering::SeqCst);
        r
    }
}

struct OpenSegment {
    number: u64,
    file: File,
    header: SegmentHeader,
    offset: u64,
    blocks: u64,
    first_seq: u64,
    opened: Instant,
    has_events: bool,
    events_per_source: HashMap<String, u64>,
    newest_received: HashMap<String, i64>,
    max_time: i64,
}

struct Writer {
    shared: Arc<Shared>,
    opts: StoreOptions,
    seg: Option<OpenSegment>,
    next_segment: u64,
    prev_hash: [u8; 32],
    next_seq: u64,
    unsynced: bool,
    last_sync: Instant,
    /// One zstd context for every block, rather than a new one (and its
    /// tables to allocate and clear) per block.
    compressor: Option<zstd::bulk::Compressor<'static>>,
    _lock: File,
}

/// A block ready to be written.
struct PendingBlock {
    kind: BlockKind,
    payload: Vec<u8>,
    raw_len: u32,
    first_seq: u64,
    count: u32,
    min_time: i64,
    max_time: i64,
}

pub(crate) fn start(
    shared: Arc<Shared>,
    opts: StoreOptions,
    repair: Option<Repair>,
    lock: File,
) -> Result<WriterHandle, StoreError> {
    let (prev_hash, next_seq, open, next_segment) = {
        let d = shared.read_dir();
        let prev = d
            .last
            .map(|l| l.hash)
            .unwrap_or_else(|| genesis(&shared.key.public()));
        let next_seq = d.last.map(|l| l.next_seq).unwrap_or(0);
        let last_seg = d.segments.iter().next_back().map(|(n, s)| (*n, s.clone()));
        let next_segment = d.segments.keys().next_back().map(|n| n + 1).unwrap_or(1);
        (prev, next_seq, last_seg, next_segment)
    };
    let compressor = zstd::bulk::Compressor::new(opts.zstd_level).ok();
    let mut w = Writer {
        shared: shared.clone(),
        opts,
        seg: None,
        next_segment,
        prev_hash,
        next_seq,
        unsynced: false,
        last_sync: Instant::now(),
        compressor,
        _lock: lock,
    };
    // Continue the newest segment unless it is sealed.
    if let Some((n, info)) = open
        && !info.sealed
    {
        w.reopen(n, &info)?;
    }
    if let Some(r) = repair {
        let payload = serde_json::to_vec(&serde_json::json!({
            "time": mamori_event::format_rfc3339(mamori_event::now_ns()),
            "segment": r.segment,
            "cut_at": r.cut_at,
            "bytes_removed": r.bytes_removed,
            "reason": r.reason,
        }))
        .unwrap_or_default();
        let block = w.record_block(BlockKind::Repair, payload);
        w.write_with_retry(&[block])?;
        w.fsync()?;
    }
    let (tx, rx) = sync_channel(256);
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::Builder::new()
        .name("mamori-store-writer".into())
        .spawn(move || w.run(rx))
        .map_err(|e| StoreError::io(&shared.seg_dir, e))?;
    Ok(WriterHandle { tx, closed })
}

impl Writer {
    fn reopen(&mut self, n: u64, info: &SegInfo) -> Result<(), StoreError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&info.path)
            .map_err(|e| StoreError::io(&info.path, e))?;
        let mut hb = [0u8; SEGMENT_HEADER_LEN];
        file.read_exact_at(&mut hb, 0)
            .map_err(|e| StoreError::io(&info.path, e))?;
        let header = SegmentHeader::parse(&hb).ok_or_else(|| StoreError::Corrupt {
            path: info.path.clone(),
            detail: "segment header unreadable".into(),
        })?;
        let (blocks, locs) = {
            let d = self.shared.read_dir();
            let blocks = d
                .last
                .filter(|l| l.segment == n)
                .map(|l| l.index + 1)
                .unwrap_or(0);
            let locs: Vec<BlockLoc> = d
                .blocks
                .iter()
                .filter(|b| b.segment == n)
                .copied()
                .collect();
            (blocks, locs)
        };
        // What the segment already holds goes into its seal too, so that
        // retention and the counts know every source in it.
        let mut events_per_source: HashMap<String, u64> = HashMap::new();
        let mut newest_received: HashMap<String, i64> = HashMap::new();
        let mut max_time = i64::MIN;
        for loc in locs {
            let raw = self.shared.block_payload(loc)?;
            for e in decode_block(&raw, &info.path)? {
                *slot(&mut events_per_source, &e.source, 0) += 1;
                let newest = slot(&mut newest_received, &e.source, i64::MIN);
                *newest = (*newest).max(e.received_ns);
                max_time = max_time.max(e.time_ns);
            }
        }
        self.seg = Some(OpenSegment {
            number: n,
            file,
            header,
            offset: info.len,
            blocks,
            first_seq: info.first_seq,
            opened: Instant::now(),
            has_events: info.next_seq > info.first_seq,
            events_per_source,
            newest_received,
            max_time,
        });
        Ok(())
    }

    fn run(mut self, rx: Receiver<Req>) {
        loop {
            let wait = self
                .opts
                .flush_interval
                .checked_sub(self.last_sync.elapsed())
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(5));
            let first = match rx.recv_timeout(wait) {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.fsync();
                    return;
                }
            };
            let mut appends = Vec::new();
            let mut others = Vec::new();
            let mut bytes = 0usize;
            let mut next = first;
            while let Some(req) = next.take() {
                match req {
                    Req::Append {
                        events,
                        durability,
                        reply,
                    } => {
                        bytes += events.iter().map(|e| e.raw.len() + 64).sum::<usize>();
                        appends.push((events, durability, reply));
                    }
                    other => others.push(other),
                }
                if bytes < 8 * 1024 * 1024 && appends.len() < 1024 && others.is_empty() {
                    next = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.handle_appends(appends);
            }
            let mut stop = false;
            for req in others {
                match req {
                    Req::Sync(reply) => {
                        let _ = reply.send(self.fsync());
                    }
                    Req::Retention {
                        now_ns,
                        policy,
                        reply,
                    } => {
                        let _ = reply.send(self.retention(now_ns, &policy));
                    }
                    Req::Shutdown(reply) => {
                        let r = self.fsync();
                        // Release the directory lock before answering, so
                        // the store can be reopened as soon as shutdown()
                        // returns (the thread itself ends a moment later).
                        if let Err(e) = self._lock.unlock() {
                            tracing::warn!(error = %e, "could not release the store lock");
                        }
                        let _ = reply.send(r);
                        stop = true;
                    }
                    Req::Append { .. } => {}
                }
            }
            if stop {
                return;
            }
            if self.unsynced
                && self.last_sync.elapsed() >= self.opts.flush_interval
                && let Err(e) = self.fsync()
            {
                tracing::error!(error = %e, "fsync failed");
            }
            if let Some(s) = &self.seg
                && s.has_events
                && (s.offset >= self.opts.segment_max_bytes
                    || s.opened.elapsed() >= self.opts.seal_after)
                && let Err(e) = self.seal()
            {
                tracing::error!(error = %e, "could not seal the segment; will retry");
            }
        }
    }

    fn handle_appends(
        &mut self,
        appends: Vec<(Vec<Event>, Durability, super::writer::Reply<SeqRange>)>,
    ) {
        let start_seq = self.next_seq;
        let mut ranges = Vec::with_capacity(appends.len());
        let mut seq = start_seq;
        for (events, _, _) in &appends {
            let n = events.len() as u64;
            ranges.push(SeqRange {
                start: seq,
                end: seq + n,
            });
            seq += n;
        }
        let blocks = self.event_blocks(appends.iter().flat_map(|(e, _, _)| e.iter()), start_seq);
        let need_sync = appends.iter().any(|(_, d, _)| *d == Durability::Sync);
        let mut result = self.write_with_retry(&blocks);
        if result.is_ok() {
            // Count per source.
            if let Ok(mut m) = self.shared.counters.per_source.lock() {
                for (events, _, _) in &appends {
                    for e in events {
                        let v = slot(&mut m, &e.source, (0, i64::MIN));
                        v.0 += 1;
                        v.1 = v.1.max(e.received_ns);
                    }
                }
            }
            if let Some(s) = &mut self.seg {
                for (events, _, _) in &appends {
                    for e in events {
                        *slot(&mut s.events_per_source, &e.source, 0) += 1;
                        let n = slot(&mut s.newest_received, &e.source, i64::MIN);
                        *n = (*n).max(e.received_ns);
                        s.max_time = s.max_time.max(e.time_ns);
                    }
                }
            }
            if need_sync {
                result = self.fsync_retrying();
            }
        }
        // Kept for the follower (see `Store::follow`) before anyone hears
        // that they are stored, so that a follower reading them then finds
        // them in memory.
        let keep = result.is_ok() && self.shared.recent.wanted();
        let mut written: Vec<Event> = Vec::new();
        let mut replies = Vec::with_capacity(appends.len());
        for (events, _, reply) in appends {
            if keep {
                if written.is_empty() {
                    written = events;
                } else {
                    written.extend(events);
                }
            }
            replies.push(reply);
        }
        if keep {
            self.shared.recent.publish(start_seq, written);
        }
        for (reply, range) in replies.into_iter().zip(ranges) {
            let _ = reply.send(match &result {
                Ok(()) => Ok(range),
                Err(e) => Err(StoreError::Corrupt {
                    path: self.shared.seg_dir.clone(),
                    detail: e.to_string(),
                }),
            });
        }
    }

    /// Encodes and compresses events into blocks of at most `block_max_bytes`.
    fn event_blocks<'a>(
        &mut self,
        events: impl Iterator<Item = &'a Event>,
        first_seq: u64,
    ) -> Vec<PendingBlock> {
        let mut out = Vec::new();
        let mut raw = Vec::with_capacity(self.opts.block_max_bytes + 4096);
        let mut count = 0u32;
        let mut seq = first_seq;
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        let level = self.opts.zstd_level;
        let mut compressor = self.compressor.take();
        let mut flush = |raw: &mut Vec<u8>,
                         count: &mut u32,
                         seq: &mut u64,
                         min_t: &mut i64,
                         max_t: &mut i64,
                         out: &mut Vec<PendingBlock>| {
            if *count == 0 {
                return;
            }
            let payload = match compressor.as_mut() {
                Some(c) => c.compress(raw),
                None => zstd::bulk::compress(raw, level),
            }
            .unwrap_or_else(|_| raw.clone());
            out.push(PendingBlock {
                kind: BlockKind::Events,
                raw_len: raw.len() as u32,
                payload,
                first_seq: *seq,
                count: *count,
                min_time: *min_t,
                max_time: *max_t,
            });
            *seq += u64::from(*count);
            raw.clear();
            *count = 0;
            *min_t = i64::MAX;
            *max_t = i64::MIN;
        };
        for e in events {
            e.encode(&mut raw);
            count += 1;
            min_t = min_t.min(e.time_ns);
            max_t = max_t.max(e.time_ns);
            if raw.len() >= self.opts.block_max_bytes {
                flush(
                    &mut raw, &mut count, &mut seq, &mut min_t, &mut max_t, &mut out,
                );
            }
        }
        flush(
            &mut raw, &mut count, &mut seq, &mut min_t, &mut max_t, &mut out,
        );
        self.compressor = compressor;
        out
    }

    fn record_block(&self, kind: BlockKind, payload: Vec<u8>) -> PendingBlock {
        PendingBlock {
            kind,
            raw_len: payload.len() as u32,
            payload,
            first_seq: self.next_seq,
            count: 0,
            min_time: 0,
            max_time: 0,
        }
    }

    /// Writes blocks; on failure cuts the file back, pauses, and retries every second.
    fn write_with_retry(&mut self, blocks: &[PendingBlock]) -> Result<(), StoreError> {
        let mut logged = false;
        loop {
            match self.write_blocks(blocks) {
                Ok(()) => {
                    if self.shared.paused.swap(false, Ordering::SeqCst) {
                        tracing::warn!("writing works again; ingestion resumed");
                    }
                    return Ok(());
                }
                Err(e) => {
                    if !logged {
                        tracing::error!(
                            dir = %self.shared.seg_dir.display(),
                            error = %e,
                            "disk full or write error: ingestion paused; it resumes by itself when space is freed"
                        );
                        logged = true;
                    }
                    self.shared.paused.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    fn ensure_segment(&mut self) -> std::io::Result<()> {
        if self.seg.is_some() {
            return Ok(());
        }
        let n = self.next_segment;
        let path = self.shared.seg_dir.join(segment_file_name(n));
        let header = SegmentHeader::new(n, mamori_event::now_ns(), self.shared.key.public());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        self.check_injected()?;
        file.write_all_at(&header.bytes, 0)?;
        file.sync_all()?;
        File::open(&self.shared.seg_dir)?.sync_all()?;
        self.next_segment = n + 1;
        self.seg = Some(OpenSegment {
            number: n,
            file,
            header,
            offset: SEGMENT_HEADER_LEN as u64,
            blocks: 0,
            first_seq: self.next_seq,
            opened: Instant::now(),
            has_events: false,
            events_per_source: HashMap::new(),
            newest_received: HashMap::new(),
            max_time: i64::MIN,
        });
        self.shared.write_dir().segments.insert(
            n,
            SegInfo {
                path,
                len: SEGMENT_HEADER_LEN as u64,
                sealed: false,
                newest_received: HashMap::new(),
                first_seq: self.next_seq,
                next_seq: self.next_seq,
                last_hash: self.prev_hash,
            },
        );
        Ok(())
    }

    fn check_injected(&self) -> std::io::Result<()> {
        let left = self.shared.inject_failures.load(Ordering::SeqCst);
        if left > 0 {
            self.shared
                .inject_failures
                .store(left - 1, Ordering::SeqCst);
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }

    fn write_blocks(&mut self, blocks: &[PendingBlock]) -> std::io::Result<()> {
        self.ensure_segment()?;
        let Some(seg) = self.seg.as_mut() else {
            return Err(std::io::Error::other("no open segment"));
        };
        let start = seg.offset;
        let mut offset = start;
        let mut prev = self.prev_hash;
        let mut buf = Vec::new();
        let mut written = Vec::with_capacity(blocks.len());
        for (i, b) in blocks.iter().enumerate() {
            let mut h = BlockHeader {
                kind: b.kind,
                payload_len: b.payload.len() as u32,
                raw_len: b.raw_len,
                first_seq: b.first_seq,
                count: b.count,
                min_time: if b.count > 0 { b.min_time } else { 0 },
                max_time: if b.count > 0 { b.max_time } else { 0 },
                prev_hash: prev,
                hash: [0; 32],
                raw_prefix: None,
            };
            h.hash = h.compute_hash(&seg.header.bytes, &b.payload);
            buf.extend_from_slice(&h.to_bytes());
            buf.extend_from_slice(&b.payload);
            written.push((offset, seg.blocks + i as u64, h.clone()));
            offset += h.total_len();
            prev = h.hash;
        }
        let res = (|| {
            let left = self.shared.inject_failures.load(Ordering::SeqCst);
            if left > 0 {
                // Simulate a disk that fills in the middle of the write.
                self.shared
                    .inject_failures
                    .store(left - 1, Ordering::SeqCst);
                seg.file.write_all_at(&buf[..buf.len() / 2], start)?;
                return Err(std::io::Error::from_raw_os_error(28));
            }
            seg.file.write_all_at(&buf, start)
        })();
        if let Err(e) = res {
            // Never leave half a block behind.
            let _ = seg.file.set_len(start);
            return Err(e);
        }
        seg.offset = offset;
        seg.blocks += blocks.len() as u64;
        self.prev_hash = prev;
        self.unsynced = true;
        let number = seg.number;
        let mut next_seq = self.next_seq;
        {
            let mut d = self.shared.write_dir();
            for (off, index, h) in &written {
                if h.kind == BlockKind::Events {
                    seg.has_events = true;
                    d.blocks.push(BlockLoc {
                        segment: number,
                        offset: *off,
                        first_seq: h.first_seq,
                        count: h.count,
                    });
                }
                next_seq = next_seq.max(h.first_seq + u64::from(h.count));
                d.last = Some(LastBlock {
                    segment: number,
                    index: *index,
                    hash: h.hash,
                    next_seq,
                });
            }
            if let Some(info) = d.segments.get_mut(&number) {
                info.len = offset;
                info.next_seq = next_seq;
                info.last_hash = prev;
            }
        }
        self.next_seq = next_seq;
        self.shared.committed.send_replace(next_seq);
        Ok(())
    }

    fn fsync(&mut self) -> Result<(), StoreError> {
        if !self.unsynced {
            return Ok(());
        }
        let Some(seg) = &self.seg else {
            self.unsynced = false;
            return Ok(());
        };
        let t = Instant::now();
        seg.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.shared.seg_dir, e))?;
        let ns = t.elapsed().as_nanos() as u64;
        let c = &self.shared.counters;
        c.fsync_count.fetch_add(1, Ordering::Relaxed);
        c.fsync_nanos.fetch_add(ns, Ordering::Relaxed);
        c.fsync_max_nanos.fetch_max(ns, Ordering::Relaxed);
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn fsync_retrying(&mut self) -> Result<(), StoreError> {
        let mut logged = false;
        loop {
            match self.fsync() {
                Ok(()) => {
                    self.shared.paused.store(false, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) => {
                    if !logged {
                        tracing::error!(error = %e, "fsync failed: ingestion paused, retrying every second");
                        logged = true;
                    }
                    self.shared.paused.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    /// Closes the open segment with a signed seal block.
    fn seal(&mut self) -> Result<(), StoreError> {
        let Some(seg) = &self.seg else {
            return Ok(());
        };
        let number = seg.number;
        let summary = SealSummary {
            segment: seg.number,
            first_seq: seg.first_seq,
            next_seq: self.next_seq,
            blocks: seg.blocks,
            header_hash: blake3::hash(&seg.header.bytes).to_hex().to_string(),
            events_per_source: seg.events_per_source.clone(),
            newest_received: seg.newest_received.clone(),
            max_time: seg.max_time,
        };
        let json = serde_json::to_vec(&summary).unwrap_or_default();
        let sig = self
            .shared
            .key
            .sign(&SealSummary::signed_bytes(&self.prev_hash, &json));
        let mut payload = json;
        payload.extend_from_slice(&sig);
        let block = self.record_block(BlockKind::Seal, payload);
        self.write_with_retry(&[block])?;
        self.fsync_retrying()?;
        if let Some(info) = self.shared.write_dir().segments.get_mut(&number) {
            info.sealed = true;
            info.newest_received = summary.newest_received;
        }
        self.seg = None;
        Ok(())
    }

    fn retention(
        &mut self,
        now_ns: i64,
        policy: &RetentionPolicy,
    ) -> Result<RetentionReport, StoreError> {
        let day = 86_400_000_000_000i64;
        let candidates: Vec<(u64, SegInfo)> = {
            let d = self.shared.read_dir();
            let mut v = Vec::new();
            for (n, info) in &d.segments {
                if !info.sealed {
                    break;
                }
                // A seal of a segment holding events that names no source
                // cannot say its events are old: keep it.
                let holds_events = info.next_seq > info.first_seq;
                if holds_events && info.newest_received.is_empty() {
                    break;
                }
                let expired = info.newest_received.iter().all(|(source, newest)| {
                    let days = policy
                        .per_source_days
                        .get(source)
                        .copied()
                        .unwrap_or(policy.default_days);
                    *newest < now_ns.saturating_sub(i64::from(days) * day)
                });
                if !expired {
                    break;
                }
                v.push((*n, info.clone()));
            }
            v
        };
        let mut report = RetentionReport::default();
        if !candidates.is_empty() {
            let record = RetentionRecord {
                time: mamori_event::format_rfc3339(now_ns),
                deleted: candidates
                    .iter()
                    .map(|(n, i)| DeletedSegment {
                        segment: *n,
                        first_seq: i.first_seq,
                        next_seq: i.next_seq,
                        last_hash: hex::encode(i.last_hash),
                    })
                    .collect(),
            };
            let payload = serde_json::to_vec(&record).unwrap_or_default();
            let block = self.record_block(BlockKind::Retention, payload);
            self.write_with_retry(&[block])?;
            self.fsync_retrying()?;
            for (n, info) in &candidates {
                std::fs::remove_file(&info.path).map_err(|e| StoreError::io(&info.path, e))?;
                report.deleted_segments.push(*n);
                tracing::info!(
                    segment = n,
                    "segment removed by retention (recorded in the chain)"
                );
            }
            if let Ok(d) = File::open(&self.shared.seg_dir) {
                let _ = d.sync_all();
            }
            let mut d = self.shared.write_dir();
            for (n, _) in &candidates {
                d.segments.remove(n);
            }
            d.blocks
                .retain(|b| !report.deleted_segments.contains(&b.segment));
            if let Ok(mut c) = self.shared.cache.lock() {
                c.retain(|((s, _), _)| !report.deleted_segments.contains(s));
            }
        }
        report.first_kept_seq = self.shared.read_dir().blocks.first().map(|b| b.first_seq);
        Ok(report)
    }
}

/// The entry of `key` in a per-source map, made with `empty` the first time
/// (without allocating the key for every event).
fn slot<'m, V>(m: &'m mut HashMap<String, V>, key: &str, empty: V) -> &'m mut V {
    if !m.contains_key(key) {
        m.insert(key.to_owned(), empty);
    }
    m.get_mut(key).expect("inserted above")
}
