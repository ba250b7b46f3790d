//! `mamori verify`: recompute the chain and say exactly what is wrong.

use crate::StoreError;
use crate::checkpoint::Checkpoint;
use crate::format::*;
use crate::keys::verify_signature;
use crate::scan::{Tail, list_segments, scan_segment};
use crate::writer::{DeletedSegment, RetentionRecord, SealSummary};
use std::fmt;
use std::path::Path;

/// What to check besides the chain itself.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A checkpoint exported earlier: the store must still hold that block with that hash.
    pub checkpoint: Option<Checkpoint>,
}

/// What kind of damage a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// Bytes of a block or header differ from what was written.
    Changed,
    /// A segment ends in the middle of a block, or lacks its seal.
    Truncated,
    /// A segment, or events, are missing without a retention record.
    Missing,
    /// Segments are in the wrong order or under the wrong names.
    Reordered,
    /// A block that does not belong in the chain was put in.
    Inserted,
    /// A seal's signature does not match.
    BadSignature,
    /// The store ends before the checkpoint's block: newer data was removed.
    CheckpointNotFound,
    /// The store's block at the checkpoint's position has another hash.
    CheckpointMismatch,
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The segment concerned.
    pub segment: Option<u64>,
    /// The block (index within the segment) concerned.
    pub block: Option<u64>,
    /// The kind of damage.
    pub kind: ProblemKind,
    /// What exactly, in words.
    pub detail: String,
}

impl ProblemKind {
    /// A short name for reports.
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::Changed => "CHANGED",
            ProblemKind::Truncated => "TRUNCATED",
            ProblemKind::Missing => "MISSING",
            ProblemKind::Reordered => "REORDERED",
            ProblemKind::Inserted => "INSERTED",
            ProblemKind::BadSignature => "BAD SIGNATURE",
            ProblemKind::CheckpointNotFound => "CHECKPOINT NOT FOUND",
            ProblemKind::CheckpointMismatch => "CHECKPOINT MISMATCH",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.kind.label();
        match (self.segment, self.block) {
            (Some(s), Some(b)) => write!(f, "{k}: segment {s}, block {b}: {}", self.detail),
            (Some(s), None) => write!(f, "{k}: segment {s}: {}", self.detail),
            _ => write!(f, "{k}: {}", self.detail),
        }
    }
}

/// The result of a verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Segment files read.
    pub segments: u64,
    /// Blocks read.
    pub blocks: u64,
    /// Events in the blocks read.
    pub events: u64,
    /// Everything found wrong (empty: intact).
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether nothing was found wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Gap {
    after: Option<u64>,
    before: u64,
    found_prev: Option<[u8; 32]>,
}

