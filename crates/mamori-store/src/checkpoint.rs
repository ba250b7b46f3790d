//! Signed checkpoints: a statement "the chain had this block, with this hash,
//! at this position" that can be kept off the machine and checked later.

use crate::StoreError;
use crate::keys::verify_signature;
use serde::{Deserialize, Serialize};

/// A signed statement of the store's newest block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version (1).
    pub v: u32,
    /// Segment of the block.
    pub segment: u64,
    /// Index of the block within its segment (0-based).
    pub block: u64,
    /// Sequence number after the last event up to this block.
    pub seq: u64,
    /// The block's hash, hex.
    pub hash: String,
    /// When the checkpoint was made, RFC 3339.
    pub time: String,
    /// The node's public key, hex.
    pub node_key: String,
    /// Ed25519 signature of [`Checkpoint::signed_text`], hex.
    pub signature: String,
}

impl Checkpoint {
    /// The text the signature covers.
    pub fn signed_text(&self) -> String {
        format!(
            "mamori-checkpoint-v1|{}|{}|{}|{}|{}|{}",
            self.segment, self.block, self.seq, self.hash, self.time, self.node_key
        )
    }

    /// One line of JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a line made by [`Checkpoint::to_line`] and checks its signature.
    pub fn parse(s: &str) -> Result<Checkpoint, StoreError> {
        let cp: Checkpoint = serde_json::from_str(s.trim()).map_err(|e| {
            StoreError::Checkpoint(format!(
                "not a mamori checkpoint ({e}); make one with `mamori checkpoint export`"
            ))
        })?;
        if cp.v != 1 {
            return Err(StoreError::Checkpoint(format!(
                "checkpoint version {} is not known to this mamori",
                cp.v
            )));
        }
        if !cp.signature_ok() {
            return Err(StoreError::Checkpoint(
                "the checkpoint's signature does not match its contents: it was changed".into(),
            ));
        }
        Ok(cp)
    }

    /// Whether the signature matches the contents and the key named in it.
    pub fn signature_ok(&self) -> bool {
        let (Ok(key), Ok(sig)) = (hex::decode(&self.node_key), hex::decode(&self.signature)) else {
            return false;
        };
        let (Ok(key), Ok(sig)) = (<[u8; 32]>::try_from(key), <[u8; 64]>::try_from(sig)) else {
            return false;
        };
        verify_signature(&key, self.signed_text().as_bytes(), &sig)
    }
}
