//! Which rules can possibly match an event, found with Aho-Corasick automata.
//!
//! For every compiled rule we work out a *clue*: literals and field names
//! such that any event the rule matches contains one of the literals
//! (ignoring case) in some value, or has one of the fields. A selection
//! `CommandLine|contains: 'vssadmin'` gives the literal `vssadmin` in the
//! field `CommandLine`; a keyword gives a literal in any field; one with
//! only `Payload|re: …` gives the field `Payload` (rsigma matches nothing but
//! `null` on a missing field). A rule has up to two clues, and a matching
//! event holds both: an AND keeps the two most selective of its parts'
//! (`Channel: Security` and `EventID: 1102`), an OR pairs its branches'
//! clues into unions; NOT gives none, and a rule without a clue is always
//! evaluated. All literals go into one Aho-Corasick automaton (a contiguous
//! NFA: a few MB where DFAs over the same literals took over a hundred). An event's values are scanned once: a literal found
//! in a value counts for the rules that look for it in that value's field,
//! or anywhere. A field no literal is scoped to is scanned only for the
//! keywords, with a second, smaller automaton. Only the rules whose clue is
//! found are evaluated, by rsigma. Each thread keeps the clues of values it
//! has seen twice (log names, hosts, users, program paths recur in event
//! after event), so a recurring value costs a hash instead of a scan. A
//! number is scanned only in a field where some literal is a number too
//! (or anywhere, if a keyword is): record, process and port numbers, which
//! rarely recur, are passed over.
//! Fields are compared as rsigma reads them
//! through [`SigmaEvent`]: ignoring ASCII case and spaces, under their
//! aliases, and the host for any field. The prefilter can only add
//! candidates, never drop a rule that matches: rsigma's evaluation decides,
//! and tests compare it with evaluating every rule on random events and on
//! whole corpora.

use crate::event::{SigmaEvent, alias};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use mamori_event::{Event, Value};
use regex_syntax::hir::{Class, Hir, HirKind};
use rsigma_eval::event::Event as _;
use rsigma_eval::matcher::GroupMode;
use rsigma_eval::{CompiledDetection, CompiledMatcher, CompiledRule};
use rsigma_parser::{ConditionExpr, Quantifier, SelectorPattern};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The field of a literal looked for in any value.
const ANY_FIELD: u32 = u32::MAX;

/// Candidate rules for an event.
pub(crate) struct Prefilter {
    /// Tells this prefilter's entries in the per-thread value cache from
    /// another's.
    id: u64,
    /// Over every literal.
    automaton: Option<AhoCorasick>,
    /// Over the literals looked for in any field, for the values of fields
    /// that no literal is scoped to; with, per pattern, its pattern number
    /// in `automaton`.
    keywords: Option<(AhoCorasick, Vec<u32>)>,
    /// Whether any literal is looked for in any field (if its automaton
    /// could not be built, `automaton` scans those fields instead).
    has_keywords: bool,
    /// Per pattern, the rules it is a literal of, each with the field it
    /// is looked for in (an id from `field_ids`, or [`ANY_FIELD`]) and the
    /// clue of the rule it belongs to.
    pattern_rules: Vec<Vec<(u32, u32, u8)>>,
    /// Normalised names (see [`normalise`]) of the fields literals are
    /// scoped to.
    field_ids: HashMap<String, u32>,
    /// Rules with a clue that names fields: the rule, the clue, the fields.
    field_rules: Vec<(u32, u8, Vec<String>)>,
    /// Per rule, how many clues it has (all must be found).
    clues_of: Vec<u8>,
    /// Rules without a clue: evaluated for every event.
    always: Vec<u32>,
    /// Where a value written only with the characters of numbers (see
    /// [`numeric`]) can hold a literal at all: the ids of the fields that have
    /// such a literal scoped to them; `numeric_keywords` if a literal
    /// looked for anywhere is one. Other numbers (record, process and
    /// port numbers, nearly all different) need no scan.
    numeric_fields: FxHashSet<u32>,
    numeric_keywords: bool,
}

/// The characters numbers are written with.
fn numeric(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'))
}

/// A literal to look for, in a field or (`None`) in any.
type Literal = (Option<String>, String);

/// Literals of which one must occur in a matching event, or fields of which
/// one must be present.
#[derive(Debug, Clone, Default, PartialEq)]
struct Clue {
    literals: Vec<Literal>,
    fields: Vec<String>,
}

/// Clues that a matching event holds every one of (at most [`MAX_CLUES`]);
/// `None`: nothing is known that a matching event must hold.
type Witness = Option<Vec<Clue>>;

/// The most clues kept per rule. Two catch the usual pair of a log's name
/// and an event id (`Channel: Security` and `EventID: 1102`), where the
/// first alone is in every event of that log.
const MAX_CLUES: usize = 2;

