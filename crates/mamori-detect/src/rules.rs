//! Loading rules and evaluating events against them.

use crate::event::SigmaEvent;
use crate::prefilter::Prefilter;
use mamori_event::Event;
use rsigma_eval::result::EvaluationResult;
use rsigma_eval::{
    CompiledRule, CorrelationConfig, CorrelationEngine, compile_rule, evaluate_rule,
};
use rsigma_parser::{
    CorrelationRule, Detection, Modifier, SigmaRule, SigmaString, SigmaValue, parse_sigma_yaml,
};
use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What loading rules did.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Rule files read.
    pub files: usize,
    /// Detection rules compiled and active.
    pub rules_loaded: usize,
    /// Rules (or whole files) that did not load, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Correlation rules loaded.
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
    /// Whether a correlation rule fired (not a detection rule).
    pub correlation: bool,
    /// For a correlation: the group-by fields and their values.
    pub group: Vec<(String, String)>,
    /// For a correlation fed with sequence numbers: the events that made it fire.
    pub event_seqs: Vec<u64>,
}

impl RuleHit {
    /// The rule's id, or its title when it has none.
    pub fn key(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.title)
    }
}

/// What the console and alerts show about a rule.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RuleInfo {
    /// Rule id, or the title when it has none.
    pub key: String,
    /// Title.
    pub title: String,
    /// Japanese title (`title_ja:`), if given.
    pub title_ja: Option<String>,
    /// Level.
    pub level: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// What to do, in Japanese (`response_ja:`).
    pub response_ja: Option<String>,
    /// What to do, in English (`response_en:`).
    pub response_en: Option<String>,
    /// Known false positives.
    pub falsepositives: Vec<String>,
    /// References.
    pub references: Vec<String>,
    /// The file it came from (`builtin/…` for the built-in pack).
    pub file: String,
    /// Whether it is a correlation rule.
    pub correlation: bool,
}

/// The value of a top-level one-line `key: value` in a rule file (for
/// mamori's own keys, which rsigma does not keep for correlation rules).
fn top_level_scalar(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let v = rest.trim().trim_matches(|c| c == '\'' || c == '"').trim();
        (!v.is_empty() && v != "|" && v != ">").then(|| v.to_owned())
    })
}

/// Compiled rules, ready to evaluate events.
///
/// Each rule is compiled by rsigma and evaluated by rsigma. What mamori adds
/// is the choice of which rules to evaluate for an event: only those whose
/// Sigma logsource the event satisfies, and of those only the ones whose
/// necessary literals or fields the prefilter finds in the event. rsigma's
/// own `Engine` does the second with Aho-Corasick DFAs that took 122 MB for
/// SigmaHQ's Windows rules; the prefilter's single contiguous NFA does it in
/// a few MB, with fewer instructions per event (BENCHMARKS.md).
pub struct RuleSet {
    compiled: Vec<CompiledRule>,
    /// The distinct logsources of the rules.
    sources: Vec<RuleSource>,
    /// Per compiled rule, its logsource (an index into `sources`).
    source_of: Vec<u32>,
    prefilter: Prefilter,
    correlations: Vec<CorrelationRule>,
    info: Vec<RuleInfo>,
}

/// The logsource a rule applies to, lower-cased (None: any).
#[derive(PartialEq)]
struct RuleSource {
    product: Option<String>,
    service: Option<String>,
    category: Option<String>,
}

/// The logsources a thread has seen, with which rule logsources each
/// satisfies ([`RuleSet::fitting_sources`]), for one rule set at a time.
#[derive(Default)]
struct FitCache {
    /// The rule set's (its prefilter's) id.
    set: u64,
    entries: Vec<FitEntry>,
}

/// One event logsource in a [`FitCache`].
struct FitEntry {
    /// Product, service and category, lower-cased.
    key: [Option<Box<str>>; 3],
    /// The event's more specific categories (a static list).
    specific: &'static [&'static str],
    fit: Rc<[bool]>,
}

/// Beyond this many logsources a thread's cache starts again, so that
/// events with ever new logsources cannot make it grow.
const FIT_CACHE_MAX: usize = 64;

