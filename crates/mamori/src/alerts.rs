//! `mamori alerts`: list, show, acknowledge, close and suppress alerts.
//! Works beside a running `mamori serve` (the database is shared).

use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use mamori_detect::alerts::{Alert, AlertQuery, AlertStatus, AlertStore, NewSuppression};
use mamori_event::format_rfc3339;
use mamori_i18n::{Lang, t, tf};
use std::io::Write;

/// `mamori alerts …`.
#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Alerts, newest first.
    List {
        /// open, acknowledged, closed or all.
        #[arg(long, default_value = "all")]
        status: String,
        /// Only this level or higher.
        #[arg(long)]
        level: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// table or json (one object per line).
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// One alert with its triggering events and history.
    Show {
        /// Alert id.
        id: i64,
    },
    /// Acknowledge: someone is on it.
    Ack {
        /// Alert id.
        id: i64,
        /// A comment for the history.
        #[arg(long, short = 'm', default_value = "")]
        comment: String,
    },
    /// Close: dealt with.
    Close {
        /// Alert id.
        id: i64,
        /// A comment for the history.
        #[arg(long, short = 'm', default_value = "")]
        comment: String,
    },
    /// Reopen a closed or acknowledged alert.
    Reopen {
        /// Alert id.
        id: i64,
        /// A comment for the history.
        #[arg(long, short = 'm', default_value = "")]
        comment: String,
    },
    /// Silence a rule for events with given field values.
    Suppress {
        /// Rule id or title; * for every rule.
        #[arg(long)]
        rule: String,
        /// field=value, repeatable (host, user, ip, or any event field).
        #[arg(long = "where", short = 'w')]
        conditions: Vec<String>,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// How long: 12h, 7d … (default: until removed).
        #[arg(long = "for")]
        duration: Option<String>,
    },
    /// Suppressions, with their hit counts.
    Suppressions {
        /// Include expired ones.
        #[arg(long)]
        all: bool,
    },
    /// Remove a suppression.
    Unsuppress {
        /// Suppression id.
        id: i64,
    },
}

fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn parse_duration(s: &str) -> Result<i64> {
    let (n, unit) = s.split_at(s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: i64 = n
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("--for {s}: give a duration such as 12h or 7d"))?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("--for {s}: the unit must be m, h, d or w (12h, 7d)"),
    };
    Ok(n.saturating_mul(secs).saturating_mul(1_000_000_000))
}

fn row(a: &Alert) -> String {
    let who: Vec<&str> = [&a.entities.host, &a.entities.user, &a.entities.ip]
        .into_iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let mut line = format!(
        "{:>6}  {:<12}  {:<8}  {}  {:>5}  {:<45}  {}",
        a.id,
        a.status.as_str(),
        a.level,
        format_rfc3339(a.last_seen_ns),
        a.count,
        a.rule_title,
        who.join(" ")
    );
    if line.chars().count() > 200 {
        line = line.chars().take(199).collect::<String>() + "…";
    }
    line
}