/// A field name as [`SigmaEvent`] compares it: ASCII lower case, without
/// spaces. Two names it takes for the same have the same normal form.
fn normalise(name: &str, out: &mut String) {
    out.clear();
    out.extend(
        name.chars()
            .filter(|c| *c != ' ')
            .map(|c| c.to_ascii_lowercase()),
    );
}

fn build_automaton(patterns: &[&str]) -> Option<AhoCorasick> {
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(patterns)
        .ok()
}

impl Prefilter {
    /// Tells this prefilter (and its rule set) from any other made in
    /// this process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Works out the rules' clues and builds the automata.
    pub(crate) fn build(rules: &[CompiledRule]) -> Prefilter {
        let mut patterns: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut pattern_rules: Vec<Vec<(u32, u32, u8)>> = Vec::new();
        let mut field_ids: HashMap<String, u32> = HashMap::new();
        let mut field_rules = Vec::new();
        let mut clues_of = vec![0u8; rules.len()];
        let mut always = Vec::new();
        let mut norm = String::new();
        for (n, rule) in rules.iter().enumerate() {
            let Some(clues) = rule_witness(rule) else {
                always.push(n as u32);
                continue;
            };
            clues_of[n] = clues.len() as u8;
            for (c, clue) in clues.into_iter().enumerate() {
                let c = c as u8;
                for (field, text) in clue.literals {
                    let at = *index.entry(text.clone()).or_insert_with(|| {
                        patterns.push(text);
                        pattern_rules.push(Vec::new());
                        patterns.len() - 1
                    });
                    let mut ids = Vec::new();
                    match &field {
                        None => ids.push(ANY_FIELD),
                        // The field under its own name, and under the name
                        // mamori keeps it by.
                        Some(f) => {
                            for name in std::iter::once(f.as_str()).chain(alias(f)) {
                                normalise(name, &mut norm);
                                let next = field_ids.len() as u32;
                                ids.push(*field_ids.entry(norm.clone()).or_insert(next));
                            }
                        }
                    }
                    for id in ids {
                        if !pattern_rules[at].contains(&(n as u32, id, c)) {
                            pattern_rules[at].push((n as u32, id, c));
                        }
                    }
                }
                if !clue.fields.is_empty() {
                    field_rules.push((n as u32, c, clue.fields));
                }
            }
        }
        let all: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let automaton = if all.is_empty() {
            None
        } else {
            build_automaton(&all)
        };
        if automaton.is_none() && !all.is_empty() {
            // Could not build: every rule is evaluated.
            always = (0..rules.len() as u32).collect();
            pattern_rules.clear();
            field_rules.clear();
        }
        let anywhere: Vec<u32> = (0..pattern_rules.len() as u32)
            .filter(|&p| {
                pattern_rules[p as usize]
                    .iter()
                    .any(|(_, f, _)| *f == ANY_FIELD)
            })
            .collect();
        let has_keywords = !anywhere.is_empty();
        let keywords = if anywhere.is_empty() {
            None
        } else {
            let texts: Vec<&str> = anywhere.iter().map(|&p| all[p as usize]).collect();
            build_automaton(&texts).map(|a| (a, anywhere))
        };
        let mut numeric_fields = FxHashSet::default();
        let mut numeric_keywords = false;
        for (p, text) in all.iter().enumerate() {
            if numeric(text) {
                for &(_, f, _) in &pattern_rules[p] {
                    if f == ANY_FIELD {
                        numeric_keywords = true;
                    } else {
                        numeric_fields.insert(f);
                    }
                }
            }
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Prefilter {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            automaton,
            keywords,
            has_keywords,
            pattern_rules,
            field_ids,
            field_rules,
            clues_of,
            always,
            numeric_fields,
            numeric_keywords,
        }
    }

    /// Whether the value `s` of `field` (as in [`Prefilter::value_clues`])
    /// can hold any literal: not if it is written only with numeric
    /// characters and no literal for its field is.
    fn may_hold_literal(&self, s: &str, field: Option<u32>) -> bool {
        if self.numeric_keywords || !numeric(s) {
            return true;
        }
        match field {
            None => false,
            Some(ANY_FIELD) => !self.numeric_fields.is_empty(),
            Some(id) => self.numeric_fields.contains(&id),
        }
    }

    /// The rules (indices into the slice given to [`Prefilter::build`]) that
    /// may match `ev`, in ascending order, among those `wanted` accepts
    /// (a cheap test, such as the rule's logsource).
    pub(crate) fn candidates(&self, ev: &Event, wanted: &dyn Fn(usize) -> bool) -> Vec<u32> {
        // Per rule, which of its clues were found; a rule is a candidate
        // once all are.
        let mut found = vec![0u8; self.clues_of.len()];
        let mut out: Vec<u32> = self.always.clone();
        let mut mark = |r: u32, c: u8| {
            let all = (1u8 << self.clues_of[r as usize]) - 1;
            let f = &mut found[r as usize];
            if *f != all {
                *f |= 1 << c;
                if *f == all {
                    out.push(r);
                }
            }
        };
        if self.automaton.is_some() {
            VALUE_CLUES.with_borrow_mut(|cache| {
                cache.serve(self.id);
                // The host stands in for several fields: it counts for all.
                cache.clues(self, &ev.host, Some(ANY_FIELD), &mut mark);
                let mut buf = String::new();
                for (name, v) in ev.fields.iter() {
                    let field = cache.field_id(name, &self.field_ids);
                    visit_text(v, &mut buf, &mut |s| {
                        if self.may_hold_literal(s, field) {
                            cache.clues(self, s, field, &mut mark);
                        }
                    });
                }
            });
        }
        let sigma = SigmaEvent(ev);
        for (r, c, fields) in &self.field_rules {
            if wanted(*r as usize) && fields.iter().any(|f| sigma.get_field(f).is_some()) {
                mark(*r, *c);
            }
        }
        out.retain(|&r| wanted(r as usize));
        out.sort_unstable();
        out
    }

    /// The clues (rule, clue number) that the value `s` of the field
    /// `field` holds, into `clues`: `field` is an id from `field_ids`,
    /// [`ANY_FIELD`] for a value that counts for every field (the host),
    /// `None` for a field no literal is scoped to (only keywords count).
    /// Each once, in order.
    fn value_clues(&self, s: &str, field: Option<u32>, clues: &mut Vec<(u32, u8)>) {
        clues.clear();
        self.scan_value(s, field, clues);
        // rsigma compares non-ASCII text in lower case too.
        if !s.is_ascii() {
            self.scan_value(&s.to_lowercase(), field, clues);
        }
        clues.sort_unstable();
        clues.dedup();
    }

    fn scan_value(&self, s: &str, field: Option<u32>, clues: &mut Vec<(u32, u8)>) {
        let Some(ac) = &self.automaton else {
            return;
        };
        match field {
            Some(id) => {
                for m in ac.find_overlapping_iter(s) {
                    for &(r, f, c) in &self.pattern_rules[m.pattern().as_usize()] {
                        if f == id || f == ANY_FIELD || id == ANY_FIELD {
                            clues.push((r, c));
                        }
                    }
                }
            }
            None => {
                let mut keyword = |p: usize| {
                    for &(r, f, c) in &self.pattern_rules[p] {
                        if f == ANY_FIELD {
                            clues.push((r, c));
                        }
                    }
                };
                match &self.keywords {
                    Some((kw, to_all)) => {
                        for m in kw.find_overlapping_iter(s) {
                            keyword(to_all[m.pattern().as_usize()] as usize);
                        }
                    }
                    None if self.has_keywords => {
                        for m in ac.find_overlapping_iter(s) {
                            keyword(m.pattern().as_usize());
                        }
                    }
                    None => {}
                }
            }
        }
    }
}

/// Values longer than this (bytes) are scanned each time, not kept: long
/// values (command lines, messages) seldom repeat.
const CACHED_VALUE_MAX: usize = 256;
/// The most values a thread keeps the clues of (and the most it remembers
/// having seen once); then it starts afresh.
const CACHED_VALUES: usize = 16 * 1024;

thread_local! {
    /// Per thread, the clues of values seen lately: the same values (log
    /// names, hosts, users, paths of programs) recur in event after event,
    /// and looking one up costs a hash of it instead of a scan.
    static VALUE_CLUES: std::cell::RefCell<ValueClues> = std::cell::RefCell::default();
}

/// The clues of recent values, and the ids of field names, for the
/// prefilter `owner`. A value is kept the second time it is seen, so the
/// nearly unique ones (ids, times, addresses) cost only a hash each.
#[derive(Default)]
struct ValueClues {
    owner: u64,
    /// By hash of field and value.
    kept: FxHashMap<u64, Kept>,
    /// Hashes of values seen once.
    seen_once: FxHashSet<u64>,
    /// Field names as events spell them, and their ids (see
    /// [`Prefilter::field_ids`]).
    fields: FxHashMap<Box<str>, Option<u32>>,
    scratch: Vec<(u32, u8)>,
}

struct Kept {
    field: Option<u32>,
    value: Box<str>,
    clues: Box<[(u32, u8)]>,
}

impl ValueClues {
    /// Keeps clues for the prefilter `id`, dropping another's.
    fn serve(&mut self, id: u64) {
        if self.owner != id {
            self.owner = id;
            self.kept.clear();
            self.seen_once.clear();
            self.fields.clear();
        }
    }