thread_local! {
    static FIT_CACHE: RefCell<FitCache> = RefCell::default();
}

/// The stateful side of a rule set: feeds detections, in time order, to the
/// correlation rules (`event_count`, `temporal`, …) and says which fire.
pub struct Correlator {
    engine: CorrelationEngine,
}

/// An event as the correlation engine sees it, carrying its store
/// sequence number as `_id` so a firing correlation names its events.
struct Numbered<'a> {
    ev: SigmaEvent<'a>,
    seq: Option<u64>,
}

impl rsigma_eval::event::Event for Numbered<'_> {
    fn get_field(&self, path: &str) -> Option<rsigma_eval::event::EventValue<'_>> {
        self.ev.get_field(path)
    }
    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.ev.any_string_value(pred)
    }
    fn all_string_values(&self) -> Vec<std::borrow::Cow<'_, str>> {
        self.ev.all_string_values()
    }
    fn to_json(&self) -> serde_json::Value {
        // Only read for the event reference; the fields are not needed.
        serde_json::json!({ "_id": self.seq.map(|s| s.to_string()) })
    }
}

impl Correlator {
    /// Feeds one event's detections (from [`RuleSet::detect`]) at its time;
    /// returns the correlation rules that fire. With `seq` (the event's
    /// store sequence number) a firing names the events that made it.
    pub fn feed(
        &mut self,
        ev: &Event,
        seq: Option<u64>,
        detections: Vec<EvaluationResult>,
    ) -> Vec<RuleHit> {
        let ts = ev.time_ns.div_euclid(1_000_000_000);
        let numbered = Numbered {
            ev: SigmaEvent(ev),
            seq,
        };
        self.engine
            .process_with_detections(&numbered, detections, ts)
            .into_iter()
            .filter(|r| r.is_correlation())
            .map(hit)
            .collect()
    }

    /// The correlation state (open windows per group), to save.
    pub fn save(&self) -> Vec<u8> {
        serde_json::to_vec(&self.engine.export_state()).unwrap_or_default()
    }

    /// Restores state made by [`Correlator::save`]; false (and nothing
    /// restored) if it is unreadable or from an incompatible version.
    pub fn restore(&mut self, saved: &[u8]) -> bool {
        match serde_json::from_slice::<rsigma_eval::CorrelationSnapshot>(saved) {
            Ok(s) => self.engine.import_state(s),
            Err(_) => false,
        }
    }

    /// Group states held.
    pub fn state_count(&self) -> usize {
        self.engine.state_count()
    }
}

