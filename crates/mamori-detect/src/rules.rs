//! Loading rules and evaluating events against them.

use crate::event::SigmaEvent;
use mamori_event::Event;
use rsigma_eval::Engine;
use rsigma_parser::{LogSource, SigmaRule, parse_sigma_yaml};
use std::path::{Path, PathBuf};

/// What loading rules did.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Rule files read.
    pub files: usize,
    /// Detection rules compiled and active.
    pub rules_loaded: usize,
    /// Rules (or whole files) that did not load, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Correlation rules found (not yet evaluated by this engine).
    pub correlations: usize,
}

impl LoadReport {
    /// Share of rules that loaded, 0.0–1.0.
    pub fn loaded_ratio(&self) -> f64 {
        let total = self.rules_loaded + self.failed.len();
        if total == 0 {
            1.0
        } else {
            self.rules_loaded as f64 / total as f64
        }
    }
}

/// One rule that matched an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    /// The rule's title.
    pub title: String,
    /// The rule's id, if it has one.
    pub id: Option<String>,
    /// `informational`, `low`, `medium`, `high` or `critical` (empty if unset).
    pub level: &'static str,
    /// The rule's tags (ATT&CK techniques and the like).
    pub tags: Vec<String>,
}

/// Compiled rules, ready to evaluate events.
pub struct RuleSet {
    engine: Engine,
}

/// The built-in hospital pack, embedded in the binary: `(name, YAML)`.
pub fn builtin_rules() -> Vec<(PathBuf, String)> {
    macro_rules! rule {
        ($name:literal) => {
            (
                PathBuf::from(concat!("builtin/", $name)),
                include_str!(concat!("../../../rules/hospital/", $name)).to_owned(),
            )
        };
    }
    vec![
        rule!("rdp_logon_from_vpn_pool.yml"),
        rule!("defender_disabled.yml"),
        rule!("eventlog_cleared.yml"),
        rule!("shadow_copies_deleted.yml"),
        rule!("vpn_login_failure.yml"),
    ]
}

fn rule_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            rule_files(&p, out)?;
        }
    } else if path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
    {
        out.push(path.to_owned());
    } else if !path.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{}: no such rule file or folder", path.display()),
        ));
    }
    Ok(())
}

impl RuleSet {
    /// Loads every `.yml`/`.yaml` file under `paths` (folders recursively).
    /// A path that does not exist is an error; a rule that does not load is
    /// reported in the [`LoadReport`] and skipped.
    pub fn load(paths: &[PathBuf], with_builtin: bool) -> std::io::Result<(RuleSet, LoadReport)> {
        let mut files = Vec::new();
        for p in paths {
            rule_files(p, &mut files)?;
        }
        let mut sources = if with_builtin {
            builtin_rules()
        } else {
            Vec::new()
        };
        let mut unreadable = Vec::new();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => sources.push((f, text)),
                Err(e) => unreadable.push((f, e.to_string())),
            }
        }
        let (set, mut report) = RuleSet::from_sources(&sources);
        report.files += unreadable.len();
        report.failed.extend(unreadable);
        Ok((set, report))
    }

    /// Compiles rules from `(name, YAML text)` pairs.
    pub fn from_sources(sources: &[(PathBuf, String)]) -> (RuleSet, LoadReport) {
        let mut report = LoadReport {
            files: sources.len(),
            ..LoadReport::default()
        };
        let mut rules: Vec<(usize, SigmaRule)> = Vec::new();
        for (i, (path, text)) in sources.iter().enumerate() {
            match parse_sigma_yaml(text) {
                Ok(c) => {
                    for e in c.errors {
                        report.failed.push((path.clone(), e));
                    }
                    report.correlations += c.correlations.len();
                    rules.extend(c.rules.into_iter().map(|r| (i, r)));
                }
                Err(e) => report.failed.push((path.clone(), e.to_string())),
            }
        }
        let mut engine = Engine::new();
        let errors = engine.add_rules(rules.iter().map(|(_, r)| r));
        for (idx, e) in &errors {
            let file = rules.get(*idx).map(|(i, _)| sources[*i].0.clone());
            report
                .failed
                .push((file.unwrap_or_default(), e.to_string()));
        }
        report.rules_loaded = rules.len() - errors.len();
        (RuleSet { engine }, report)
    }

    /// Active rules.
    pub fn len(&self) -> usize {
        self.engine.rule_count()
    }

    /// Whether no rule is active.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rules that match `ev`: only rules whose Sigma logsource the event
    /// satisfies (product, service and category, each when the rule names it).
    pub fn evaluate(&self, ev: &Event) -> Vec<RuleHit> {
        let mut hits: Vec<RuleHit> = Vec::new();
        for category in sigma_categories(ev) {
            let ls = LogSource {
                product: ev.logsource.product.clone(),
                service: ev.logsource.service.clone(),
                category,
                ..LogSource::default()
            };
            for r in self.engine.evaluate_with_logsource(&SigmaEvent(ev), &ls) {
                if !r.is_detection()
                    || hits
                        .iter()
                        .any(|h| h.title == r.header.rule_title && h.id == r.header.rule_id)
                {
                    continue;
                }
                hits.push(RuleHit {
                    title: r.header.rule_title,
                    id: r.header.rule_id,
                    level: r.header.level.map(|l| l.as_str()).unwrap_or(""),
                    tags: r.header.tags,
                });
            }
        }
        hits
    }
}

/// The Sigma categories an event belongs to. Usually its one category; a
/// Sysmon registry event is both the generic `registry_event` and the
/// specific `registry_add` / `registry_delete` / `registry_set` /
/// `registry_rename` that SigmaHQ's newer rules use.
fn sigma_categories(ev: &Event) -> Vec<Option<String>> {
    let base = ev.logsource.category.clone();
    if base.as_deref() != Some("registry_event") {
        return vec![base];
    }
    let specific = match ev.fields.get("EventID").and_then(|v| v.as_i64()) {
        Some(13) => Some("registry_set"),
        Some(14) => Some("registry_rename"),
        Some(12) => match ev.fields.get_str("EventType") {
            Some(t) if t.starts_with("Delete") => Some("registry_delete"),
            _ => Some("registry_add"),
        },
        _ => None,
    };
    let mut out = vec![base];
    out.extend(specific.map(|s| Some(s.to_owned())));
    out
}