    /// The id of the field `name` in `ids` (by its normal form).
    fn field_id(&mut self, name: &str, ids: &HashMap<String, u32>) -> Option<u32> {
        if let Some(id) = self.fields.get(name) {
            return *id;
        }
        let mut norm = String::new();
        normalise(name, &mut norm);
        let id = ids.get(norm.as_str()).copied();
        if self.fields.len() >= CACHED_VALUES {
            self.fields.clear();
        }
        self.fields.insert(name.into(), id);
        id
    }

    /// Calls `mark` with each clue of the value `s` of `field`, worked out
    /// by `prefilter` unless kept.
    fn clues(
        &mut self,
        prefilter: &Prefilter,
        s: &str,
        field: Option<u32>,
        mark: &mut dyn FnMut(u32, u8),
    ) {
        let hash = (s.len() <= CACHED_VALUE_MAX).then(|| {
            use std::hash::{BuildHasher, Hash, Hasher};
            let mut h = rustc_hash::FxBuildHasher.build_hasher();
            field.hash(&mut h);
            s.hash(&mut h);
            h.finish()
        });
        if let Some(h) = hash
            && let Some(k) = self.kept.get(&h)
            && k.field == field
            && *k.value == *s
        {
            for &(r, c) in k.clues.iter() {
                mark(r, c);
            }
            return;
        }
        prefilter.value_clues(s, field, &mut self.scratch);
        for &(r, c) in &self.scratch {
            mark(r, c);
        }
        let Some(h) = hash else {
            return;
        };
        if self.seen_once.remove(&h) {
            if self.kept.len() >= CACHED_VALUES {
                self.kept.clear();
            }
            self.kept.insert(
                h,
                Kept {
                    field,
                    value: s.into(),
                    clues: self.scratch.as_slice().into(),
                },
            );
        } else {
            if self.seen_once.len() >= CACHED_VALUES {
                self.seen_once.clear();
            }
            self.seen_once.insert(h);
        }
    }
}

/// Every value as the rules' matchers see it as text, and every number
/// (also one written in a string) as the integer it is closest to, so that
/// a numeric comparison's literal is found however the number is written.
/// `buf` is scratch space for the numbers.
fn visit_text(v: &Value, buf: &mut String, f: &mut dyn FnMut(&str)) {
    use std::fmt::Write;
    match v {
        Value::Str(s) => {
            f(s);
            let t = s.trim();
            if t.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
                && let Ok(x) = t.parse::<f64>()
                && write_integer(x, buf)
                && buf != s
            {
                f(buf);
            }
        }
        Value::Int(i) => {
            buf.clear();
            let _ = write!(buf, "{i}");
            f(buf);
        }
        Value::Float(x) => {
            buf.clear();
            let _ = write!(buf, "{x}");
            f(buf);
            if write_integer(*x, buf) {
                f(buf);
            }
        }
        Value::Bool(b) => f(if *b { "true" } else { "false" }),
        Value::List(vs) => vs.iter().for_each(|v| visit_text(v, buf, f)),
        Value::Null => {}
    }
}

/// A rule matches when any of its conditions does.
fn rule_witness(rule: &CompiledRule) -> Witness {
    if rule.conditions.is_empty() {
        return None;
    }
    union(rule.conditions.iter().map(|c| condition_witness(rule, c)))
}

fn condition_witness(rule: &CompiledRule, c: &ConditionExpr) -> Witness {
    match c {
        ConditionExpr::And(parts) => best(parts.iter().map(|p| condition_witness(rule, p))),
        ConditionExpr::Or(parts) => union(parts.iter().map(|p| condition_witness(rule, p))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Identifier(name) => rule.detections.get(name).and_then(detection_witness),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let mut names: Vec<&String> = rule
                .detections
                .keys()
                .filter(|name| match pattern {
                    SelectorPattern::Them => true,
                    SelectorPattern::Pattern(p) => glob(p, name),
                })
                .collect();
            // In name order, so that the clues chosen do not depend on the
            // order of a hash map.
            names.sort();
            match quantifier {
                // At least one of them must match: any extra name taken in
                // here only widens the union.
                Quantifier::Any | Quantifier::Count(_) => {
                    if names.is_empty() {
                        return None;
                    }
                    union(
                        names
                            .iter()
                            .map(|n| detection_witness(&rule.detections[*n])),
                    )
                }
                // Every one must match: take one that surely is among them
                // (names starting with `_` may be left out of `them`).
                Quantifier::All => best(
                    names
                        .iter()
                        .filter(|n| {
                            !(matches!(pattern, SelectorPattern::Them) && n.starts_with('_'))
                        })
                        .map(|n| detection_witness(&rule.detections[*n])),
                ),
            }
        }
    }
}

fn detection_witness(d: &CompiledDetection) -> Witness {
    match d {
        CompiledDetection::AllOf(items) => best(items.iter().map(|i| {
            let clue = match (&i.field, i.exists) {
                (Some(f), Some(true)) => Some(Clue {
                    literals: Vec::new(),
                    fields: vec![f.clone()],
                }),
                (_, Some(_)) => None,
                (None, None) => matcher_literals(&i.matcher).map(|texts| Clue {
                    literals: anywhere(texts),
                    fields: Vec::new(),
                }),
                // On a missing field rsigma matches only `null`.
                (Some(f), None) => match matcher_literals(&i.matcher) {
                    Some(texts) => Some(Clue {
                        literals: texts.into_iter().map(|t| (Some(f.clone()), t)).collect(),
                        fields: Vec::new(),
                    }),
                    None if matches!(i.matcher, CompiledMatcher::Null) => None,
                    None => Some(Clue {
                        literals: Vec::new(),
                        fields: vec![f.clone()],
                    }),
                },
            };
            clue.map(|c| vec![c])
        })),
        CompiledDetection::AnyOf(ds) => union(ds.iter().map(detection_witness)),
        CompiledDetection::Keywords(m) => matcher_literals(m).map(|texts| {
            vec![Clue {
                literals: anywhere(texts),
                fields: Vec::new(),
            }]
        }),
        CompiledDetection::And(ds) => best(ds.iter().map(detection_witness)),
        _ => None,
    }
}

/// Literals of which one occurs in any text the regular expression
/// matches (ignoring ASCII case), as far as its syntax tells: the runs of
/// plain characters of a sequence (Sigma's wildcards and `|re`
/// expressions alike), the branches of an alternative, what a repetition
/// repeats at least once.
fn regex_literals(pattern: &str) -> Option<Vec<String>> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    required_literals(&hir).filter(|l| l.iter().all(|s| !s.is_empty()))
}