/// Verifies the store in `dir`. `progress(done, total)` is called with bytes.
pub fn verify(
    dir: &Path,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let seg_dir = dir.join("segments");
    let pub_path = dir.join("keys/node.pub");
    let node_key: [u8; 32] = std::fs::read_to_string(&pub_path)
        .ok()
        .and_then(|s| hex::decode(s.trim()).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::Key {
            path: pub_path.clone(),
            detail: "is missing or unreadable: is this a mamori data directory?".into(),
        })?;
    let segs = list_segments(&seg_dir).map_err(|e| StoreError::io(&seg_dir, e))?;
    let total: u64 = segs
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut done = 0u64;
    progress(0, total);

    let mut rep = VerifyReport::default();
    let problem = |rep: &mut VerifyReport, segment, block, kind, detail: String| {
        rep.problems.push(Problem {
            segment,
            block,
            kind,
            detail,
        })
    };
    let mut expected_prev: Option<[u8; 32]> = None;
    let mut expected_seq: Option<u64> = None;
    let mut prev_segment: Option<u64> = None;
    let mut deleted: Vec<DeletedSegment> = Vec::new();
    let mut gaps: Vec<Gap> = Vec::new();
    let mut checkpoint_seen: Option<[u8; 32]> = None;
    let cp_pos = opts.checkpoint.as_ref().map(|c| (c.segment, c.block));
    let n_segs = segs.len();

    for (i, (num, path)) in segs.iter().enumerate() {
        let num = *num;
        rep.segments += 1;
        let sc = scan_segment(
            path,
            true,
            &[BlockKind::Seal, BlockKind::Retention],
            &mut |n| {
                done += n;
            },
        )
        .map_err(|e| StoreError::io(path, e))?;
        progress(done.min(total), total);
        let Some(header) = sc.header.clone() else {
            problem(
                &mut rep,
                Some(num),
                None,
                ProblemKind::Changed,
                format!(
                    "the segment header is unreadable ({} bytes in the file): the file was overwritten or cut",
                    sc.len
                ),
            );
            expected_prev = None;
            expected_seq = None;
            prev_segment = Some(num);
            continue;
        };
        if header.segment != num {
            problem(
                &mut rep,
                Some(num),
                None,
                ProblemKind::Reordered,
                format!(
                    "the file {} holds segment {}: segment files were renamed or swapped",
                    path.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                    header.segment
                ),
            );
            expected_prev = None;
            expected_seq = None;
            prev_segment = Some(num);
            continue;
        }
        if header.node_key != node_key {
            problem(
                &mut rep,
                Some(num),
                None,
                ProblemKind::Changed,
                "the segment was written with another node key than this store's".into(),
            );
        }
        // Segment numbers must follow on; a gap must be explained by retention.
        let first_expected = prev_segment.map(|p| p + 1).unwrap_or(1);
        let gap_here = num != first_expected;
        if gap_here {
            gaps.push(Gap {
                after: prev_segment,
                before: num,
                found_prev: sc.blocks.first().map(|b| b.header.prev_hash),
            });
        } else if prev_segment.is_none() && expected_prev.is_none() {
            expected_prev = Some(genesis(&node_key));
        }
        let mut sealed_at: Option<u64> = None;
        let mut hashes: Vec<[u8; 32]> = Vec::with_capacity(sc.blocks.len());
        for b in &sc.blocks {
            rep.blocks += 1;
            let h = &b.header;
            if h.kind == BlockKind::Events {
                rep.events += u64::from(h.count);
            }
            if let Some(s) = sealed_at {
                problem(
                    &mut rep,
                    Some(num),
                    Some(b.index),
                    ProblemKind::Inserted,
                    format!("a block after the seal (block {s}): nothing may follow a seal"),
                );
            }
            if b.hash_ok == Some(false) {
                problem(
                    &mut rep,
                    Some(num),
                    Some(b.index),
                    ProblemKind::Changed,
                    "content changed (its hash does not match its bytes)".into(),
                );
            }
            let first_of_gap = b.index == 0 && gap_here;
            if !first_of_gap
                && let Some(exp) = expected_prev
                && h.prev_hash != exp
                && b.hash_ok != Some(false)
            {
                // Does it follow the block before the previous one? Then that one was put in.
                let skip = b.index >= 2 && hashes.get(b.index as usize - 2) == Some(&h.prev_hash);
                if skip {
                    problem(
                        &mut rep,
                        Some(num),
                        Some(b.index - 1),
                        ProblemKind::Inserted,
                        "a block was inserted here: the next block chains to the block before it"
                            .into(),
                    );
                } else {
                    problem(
                        &mut rep,
                        Some(num),
                        Some(b.index),
                        ProblemKind::Inserted,
                        format!(
                            "the chain breaks here: this block does not follow {} (a block was inserted, removed or moved)",
                            if b.index == 0 {
                                "the end of the previous segment".to_string()
                            } else {
                                format!("block {}", b.index - 1)
                            }
                        ),
                    );
                }
            }
            if h.kind == BlockKind::Events
                && let Some(es) = expected_seq
                && h.first_seq != es
                && !first_of_gap
            {
                if h.first_seq < es {
                    problem(
                        &mut rep,
                        Some(num),
                        Some(b.index),
                        ProblemKind::Reordered,
                        format!(
                            "events {}..{} come again or out of order (expected {es} next)",
                            h.first_seq,
                            h.first_seq + u64::from(h.count)
                        ),
                    );
                } else {
                    problem(
                        &mut rep,
                        Some(num),
                        Some(b.index),
                        ProblemKind::Missing,
                        format!("events {es}..{} are missing", h.first_seq),
                    );
                }
            }
            match h.kind {
                BlockKind::Seal => {
                    sealed_at = Some(b.index);
                    check_seal(
                        &mut rep,
                        num,
                        b.index,
                        h,
                        b.payload.as_deref(),
                        &header,
                        &node_key,
                        expected_seq,
                    );
                }
                BlockKind::Retention => {
                    if let Some(rec) = b
                        .payload
                        .as_deref()
                        .and_then(|p| serde_json::from_slice::<RetentionRecord>(p).ok())
                    {
                        deleted.extend(rec.deleted);
                    }
                }
                _ => {}
            }
            if cp_pos == Some((num, b.index)) {
                checkpoint_seen = Some(h.hash);
            }
            hashes.push(h.hash);
            expected_prev = Some(h.hash);
            let next = h.first_seq + u64::from(h.count);
            if h.kind == BlockKind::Events || expected_seq.is_none() {
                expected_seq = Some(next);
            }
        }
        match sc.tail {
            Tail::Clean => {}
            Tail::Truncated { offset } => problem(
                &mut rep,
                Some(num),
                Some(sc.blocks.len() as u64),
                ProblemKind::Truncated,
                format!(
                    "the segment is cut short: the file ends inside a block that starts at byte {offset}"
                ),
            ),
            Tail::Garbage { offset } => problem(
                &mut rep,
                Some(num),
                Some(sc.blocks.len() as u64),
                ProblemKind::Changed,
                format!("unreadable bytes from byte {offset} on (a block header was overwritten)"),
            ),
        }
        if i + 1 < n_segs && sealed_at.is_none() && sc.tail == Tail::Clean {
            problem(
                &mut rep,
                Some(num),
                None,
                ProblemKind::Truncated,
                "the segment has no seal although newer segments exist: its end was cut off".into(),
            );
        }
        prev_segment = Some(num);
    }

    // Gaps in segment numbers are fine only where a retention record says so.
    for g in gaps {
        let first = g.after.map(|a| a + 1).unwrap_or(1);
        let missing: Vec<u64> = (first..g.before).collect();
        let all_recorded = missing
            .iter()
            .all(|m| deleted.iter().any(|d| d.segment == *m));
        let chain_ok = match (missing.last(), g.found_prev) {
            (Some(last), Some(found)) => deleted
                .iter()
                .find(|d| d.segment == *last)
                .is_some_and(|d| d.last_hash == hex::encode(found)),
            _ => true,
        };
        if !(all_recorded && chain_ok) {
            let names = if missing.len() == 1 {
                format!("segment {} is missing", missing[0])
            } else {
                format!("segments {} to {} are missing", first, g.before - 1)
            };
            rep.problems.push(Problem {
                segment: Some(*missing.first().unwrap_or(&g.before)),
                block: None,
                kind: ProblemKind::Missing,
                detail: format!("{names}: deleted without a retention record"),
            });
        }
    }

    if let Some(cp) = &opts.checkpoint {
        if cp.node_key != hex::encode(node_key) {
            rep.problems.push(Problem {
                segment: None,
                block: None,
                kind: ProblemKind::CheckpointMismatch,
                detail: "the checkpoint was signed by another node key than this store's".into(),
            });
        } else {
            match checkpoint_seen {
                Some(h) if hex::encode(h) == cp.hash => {}
                Some(_) => rep.problems.push(Problem {
                    segment: Some(cp.segment),
                    block: Some(cp.block),
                    kind: ProblemKind::CheckpointMismatch,
                    detail: "this block differs from the checkpoint: history up to the checkpoint was rewritten".into(),
                }),
                None if deleted.iter().any(|d| d.segment == cp.segment) => {}
                None => rep.problems.push(Problem {
                    segment: Some(cp.segment),
                    block: Some(cp.block),
                    kind: ProblemKind::CheckpointNotFound,
                    detail: format!(
                        "the store ends before the checkpoint's block (events up to {}): newer data was removed",
                        cp.seq
                    ),
                }),
            }
        }
    }
    progress(total, total);
    Ok(rep)
}