pub(crate) fn hit(r: EvaluationResult) -> RuleHit {
    let (group, event_seqs) = match &r.body {
        rsigma_eval::result::ResultBody::Correlation(c) => (
            c.group_key.clone(),
            c.event_refs
                .iter()
                .flatten()
                .filter_map(|e| e.id.as_deref()?.parse().ok())
                .collect(),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    RuleHit {
        correlation: r.is_correlation(),
        title: r.header.rule_title,
        id: r.header.rule_id,
        level: r.header.level.map(|l| l.as_str()).unwrap_or(""),
        tags: r.header.tags,
        group,
        event_seqs,
    }
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
        rule!("vpn_login_success.yml"),
        rule!("vpn_failures_then_success.yml"),
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
        // Each rule is compiled as soon as it is parsed, and its parsed form
        // dropped: only the compiled rules stay in memory.
        let lower = |s: &Option<String>| s.as_ref().map(|v| v.to_ascii_lowercase());
        let mut compiled = Vec::new();
        let mut rule_sources = Vec::new();
        let mut source_of = Vec::new();
        let mut info = Vec::new();
        let mut correlations: Vec<(usize, CorrelationRule)> = Vec::new();
        for (i, (path, text)) in sources.iter().enumerate() {
            let parsed = match parse_sigma_yaml(text) {
                Ok(c) => c,
                Err(e) => {
                    report.failed.push((path.clone(), e.to_string()));
                    continue;
                }
            };
            for e in parsed.errors {
                report.failed.push((path.clone(), e));
            }
            correlations.extend(parsed.correlations.into_iter().map(|r| (i, r)));
            for mut r in parsed.rules {
                fix_base64offset(&mut r);
                match compile_rule(&r) {
                    Ok(c) => compiled.push(c),
                    Err(e) => {
                        report.failed.push((path.clone(), e.to_string()));
                        continue;
                    }
                }
                let ls = &r.logsource;
                let source = RuleSource {
                    product: lower(&ls.product),
                    service: lower(&ls.service),
                    category: lower(&ls.category),
                };
                let at = match rule_sources.iter().position(|s| *s == source) {
                    Some(at) => at,
                    None => {
                        rule_sources.push(source);
                        rule_sources.len() - 1
                    }
                };
                source_of.push(at as u32);
                info.push(RuleInfo {
                    key: r.id.clone().unwrap_or_else(|| r.title.clone()),
                    title_ja: top_level_scalar(text, "title_ja"),
                    level: r.level.map(|l| l.as_str()).unwrap_or("").to_owned(),
                    response_ja: top_level_scalar(text, "response_ja"),
                    response_en: top_level_scalar(text, "response_en"),
                    file: path.display().to_string(),
                    correlation: false,
                    title: r.title,
                    tags: r.tags,
                    description: r.description,
                    falsepositives: r.falsepositives,
                    references: r.references,
                });
            }
        }
        report.rules_loaded = compiled.len();
        let prefilter = Prefilter::build(&compiled);
        // Keep the correlations that compile.
        let mut check = CorrelationEngine::new(CorrelationConfig::default());
        let mut kept = Vec::new();
        for (i, c) in correlations {
            match check.add_correlation(&c) {
                Ok(()) => {
                    let text = &sources[i].1;
                    info.push(RuleInfo {
                        key: c.id.clone().unwrap_or_else(|| c.title.clone()),
                        title: c.title.clone(),
                        title_ja: top_level_scalar(text, "title_ja"),
                        level: c.level.map(|l| l.as_str()).unwrap_or("").to_owned(),
                        tags: c.tags.clone(),
                        description: c.description.clone(),
                        response_ja: top_level_scalar(text, "response_ja"),
                        response_en: top_level_scalar(text, "response_en"),
                        falsepositives: c.falsepositives.clone(),
                        references: c.references.clone(),
                        file: sources[i].0.display().to_string(),
                        correlation: true,
                    });
                    kept.push(c)
                }
                Err(e) => report.failed.push((sources[i].0.clone(), e.to_string())),
            }
        }
        report.correlations = kept.len();
        (
            RuleSet {
                compiled,
                sources: rule_sources,
                source_of,
                prefilter,
                correlations: kept,
                info,
            },
            report,
        )
    }

    /// Active rules.
    pub fn len(&self) -> usize {
        self.compiled.len()
    }

    /// Whether no rule is active.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The detection rules that match `ev`: only rules whose Sigma
    /// logsource the event satisfies (product, service and category, each
    /// when the rule names it). Correlations are not applied.
    pub fn evaluate(&self, ev: &Event) -> Vec<RuleHit> {
        self.detect(ev).into_iter().map(hit).collect()
    }

    /// Like [`RuleSet::evaluate`], in rsigma's form, to feed a [`Correlator`].
    pub fn detect(&self, ev: &Event) -> Vec<EvaluationResult> {
        let fit = self.fitting_sources(ev);
        let wanted = |n: usize| fit[self.source_of[n] as usize];
        let candidates = self.prefilter.candidates(ev, &wanted);
        self.evaluate_rules(ev, candidates.into_iter().map(|n| n as usize))
    }

    /// [`RuleSet::detect`] without the prefilter: every rule whose
    /// logsource fits is evaluated. For tests that check the prefilter.
    #[doc(hidden)]
    pub fn detect_evaluating_every_rule(&self, ev: &Event) -> Vec<EvaluationResult> {
        let fit = self.fitting_sources(ev);
        self.evaluate_rules(
            ev,
            (0..self.compiled.len()).filter(|&n| fit[self.source_of[n] as usize]),
        )
    }

    /// Per distinct rule logsource, whether the event satisfies it. Events
    /// come under few logsources, so each thread keeps the answers for the
    /// ones it has seen rather than comparing every rule logsource again.
    fn fitting_sources(&self, ev: &Event) -> Rc<[bool]> {
        let ls = &ev.logsource;
        let product = lower(ls.product.as_deref());
        let service = lower(ls.service.as_deref());
        let category = match lower(ls.category.as_deref()) {
            None if product.as_deref() == Some("windows") => {
                stored_without_category(ev).map(Cow::Borrowed)
            }
            c => c,
        };
        let specific = specific_categories(ev, category.as_deref());
        let key = [product.as_deref(), service.as_deref(), category.as_deref()];
        FIT_CACHE.with_borrow_mut(|cache| {
            if cache.set != self.prefilter.id() || cache.entries.len() >= FIT_CACHE_MAX {
                cache.set = self.prefilter.id();
                cache.entries.clear();
            }
            let found = cache.entries.iter().find(|e| {
                e.specific == specific && e.key.iter().map(Option::as_deref).eq(key.iter().copied())
            });
            if let Some(e) = found {
                return e.fit.clone();
            }
            let part = |want: &Option<String>, have: Option<&str>| {
                want.as_deref().is_none_or(|w| have == Some(w))
            };
            let fit: Rc<[bool]> = self
                .sources
                .iter()
                .map(|s| {
                    part(&s.product, key[0])
                        && part(&s.service, key[1])
                        && (part(&s.category, key[2])
                            || specific.iter().any(|c| part(&s.category, Some(c))))
                })
                .collect();
            cache.entries.push(FitEntry {
                key: key.map(|k| k.map(Box::from)),
                specific,
                fit: fit.clone(),
            });
            fit
        })
    }

    fn evaluate_rules(
        &self,
        ev: &Event,
        rules: impl Iterator<Item = usize>,
    ) -> Vec<EvaluationResult> {
        let sigma = SigmaEvent(ev);
        rules
            .filter_map(|n| evaluate_rule(&self.compiled[n], &sigma))
            .collect()
    }

    /// What is known about each loaded rule (detections, then correlations).
    pub fn rules(&self) -> &[RuleInfo] {
        &self.info
    }

    /// Whether the set holds correlation rules.
    pub fn has_correlations(&self) -> bool {
        !self.correlations.is_empty()
    }

    /// A correlator for this set's correlation rules, if it has any.
    pub fn correlator(&self) -> Option<Correlator> {
        if self.correlations.is_empty() {
            return None;
        }
        let mut engine = CorrelationEngine::new(CorrelationConfig::default());
        engine.set_correlation_event_mode(rsigma_eval::CorrelationEventMode::Refs);
        engine.set_max_correlation_events(100);
        for c in &self.correlations {
            // They compiled when the set was loaded.
            let _ = engine.add_correlation(c);
        }
        Some(Correlator { engine })
    }
}

/// The Sigma categories an event belongs to besides its own one: a Sysmon
/// registry event is both the generic `registry_event` and the specific
/// categories SigmaHQ's newer rules use, and Sysmon event 26 is both
/// `file_delete` and `file_delete_detected`. As in pySigma's Sysmon
/// pipeline (and Chainsaw and Hayabusa), event 12 is both `registry_add`
/// and `registry_delete` whatever its `EventType`: a rule that cares
/// whether a key was created or deleted says so in its selection.
/// `category` is the event's own, as [`RuleSet::fitting_sources`] found it.
fn specific_categories(ev: &Event, category: Option<&str>) -> &'static [&'static str] {
    let event_id = || ev.fields.get("EventID").and_then(|v| v.as_i64());
    match category {
        Some("registry_event") => match event_id() {
            Some(12) => &["registry_add", "registry_delete"],
            Some(13) => &["registry_set"],
            Some(14) => &["registry_rename"],
            _ => &[],
        },
        Some("file_delete") if event_id() == Some(26) => &["file_delete_detected"],
        _ => &[],
    }
}

