//! Which rules can possibly match an event, found with one small automaton.
//!
//! For every compiled rule we work out a *witness set*: literals of which at
//! least one must occur (ignoring case) in some value of any event the rule
//! matches. A selection `CommandLine|contains: 'vssadmin'` has the witness
//! `vssadmin`; an AND takes the most selective witness set of its parts, an
//! OR the union of its branches'; NOT, regular expressions, numbers, CIDRs
//! and the like give none, and a rule without one is always evaluated. All
//! witnesses go into one Aho-Corasick automaton (a contiguous NFA: a few MB
//! where a DFA over the same literals takes over a hundred); an event's
//! values are scanned once, and only the rules whose witnesses occur are
//! evaluated, by rsigma. The prefilter can only add candidates, never drop a
//! rule that matches: the rsigma evaluation decides, and a test compares it
//! with evaluating every rule on whole corpora.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use mamori_event::{Event, Value};
use rsigma_eval::matcher::GroupMode;
use rsigma_eval::{CompiledDetection, CompiledMatcher, CompiledRule};
use rsigma_parser::{ConditionExpr, Quantifier, SelectorPattern};

/// Candidate rules for an event.
pub(crate) struct Prefilter {
    automaton: Option<AhoCorasick>,
    /// Per pattern, the rules it is a witness of.
    pattern_rules: Vec<Vec<u32>>,
    /// Rules without a witness set: evaluated for every event.
    always: Vec<u32>,
    rules: usize,
}

/// Literals of which one must occur in a matching event; `None`: unknown.
type Witness = Option<Vec<String>>;

impl Prefilter {
    /// Works out the rules' witness sets and builds the automaton.
    pub(crate) fn build(rules: &[CompiledRule]) -> Prefilter {
        let mut patterns: Vec<String> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        let mut pattern_rules: Vec<Vec<u32>> = Vec::new();
        let mut always = Vec::new();
        for (n, rule) in rules.iter().enumerate() {
            match rule_witness(rule) {
                Some(ws) => {
                    for w in ws {
                        let at = *index.entry(w.clone()).or_insert_with(|| {
                            patterns.push(w);
                            pattern_rules.push(Vec::new());
                            patterns.len() - 1
                        });
                        if pattern_rules[at].last() != Some(&(n as u32)) {
                            pattern_rules[at].push(n as u32);
                        }
                    }
                }
                None => always.push(n as u32),
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&patterns)
                .ok()
        };
        if automaton.is_none() && !patterns.is_empty() {
            // Could not build: every rule is evaluated.
            always = (0..rules.len() as u32).collect();
            pattern_rules.clear();
        }
        Prefilter {
            automaton,
            pattern_rules,
            always,
            rules: rules.len(),
        }
    }

    /// The rules (indices into the slice given to [`Prefilter::build`]) that
    /// may match `ev`, in ascending order.
    pub(crate) fn candidates(&self, ev: &Event) -> Vec<u32> {
        let mut hit = vec![false; self.rules];
        for &r in &self.always {
            hit[r as usize] = true;
        }
        if let Some(ac) = &self.automaton {
            let mut scan = |s: &str| {
                for m in ac.find_overlapping_iter(s) {
                    for &r in &self.pattern_rules[m.pattern().as_usize()] {
                        hit[r as usize] = true;
                    }
                }
            };
            let mut text = |s: &str| {
                scan(s);
                if !s.is_ascii() {
                    // rsigma lower-cases non-ASCII text before comparing.
                    scan(&s.to_lowercase());
                }
            };
            text(&ev.host);
            for (_, v) in ev.fields.iter() {
                visit_text(v, &mut text);
            }
        }
        hit.iter()
            .enumerate()
            .filter(|(_, h)| **h)
            .map(|(n, _)| n as u32)
            .collect()
    }
}

/// Every value as the rules' matchers see it as text, and every number
/// (also one written in a string) as the integer it is closest to, so that
/// a numeric comparison's witness is found however the number is written.
fn visit_text(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::Str(s) => {
            f(s);
            if let Ok(x) = s.trim().parse::<f64>()
                && let Some(t) = integer_text(x)
                && t != *s
            {
                f(&t);
            }
        }
        Value::Int(i) => f(&i.to_string()),
        Value::Float(x) => {
            f(&x.to_string());
            if let Some(t) = integer_text(*x) {
                f(&t);
            }
        }
        Value::Bool(b) => f(if *b { "true" } else { "false" }),
        Value::List(vs) => vs.iter().for_each(|v| visit_text(v, f)),
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
            let names: Vec<&String> = rule
                .detections
                .keys()
                .filter(|name| match pattern {
                    SelectorPattern::Them => true,
                    SelectorPattern::Pattern(p) => glob(p, name),
                })
                .collect();
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
            if i.exists.is_some() {
                None
            } else {
                matcher_witness(&i.matcher)
            }
        })),
        CompiledDetection::AnyOf(ds) => union(ds.iter().map(detection_witness)),
        CompiledDetection::Keywords(m) => matcher_witness(m),
        CompiledDetection::And(ds) => best(ds.iter().map(detection_witness)),
        _ => None,
    }
}