fn required_literals(h: &Hir) -> Option<Vec<String>> {
    match h.kind() {
        HirKind::Literal(_) | HirKind::Class(_) => plain_text(h).map(|t| vec![t]),
        HirKind::Concat(parts) => {
            let mut best: Option<Vec<String>> = None;
            let mut keep = |c: Option<Vec<String>>| {
                if let Some(c) = c
                    && best
                        .as_ref()
                        .is_none_or(|b| literal_score(&c) > literal_score(b))
                {
                    best = Some(c);
                }
            };
            let mut run = String::new();
            for p in parts {
                match plain_text(p) {
                    Some(t) => run.push_str(&t),
                    None => {
                        if !run.is_empty() {
                            keep(Some(vec![std::mem::take(&mut run)]));
                        }
                        keep(required_literals(p));
                    }
                }
            }
            if !run.is_empty() {
                keep(Some(vec![run]));
            }
            best
        }
        HirKind::Alternation(branches) => {
            let mut out = Vec::new();
            for b in branches {
                out.extend(required_literals(b)?);
            }
            out.sort();
            out.dedup();
            Some(out)
        }
        HirKind::Repetition(r) if r.min >= 1 => required_literals(&r.sub),
        HirKind::Capture(c) => required_literals(&c.sub),
        _ => None,
    }
}

