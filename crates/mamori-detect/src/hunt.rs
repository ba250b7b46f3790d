//! Offline hunting: rules over `.evtx` and `.jsonl` files, one file per core.

use crate::rules::RuleSet;
use mamori_event::Event;
use mamori_ingest::decode::SourceSettings;
use mamori_ingest::import::import_paths;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Filters of a hunt.
#[derive(Debug, Clone, Default)]
pub struct HuntOptions {
    /// Only rules at this level or above (`low`, `medium`, `high`, `critical`).
    pub min_level: Option<String>,
    /// Only events at or after this time, ns.
    pub from_ns: Option<i64>,
    /// Only events before this time, ns.
    pub to_ns: Option<i64>,
}

/// One rule matching one event.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Event time, ns.
    pub time_ns: i64,
    /// Rule title.
    pub rule: String,
    /// Rule id.
    pub rule_id: Option<String>,
    /// Rule level.
    pub level: &'static str,
    /// Rule tags.
    pub tags: Vec<String>,
    /// The computer (host) of the event.
    pub computer: String,
    /// The event's key fields (event id, user, address, command line …).
    pub key_fields: Vec<(String, String)>,
    /// The file the event came from.
    pub file: PathBuf,
}

/// What a hunt found.
#[derive(Debug, Default)]
pub struct HuntReport {
    /// Files read.
    pub files: usize,
    /// Events evaluated.
    pub events: u64,
    /// Matches, oldest first.
    pub findings: Vec<Finding>,
    /// Files that could not be read (or only in part).
    pub failed_files: Vec<(PathBuf, String)>,
}

/// Events read, findings and read failures of one file.
type FileResult = (u64, Vec<Finding>, Vec<(PathBuf, String)>);

/// Rank of a Sigma level (unknown: 0).
pub fn level_rank(level: &str) -> u8 {
    match level {
        "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

const KEY_FIELDS: &[&str] = &[
    "EventID",
    "TargetUserName",
    "SubjectUserName",
    "User",
    "user.name",
    "IpAddress",
    "source.ip",
    "LogonType",
    "Image",
    "CommandLine",
    "ServiceName",
    "ScriptBlockText",
];

fn key_fields(ev: &Event) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for k in KEY_FIELDS {
        if let Some(v) = ev.fields.get(k) {
            let mut s: String = v
                .to_string()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if s.len() > 200 {
                let mut cut = 200;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push('…');
            }
            if !s.is_empty() && s != "-" {
                out.push(((*k).to_owned(), s));
            }
        }
    }
    out
}

/// The findings of one event that passes the time and level filters;
/// `origin` names where it came from (a file, or the store).
pub fn evaluate_event(
    rules: &RuleSet,
    opts: &HuntOptions,
    ev: &Event,
    origin: &std::path::Path,
) -> Vec<Finding> {
    if opts.from_ns.is_some_and(|f| ev.time_ns < f) || opts.to_ns.is_some_and(|t| ev.time_ns >= t) {
        return Vec::new();
    }
    let min_rank = opts.min_level.as_deref().map(level_rank).unwrap_or(0);
    rules
        .evaluate(ev)
        .into_iter()
        .filter(|hit| level_rank(hit.level) >= min_rank)
        .map(|hit| Finding {
            time_ns: ev.time_ns,
            rule: hit.title,
            rule_id: hit.id,
            level: hit.level,
            tags: hit.tags,
            computer: ev.host.clone(),
            key_fields: key_fields(ev),
            file: origin.to_owned(),
        })
        .collect()
}

/// Evaluates `rules` over every event of `files` (in parallel, one file per
/// task); `progress` is called with the number of files done.
pub fn hunt_files(
    files: &[PathBuf],
    rules: &RuleSet,
    opts: &HuntOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> HuntReport {
    let settings = SourceSettings {
        name: "hunt".into(),
        ..SourceSettings::default()
    };
    let done = AtomicU64::new(0);
    let per_file: Vec<FileResult> = files
        .par_iter()
        .map(|file| {
            let mut findings = Vec::new();
            let mut events = 0u64;
            let mut sink = |batch: Vec<Event>| {
                for ev in &batch {
                    events += 1;
                    findings.extend(evaluate_event(rules, opts, ev, file));
                }
                Ok(())
            };
            let failed = match import_paths(
                std::slice::from_ref(file),
                &settings,
                &mut |_| {},
                &mut sink,
            ) {
                Ok(r) => r.failed_files,
                Err(e) => vec![(file.clone(), e.to_string())],
            };
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            (events, findings, failed)
        })
        .collect();
    let mut report = HuntReport {
        files: files.len(),
        ..HuntReport::default()
    };
    for (events, findings, failed) in per_file {
        report.events += events;
        report.findings.extend(findings);
        report.failed_files.extend(failed);
    }
    report
        .findings
        .sort_by(|a, b| a.time_ns.cmp(&b.time_ns).then_with(|| a.rule.cmp(&b.rule)));
    report
}