fn matcher_witness(m: &CompiledMatcher) -> Witness {
    let literal = |v: &str, case_insensitive: bool| -> Witness {
        if v.is_empty() || (!case_insensitive && !v.is_ascii()) {
            return None;
        }
        Some(vec![if case_insensitive {
            v.to_lowercase()
        } else {
            v.to_owned()
        }])
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
        } => union(needles.iter().map(|n| literal(n, *case_insensitive))),
        // An integer: events are scanned with every number written as an
        // integer too (see `visit_text`).
        CompiledMatcher::NumericEq(n) => integer_text(*n).map(|t| vec![t]),
        CompiledMatcher::AnyOf(ms) => union(ms.iter().map(matcher_witness)),
        CompiledMatcher::AllOf(ms) => best(ms.iter().map(matcher_witness)),
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => match mode {
            GroupMode::Any => union(children.iter().map(matcher_witness)),
            GroupMode::All => best(children.iter().map(matcher_witness)),
        },
        _ => None,
    }
}

/// All branches need a witness set; the result is their union.
fn union(parts: impl Iterator<Item = Witness>) -> Witness {
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    if out.is_empty() {
        return None;
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// Any part's witness set is necessary; take the most selective: the one
/// whose shortest literal is longest, then the one with fewer literals.
fn best(parts: impl Iterator<Item = Witness>) -> Witness {
    parts.flatten().filter(|w| !w.is_empty()).max_by_key(|w| {
        let shortest = w.iter().map(|s| s.len()).min().unwrap_or(0);
        (shortest.min(8), std::cmp::Reverse(w.len()))
    })
}

/// `x` written as an integer, if it is within a millionth of one (and
/// small enough to be exact).
fn integer_text(x: f64) -> Option<String> {
    let r = x.round();
    (x.is_finite() && r.abs() < 1e15 && (x - r).abs() < 1e-6).then(|| format!("{}", r as i64))
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

    fn compile(yaml: &str) -> CompiledRule {
        let c = rsigma_parser::parse_sigma_yaml(yaml).unwrap();
        rsigma_eval::compile_rule(&c.rules[0]).unwrap()
    }

    #[test]
    fn witnesses_follow_the_condition() {
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  sel:\n    CommandLine|contains|all: ['vssadmin', 'delete shadows']\n  filter:\n    User: SYSTEM\n  condition: sel and not filter\n",
        );
        assert_eq!(rule_witness(&r), Some(vec!["delete shadows".to_string()]));
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  a:\n    Image|endswith: '\\wevtutil.exe'\n  b:\n    CommandLine|re: 'cl .*'\n  condition: a or b\n",
        );
        assert_eq!(
            rule_witness(&r),
            None,
            "a regular expression gives no witness"
        );
        let r = compile(
            "title: t\nlogsource: {product: windows}\ndetection:\n  sel_a:\n    Image|endswith: '\\a.exe'\n  sel_b:\n    Image|endswith: '\\B.exe'\n  condition: 1 of sel_*\n",
        );
        assert_eq!(
            rule_witness(&r),
            Some(vec!["\\a.exe".to_string(), "\\b.exe".to_string()])
        );
    }

    #[test]
    fn candidates_include_every_rule_that_matches() {
        let rules: Vec<CompiledRule> = [
            "title: shadow\nlogsource: {product: windows}\ndetection:\n  sel:\n    CommandLine|contains: 'vssadmin'\n  condition: sel\n",
            "title: id\nlogsource: {product: windows}\ndetection:\n  sel:\n    EventID: 1102\n  condition: sel\n",
            "title: none\nlogsource: {product: windows}\ndetection:\n  sel:\n    CommandLine|contains: 'mimikatz'\n  condition: sel\n",
        ]
        .iter()
        .map(|y| compile(y))
        .collect();
        let p = Prefilter::build(&rules);
        let mut ev = Event::new(Vec::new());
        ev.fields.push("EventID", 1102i64);
        ev.fields
            .push("CommandLine", "VSSADMIN.exe Delete Shadows /all");
        let c = p.candidates(&ev);
        assert!(c.contains(&0) && c.contains(&1), "{c:?}");
        assert!(!c.contains(&2), "{c:?}");
        for (n, r) in rules.iter().enumerate() {
            if rsigma_eval::evaluate_rule(r, &crate::event::SigmaEvent(&ev)).is_some() {
                assert!(c.contains(&(n as u32)));
            }
        }
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
