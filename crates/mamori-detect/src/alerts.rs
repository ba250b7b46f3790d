//! Alerts, kept in SQLite (`alerts.db` in the data directory).
//!
//! One alert stands for one rule firing on one entity (host, user, IP):
//! repeats within the dedup window raise its count and last-seen time
//! instead of making a new alert. Each alert keeps the store sequence
//! numbers of the events that triggered it (the first
//! [`MAX_EVENTS_PER_ALERT`]), a status (open, acknowledged, closed) and a
//! history of who did what. Suppressions silence a rule (or every rule) for
//! events with given field values, until they expire.
//!
//! The live detector's position in the store and its correlation state are
//! saved in the same transaction as the alerts they produced, so a crash
//! neither loses an alert nor raises one twice.

use mamori_event::now_ns;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Triggering events remembered per alert; later repeats only count.
pub const MAX_EVENTS_PER_ALERT: u64 = 1000;

/// Errors of the alert database.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// SQLite failed.
    #[error("alert database {path}: {source}")]
    Db {
        /// The database file.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// No alert or suppression with that id.
    #[error("no {what} with id {id}")]
    NotFound {
        /// "alert" or "suppression".
        what: &'static str,
        /// The id asked for.
        id: i64,
    },
    /// A value that cannot be used.
    #[error("{0}")]
    Invalid(String),
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// New, nobody has looked.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Dealt with.
    Closed,
}

impl AlertStatus {
    /// The name used in the database, CLI and API.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Closed => "closed",
        }
    }

    /// Parses `open`, `acknowledged` (or `ack`), `closed`.
    pub fn parse(s: &str) -> Option<AlertStatus> {
        match s.to_ascii_lowercase().as_str() {
            "open" => Some(AlertStatus::Open),
            "acknowledged" | "ack" => Some(AlertStatus::Acknowledged),
            "closed" => Some(AlertStatus::Closed),
            _ => None,
        }
    }
}

/// What kind of detection raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A Sigma detection rule.
    Sigma,
    /// A Sigma correlation rule.
    Correlation,
    /// An indicator-of-compromise list.
    Ioc,
}

impl AlertKind {
    fn as_str(self) -> &'static str {
        match self {
            AlertKind::Sigma => "sigma",
            AlertKind::Correlation => "correlation",
            AlertKind::Ioc => "ioc",
        }
    }
    fn parse(s: &str) -> AlertKind {
        match s {
            "correlation" => AlertKind::Correlation,
            "ioc" => AlertKind::Ioc,
            _ => AlertKind::Sigma,
        }
    }
}

/// Who or what an alert is about. Empty strings when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Entities {
    /// Computer or device.
    pub host: String,
    /// User account.
    pub user: String,
    /// IP address (usually the remote side).
    pub ip: String,
}

/// One detection, ready to become (or update) an alert.
#[derive(Debug, Clone)]
pub struct AlertHit {
    /// Rule id, or the title when the rule has none; `ioc:LIST:INDICATOR` for IOCs.
    pub rule_key: String,
    /// Rule title.
    pub rule_title: String,
    /// Rule level.
    pub level: String,
    /// ATT&CK and other tags.
    pub tags: Vec<String>,
    /// What raised it.
    pub kind: AlertKind,
    /// The entities of the triggering event.
    pub entities: Entities,
    /// Event time, ns.
    pub time_ns: i64,
    /// Store sequence numbers of the triggering events.
    pub seqs: Vec<u64>,
    /// Key fields of the triggering event, for the list view.
    pub summary: Vec<(String, String)>,
}