/// `s` lower-cased, copied only when it has upper-case letters.
fn lower(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(|v| {
        if v.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(v.to_ascii_lowercase())
        } else {
            Cow::Borrowed(v)
        }
    })
}

/// The category of a Windows event stored without one, by an earlier
/// version of mamori that knew fewer Sysmon event ids, from its service
/// and event id; so a retro-hunt over old events finds what a new rule
/// looks for.
fn stored_without_category(ev: &Event) -> Option<&'static str> {
    let service = ev.logsource.service.as_deref()?;
    let id = ev.fields.get("EventID").and_then(|v| v.as_i64())?;
    mamori_event::windows_category(service, id)
}

/// rsigma 0.23's `base64offset` keeps, at the end of each variant, a
/// character that depends on the byte after the value, so
/// `base64offset|contains: 'http://'` misses base64 of `xhttp://evil.com`.
/// mamori computes the three variants itself, as pySigma does (dropping
/// every character that depends on unknown neighbouring bytes), and hands
/// rsigma plain `contains` values.
fn fix_base64offset(rule: &mut SigmaRule) {
    for d in rule.detection.named.values_mut() {
        fix_detection(d);
    }
}

fn fix_detection(d: &mut Detection) {
    match d {
        Detection::AllOf(items) => {
            for item in items {
                let mods = &item.field.modifiers;
                let Some(pos) = mods.iter().position(|m| *m == Modifier::Base64Offset) else {
                    continue;
                };
                // Only encodings may come before base64offset.
                if mods[..pos]
                    .iter()
                    .any(|m| !matches!(m, Modifier::Wide | Modifier::Utf16 | Modifier::Utf16be))
                {
                    continue;
                }
                let plain: Option<Vec<String>> = item
                    .values
                    .iter()
                    .map(|v| match v {
                        SigmaValue::String(s) => s.as_plain(),
                        _ => None,
                    })
                    .collect();
                let Some(plain) = plain else { continue };
                let encoding = mods[..pos].last().copied();
                item.values = plain
                    .iter()
                    .flat_map(|v| base64offset_variants(&encode(v, encoding)))
                    .map(|v| SigmaValue::String(SigmaString::from_raw(&v)))
                    .collect();
                item.field.modifiers.drain(..=pos);
            }
        }
        Detection::AnyOf(subs) => subs.iter_mut().for_each(fix_detection),
        _ => {}
    }
}