/// The text a literal or a one-character class stands for, in ASCII lower
/// case; a class of an ASCII letter in both cases counts (that is how
/// `(?i)` reaches the syntax tree). Letters that `(?i)` also matches with
/// a non-ASCII character (`k` and the Kelvin sign, `s` and the long s) do
/// not: the prefilter ignores only ASCII case.
fn plain_text(h: &Hir) -> Option<String> {
    match h.kind() {
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0)
            .ok()
            .map(|s| s.to_ascii_lowercase()),
        HirKind::Class(Class::Unicode(c)) => {
            let mut chars = c.ranges().iter().flat_map(|r| r.start()..=r.end());
            let first = chars.next()?;
            match (chars.next(), chars.next()) {
                (None, _) => Some(first.to_ascii_lowercase().to_string()),
                (Some(second), None)
                    if first.is_ascii_uppercase() && second == first.to_ascii_lowercase() =>
                {
                    Some(second.to_string())
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Literals to look for in any field.
fn anywhere(texts: Vec<String>) -> Vec<Literal> {
    texts.into_iter().map(|t| (None, t)).collect()
}

/// Literals of which one occurs in any value the matcher accepts.
fn matcher_literals(m: &CompiledMatcher) -> Option<Vec<String>> {
    let literal = |v: &str, case_insensitive: bool| -> Option<Vec<String>> {
        if v.is_empty() || (!case_insensitive && !v.is_ascii()) {
            return None;
        }
        Some(vec![if case_insensitive {
            v.to_lowercase()
        } else {
            v.to_owned()
        }])
    };
    let any = |ms: &mut dyn Iterator<Item = Option<Vec<String>>>| -> Option<Vec<String>> {
        let mut out = Vec::new();
        for m in ms {
            out.extend(m?);
        }
        (!out.is_empty()).then_some(out)
    };
    let all = |ms: &mut dyn Iterator<Item = Option<Vec<String>>>| -> Option<Vec<String>> {
        ms.flatten()
            .filter(|l| !l.is_empty())
            .max_by_key(|l| literal_score(l))
    };
    match m {
        CompiledMatcher::Exact {
            value,
            case_insensitive,
        }
        | CompiledMatcher::Contains {
            value,
            case_insensitive,
        }
        | CompiledMatcher::StartsWith {
            value,
            case_insensitive,
        }
        | CompiledMatcher::EndsWith {
            value,
            case_insensitive,
        } => literal(value, *case_insensitive),
        CompiledMatcher::AhoCorasickSet {
            needles,
            case_insensitive,
            ..
        } => any(&mut needles.iter().map(|n| literal(n, *case_insensitive))),
        CompiledMatcher::Regex(re) => regex_literals(re.as_str()),
        CompiledMatcher::RegexSetMatch { set, mode } => {
            let mut each = set.patterns().iter().map(|p| regex_literals(p));
            match mode {
                GroupMode::Any => any(&mut each),
                GroupMode::All => all(&mut each),
            }
        }
        // An integer: events are scanned with every number written as an
        // integer too (see `visit_text`).
        CompiledMatcher::NumericEq(n) => integer_text(*n).map(|t| vec![t]),
        CompiledMatcher::AnyOf(ms) => any(&mut ms.iter().map(matcher_literals)),
        CompiledMatcher::AllOf(ms) => all(&mut ms.iter().map(matcher_literals)),
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => match mode {
            GroupMode::Any => any(&mut children.iter().map(matcher_literals)),
            GroupMode::All => all(&mut children.iter().map(matcher_literals)),
        },
        _ => None,
    }
}

/// How selective a set of literals is: the longer its shortest literal
/// (up to 8 bytes), then the fewer literals, the better.
fn selectivity<'a>(texts: impl Iterator<Item = &'a str>) -> (usize, std::cmp::Reverse<usize>) {
    let (mut shortest, mut n) = (usize::MAX, 0);
    for t in texts {
        shortest = shortest.min(t.len());
        n += 1;
    }
    (
        if n == 0 { 0 } else { shortest.min(8) },
        std::cmp::Reverse(n),
    )
}

/// [`selectivity`] of plain literals.
fn literal_score(l: &[String]) -> (usize, std::cmp::Reverse<usize>) {
    selectivity(l.iter().map(String::as_str))
}

/// [`selectivity`] of scoped literals: a literal in one field is found in
/// fewer events than the same one anywhere, but both count alike here.
fn clue_score(l: &[Literal]) -> (usize, std::cmp::Reverse<usize>) {
    selectivity(l.iter().map(|(_, t)| t.as_str()))
}

/// One of the branches holds, so each of the result's clues is the union
/// of one clue from every branch: the first of each, then the second (a
/// branch with fewer gives its last again). Every branch implies each union.
fn union(parts: impl Iterator<Item = Witness>) -> Witness {
    let branches: Vec<Vec<Clue>> = parts.collect::<Option<_>>()?;
    let n = branches.iter().map(Vec::len).max()?.min(MAX_CLUES);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = Clue::default();
        for b in &branches {
            let part = b.get(i).or(b.last())?;
            c.literals.extend(part.literals.iter().cloned());
            c.fields.extend(part.fields.iter().cloned());
        }
        c.literals.sort();
        c.literals.dedup();
        c.fields.sort();
        c.fields.dedup();
        if c.literals.is_empty() && c.fields.is_empty() {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

/// Every part's clues are necessary; keep the most selective few: literals
/// before fields (most events have the common fields), then by
/// [`clue_score`].
fn best(parts: impl Iterator<Item = Witness>) -> Witness {
    let mut all: Vec<Clue> = parts
        .flatten()
        .flatten()
        .filter(|c| !(c.literals.is_empty() && c.fields.is_empty()))
        .collect();
    all.sort_by_key(|c| {
        std::cmp::Reverse((
            c.fields.is_empty(),
            clue_score(&c.literals),
            std::cmp::Reverse(c.fields.len()),
        ))
    });
    let mut out: Vec<Clue> = Vec::with_capacity(MAX_CLUES);
    for c in all {
        if out.len() == MAX_CLUES {
            break;
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `x` written as an integer, if it is within a millionth of one (and
/// small enough to be exact).
fn integer_text(x: f64) -> Option<String> {
    let mut s = String::new();
    write_integer(x, &mut s).then_some(s)
}

/// Writes [`integer_text`] into `buf`; false (and `buf` unspecified) if `x`
/// is not such a number.
fn write_integer(x: f64, buf: &mut String) -> bool {
    use std::fmt::Write;
    let r = x.round();
    if !(x.is_finite() && r.abs() < 1e15 && (x - r).abs() < 1e-6) {
        return false;
    }
    buf.clear();
    let _ = write!(buf, "{}", r as i64);
    true
}

/// Sigma's detection-name pattern: `*` stands for any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals(r: &CompiledRule) -> Option<Vec<String>> {
        rule_witness(r).map(|c| c[0].literals.iter().map(|(_, t)| t.clone()).collect())
    }

    fn compile(yaml: &str) -> CompiledRule {
        let c = rsigma_parser::parse_sigma_yaml(yaml).unwrap();
        rsigma_eval::compile_rule(&c.rules[0]).unwrap()
    }

    /// The rules of these YAML texts, one rule each.
    fn compile_all(yamls: &[&str]) -> Vec<CompiledRule> {
        yamls.iter().map(|y| compile(y)).collect()
    }

    #[test]
    fn witnesses_follow_the_condition() {
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  sel:\n    CommandLine|contains|all: ['vssadmin', 'delete shadows']\n  filter:\n    User: SYSTEM\n  condition: sel and not filter\n",
        );
        assert_eq!(literals(&r), Some(vec!["delete shadows".to_string()]));
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  a:\n    Image|endswith: '\\wevtutil.exe'\n  b:\n    CommandLine|re: 'cl .*'\n  condition: a or b\n",
        );
        assert_eq!(
            rule_witness(&r),
            Some(vec![Clue {
                literals: vec![
                    (Some("CommandLine".to_string()), "cl ".to_string()),
                    (Some("Image".to_string()), "\\wevtutil.exe".to_string())
                ],
                fields: Vec::new(),
            }]),
            "a regular expression gives the literal it needs"
        );
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  b:\n    CommandLine|re: '\\d{3,}'\n  condition: b\n",
        );
        assert_eq!(
            rule_witness(&r),
            Some(vec![Clue {
                literals: Vec::new(),
                fields: vec!["CommandLine".to_string()],
            }]),
            "a regular expression without a literal needs its field to be there"
        );
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  sel:\n    Payload|re: 'x.*y'\n  filter:\n    Other: null\n  condition: sel or filter\n",
        );
        assert_eq!(rule_witness(&r), None, "null matches a missing field");
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  sel_a:\n    Image|endswith: '\\a.exe'\n  sel_b:\n    Image|endswith: '\\B.exe'\n  condition: 1 of sel_*\n",
        );
        assert_eq!(
            literals(&r),
            Some(vec!["\\a.exe".to_string(), "\\b.exe".to_string()])
        );
    }

    #[test]
    fn an_and_keeps_two_clues_and_an_or_pairs_them() {
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  security:\n    Channel: Security\n    EventID: 1102\n  system:\n    Channel: System\n    EventID: 104\n  condition: security or system\n",
        );
        let scoped = |f: &str, t: &str| (Some(f.to_string()), t.to_string());
        assert_eq!(
            rule_witness(&r),
            Some(vec![
                Clue {
                    literals: vec![scoped("Channel", "security"), scoped("Channel", "system")],
                    fields: Vec::new(),
                },
                Clue {
                    literals: vec![scoped("EventID", "104"), scoped("EventID", "1102")],
                    fields: Vec::new(),
                },
            ])
        );
        let p = Prefilter::build(std::slice::from_ref(&r));
        let event = |id: i64| {
            let mut ev = Event::new(Vec::new());
            ev.fields.push("Channel", "Security");
            ev.fields.push("EventID", id);
            ev
        };
        assert!(p.candidates(&event(4624), &|_| true).is_empty());
        assert_eq!(p.candidates(&event(1102), &|_| true), vec![0]);
    }

    #[test]
    fn candidates_include_every_rule_that_matches() {
        let rules = compile_all(&[
            "title: shadow\nlogsource: {product: windows}\ndetection:\n  sel:\n    CommandLine|contains: 'vssadmin'\n  condition: sel\n",
            "title: id\nlogsource: {product: windows}\ndetection:\n  sel:\n    EventID: 1102\n  condition: sel\n",
            "title: none\nlogsource: {product: windows}\ndetection:\n  sel:\n    CommandLine|contains: 'mimikatz'\n  condition: sel\n",
        ]);
        let p = Prefilter::build(&rules);
        let mut ev = Event::new(Vec::new());
        ev.fields.push("EventID", 1102i64);
        ev.fields
            .push("CommandLine", "VSSADMIN.exe Delete Shadows /all");
        let c = p.candidates(&ev, &|_| true);
        assert!(c.contains(&0) && c.contains(&1), "{c:?}");
        assert!(!c.contains(&2), "{c:?}");
        for (n, r) in rules.iter().enumerate() {
            if rsigma_eval::evaluate_rule(r, &crate::event::SigmaEvent(&ev)).is_some() {
                assert!(c.contains(&(n as u32)));
            }
        }
    }

    /// Numbers are scanned only where a rule looks for a number: in its
    /// field, or (for a keyword) anywhere.
    #[test]
    fn numbers_are_scanned_where_a_rule_looks_for_one() {
        let rules = compile_all(&[
            "title: id\nlogsource: {product: windows}\ndetection:\n  sel:\n    EventID: 1102\n  condition: sel\n",
            "title: port\nlogsource: {product: windows}\ndetection:\n  sel:\n    DestinationPort|endswith: '389'\n  condition: sel\n",
        ]);
        let p = Prefilter::build(&rules);
        assert!(!p.may_hold_literal("1102", None));
        assert!(p.may_hold_literal("1102", p.field_ids.get("eventid").copied()));
        assert!(p.may_hold_literal("1102", Some(ANY_FIELD)));
        assert!(p.may_hold_literal("12ab", None), "not a number");
        let event = |pairs: &[(&str, i64)]| {
            let mut ev = Event::new(Vec::new());
            for (k, v) in pairs {
                ev.fields.push(*k, *v);
            }
            ev
        };
        let hits = |ev: &Event| p.candidates(ev, &|_| true);
        assert_eq!(hits(&event(&[("EventID", 1102), ("ProcessId", 389)])), [0]);
        assert_eq!(hits(&event(&[("DestinationPort", 3389)])), [1]);
        assert!(hits(&event(&[("ProcessId", 1102), ("ThreadId", 3389)])).is_empty());
        // A keyword that is a number makes every number worth a scan.
        let with_keyword = Prefilter::build(&[compile(
            "title: kw\nlogsource: {product: windows}\ndetection:\n  keywords:\n    - '4444'\n  condition: keywords\n",
        )]);
        assert!(with_keyword.may_hold_literal("14444", None));
        assert_eq!(
            with_keyword.candidates(&event(&[("ProcessId", 14444)]), &|_| true),
            [0]
        );
    }

    #[test]
    fn kept_values_give_the_clues_of_their_own_field() {
        let rules = compile_all(&[
            "title: image\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n",
            "title: keyword\nlogsource: {product: windows}\ndetection:\n  keywords:\n    - 'mimikatz'\n  condition: keywords\n",
        ]);
        let p = Prefilter::build(&rules);
        let event = |field: &str, value: &str| {
            let mut ev = Event::new(Vec::new());
            ev.fields.push(field, value);
            ev
        };
        let image = event("Image", "C:\\Windows\\cmd.exe");
        let parent = event("ParentImage", "C:\\Windows\\cmd.exe");
        let keyword = event("Comment", "ran mimikatz");
        let unscoped = event("Comment", "C:\\Windows\\cmd.exe");
        // Seen once, twice (then kept), and again from what was kept, in
        // turns: each field gives its own clues every time.
        for _ in 0..4 {
            assert_eq!(p.candidates(&image, &|_| true), vec![0]);
            assert!(p.candidates(&parent, &|_| true).is_empty());
            assert_eq!(p.candidates(&keyword, &|_| true), vec![1]);
            assert!(p.candidates(&unscoped, &|_| true).is_empty());
        }
        // Another prefilter on the same thread does not see these clues.
        let other = Prefilter::build(&rules[1..]);
        for _ in 0..3 {
            assert!(other.candidates(&image, &|_| true).is_empty());
            assert_eq!(other.candidates(&keyword, &|_| true), vec![0]);
        }
        assert_eq!(p.candidates(&image, &|_| true), vec![0]);
    }

    #[test]
    fn regular_expressions_give_the_literals_they_need() {
        let lit = |p: &str| regex_literals(p);
        let one = |s: &str| Some(vec![s.to_string()]);
        // Sigma's wildcards as rsigma compiles them.
        assert_eq!(lit("(?i)^.*whoami.*>.*$"), one("whoami"));
        // `s` and `k` also match non-ASCII characters under (?i).
        assert_eq!(lit("(?i)^.*powershell.*$"), one("power"));
        assert_eq!(lit("(?i)kill"), one("ill"));
        assert_eq!(lit("cmd\\.exe /C"), one("cmd.exe /c"));
        assert_eq!(lit("(?i)(mimi|lsa)dump"), Some(vec!["dump".to_string()]));
        assert_eq!(
            lit("(?i)(mimi|lsa)"),
            Some(vec!["l".to_string(), "mimi".to_string()])
        );
        assert_eq!(lit("(ab)+c?"), one("ab"));
        assert_eq!(lit("x*"), None);
        assert_eq!(lit("(a|)"), None);
        assert_eq!(lit("\\d+"), None);
        assert_eq!(lit("(?i)k"), None);
        assert_eq!(lit("(unclosed"), None);
    }

    #[test]
    fn glob_is_sigmas() {
        assert!(glob("selection_*", "selection_img"));
        assert!(glob("*", "x"));
        assert!(glob("sel*img", "sel_a_img"));
        assert!(!glob("selection_*", "filter_a"));
        assert!(glob("filter", "filter"));
    }
}