/// A stored alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Alert id.
    pub id: i64,
    /// Rule id or title (`ioc:…` for IOC matches).
    pub rule_key: String,
    /// Rule title.
    pub rule_title: String,
    /// Rule level.
    pub level: String,
    /// Tags of the rule.
    pub tags: Vec<String>,
    /// What raised it.
    pub kind: AlertKind,
    /// Host, user, IP.
    pub entities: Entities,
    /// Earliest event time, ns.
    pub first_seen_ns: i64,
    /// Latest event time, ns.
    pub last_seen_ns: i64,
    /// When the alert was raised, ns.
    pub created_ns: i64,
    /// When it last changed, ns.
    pub updated_ns: i64,
    /// Triggering events seen.
    pub count: u64,
    /// Open, acknowledged or closed.
    pub status: AlertStatus,
    /// Who it is assigned to (empty: nobody).
    pub assignee: String,
    /// Key fields of the first triggering event.
    pub summary: Vec<(String, String)>,
    /// Store sequence numbers of triggering events (only in [`AlertStore::get`]).
    pub event_seqs: Vec<u64>,
    /// History (only in [`AlertStore::get`]).
    pub notes: Vec<AlertNote>,
}

/// One entry of an alert's history.
#[derive(Debug, Clone, Serialize)]
pub struct AlertNote {
    /// When, ns.
    pub time_ns: i64,
    /// Who (user, token name, `cli:USER`).
    pub actor: String,
    /// `acknowledged`, `closed`, `reopened`, `assigned`, `comment`.
    pub action: String,
    /// Free text.
    pub comment: String,
}

/// Filters of [`AlertStore::list`].
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only this status.
    pub status: Option<AlertStatus>,
    /// Only this level or higher.
    pub min_level: Option<String>,
    /// Only this rule key.
    pub rule_key: Option<String>,
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<usize>,
    /// Skip this many (newest first).
    pub offset: usize,
}

/// A rule silenced for events with given field values.
#[derive(Debug, Clone, Serialize)]
pub struct Suppression {
    /// Suppression id.
    pub id: i64,
    /// Rule key or title it applies to; `*` for every rule.
    pub rule: String,
    /// Field = value conditions, all of which must hold (`host`, `user`,
    /// `ip` name the alert's entities; other names the event's fields).
    pub conditions: Vec<(String, String)>,
    /// Why.
    pub reason: String,
    /// Who made it.
    pub created_by: String,
    /// When, ns.
    pub created_ns: i64,
    /// Until when, ns (`None`: no expiry).
    pub expires_ns: Option<i64>,
    /// Detections it silenced.
    pub hits: u64,
}

impl Suppression {
    /// Whether this suppression silences `rule_key`/`rule_title` for an
    /// event whose field `name` has the value `field(name)`.
    pub fn silences(
        &self,
        rule_key: &str,
        rule_title: &str,
        now_ns: i64,
        field: &dyn Fn(&str) -> Option<String>,
    ) -> bool {
        if self.expires_ns.is_some_and(|e| e <= now_ns) {
            return false;
        }
        if self.rule != "*"
            && !self.rule.eq_ignore_ascii_case(rule_key)
            && !self.rule.eq_ignore_ascii_case(rule_title)
        {
            return false;
        }
        self.conditions
            .iter()
            .all(|(name, want)| field(name).is_some_and(|v| v.eq_ignore_ascii_case(want)))
    }
}

/// A suppression to add.
#[derive(Debug, Clone)]
pub struct NewSuppression {
    /// Rule key or title; `*` for every rule.
    pub rule: String,
    /// Field = value conditions.
    pub conditions: Vec<(String, String)>,
    /// Why (required).
    pub reason: String,
    /// Who.
    pub created_by: String,
    /// Until when, ns.
    pub expires_ns: Option<i64>,
}

/// What [`AlertStore::record`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordOutcome {
    /// New alerts.
    pub raised: u64,
    /// Existing alerts updated (repeats within the window).
    pub updated: u64,
}

/// The alert database. Cheap to clone; safe to share between threads.
#[derive(Clone)]
pub struct AlertStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<str>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    rule_key TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    level TEXT NOT NULL,
    level_rank INTEGER NOT NULL,
    tags TEXT NOT NULL,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    user TEXT NOT NULL,
    ip TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    count INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    assignee TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_dedup ON alerts(rule_key, host, user, ip, status);