#[allow(clippy::too_many_arguments)]
fn check_seal(
    rep: &mut VerifyReport,
    num: u64,
    index: u64,
    h: &BlockHeader,
    payload: Option<&[u8]>,
    header: &SegmentHeader,
    node_key: &[u8; 32],
    expected_seq: Option<u64>,
) {
    let mut bad = |kind, detail: String| {
        rep.problems.push(Problem {
            segment: Some(num),
            block: Some(index),
            kind,
            detail,
        })
    };
    let Some(p) = payload.filter(|p| p.len() > 64) else {
        bad(ProblemKind::Changed, "the seal is unreadable".into());
        return;
    };
    let (json, sig) = p.split_at(p.len() - 64);
    let sig: [u8; 64] = match sig.try_into() {
        Ok(s) => s,
        Err(_) => return,
    };
    if !verify_signature(
        node_key,
        &SealSummary::signed_bytes(&h.prev_hash, json),
        &sig,
    ) {
        bad(
            ProblemKind::BadSignature,
            "the seal's signature does not match: the segment was rewritten after it was sealed"
                .into(),
        );
        return;
    }
    let Ok(s) = serde_json::from_slice::<SealSummary>(json) else {
        bad(
            ProblemKind::Changed,
            "the seal's summary is unreadable".into(),
        );
        return;
    };
    if s.segment != num || s.blocks != index {
        bad(
            ProblemKind::Inserted,
            format!(
                "the seal counts {} blocks in segment {}, the file has {index} in segment {num}",
                s.blocks, s.segment
            ),
        );
    }
    if s.header_hash != blake3::hash(&header.bytes).to_hex().to_string() {
        bad(
            ProblemKind::Changed,
            "the segment header differs from the sealed one".into(),
        );
    }
    if let Some(es) = expected_seq
        && s.next_seq != es
    {
        bad(
            ProblemKind::Missing,
            format!(
                "the seal says events end at {}, the blocks end at {es}",
                s.next_seq
            ),
        );
    }
}
