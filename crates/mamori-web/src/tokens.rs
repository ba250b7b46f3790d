//! API and ingest tokens.
//!
//! A token is shown once when made and never stored: the file
//! `<data>/tokens.json` keeps only its BLAKE3 hash, its name, its kind
//! (ingest for one source, or API) and when it was made. Checking a token
//! hashes what was presented and compares hashes in constant time.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TokenKind {
    /// May send events for one configured source to `POST /api/v1/ingest`.
    Ingest {
        /// The source the events are filed under.
        source: String,
    },
    /// May read: search, metrics.
    Api,
}

/// One token as kept on disk (its hash, never the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// A name for people ("fortigate-main", "grafana").
    pub name: String,
    /// What it may do.
    #[serde(flatten)]
    pub kind: TokenKind,
    /// BLAKE3 of the token, hex.
    pub hash: String,
    /// When it was made, RFC 3339.
    pub created: String,
}

/// Errors reading or writing the token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read or written.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error(
        "token file {path} is damaged ({source}); restore it from a backup or remove it and make new tokens"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A token of that name exists.
    #[error("a token named {0} exists already; remove it first with `mamori token remove {0}`")]
    Exists(String),
    /// No token of that name.
    #[error("no token named {0}")]
    NotFound(String),
    /// No randomness from the OS.
    #[error("the operating system gave no random bytes: {0}")]
    Random(String),
}

/// The token file and the tokens in it.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    records: RwLock<Vec<TokenRecord>>,
    /// Modification time of the file when it was last read, so that tokens
    /// made by `mamori token add` while the server runs take effect.
    loaded: std::sync::Mutex<Option<std::time::SystemTime>>,
}

fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_records(path: &Path) -> Result<Vec<TokenRecord>, TokenError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| TokenError::Parse {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(TokenError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn hash_token(token: &str) -> blake3::Hash {
    blake3::hash(token.as_bytes())
}

impl TokenStore {
    /// Opens `<data_dir>/tokens.json` (an absent file means no tokens).
    pub fn open(data_dir: &Path) -> Result<TokenStore, TokenError> {
        let path = data_dir.join("tokens.json");
        let loaded = mtime(&path);
        let records = read_records(&path)?;
        Ok(TokenStore {
            path,
            records: RwLock::new(records),
            loaded: std::sync::Mutex::new(loaded),
        })
    }

    /// Makes a new token, saves its hash, and returns the token (show it once).
    pub fn add(&self, name: &str, kind: TokenKind) -> Result<String, TokenError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
        let token = format!(
            "mamori_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let mut recs = self.write_lock();
        if recs.iter().any(|r| r.name == name) {
            return Err(TokenError::Exists(name.to_owned()));
        }
        recs.push(TokenRecord {
            name: name.to_owned(),
            kind,
            hash: hash_token(&token).to_hex().to_string(),
            created: mamori_event::format_rfc3339(mamori_event::now_ns()),
        });
        self.save(&recs)?;
        drop(recs);
        self.mark_loaded();
        Ok(token)
    }

    /// Removes the token called `name`.
    pub fn remove(&self, name: &str) -> Result<(), TokenError> {
        let mut recs = self.write_lock();
        let before = recs.len();
        recs.retain(|r| r.name != name);
        if recs.len() == before {
            return Err(TokenError::NotFound(name.to_owned()));
        }
        self.save(&recs)?;
        drop(recs);
        self.mark_loaded();
        Ok(())
    }

    fn mark_loaded(&self) {
        if let Ok(mut g) = self.loaded.lock() {
            *g = mtime(&self.path);
        }
    }

    /// The tokens (hashes only).
    pub fn list(&self) -> Vec<TokenRecord> {
        match self.records.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The record of the token presented, if it is valid.
    pub fn check(&self, presented: &str) -> Option<TokenRecord> {
        self.reload_if_changed();
        let h = hash_token(presented.trim());
        let recs = match self.records.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut found = None;
        for r in recs.iter() {
            if let Ok(stored) = blake3::Hash::from_hex(&r.hash)
                // blake3::Hash equality is constant-time.
                && stored == h
            {
                found = Some(r.clone());
            }
        }
        found
    }

    fn reload_if_changed(&self) {
        let now = mtime(&self.path);
        let mut loaded = match self.loaded.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if *loaded == now {
            return;
        }
        match read_records(&self.path) {
            Ok(recs) => {
                *self.write_lock() = recs;
                *loaded = now;
            }
            // Keep the tokens we have; a damaged file is reported once per change.
            Err(e) => {
                tracing::error!(error = %e, "token file not reloaded");
                *loaded = now;
            }
        }
    }

    fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, Vec<TokenRecord>> {
        match self.records.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn save(&self, recs: &[TokenRecord]) -> Result<(), TokenError> {
        let io = |source| TokenError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(recs).unwrap_or_default();
        write_private(&tmp, &body).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }
}

fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(body)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_check_remove_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ts = TokenStore::open(dir.path()).unwrap();
        let tok = ts
            .add(
                "fg",
                TokenKind::Ingest {
                    source: "fortigate".into(),
                },
            )
            .unwrap();
        assert!(tok.starts_with("mamori_"));
        assert_eq!(ts.check(&tok).unwrap().name, "fg");
        assert!(ts.check("mamori_wrong").is_none());
        let raw = std::fs::read_to_string(dir.path().join("tokens.json")).unwrap();
        assert!(!raw.contains(&tok), "the token itself is never stored");
        let again = TokenStore::open(dir.path()).unwrap();
        assert!(again.check(&tok).is_some());
        // A token made by another process is seen without a restart.
        let other = TokenStore::open(dir.path()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let tok2 = other.add("api", TokenKind::Api).unwrap();
        assert_eq!(again.check(&tok2).unwrap().kind, TokenKind::Api);
        assert!(matches!(
            ts.add("fg", TokenKind::Api),
            Err(TokenError::Exists(_))
        ));
        ts.remove("fg").unwrap();
        assert!(ts.check(&tok).is_none());
    }
}
