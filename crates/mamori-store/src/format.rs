//! The bytes on disk: segment headers, block headers, hashing.
//!
//! ```text
//! segment file  = segment header (64 bytes) , block*
//! segment header = "MAMORISG" , version u16 , 0u16 , segment u64 , created i64 , node key [32] , 0u32
//! block          = block header (112 bytes) , payload
//! block header   = "MBLK" , kind u8 , 0u8 , 0u16 , payload len u32 , raw len u32 ,
//!                  first seq u64 , count u32 , 0u32 , min time i64 , max time i64 ,
//!                  prev hash [32] , hash [32]
//! hash           = BLAKE3(prev hash ‖ segment header ‖ block header[0..48] ‖ payload)
//! ```
//! All integers are little-endian. Every block's hash covers the previous
//! block's hash (the chain), its own segment's header (so a block cannot be
//! moved to another segment) and all of its own header fields and payload.

use std::io::Read;

/// Bytes in a segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes in a block header.
pub const BLOCK_HEADER_LEN: usize = 112;
const SEGMENT_MAGIC: &[u8; 8] = b"MAMORISG";
const BLOCK_MAGIC: &[u8; 4] = b"MBLK";
const VERSION: u16 = 1;
/// Largest payload a block may declare (guards allocations on hostile files).
pub const MAX_PAYLOAD: u32 = 64 * 1024 * 1024;

/// What a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// zstd-compressed concatenated events.
    Events,
    /// A record that segments were deleted by retention.
    Retention,
    /// A record that a torn tail was cut at start-up.
    Repair,
    /// The signed seal that closes a segment.
    Seal,
}

impl BlockKind {
    fn code(self) -> u8 {
        match self {
            BlockKind::Events => 1,
            BlockKind::Retention => 2,
            BlockKind::Repair => 3,
            BlockKind::Seal => 4,
        }
    }
    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => BlockKind::Events,
            2 => BlockKind::Retention,
            3 => BlockKind::Repair,
            4 => BlockKind::Seal,
            _ => return None,
        })
    }
}

/// A parsed segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment number (also in the file name).
    pub segment: u64,
    /// When the segment was opened, ns since the epoch.
    pub created_ns: i64,
    /// The node's Ed25519 public key.
    pub node_key: [u8; 32],
    /// The header bytes as on disk (hashed into every block).
    pub bytes: [u8; SEGMENT_HEADER_LEN],
}

impl SegmentHeader {
    /// A new header.
    pub fn new(segment: u64, created_ns: i64, node_key: [u8; 32]) -> Self {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[12..20].copy_from_slice(&segment.to_le_bytes());
        b[20..28].copy_from_slice(&created_ns.to_le_bytes());
        b[28..60].copy_from_slice(&node_key);
        SegmentHeader {
            segment,
            created_ns,
            node_key,
            bytes: b,
        }
    }

    /// Parses a header; `None` if the bytes are not a mamori segment header.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b: &[u8; SEGMENT_HEADER_LEN] = b.get(..SEGMENT_HEADER_LEN)?.try_into().ok()?;
        if &b[0..8] != SEGMENT_MAGIC || u16::from_le_bytes([b[8], b[9]]) != VERSION {
            return None;
        }
        let mut node_key = [0u8; 32];
        node_key.copy_from_slice(&b[28..60]);
        Some(SegmentHeader {
            segment: u64::from_le_bytes(b[12..20].try_into().ok()?),
            created_ns: i64::from_le_bytes(b[20..28].try_into().ok()?),
            node_key,
            bytes: *b,
        })
    }
}

/// A parsed block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    /// What the block holds.
    pub kind: BlockKind,
    /// Bytes of payload that follow the header.
    pub payload_len: u32,
    /// Uncompressed payload bytes (events blocks).
    pub raw_len: u32,
    /// Sequence number of the first event (events blocks) or the next sequence number.
    pub first_seq: u64,
    /// Events in the block.
    pub count: u32,
    /// Oldest event time in the block.
    pub min_time: i64,
    /// Newest event time in the block.
    pub max_time: i64,
    /// Hash of the block before.
    pub prev_hash: [u8; 32],
    /// This block's hash.
    pub hash: [u8; 32],
    /// The first 48 header bytes as read from disk (hashed as they are, so
    /// that even a flipped padding byte is found); `None` for a new header.
    pub raw_prefix: Option<[u8; 48]>,
}

