//! Live detection: every stored event, in store order, through the rules,
//! the correlations and the IOC lists, into alerts.
//!
//! The detector owns a position in the store (the next sequence number to
//! evaluate). Each batch is evaluated in parallel, correlated in order, and
//! its alerts are written in one SQLite transaction together with the new
//! position and the correlation state, so after a crash or restart the
//! detector resumes exactly where its last alerts were committed, with its
//! correlation windows intact.

use crate::alerts::{AlertError, AlertHit, AlertKind, AlertStore, Entities, Suppression};
use crate::hunt::key_fields;
use crate::ioc::{IocMatch, IocSet};
use crate::level_rank;
use crate::rules::{Correlator, RuleHit, RuleSet, hit};
use mamori_event::{Event, now_ns};
use rayon::prelude::*;
use std::collections::HashMap;

const CURSOR: &str = "cursor";
const CORRELATION: &str = "correlation";

/// Settings of the live detector.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Repeats of one rule on one entity within this window (ns) update
    /// the alert instead of raising a new one.
    pub dedup_window_ns: i64,
    /// Rules below this level feed correlations but raise no alert
    /// (default `low`: informational rules are context, not alerts).
    pub min_level: String,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            dedup_window_ns: 3_600_000_000_000,
            min_level: "low".into(),
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events evaluated.
    pub events: u64,
    /// Rule and IOC matches (before dedup and suppression).
    pub matches: u64,
    /// New alerts.
    pub raised: u64,
    /// Existing alerts updated.
    pub updated: u64,
    /// Matches silenced by a suppression.
    pub suppressed: u64,
}

/// Rules, correlations and IOCs over the store, into an [`AlertStore`].
pub struct LiveDetector {
    rules: RuleSet,
    correlator: Option<Correlator>,
    iocs: IocSet,
    alerts: AlertStore,
    opts: LiveOptions,
    min_rank: u8,
    next_seq: u64,
    restored: bool,
}

const USER_FIELDS: &[&str] = &[
    "TargetUserName",
    "user.name",
    "User",
    "SubjectUserName",
    "AccountName",
    "UserName",
];
const IP_FIELDS: &[&str] = &[
    "IpAddress",
    "source.ip",
    "SourceIp",
    "SourceAddress",
    "ClientIP",
    "client.ip",
    "destination.ip",
];

fn first_field(ev: &Event, names: &[&str]) -> String {
    names
        .iter()
        .filter_map(|n| ev.fields.get(n))
        .map(|v| v.to_string())
        .find(|v| !v.is_empty() && v != "-")
        .unwrap_or_default()
}

/// The host, user and IP an event is about.
pub fn entities(ev: &Event) -> Entities {
    Entities {
        host: if ev.host.is_empty() {
            first_field(ev, &["Computer", "host.name", "devname"])
        } else {
            ev.host.to_string()
        },
        user: first_field(ev, USER_FIELDS),
        ip: first_field(ev, IP_FIELDS),
    }
}