fn encode(v: &str, encoding: Option<Modifier>) -> Vec<u8> {
    match encoding {
        Some(Modifier::Wide) => v.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Some(Modifier::Utf16be) => v.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Some(Modifier::Utf16) => [0xFF, 0xFE]
            .into_iter()
            .chain(v.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        _ => v.as_bytes().to_vec(),
    }
}

/// The three base64 forms of `value` at offsets 0, 1 and 2 within a larger
/// encoded text, without the characters that depend on bytes around it.
fn base64offset_variants(value: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    (0..3usize)
        .filter_map(|i| {
            let mut bytes = vec![b' '; i];
            bytes.extend_from_slice(value);
            let enc = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let start = [0, 2, 3][i];
            let cut = [0, 3, 2][(value.len() + i) % 3];
            let end = enc.len().checked_sub(cut)?;
            (start < end).then(|| enc[start..end].to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64offset_variants_match_pysigma() {
        assert_eq!(
            base64offset_variants(b"http://"),
            ["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]
        );
    }

    #[test]
    fn rule_sets_in_one_thread_keep_their_own_logsources() {
        let set = |logsource: &str| {
            let rule = format!(
                "title: Logon\nlogsource: {logsource}\ndetection:\n  sel: {{ EventID: 4624 }}\n  condition: sel\nlevel: low\n"
            );
            let (rules, report) = RuleSet::from_sources(&[("t.yml".into(), rule)]);
            assert_eq!(report.rules_loaded, 1, "{:?}", report.failed);
            rules
        };
        let security = set("{ product: windows, service: security }");
        let sysmon = set("{ product: windows, service: sysmon }");
        let event = |service: &str| {
            let mut ev = Event::new(Vec::new());
            ev.logsource = mamori_event::LogSource::new(Some("windows"), Some(service), None);
            ev.fields.push("EventID", 4624i64);
            ev
        };
        // In turn, so that each set finds the other's answers remembered.
        for _ in 0..3 {
            assert_eq!(security.evaluate(&event("security")).len(), 1);
            assert!(sysmon.evaluate(&event("security")).is_empty());
            assert!(security.evaluate(&event("sysmon")).is_empty());
            assert_eq!(sysmon.evaluate(&event("sysmon")).len(), 1);
        }
    }

    #[test]
    fn base64offset_contains_finds_a_shifted_url() {
        let rule = r#"
title: Base64 URL
logsource: { product: windows }
detection:
  sel: { CommandLine|base64offset|contains: 'http://' }
  condition: sel
level: high
"#;
        let (rules, report) = RuleSet::from_sources(&[("t.yml".into(), rule.to_owned())]);
        assert_eq!(report.rules_loaded, 1, "{:?}", report.failed);
        let mut ev = Event::new(Vec::new());
        ev.logsource = mamori_event::LogSource::new(Some("windows"), None, None);
        // base64 of "xhttp://evil.com": the URL starts at offset 1.
        ev.fields
            .push("CommandLine", "powershell -enc eGh0dHA6Ly9ldmlsLmNvbQ==");
        assert_eq!(rules.evaluate(&ev).len(), 1);
        ev.fields
            .insert("CommandLine", "powershell -enc aGVsbG8gd29ybGQ=");
        assert!(rules.evaluate(&ev).is_empty());
    }

    #[test]
    fn every_sysmon_event_12_is_registry_add_and_registry_delete() {
        let rule = |category: &str| {
            format!(
                r#"
title: RunMRU {category}
logsource: {{ product: windows, category: {category} }}
detection:
  sel: {{ TargetObject|endswith: '\Explorer\RunMRU' }}
  condition: sel
level: high
"#
            )
        };
        let (rules, _) = RuleSet::from_sources(&[
            ("d.yml".into(), rule("registry_delete")),
            ("a.yml".into(), rule("registry_add")),
            ("s.yml".into(), rule("registry_set")),
        ]);
        let ev = |event_id: i64, event_type: &str| {
            let mut ev = Event::new(Vec::new());
            ev.logsource = mamori_event::LogSource::new(
                Some("windows"),
                Some("sysmon"),
                Some("registry_event"),
            );
            ev.fields.push("EventID", event_id);
            ev.fields.push("EventType", event_type);
            ev.fields.push(
                "TargetObject",
                "HKU\\S-1-5-21-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RunMRU",
            );
            ev
        };
        let titles = |ev: &Event| {
            let mut t: Vec<String> = rules.evaluate(ev).into_iter().map(|h| h.title).collect();
            t.sort();
            t
        };
        let add_and_delete = ["RunMRU registry_add", "RunMRU registry_delete"];
        assert_eq!(titles(&ev(12, "DeleteKey")), add_and_delete);
        assert_eq!(titles(&ev(12, "CreateKey")), add_and_delete);
        assert_eq!(titles(&ev(13, "SetValue")), ["RunMRU registry_set"]);
    }

    #[test]
    fn sysmon_events_stored_without_a_category_get_theirs() {
        let (rules, _) = RuleSet::from_sources(&[(
            "w.yml".into(),
            "title: WMI consumer\nlogsource: { product: windows, category: wmi_event }\ndetection:\n  sel: { EventType: WmiConsumerEvent }\n  condition: sel\n".to_owned(),
        )]);
        // As an earlier mamori stored Sysmon event 20: service, no category.
        let mut ev = Event::new(Vec::new());
        ev.logsource = mamori_event::LogSource::new(Some("windows"), Some("sysmon"), None);
        ev.fields.push("EventID", 20i64);
        ev.fields.push("EventType", "WmiConsumerEvent");
        assert_eq!(rules.evaluate(&ev).len(), 1);
        // Another event id of the same log is not a WMI event.
        ev.fields.insert("EventID", 1i64);
        assert!(rules.evaluate(&ev).is_empty());
    }
}