impl BlockHeader {
    /// The 112 header bytes.
    pub fn to_bytes(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0..4].copy_from_slice(BLOCK_MAGIC);
        b[4] = self.kind.code();
        b[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        b[24..28].copy_from_slice(&self.count.to_le_bytes());
        b[32..40].copy_from_slice(&self.min_time.to_le_bytes());
        b[40..48].copy_from_slice(&self.max_time.to_le_bytes());
        b[48..80].copy_from_slice(&self.prev_hash);
        b[80..112].copy_from_slice(&self.hash);
        b
    }

    /// Parses header bytes; `None` if they are not a block header.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b = b.get(..BLOCK_HEADER_LEN)?;
        if &b[0..4] != BLOCK_MAGIC {
            return None;
        }
        let kind = BlockKind::from_code(b[4])?;
        let u32_at = |i: usize| {
            b.get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let u64_at = |i: usize| {
            b.get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let mut prev_hash = [0u8; 32];
        prev_hash.copy_from_slice(&b[48..80]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[80..112]);
        let payload_len = u32_at(8)?;
        if payload_len > MAX_PAYLOAD {
            return None;
        }
        let mut raw_prefix = [0u8; 48];
        raw_prefix.copy_from_slice(&b[..48]);
        Some(BlockHeader {
            raw_prefix: Some(raw_prefix),
            kind,
            payload_len,
            raw_len: u32_at(12)?,
            first_seq: u64_at(16)?,
            count: u32_at(24)?,
            min_time: u64_at(32)? as i64,
            max_time: u64_at(40)? as i64,
            prev_hash,
            hash,
        })
    }

    /// The hash this block should carry, given its segment header and payload.
    pub fn compute_hash(
        &self,
        segment_header: &[u8; SEGMENT_HEADER_LEN],
        payload: &[u8],
    ) -> [u8; 32] {
        let bytes = self.to_bytes();
        let prefix: &[u8] = match &self.raw_prefix {
            Some(r) => r,
            None => &bytes[..48],
        };
        let mut h = blake3::Hasher::new();
        h.update(&self.prev_hash);
        h.update(segment_header);
        h.update(prefix);
        h.update(payload);
        *h.finalize().as_bytes()
    }

    /// Total bytes of the block on disk.
    pub fn total_len(&self) -> u64 {
        BLOCK_HEADER_LEN as u64 + u64::from(self.payload_len)
    }
}

/// The hash the first block of a store chains to.
pub fn genesis(node_key: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"mamori genesis v1");
    h.update(node_key);
    *h.finalize().as_bytes()
}

/// File name of segment `n`.
pub fn segment_file_name(n: u64) -> String {
    format!("seg-{n:016}.mseg")
}

/// The segment number in a file name, if it is a segment file.
pub fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?
        .strip_suffix(".mseg")?
        .parse()
        .ok()
}

/// Reads exactly `buf.len()` bytes, or returns how many could be read.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trip_and_hash_covers_every_field() {
        let sh = SegmentHeader::new(3, 42, [7; 32]);
        assert_eq!(SegmentHeader::parse(&sh.bytes), Some(sh.clone()));
        let mut h = BlockHeader {
            kind: BlockKind::Events,
            payload_len: 3,
            raw_len: 10,
            first_seq: 100,
            count: 2,
            min_time: -5,
            max_time: 9,
            prev_hash: [1; 32],
            hash: [0; 32],
            raw_prefix: None,
        };
        h.hash = h.compute_hash(&sh.bytes, b"abc");
        let parsed = BlockHeader::parse(&h.to_bytes()).unwrap();
        assert_eq!(parsed.compute_hash(&sh.bytes, b"abc"), h.hash);
        for i in 0..80 {
            let mut b = h.to_bytes();
            b[i] ^= 1;
            if let Some(p) = BlockHeader::parse(&b) {
                assert_ne!(p.compute_hash(&sh.bytes, b"abc"), h.hash, "byte {i}");
            }
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = SegmentHeader::parse(&b);
            let _ = BlockHeader::parse(&b);
        }
    }
}