impl LiveDetector {
    /// A detector resuming from the position and correlation state saved
    /// in `alerts`; when nothing is saved (first start) it begins at
    /// `start_seq` (usually the store's end: history is for retro-hunts).
    pub fn new(
        rules: RuleSet,
        iocs: IocSet,
        alerts: AlertStore,
        opts: LiveOptions,
        start_seq: u64,
    ) -> Result<LiveDetector, AlertError> {
        let next_seq = alerts
            .state(CURSOR)?
            .and_then(|v| String::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(start_seq);
        let mut correlator = rules.correlator();
        let mut restored = false;
        if let (Some(c), Some(saved)) = (&mut correlator, alerts.state(CORRELATION)?) {
            restored = c.restore(&saved);
            if !restored {
                tracing::warn!("saved correlation state could not be read; starting empty");
            }
        }
        let min_rank = level_rank(&opts.min_level);
        Ok(LiveDetector {
            rules,
            correlator,
            iocs,
            alerts,
            opts,
            min_rank,
            next_seq,
            restored,
        })
    }

    /// The next store sequence number to evaluate.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether correlation state was restored from a previous run.
    pub fn restored_correlation_state(&self) -> bool {
        self.restored
    }

    /// Open correlation groups.
    pub fn correlation_states(&self) -> usize {
        self.correlator.as_ref().map_or(0, |c| c.state_count())
    }

    /// The rules in use.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Evaluates a batch of `(seq, event)` in store order and records the
    /// alerts with the new position. Events before the position are skipped
    /// (already evaluated).
    pub fn process(&mut self, batch: &[(u64, Event)]) -> Result<BatchOutcome, AlertError> {
        let batch: Vec<&(u64, Event)> = batch.iter().filter(|(s, _)| *s >= self.next_seq).collect();
        let Some(last) = batch.last().map(|(s, _)| *s) else {
            return Ok(BatchOutcome::default());
        };
        let suppressions = self.alerts.suppressions(false)?;
        let disabled = self.alerts.disabled_rules()?;
        let (rules, iocs) = (&self.rules, &self.iocs);
        let found: Vec<_> = batch
            .par_iter()
            .map(|(_, ev)| (rules.detect(ev), iocs.matches(ev)))
            .collect();
        let now = now_ns();
        let mut out = BatchOutcome {
            events: batch.len() as u64,
            ..BatchOutcome::default()
        };
        let mut hits = Vec::new();
        let mut silenced: HashMap<i64, u64> = HashMap::new();
        for (&(seq, ref ev), (dets, ioc_matches)) in batch.iter().copied().zip(found) {
            if dets.is_empty() && ioc_matches.is_empty() {
                continue;
            }
            let ent = entities(ev);
            let mut rule_hits: Vec<RuleHit> = dets.iter().cloned().map(hit).collect();
            if let Some(c) = &mut self.correlator
                && !dets.is_empty()
            {
                rule_hits.extend(c.feed(ev, Some(seq), dets));
            }
            let mut candidates: Vec<AlertHit> = rule_hits
                .into_iter()
                .filter(|h| level_rank(h.level) >= self.min_rank && !disabled.contains(h.key()))
                .map(|h| rule_alert(h, ev, seq, &ent))
                .collect();
            candidates.extend(ioc_matches.into_iter().map(|m| ioc_alert(m, ev, seq, &ent)));
            for a in candidates {
                out.matches += 1;
                if let Some(s) = silencing(&suppressions, &a, ev, now) {
                    *silenced.entry(s).or_default() += 1;
                    out.suppressed += 1;
                } else {
                    hits.push(a);
                }
            }
        }
        let next = last + 1;
        let cursor = next.to_string();
        let corr = self.correlator.as_ref().map(|c| c.save());
        let mut state: Vec<(&str, &[u8])> = vec![(CURSOR, cursor.as_bytes())];
        if let Some(c) = &corr {
            state.push((CORRELATION, c));
        }
        let silenced: Vec<(i64, u64)> = silenced.into_iter().collect();
        let rec = self
            .alerts
            .record(&hits, self.opts.dedup_window_ns, &silenced, &state)?;
        out.raised = rec.raised;
        out.updated = rec.updated;
        self.next_seq = next;
        Ok(out)
    }
}

fn rule_alert(h: RuleHit, ev: &Event, seq: u64, ent: &Entities) -> AlertHit {
    let correlation = h.correlation;
    let mut entities = ent.clone();
    // A correlation is about its group (the user, the address), not about
    // whichever event happened to complete it.
    for (field, value) in &h.group {
        if USER_FIELDS.contains(&field.as_str()) {
            entities.user = value.clone();
        } else if IP_FIELDS.contains(&field.as_str()) {
            entities.ip = value.clone();
        }
    }
    let seqs = if h.event_seqs.is_empty() {
        vec![seq]
    } else {
        h.event_seqs.clone()
    };
    AlertHit {
        rule_key: h.key().to_owned(),
        rule_title: h.title,
        level: h.level.to_owned(),
        tags: h.tags,
        kind: if correlation {
            AlertKind::Correlation
        } else {
            AlertKind::Sigma
        },
        entities,
        time_ns: ev.time_ns,
        seqs,
        summary: key_fields(ev),
    }
}

fn ioc_alert(m: IocMatch, ev: &Event, seq: u64, ent: &Entities) -> AlertHit {
    let mut summary = vec![
        ("ioc.list".to_owned(), m.list.clone()),
        ("ioc.field".to_owned(), m.field.clone()),
    ];
    summary.extend(key_fields(ev));
    AlertHit {
        rule_key: format!("ioc:{}:{}", m.list, m.indicator),
        rule_title: m.title(),
        level: "high".into(),
        tags: m.tags(),
        kind: AlertKind::Ioc,
        entities: ent.clone(),
        time_ns: ev.time_ns,
        seqs: vec![seq],
        summary,
    }
}

fn silencing(suppressions: &[Suppression], a: &AlertHit, ev: &Event, now: i64) -> Option<i64> {
    let field = |name: &str| -> Option<String> {
        match name {
            "host" => Some(a.entities.host.clone()),
            "user" => Some(a.entities.user.clone()),
            "ip" => Some(a.entities.ip.clone()),
            "source" => Some(ev.source.to_string()),
            _ => ev.fields.get(name).map(|v| v.to_string()),
        }
    };
    suppressions
        .iter()
        .find(|s| s.silences(&a.rule_key, &a.rule_title, now, &field))
        .map(|s| s.id)
}