CREATE INDEX IF NOT EXISTS alerts_recent ON alerts(status, level_rank, last_seen);
CREATE INDEX IF NOT EXISTS alerts_last_seen ON alerts(last_seen);
CREATE TABLE IF NOT EXISTS alert_events (
    alert_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (alert_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_notes (
    alert_id INTEGER NOT NULL,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    comment TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_notes_alert ON alert_notes(alert_id);
CREATE TABLE IF NOT EXISTS suppressions (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    conditions TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS disabled_rules (
    key TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS detector_state (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"#;

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}

impl AlertStore {
    /// Opens (creating if needed) the alert database at `path`. Several
    /// processes may open it at once (WAL mode): `mamori alerts` beside a
    /// running `mamori serve`.
    pub fn open(path: &Path) -> Result<AlertStore, AlertError> {
        let name: Arc<str> = path.display().to_string().into();
        let db = |source| AlertError::Db {
            path: name.to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        // Stable query plans: without this, SQLite compiles a cached
        // statement again each time its parameters are bound anew (a
        // plan that might suit the new values better), which made every
        // alert lookup of live detection a fresh compile.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(AlertStore {
            conn: Arc::new(Mutex::new(conn)),
            path: name,
        })
    }

    fn db(&self, source: rusqlite::Error) -> AlertError {
        AlertError::Db {
            path: self.path.to_string(),
            source,
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, AlertError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| self.db(e))
    }

    /// Records detections: each updates the open or acknowledged alert of
    /// the same rule and entities whose last event is within `window_ns`,
    /// or raises a new alert. `state` (key, value) pairs are saved in the
    /// same transaction (the detector's position and correlation state).
    pub fn record(
        &self,
        hits: &[AlertHit],
        window_ns: i64,
        suppressed: &[(i64, u64)],
        state: &[(&str, &[u8])],
    ) -> Result<RecordOutcome, AlertError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let mut out = RecordOutcome::default();
            for repeats in merge_repeats(hits, window_ns) {
                let raised = record_repeats(&tx, &repeats, window_ns)?;
                out.raised += u64::from(raised);
                out.updated += repeats.hits - u64::from(raised);
            }
            for (id, n) in suppressed {
                tx.execute(
                    "UPDATE suppressions SET hits = hits + ?2 WHERE id = ?1",
                    params![id, *n as i64],
                )?;
            }
            for (k, v) in state {
                tx.execute(
                    "INSERT INTO detector_state(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                )?;
            }
            tx.commit()?;
            Ok(out)
        })
    }

    /// Turns a rule on or off for live detection (by rule key).
    pub fn set_rule_enabled(&self, key: &str, enabled: bool) -> Result<(), AlertError> {
        self.with(|conn| {
            if enabled {
                conn.execute("DELETE FROM disabled_rules WHERE key = ?1", [key])?;
            } else {
                conn.execute(
                    "INSERT OR IGNORE INTO disabled_rules(key) VALUES (?1)",
                    [key],
                )?;
            }
            Ok(())
        })
    }

    /// Keys of the rules turned off.
    pub fn disabled_rules(&self) -> Result<std::collections::HashSet<String>, AlertError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached("SELECT key FROM disabled_rules")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
    }

    /// A saved detector value.
    pub fn state(&self, key: &str) -> Result<Option<Vec<u8>>, AlertError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT value FROM detector_state WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Alerts, newest activity first.
    pub fn list(&self, q: &AlertQuery) -> Result<Vec<Alert>, AlertError> {
        let limit = q.limit.unwrap_or(100).min(10_000) as i64;
        let min_rank = q.min_level.as_deref().map(crate::level_rank).unwrap_or(0);
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, rule_key, rule_title, level, tags, kind, host, user, ip,
                        first_seen, last_seen, created, updated, count, status, assignee, summary
                 FROM alerts
                 WHERE (?1 IS NULL OR status = ?1) AND level_rank >= ?2
                   AND (?3 IS NULL OR rule_key = ?3)
                 ORDER BY last_seen DESC, id DESC LIMIT ?4 OFFSET ?5",
            )?;
            let rows = stmt.query_map(
                params![
                    q.status.map(AlertStatus::as_str),
                    min_rank,
                    q.rule_key,
                    limit,
                    q.offset as i64
                ],
                alert_row,
            )?;
            rows.collect()
        })
    }

    /// Number of alerts per (status, level).
    pub fn counts(&self) -> Result<Vec<(AlertStatus, String, u64)>, AlertError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT status, level, COUNT(*) FROM alerts GROUP BY status, level",
            )?;
            let rows = stmt.query_map([], |r| {
                let status: String = r.get(0)?;
                Ok((
                    AlertStatus::parse(&status).unwrap_or(AlertStatus::Open),
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?;
            rows.collect()
        })
    }

    /// One alert with its triggering event numbers and history.
    pub fn get(&self, id: i64) -> Result<Alert, AlertError> {
        let found = self.with(|conn| {
            let alert = conn
                .query_row(
                    "SELECT id, rule_key, rule_title, level, tags, kind, host, user, ip,
                            first_seen, last_seen, created, updated, count, status, assignee, summary
                     FROM alerts WHERE id = ?1",
                    [id],
                    alert_row,
                )
                .optional()?;
            let Some(mut alert) = alert else {
                return Ok(None);
            };
            let mut stmt =
                conn.prepare_cached("SELECT seq FROM alert_events WHERE alert_id = ?1 ORDER BY seq")?;
            alert.event_seqs = stmt
                .query_map([id], |r| Ok(r.get::<_, i64>(0)? as u64))?
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = conn.prepare_cached(
                "SELECT time, actor, action, comment FROM alert_notes WHERE alert_id = ?1 ORDER BY rowid",
            )?;
            alert.notes = stmt
                .query_map([id], |r| {
                    Ok(AlertNote {
                        time_ns: r.get(0)?,
                        actor: r.get(1)?,
                        action: r.get(2)?,
                        comment: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some(alert))
        })?;
        found.ok_or(AlertError::NotFound { what: "alert", id })
    }

    /// Sets an alert's status, with who did it and an optional comment.
    pub fn set_status(
        &self,
        id: i64,
        status: AlertStatus,
        actor: &str,
        comment: &str,
    ) -> Result<(), AlertError> {
        let action = match status {
            AlertStatus::Open => "reopened",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Closed => "closed",
        };
        self.change(id, actor, action, comment, |tx, now| {
            tx.execute(
                "UPDATE alerts SET status = ?2, updated = ?3 WHERE id = ?1",
                params![id, status.as_str(), now],
            )
        })
    }

    /// Assigns an alert to someone (empty: nobody).
    pub fn assign(
        &self,
        id: i64,
        assignee: &str,
        actor: &str,
        comment: &str,
    ) -> Result<(), AlertError> {
        self.change(id, actor, "assigned", comment, |tx, now| {
            tx.execute(
                "UPDATE alerts SET assignee = ?2, updated = ?3 WHERE id = ?1",
                params![id, assignee, now],
            )
        })
    }

    /// Adds a comment to an alert's history.
    pub fn comment(&self, id: i64, actor: &str, comment: &str) -> Result<(), AlertError> {
        if comment.trim().is_empty() {
            return Err(AlertError::Invalid("the comment is empty".into()));
        }
        self.change(id, actor, "comment", comment, |tx, now| {
            tx.execute(
                "UPDATE alerts SET updated = ?2 WHERE id = ?1",
                params![id, now],
            )
        })
    }

    fn change(
        &self,
        id: i64,
        actor: &str,
        action: &str,
        comment: &str,
        update: impl FnOnce(&Transaction<'_>, i64) -> rusqlite::Result<usize>,
    ) -> Result<(), AlertError> {
        let changed = self.with(|conn| {
            let tx = conn.transaction()?;
            let now = now_ns();
            let n = update(&tx, now)?;
            if n == 1 {
                tx.execute(
                    "INSERT INTO alert_notes(alert_id, time, actor, action, comment) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, now, actor, action, comment],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })?;
        if changed == 0 {
            return Err(AlertError::NotFound { what: "alert", id });
        }
        Ok(())
    }

    /// Adds a suppression; returns its id.
    pub fn add_suppression(&self, s: &NewSuppression) -> Result<i64, AlertError> {
        if s.reason.trim().is_empty() {
            return Err(AlertError::Invalid(
                "a suppression needs a reason (--reason)".into(),
            ));
        }
        if s.rule.trim().is_empty() {
            return Err(AlertError::Invalid(
                "a suppression needs a rule (its id or title, or * for every rule)".into(),
            ));
        }
        if s.rule == "*" && s.conditions.is_empty() {
            return Err(AlertError::Invalid(
                "a suppression of every rule needs at least one field condition".into(),
            ));
        }
        self.with(|conn| {
            conn.execute(
                "INSERT INTO suppressions(rule, conditions, reason, created_by, created, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.rule,
                    json(&s.conditions),
                    s.reason,
                    s.created_by,
                    now_ns(),
                    s.expires_ns
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
    }

    /// Removes a suppression.
    pub fn remove_suppression(&self, id: i64) -> Result<(), AlertError> {
        let n = self.with(|conn| conn.execute("DELETE FROM suppressions WHERE id = ?1", [id]))?;
        if n == 0 {
            return Err(AlertError::NotFound {
                what: "suppression",
                id,
            });
        }
        Ok(())
    }

    /// Suppressions; expired ones only when `include_expired`.
    pub fn suppressions(&self, include_expired: bool) -> Result<Vec<Suppression>, AlertError> {
        let now = now_ns();
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, rule, conditions, reason, created_by, created, expires, hits
                 FROM suppressions WHERE ?1 OR expires IS NULL OR expires > ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![include_expired, now], |r| {
                let conditions: String = r.get(2)?;
                Ok(Suppression {
                    id: r.get(0)?,
                    rule: r.get(1)?,
                    conditions: serde_json::from_str(&conditions).unwrap_or_default(),
                    reason: r.get(3)?,
                    created_by: r.get(4)?,
                    created_ns: r.get(5)?,
                    expires_ns: r.get(6)?,
                    hits: r.get::<_, i64>(7)? as u64,
                })
            })?;
            rows.collect()
        })
    }
}

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let tags: String = r.get(4)?;
    let kind: String = r.get(5)?;
    let status: String = r.get(14)?;
    let summary: String = r.get(16)?;
    Ok(Alert {
        id: r.get(0)?,
        rule_key: r.get(1)?,
        rule_title: r.get(2)?,
        level: r.get(3)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        kind: AlertKind::parse(&kind),
        entities: Entities {
            host: r.get(6)?,
            user: r.get(7)?,
            ip: r.get(8)?,
        },
        first_seen_ns: r.get(9)?,
        last_seen_ns: r.get(10)?,
        created_ns: r.get(11)?,
        updated_ns: r.get(12)?,
        count: r.get::<_, i64>(13)? as u64,
        status: AlertStatus::parse(&status).unwrap_or(AlertStatus::Open),
        assignee: r.get(15)?,
        summary: serde_json::from_str(&summary).unwrap_or_default(),
        event_seqs: Vec::new(),
        notes: Vec::new(),
    })
}

/// Hits of one batch that are repeats of one rule on one entity, each
/// within the window of the others' times.
struct Repeats<'a> {
    /// The first of them (title, level, tags, summary).
    first: &'a AlertHit,
    /// Earliest and latest event time among them, ns.
    from_ns: i64,
    to_ns: i64,
    /// Events counted (a correlation hit counts its events).
    count: i64,
    /// Hits merged.
    hits: u64,
    /// Their events' sequence numbers (about as many as an alert keeps).
    seqs: Vec<u64>,
}

/// Merges a batch's repeats in memory, so that the database sees one
/// update per alert and batch rather than one per hit.
fn merge_repeats(hits: &[AlertHit], window_ns: i64) -> Vec<Repeats<'_>> {
    let mut merged: Vec<Repeats<'_>> = Vec::new();
    let mut by_key: std::collections::HashMap<(&str, &str, &str, &str), Vec<usize>> =
        std::collections::HashMap::new();
    for hit in hits {
        let e = &hit.entities;
        let key = (
            hit.rule_key.as_str(),
            e.host.as_str(),
            e.user.as_str(),
            e.ip.as_str(),
        );
        let groups = by_key.entry(key).or_default();
        let near = groups.iter().copied().find(|&i| {
            let g = &merged[i];
            hit.time_ns >= g.from_ns.saturating_sub(window_ns)
                && hit.time_ns <= g.to_ns.saturating_add(window_ns)
        });
        let n = hit.seqs.len().max(1) as i64;
        match near {
            Some(i) => {
                let g = &mut merged[i];
                g.from_ns = g.from_ns.min(hit.time_ns);
                g.to_ns = g.to_ns.max(hit.time_ns);
                g.count += n;
                g.hits += 1;
                if g.seqs.len() < MAX_EVENTS_PER_ALERT as usize {
                    g.seqs.extend_from_slice(&hit.seqs);
                }
            }
            None => {
                groups.push(merged.len());
                merged.push(Repeats {
                    first: hit,
                    from_ns: hit.time_ns,
                    to_ns: hit.time_ns,
                    count: n,
                    hits: 1,
                    seqs: hit.seqs.clone(),
                });
            }
        }
    }
    merged
}

/// The open or acknowledged alert that a repeat updates.
const FIND_REPEATED: &str = "SELECT id, count FROM alerts
     WHERE rule_key = ?1 AND host = ?2 AND user = ?3 AND ip = ?4
       AND status != 'closed' AND last_seen >= ?5 AND first_seen <= ?6
     ORDER BY last_seen DESC LIMIT 1";

/// Adds repeats to the open alert of their rule and entity within the
/// window, or raises a new one; true when raised.
fn record_repeats(tx: &Transaction<'_>, r: &Repeats<'_>, window_ns: i64) -> rusqlite::Result<bool> {
    let hit = r.first;
    let e = &hit.entities;
    let existing: Option<(i64, i64)> = tx
        .prepare_cached(FIND_REPEATED)?
        .query_row(
            params![
                hit.rule_key,
                e.host,
                e.user,
                e.ip,
                r.from_ns.saturating_sub(window_ns),
                r.to_ns.saturating_add(window_ns)
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let now = now_ns();
    let (id, before, raised) = match existing {
        Some((id, count)) => {
            tx.prepare_cached(
                "UPDATE alerts SET count = count + ?2, updated = ?3,
                   first_seen = MIN(first_seen, ?4), last_seen = MAX(last_seen, ?5)
                 WHERE id = ?1",
            )?
            .execute(params![id, r.count, now, r.from_ns, r.to_ns])?;
            (id, count, false)
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO alerts(rule_key, rule_title, level, level_rank, tags, kind, host, user, ip,
                   first_seen, last_seen, created, updated, count, status, summary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, 'open', ?14)",
            )?
            .execute(params![
                hit.rule_key,
                hit.rule_title,
                hit.level,
                crate::level_rank(&hit.level),
                json(&hit.tags),
                hit.kind.as_str(),
                e.host,
                e.user,
                e.ip,
                r.from_ns,
                r.to_ns,
                now,
                r.count,
                json(&hit.summary),
            ])?;
            (tx.last_insert_rowid(), 0, true)
        }
    };
    let room = (MAX_EVENTS_PER_ALERT as i64).saturating_sub(before).max(0) as usize;
    let mut ins =
        tx.prepare_cached("INSERT OR IGNORE INTO alert_events(alert_id, seq) VALUES (?1, ?2)")?;
    for seq in r.seqs.iter().take(room) {
        ins.execute(params![id, *seq as i64])?;
    }
    Ok(raised)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(rule: &str, host: &str, t: i64, seq: u64) -> AlertHit {
        AlertHit {
            rule_key: rule.into(),
            rule_title: format!("Rule {rule}"),
            level: "high".into(),
            tags: vec!["attack.t1110".into()],
            kind: AlertKind::Sigma,
            entities: Entities {
                host: host.into(),
                user: "yamada".into(),
                ip: "10.0.0.5".into(),
            },
            time_ns: t,
            seqs: vec![seq],
            summary: vec![("EventID".into(), "4625".into())],
        }
    }

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn repeats_within_the_window_update_one_alert() {
        let dir = tempfile::tempdir().unwrap();
        let db = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
        let w = 60 * MIN;
        let out = db
            .record(
                &[hit("r1", "pc1", 0, 1), hit("r1", "pc1", 10 * MIN, 2)],
                w,
                &[],
                &[],
            )
            .unwrap();
        assert_eq!(
            out,
            RecordOutcome {
                raised: 1,
                updated: 1
            }
        );
        // Another host: another alert. Past the window: another alert.
        db.record(&[hit("r1", "pc2", 11 * MIN, 3)], w, &[], &[])
            .unwrap();
        db.record(&[hit("r1", "pc1", 200 * MIN, 4)], w, &[], &[])
            .unwrap();
        let all = db.list(&AlertQuery::default()).unwrap();
        assert_eq!(all.len(), 3);
        let first = all.iter().find(|a| a.count == 2).unwrap();
        let full = db.get(first.id).unwrap();
        assert_eq!(full.event_seqs, [1, 2]);
        assert_eq!(full.first_seen_ns, 0);
        assert_eq!(full.last_seen_ns, 10 * MIN);
        assert_eq!(full.tags, ["attack.t1110"]);
    }

    /// Live detection looks up the alert of each group of repeats in every
    /// batch: the lookup is compiled once, not again at each new binding.
    #[test]
    fn the_repeat_lookup_is_compiled_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
        for i in 0..20 {
            db.record(
                &[hit("r1", &format!("pc{i}"), i * MIN, i as u64)],
                60 * MIN,
                &[],
                &[],
            )
            .unwrap();
        }
        let conn = db.conn.lock().unwrap();
        let lookup = conn.prepare_cached(FIND_REPEATED).unwrap();
        assert_eq!(lookup.get_status(rusqlite::StatementStatus::Run), 20);
        assert_eq!(lookup.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn one_batch_of_repeats_gives_the_alerts_that_hit_by_hit_gives() {
        let w = 60 * MIN;
        let mut hits = Vec::new();
        for i in 0..1500u64 {
            let host = if i % 3 == 0 { "pc2" } else { "pc1" };
            // Two bursts of pc1 and pc2, 300 minutes apart.
            let t = if i < 750 {
                i as i64
            } else {
                300 * MIN + i as i64
            };
            hits.push(hit("r1", host, t, i));
        }
        let summary = |db: &AlertStore| {
            let mut v: Vec<_> = db
                .list(&AlertQuery::default())
                .unwrap()
                .into_iter()
                .map(|a| {
                    let full = db.get(a.id).unwrap();
                    (
                        a.entities.host,
                        a.first_seen_ns,
                        a.last_seen_ns,
                        a.count,
                        full.event_seqs.len(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let dir = tempfile::tempdir().unwrap();
        let batch = AlertStore::open(&dir.path().join("batch.db")).unwrap();
        let out = batch.record(&hits, w, &[], &[]).unwrap();
        assert_eq!(
            out,
            RecordOutcome {
                raised: 4,
                updated: 1496
            }
        );
        let single = AlertStore::open(&dir.path().join("single.db")).unwrap();
        for h in &hits {
            single.record(std::slice::from_ref(h), w, &[], &[]).unwrap();
        }
        assert_eq!(summary(&batch), summary(&single));
        assert_eq!(summary(&batch).len(), 4);
        // An alert keeps at most MAX_EVENTS_PER_ALERT event ids; pc1's first
        // burst has 500 hits, all kept.
        assert!(
            summary(&batch)
                .iter()
                .all(|a| a.4 as u64 == a.3.min(MAX_EVENTS_PER_ALERT))
        );
    }

    #[test]
    fn a_closed_alert_is_not_reopened_by_a_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let db = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
        db.record(&[hit("r1", "pc1", 0, 1)], 60 * MIN, &[], &[])
            .unwrap();
        let id = db.list(&AlertQuery::default()).unwrap()[0].id;
        db.set_status(id, AlertStatus::Closed, "cli:tanaka", "maintenance")
            .unwrap();
        db.record(&[hit("r1", "pc1", MIN, 2)], 60 * MIN, &[], &[])
            .unwrap();
        let open = db
            .list(&AlertQuery {
                status: Some(AlertStatus::Open),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(open.len(), 1);
        assert_ne!(open[0].id, id);
        let closed = db.get(id).unwrap();
        assert_eq!(closed.notes[0].action, "closed");
        assert_eq!(closed.notes[0].comment, "maintenance");
        assert!(matches!(
            db.set_status(999, AlertStatus::Closed, "x", ""),
            Err(AlertError::NotFound { .. })
        ));
    }

    #[test]
    fn state_is_saved_with_the_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.db");
        {
            let db = AlertStore::open(&path).unwrap();
            db.record(&[hit("r1", "pc1", 0, 1)], MIN, &[], &[("cursor", b"42")])
                .unwrap();
        }
        let db = AlertStore::open(&path).unwrap();
        assert_eq!(db.state("cursor").unwrap().as_deref(), Some(&b"42"[..]));
        assert_eq!(db.list(&AlertQuery::default()).unwrap().len(), 1);
    }

    #[test]
    fn suppressions_match_rule_and_fields_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let db = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
        assert!(matches!(
            db.add_suppression(&NewSuppression {
                rule: "r1".into(),
                conditions: vec![],
                reason: " ".into(),
                created_by: "t".into(),
                expires_ns: None,
            }),
            Err(AlertError::Invalid(_))
        ));
        let id = db
            .add_suppression(&NewSuppression {
                rule: "r1".into(),
                conditions: vec![("host".into(), "BACKUP-SV".into())],
                reason: "nightly backup job".into(),
                created_by: "cli:tanaka".into(),
                expires_ns: Some(now_ns() + 3_600_000_000_000),
            })
            .unwrap();
        let s = &db.suppressions(false).unwrap()[0];
        let now = now_ns();
        let backup = |n: &str| (n == "host").then(|| "backup-sv".to_owned());
        let other = |n: &str| (n == "host").then(|| "emr-sv".to_owned());
        assert!(s.silences("r1", "Rule r1", now, &backup));
        assert!(!s.silences("r1", "Rule r1", now, &other));
        assert!(!s.silences("r2", "Rule r2", now, &backup));
        assert!(!s.silences("r1", "Rule r1", now + 7_200_000_000_000, &backup));
        db.record(&[], MIN, &[(id, 3)], &[]).unwrap();
        assert_eq!(db.suppressions(false).unwrap()[0].hits, 3);
        db.remove_suppression(id).unwrap();
        assert!(db.suppressions(true).unwrap().is_empty());
    }
}