/// Runs `mamori alerts …`.
pub fn run(cfg: &Config, action: AlertsAction, lang: Lang) -> Result<()> {
    let path = cfg.data_dir.join("alerts.db");
    if !path.exists() {
        bail!(
            "{} does not exist: alerts are made by `mamori serve` (or give --data)",
            path.display()
        );
    }
    let db = AlertStore::open(&path)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match action {
        AlertsAction::List {
            status,
            level,
            limit,
            format,
        } => {
            let status = match status.as_str() {
                "all" => None,
                s => Some(
                    AlertStatus::parse(s)
                        .with_context(|| tf(lang, "alerts.bad_status", &[("status", s)]))?,
                ),
            };
            if let Some(l) = &level
                && mamori_detect::level_rank(l) == 0
            {
                bail!(tf(lang, "alerts.bad_level", &[("level", l)]));
            }
            let alerts = db.list(&AlertQuery {
                status,
                min_level: level,
                limit: Some(limit),
                ..AlertQuery::default()
            })?;
            if format == "json" {
                for a in &alerts {
                    writeln!(out, "{}", serde_json::to_string(a)?)?;
                }
            } else if alerts.is_empty() {
                eprintln!("{}", t(lang, "alerts.none"));
            } else {
                for a in &alerts {
                    writeln!(out, "{}", row(a))?;
                }
            }
        }
        AlertsAction::Show { id } => {
            let a = db.get(id)?;
            writeln!(out, "{}", row(&a))?;
            writeln!(out, "  rule:       {} ({:?})", a.rule_key, a.kind)?;
            writeln!(out, "  tags:       {}", a.tags.join(", "))?;
            writeln!(out, "  first seen: {}", format_rfc3339(a.first_seen_ns))?;
            writeln!(out, "  last seen:  {}", format_rfc3339(a.last_seen_ns))?;
            if !a.assignee.is_empty() {
                writeln!(out, "  assignee:   {}", a.assignee)?;
            }
            for (k, v) in &a.summary {
                writeln!(out, "  {k}: {v}")?;
            }
            let seqs: Vec<String> = a.event_seqs.iter().map(u64::to_string).collect();
            writeln!(out, "  events:     {}", seqs.join(" "))?;
            for n in &a.notes {
                writeln!(
                    out,
                    "  {}  {}  {}  {}",
                    format_rfc3339(n.time_ns),
                    n.actor,
                    n.action,
                    n.comment
                )?;
            }
            // The triggering events themselves, when the store can be read.
            if let Ok(store) = mamori_store::Store::open_read_only(&cfg.data_dir) {
                let first: Vec<u64> = a.event_seqs.iter().take(10).copied().collect();
                for (seq, ev) in store.get(&first).unwrap_or_default() {
                    let raw = String::from_utf8_lossy(&ev.raw);
                    let raw: String = raw.chars().take(300).collect();
                    writeln!(out, "  [{seq}] {raw}")?;
                }
            }
        }
        AlertsAction::Ack { id, comment } => {
            db.set_status(id, AlertStatus::Acknowledged, &actor(), &comment)?;
            changed(lang, id, AlertStatus::Acknowledged);
        }
        AlertsAction::Close { id, comment } => {
            db.set_status(id, AlertStatus::Closed, &actor(), &comment)?;
            changed(lang, id, AlertStatus::Closed);
        }
        AlertsAction::Reopen { id, comment } => {
            db.set_status(id, AlertStatus::Open, &actor(), &comment)?;
            changed(lang, id, AlertStatus::Open);
        }
        AlertsAction::Suppress {
            rule,
            conditions,
            reason,
            duration,
        } => {
            let mut conds = Vec::new();
            for c in &conditions {
                let (k, v) = c
                    .split_once('=')
                    .filter(|(k, _)| !k.trim().is_empty())
                    .with_context(|| tf(lang, "alerts.bad_condition", &[("condition", c)]))?;
                conds.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            let expires_ns = duration
                .as_deref()
                .map(parse_duration)
                .transpose()?
                .map(|d| mamori_event::now_ns().saturating_add(d));
            let id = db.add_suppression(&NewSuppression {
                rule,
                conditions: conds,
                reason,
                created_by: actor(),
                expires_ns,
            })?;
            eprintln!(
                "{}",
                tf(lang, "alerts.suppression_added", &[("id", &id.to_string())])
            );
        }
        AlertsAction::Suppressions { all } => {
            for s in db.suppressions(all)? {
                let conds: Vec<String> = s
                    .conditions
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let until = s
                    .expires_ns
                    .map(format_rfc3339)
                    .unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "{:>4}  {:<40}  {:<30}  until {}  hits {}  by {}  {}",
                    s.id,
                    s.rule,
                    conds.join(" "),
                    until,
                    s.hits,
                    s.created_by,
                    s.reason
                )?;
            }
        }
        AlertsAction::Unsuppress { id } => {
            db.remove_suppression(id)?;
            eprintln!(
                "{}",
                tf(
                    lang,
                    "alerts.suppression_removed",
                    &[("id", &id.to_string())]
                )
            );
        }
    }
    out.flush()?;
    Ok(())
}

fn changed(lang: Lang, id: i64, status: AlertStatus) {
    eprintln!(
        "{}",
        tf(
            lang,
            "alerts.changed",
            &[("id", &id.to_string()), ("status", status.as_str())]
        )
    );
}
