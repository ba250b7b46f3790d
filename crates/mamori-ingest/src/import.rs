//! File import: `.evtx` (Windows event logs, read with the `evtx` crate),
//! `.jsonl` / `.ndjson` / `.json` (one event per line), and anything else as
//! syslog text (one message per line). Events go through the same decoders
//! as live ones and are handed to a sink in batches. A file that cannot be
//! read is reported and skipped; the import goes on with the others.

use crate::decode::{Received, SourceSettings, decode, event_from_windows_json};
use mamori_event::{Event, now_ns};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Events handed to the sink at most this many at a time.
const BATCH: usize = 4096;

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A path given does not exist or cannot be listed.
    #[error("{path}: {source} (give existing files or folders)")]
    Path {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The sink (the store) refused events; the import stopped.
    #[error("events could not be stored: {0}")]
    Sink(String),
}

/// How far an import has come.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportProgress {
    /// Bytes of input read so far, over all files.
    pub bytes_done: u64,
    /// Events handed to the sink so far.
    pub events: u64,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Files read.
    pub files: u64,
    /// Events stored.
    pub events: u64,
    /// Input bytes read.
    pub bytes: u64,
    /// Files that could not be read (or only in part), with the reason.
    pub failed_files: Vec<(PathBuf, String)>,
}

/// The files to import for the given files and folders (folders are walked
/// recursively; hidden files are skipped), sorted for a stable order.
pub fn plan(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| ImportError::Path {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    let err = |source| ImportError::Path {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(err)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// The form a file is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Windows event log (binary).
    Evtx,
    /// One JSON event per line.
    JsonLines,
    /// One syslog message per line.
    Text,
}

/// Chooses by extension, then by the file's first bytes.
pub fn file_kind(path: &Path) -> FileKind {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "evtx" => return FileKind::Evtx,
        "jsonl" | "ndjson" | "json" => return FileKind::JsonLines,
        _ => {}
    }
    let mut head = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open(path)
        && f.read(&mut head).is_ok()
        && head.starts_with(b"ElfFile\0")
    {
        return FileKind::Evtx;
    }
    FileKind::Text
}

/// Imports `files` with `settings`, calling `progress` now and then and
/// `sink` with each batch of events.
pub fn import_paths(
    files: &[PathBuf],
    settings: &SourceSettings,
    progress: &mut dyn FnMut(ImportProgress),
    sink: &mut dyn FnMut(Vec<Event>) -> Result<(), String>,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let mut done = ImportProgress::default();
    for path in files {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let before = done.bytes_done;
        let r = match file_kind(path) {
            FileKind::Evtx => import_evtx(path, size, settings, &mut done, progress, sink),
            FileKind::JsonLines | FileKind::Text => {
                import_lines(path, settings, &mut done, progress, sink)
            }
        };
        match r {
            Ok(()) => report.files += 1,
            Err(FileError::Sink(e)) => return Err(ImportError::Sink(e)),
            Err(FileError::Read(reason)) => {
                tracing::warn!(file = %path.display(), %reason, "file not (fully) imported");
                report.failed_files.push((path.clone(), reason));
            }
        }
        done.bytes_done = before + size;
        progress(done);
    }
    report.events = done.events;
    report.bytes = done.bytes_done;
    Ok(report)
}

enum FileError {
    Read(String),
    Sink(String),
}

fn flush(
    batch: &mut Vec<Event>,
    done: &mut ImportProgress,
    sink: &mut dyn FnMut(Vec<Event>) -> Result<(), String>,
) -> Result<(), FileError> {
    if batch.is_empty() {
        return Ok(());
    }
    let b = std::mem::replace(batch, Vec::with_capacity(BATCH));
    done.events += b.len() as u64;
    sink(b).map_err(FileError::Sink)
}

fn import_lines(
    path: &Path,
    settings: &SourceSettings,
    done: &mut ImportProgress,
    progress: &mut dyn FnMut(ImportProgress),
    sink: &mut dyn FnMut(Vec<Event>) -> Result<(), String>,
) -> Result<(), FileError> {
    let f = std::fs::File::open(path).map_err(|e| FileError::Read(e.to_string()))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let start = done.bytes_done;
    let mut read = 0u64;
    let mut line = Vec::with_capacity(4096);
    let mut batch = Vec::with_capacity(BATCH);
    let rx = Received {
        received_ns: now_ns(),
        peer: None,
    };
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| FileError::Read(format!("after {read} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        batch.push(decode(&line, settings, &rx));
        if batch.len() >= BATCH {
            flush(&mut batch, done, sink)?;
            done.bytes_done = start + read;
            progress(*done);
        }
    }
    flush(&mut batch, done, sink)
}

fn import_evtx(
    path: &Path,
    size: u64,
    settings: &SourceSettings,
    done: &mut ImportProgress,
    progress: &mut dyn FnMut(ImportProgress),
    sink: &mut dyn FnMut(Vec<Event>) -> Result<(), String>,
) -> Result<(), FileError> {
    let mut parser =
        evtx::EvtxParser::from_path(path).map_err(|e| FileError::Read(e.to_string()))?;
    let rx = Received {
        received_ns: now_ns(),
        peer: None,
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut bad = 0u64;
    let mut first_bad = None;
    let start = done.bytes_done;
    let mut n = 0u64;
    for rec in parser.records_json_value() {
        match rec {
            Ok(rec) => {
                batch.push(event_from_windows_json(&rec.data, settings, &rx));
                n += 1;
            }
            Err(e) => {
                bad += 1;
                first_bad.get_or_insert_with(|| e.to_string());
            }
        }
        if batch.len() >= BATCH {
            flush(&mut batch, done, sink)?;
            // Records carry no byte offset; estimate from the count.
            done.bytes_done = start + (size / 2).min(n * 512);
            progress(*done);
        }
    }
    flush(&mut batch, done, sink)?;
    match first_bad {
        Some(e) => Err(FileError::Read(format!(
            "{bad} damaged records skipped, the first: {e}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_jsonl_are_imported_and_walked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.log"),
            "<13>Nov 24 10:00:00 host app: one\n\n<13>Nov 24 10:00:01 host app: two\r\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/b.jsonl"),
            "{\"message\":\"x\"}\nnot json\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".hidden"), "skip me\n").unwrap();
        let files = plan(&[dir.path().to_owned()]).unwrap();
        assert_eq!(files.len(), 2);
        let mut got = Vec::new();
        let report = import_paths(&files, &SourceSettings::default(), &mut |_| {}, &mut |b| {
            got.extend(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(report.events, 4);
        assert_eq!(report.files, 2);
        assert_eq!(got.len(), 4);
        assert!(got[3].is_undecoded(), "a bad JSON line is kept, undecoded");
    }

    #[test]
    fn missing_path_is_a_clear_error() {
        let e = plan(&[PathBuf::from("/nonexistent/x.evtx")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/x.evtx"), "{e}");
    }

    #[test]
    fn a_damaged_evtx_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.evtx");
        std::fs::write(&p, b"ElfFile\0garbage").unwrap();
        let report = import_paths(&[p], &SourceSettings::default(), &mut |_| {}, &mut |_| {
            Ok(())
        })
        .unwrap();
        assert_eq!(report.failed_files.len(), 1);
    }
}
