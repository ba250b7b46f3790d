//! Offline hunting: rules over `.evtx` and `.jsonl` files, one file per core.

use crate::rules::RuleSet;
use mamori_event::Event;
use mamori_ingest::decode::SourceSettings;
use mamori_ingest::import::import_paths;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Filters of a hunt, and IOC lists to match besides the rules.
#[derive(Debug, Clone, Default)]
pub struct HuntOptions {
    /// Indicators to look for in every event (IOC matches are `high`).
    pub iocs: crate::ioc::IocSet,
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
    /// The Windows event record number, when the event has one.
    pub record_id: Option<i64>,
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

/// An event with detections, kept for the correlation pass.
type Detected = (Event, PathBuf, Vec<rsigma_eval::result::EvaluationResult>);
/// Events read, findings, events for correlation and read failures of one file.
type FileResult = (u64, Vec<Finding>, Vec<Detected>, Vec<(PathBuf, String)>);

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

pub(crate) fn key_fields(ev: &Event) -> Vec<(String, String)> {
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

fn in_range(opts: &HuntOptions, ev: &Event) -> bool {
    !(opts.from_ns.is_some_and(|f| ev.time_ns < f) || opts.to_ns.is_some_and(|t| ev.time_ns >= t))
}

fn findings(
    opts: &HuntOptions,
    ev: &Event,
    origin: &std::path::Path,
    hits: Vec<crate::RuleHit>,
) -> Vec<Finding> {
    let min_rank = opts.min_level.as_deref().map(level_rank).unwrap_or(0);
    hits.into_iter()
        .filter(|hit| level_rank(hit.level) >= min_rank)
        .map(|hit| Finding {
            time_ns: ev.time_ns,
            rule: hit.title,
            rule_id: hit.id,
            level: hit.level,
            tags: hit.tags,
            computer: ev.host.to_string(),
            key_fields: key_fields(ev),
            file: origin.to_owned(),
            record_id: ev.fields.get("EventRecordID").and_then(|v| v.as_i64()),
        })
        .collect()
}

/// One event's detections as findings, and the event kept for the
/// correlation pass when `correlate` and something matched.
fn detect_one(
    rules: &RuleSet,
    opts: &HuntOptions,
    ev: Event,
    origin: &std::path::Path,
    correlate: bool,
) -> (Vec<Finding>, Option<Detected>) {
    if !in_range(opts, &ev) {
        return (Vec::new(), None);
    }
    let dets = rules.detect(&ev);
    let iocs = opts.iocs.matches(&ev);
    if dets.is_empty() && iocs.is_empty() {
        return (Vec::new(), None);
    }
    let mut hits: Vec<crate::RuleHit> = dets.iter().cloned().map(crate::rules::hit).collect();
    hits.extend(iocs.into_iter().map(|m| crate::RuleHit {
        title: m.title(),
        id: None,
        level: "high",
        tags: m.tags(),
        correlation: false,
        group: Vec::new(),
        event_seqs: Vec::new(),
    }));
    let found = findings(opts, &ev, origin, hits);
    if dets.is_empty() {
        return (found, None);
    }
    (found, correlate.then(|| (ev, origin.to_owned(), dets)))
}

/// Correlation is stateful: feeds the detections in time order, then sorts
/// all findings by time.
fn correlate_and_sort(
    rules: &RuleSet,
    opts: &HuntOptions,
    mut detected: Vec<Detected>,
    report: &mut HuntReport,
) {
    if let Some(mut correlator) = rules.correlator() {
        detected.sort_by_key(|(ev, _, _)| ev.time_ns);
        for (ev, origin, dets) in detected {
            let hits = correlator.feed(&ev, None, dets);
            report.findings.extend(findings(opts, &ev, &origin, hits));
        }
    }
    report
        .findings
        .sort_by(|a, b| a.time_ns.cmp(&b.time_ns).then_with(|| a.rule.cmp(&b.rule)));
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
    let correlate = rules.has_correlations();
    let per_file: Vec<FileResult> = files
        .par_iter()
        .map(|file| {
            let mut found = Vec::new();
            let mut detected = Vec::new();
            let mut events = 0u64;
            let mut sink = |batch: Vec<Event>| {
                for ev in batch {
                    events += 1;
                    let (f, det) = detect_one(rules, opts, ev, file, correlate);
                    found.extend(f);
                    detected.extend(det);
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
            (events, found, detected, failed)
        })
        .collect();
    let mut report = HuntReport {
        files: files.len(),
        ..HuntReport::default()
    };
    let mut detected = Vec::new();
    for (events, found, det, failed) in per_file {
        report.events += events;
        report.findings.extend(found);
        detected.extend(det);
        report.failed_files.extend(failed);
    }
    correlate_and_sort(rules, opts, detected, &mut report);
    report
}

/// Evaluates `rules` over a stream of events (for example everything in the
/// store), in batches spread over all cores, then runs the correlation rules
/// over the detections in time order. `progress` gets the events done.
pub fn hunt_events<E>(
    events: impl Iterator<Item = Result<(PathBuf, Event), E>>,
    rules: &RuleSet,
    opts: &HuntOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<HuntReport, E> {
    const CHUNK: usize = 8192;
    let correlate = rules.has_correlations();
    let mut report = HuntReport::default();
    let mut detected: Vec<Detected> = Vec::new();
    let mut batch: Vec<(PathBuf, Event)> = Vec::with_capacity(CHUNK);
    let mut run = |batch: &mut Vec<(PathBuf, Event)>, report: &mut HuntReport| {
        let results: Vec<(Vec<Finding>, Option<Detected>)> = batch
            .par_drain(..)
            .map(|(origin, ev)| detect_one(rules, opts, ev, &origin, correlate))
            .collect();
        for (found, det) in results {
            report.findings.extend(found);
            detected.extend(det);
        }
    };
    for item in events {
        batch.push(item?);
        report.events += 1;
        if batch.len() == CHUNK {
            run(&mut batch, &mut report);
            progress(report.events);
        }
    }
    run(&mut batch, &mut report);
    progress(report.events);
    correlate_and_sort(rules, opts, detected, &mut report);
    Ok(report)
}
