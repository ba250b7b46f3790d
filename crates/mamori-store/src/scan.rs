//! Walking a segment file block by block, tolerating whatever is on disk.

use crate::format::*;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

/// One block found in a segment file.
#[derive(Debug, Clone)]
pub struct ScannedBlock {
    /// Index within the segment.
    pub index: u64,
    /// Offset of the block header in the file.
    pub offset: u64,
    /// The header.
    pub header: BlockHeader,
    /// Whether the stored hash matches the contents (when hashes were checked).
    pub hash_ok: Option<bool>,
    /// The payload (only when asked for).
    pub payload: Option<Vec<u8>>,
}

/// How a segment file ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// After the last block, nothing.
    Clean,
    /// The file ends inside a block (header or payload) that starts at `offset`.
    Truncated {
        /// Where the incomplete block starts.
        offset: u64,
    },
    /// Bytes at `offset` are not a block header.
    Garbage {
        /// Where the unreadable bytes start.
        offset: u64,
    },
}

/// What was found in one segment file.
#[derive(Debug, Clone)]
pub struct SegmentScan {
    /// The header, if readable.
    pub header: Option<SegmentHeader>,
    /// The blocks, in file order.
    pub blocks: Vec<ScannedBlock>,
    /// How the file ends.
    pub tail: Tail,
    /// File length.
    pub len: u64,
}

/// Reads a segment file. With `check_hashes`, every payload is read and its
/// hash recomputed; with `keep` also kept for blocks of the kinds listed.
pub fn scan_segment(
    path: &Path,
    check_hashes: bool,
    keep: &[BlockKind],
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<SegmentScan> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut hb = [0u8; SEGMENT_HEADER_LEN];
    let n = read_full(&mut r, &mut hb)?;
    let header = if n == SEGMENT_HEADER_LEN {
        SegmentHeader::parse(&hb)
    } else {
        None
    };
    let Some(seg_header) = header.clone() else {
        return Ok(SegmentScan {
            header: None,
            blocks: Vec::new(),
            tail: if n < SEGMENT_HEADER_LEN {
                Tail::Truncated { offset: 0 }
            } else {
                Tail::Garbage { offset: 0 }
            },
            len,
        });
    };
    let mut blocks = Vec::new();
    let mut offset = SEGMENT_HEADER_LEN as u64;
    let tail = loop {
        if offset == len {
            break Tail::Clean;
        }
        let mut bh = [0u8; BLOCK_HEADER_LEN];
        let n = read_full(&mut r, &mut bh)?;
        if n < BLOCK_HEADER_LEN {
            break Tail::Truncated { offset };
        }
        let Some(header) = BlockHeader::parse(&bh) else {
            break Tail::Garbage { offset };
        };
        if offset + header.total_len() > len {
            break Tail::Truncated { offset };
        }
        let wants_payload = check_hashes || keep.contains(&header.kind);
        let (hash_ok, payload) = if wants_payload {
            let mut p = vec![0u8; header.payload_len as usize];
            let n = read_full(&mut r, &mut p)?;
            if n < p.len() {
                break Tail::Truncated { offset };
            }
            let ok =
                check_hashes.then(|| header.compute_hash(&seg_header.bytes, &p) == header.hash);
            (ok, keep.contains(&header.kind).then_some(p))
        } else {
            r.seek(SeekFrom::Current(i64::from(header.payload_len)))?;
            (None, None)
        };
        progress(header.total_len());
        blocks.push(ScannedBlock {
            index: blocks.len() as u64,
            offset,
            header: header.clone(),
            hash_ok,
            payload,
        });
        offset += header.total_len();
    };
    Ok(SegmentScan {
        header,
        blocks,
        tail,
        len,
    })
}

/// The segment files in `dir`, sorted by the number in their name.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, std::path::PathBuf)>> {
    let mut v = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e?;
                if let Some(n) = e.file_name().to_str().and_then(segment_number) {
                    v.push((n, e.path()));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    v.sort();
    Ok(v)
}
