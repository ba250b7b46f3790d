//! The node's Ed25519 key: made at first start, kept in `<dir>/keys/`.

use crate::StoreError;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use std::path::Path;

/// The node's signing key.
pub struct NodeKey {
    signing: SigningKey,
}

impl NodeKey {
    /// Loads `<dir>/keys/node.key`, making it (mode 0600) when `create` and absent.
    pub fn load(dir: &Path, create: bool) -> Result<NodeKey, StoreError> {
        let keys = dir.join("keys");
        let path = keys.join("node.key");
        match std::fs::read(&path) {
            Ok(b) => {
                let seed: [u8; 32] = b.as_slice().try_into().map_err(|_| StoreError::Key {
                    path: path.clone(),
                    detail: format!(
                        "is {} bytes, not 32; restore it from your backup (without it new seals cannot be made)",
                        b.len()
                    ),
                })?;
                Ok(NodeKey {
                    signing: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                std::fs::create_dir_all(&keys).map_err(|e| StoreError::io(&keys, e))?;
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| StoreError::Key {
                    path: path.clone(),
                    detail: format!("the operating system gave no random bytes: {e}"),
                })?;
                write_private(&path, &seed).map_err(|e| StoreError::io(&path, e))?;
                let key = NodeKey {
                    signing: SigningKey::from_bytes(&seed),
                };
                let pub_path = keys.join("node.pub");
                std::fs::write(&pub_path, format!("{}\n", hex::encode(key.public())))
                    .map_err(|e| StoreError::io(&pub_path, e))?;
                tracing::info!(path = %path.display(), "made the node signing key");
                Ok(key)
            }
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }
}

/// Whether `sig` is `public`'s signature of `msg`.
pub fn verify_signature(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    match VerifyingKey::from_bytes(public) {
        Ok(k) => k
            .verify(msg, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok(),
        Err(_) => false,
    }
}

fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(body)?;
    f.sync_all()
}
