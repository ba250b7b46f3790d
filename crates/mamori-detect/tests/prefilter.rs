//! The prefilter that chooses which rules rsigma evaluates never changes what
//! is detected: random events, built from the rules' own words in random
//! case, as numbers written several ways, with fields missing or null, give
//! the same detections with and without it.

use mamori_detect::RuleSet;
use mamori_event::{Event, LogSource, Value};
use proptest::prelude::*;

/// Rules that use each kind of selection the prefilter reasons about.
const RULES: &[&str] = &[
    "title: contains all\ndetection:\n  sel:\n    CommandLine|contains|all: ['vssadmin', 'Delete Shadows']\n  condition: sel\n",
    "title: ends or starts\ndetection:\n  a:\n    Image|endswith: '\\wevtutil.exe'\n  b:\n    CommandLine|startswith: 'cl '\n  condition: a or b\n",
    "title: number\ndetection:\n  sel:\n    EventID: 1102\n  condition: sel\n",
    "title: numbers and user\ndetection:\n  sel:\n    EventID:\n      - 4624\n      - 4625\n    User|contains: 'adm'\n  condition: sel\n",
    "title: regex only\ndetection:\n  sel:\n    Payload|re: 'nde.\\s\\d'\n  condition: sel\n",
    "title: null field\ndetection:\n  sel:\n    Other: null\n    User: 'sam'\n  condition: sel\n",
    "title: not only\ndetection:\n  sel:\n    CommandLine|contains: 'a'\n  filter:\n    User: 'system'\n  condition: not filter\n",
    "title: exists\ndetection:\n  sel:\n    Payload|exists: true\n  condition: sel\n",
    "title: missing\ndetection:\n  sel:\n    Payload|exists: false\n    EventID: 7\n  condition: sel\n",
    "title: keywords\ndetection:\n  keywords:\n    - 'mimikatz'\n    - 'ÉCOLE'\n  condition: keywords\n",
    "title: cased\ndetection:\n  sel:\n    CommandLine|cased|contains: 'Invoke-'\n  condition: sel\n",
    "title: one of\ndetection:\n  selection_a:\n    Image|endswith: '\\a.exe'\n  selection_b:\n    User|contains: 'Ü'\n  condition: 1 of selection_*\n",
    "title: all of\ndetection:\n  selection_a:\n    Image|contains: 'temp'\n  selection_b:\n    EventID|gt: 4000\n  condition: all of selection_*\n",
    "title: greater\ndetection:\n  sel:\n    EventID|gte: 4700\n  condition: sel\n",
    "title: cidr\ndetection:\n  sel:\n    IpAddress|cidr: '10.0.0.0/8'\n  condition: sel\n",
    "title: windash\ndetection:\n  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel\n",
    "title: base64\ndetection:\n  sel:\n    CommandLine|base64offset|contains: 'http://'\n  condition: sel\n",
    "title: empty\ndetection:\n  sel:\n    User: ''\n  condition: sel\n",
    "title: wildcard\ndetection:\n  sel:\n    CommandLine|contains: 'who*>'\n  condition: sel\n",
    "title: log and id\ndetection:\n  a:\n    Channel|contains: 'secur'\n    EventID: 1102\n  b:\n    Channel|contains: 'sys'\n    EventID: 104\n  condition: a or b\n",
    "title: regex alternatives\ndetection:\n  sel:\n    CommandLine|re: '(?i)(kill|stop)'\n  condition: sel\n",
];

fn rules() -> RuleSet {
    let sources: Vec<(std::path::PathBuf, String)> = RULES
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!("r{i}.yml").into(),
                format!("{r}logsource:\n  product: windows\nlevel: high\n"),
            )
        })
        .collect();
    let (set, report) = RuleSet::from_sources(&sources);
    assert_eq!(report.rules_loaded, RULES.len(), "{:?}", report.failed);
    set
}

/// Words from the rules, and text around them.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("vssadmin".to_string()),
        Just("delete shadows".to_string()),
        Just("C:\\Windows\\wevtutil.exe".to_string()),
        Just("cl Security".to_string()),
        Just("Security".to_string()),
        Just("Administrator".to_string()),
        Just("index 7".to_string()),
        Just("sam".to_string()),
        Just("system".to_string()),
        Just("mimikatz".to_string()),
        Just("école".to_string()),
        Just("ÉCOLE".to_string()),
        Just("Invoke-Expression".to_string()),
        Just("invoke-expression".to_string()),
        Just("\\a.exe".to_string()),
        Just("Jürgen".to_string()),
        Just("jÜrgen".to_string()),
        Just("C:\\TEMP\\x".to_string()),
        Just("10.1.2.3".to_string()),
        Just("x /enc y".to_string()),
        Just("x -enc y".to_string()),
        Just("aHR0cDovL2V2aWwuY29t".to_string()),
        Just("".to_string()),
        Just("whoami /all > out".to_string()),
        Just("\u{212A}ILL-Service".to_string()),
        Just("ſTOP".to_string()),
        "[a-zA-Z0-9 .:\\\\/-]{0,12}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    (word(), word(), any::<bool>()).prop_map(|(a, b, upper)| {
        let s = format!("{a}{b}");
        if upper { s.to_uppercase() } else { s }
    })
}

/// A number written as an integer, a float, or a string in several ways.
fn number() -> impl Strategy<Value = Value> {
    let n = prop_oneof![
        Just(1102i64),
        Just(4624),
        Just(4625),
        Just(4700),
        Just(7),
        Just(104),
        0i64..10_000
    ];
    (n, 0u8..6).prop_map(|(n, how)| match how {
        0 => Value::Int(n),
        1 => Value::Float(n as f64),
        2 => Value::from(n.to_string()),
        3 => Value::from(format!("{n}.0")),
        4 => Value::from(format!("{:e}", n as f64)),
        _ => Value::from(format!("0{n}")),
    })
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => text().prop_map(|s| Some(Value::from(s))),
        2 => number().prop_map(Some),
        1 => Just(Some(Value::Null)),
        1 => proptest::collection::vec(text().prop_map(Value::from), 0..3).prop_map(|v| Some(Value::List(v))),
        2 => Just(None),
    ]
}

/// Each field under the spellings rsigma finds it by: its own name, in
/// other case or with spaces, and the name mamori keeps it under (Image
/// as NewProcessName); and a field no rule names.
fn event() -> impl Strategy<Value = Event> {
    let names: [&[&str]; 9] = [
        &["CommandLine", "commandline", "Command Line"],
        &["Image", "NewProcessName", "IMAGE"],
        &["EventID", "eventid"],
        &["User", "user"],
        &["Payload"],
        &["Other"],
        &["IpAddress", "ipaddress"],
        &["Unnamed"],
        &["Channel", "channel"],
    ];
    (
        proptest::collection::vec((value(), 0usize..3), names.len()),
        text(),
    )
        .prop_map(move |(values, host)| {
            let mut ev = Event::new(Vec::new());
            ev.host = host.into();
            ev.logsource = LogSource::new(Some("windows"), Some("security"), None);
            for (spellings, (v, pick)) in names.iter().zip(values) {
                if let Some(v) = v {
                    ev.fields.push(spellings[pick % spellings.len()], v);
                }
            }
            ev
        })
}

fn names(v: Vec<rsigma_eval::EvaluationResult>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().map(|r| r.header.rule_title).collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_prefilter_never_changes_what_is_detected(ev in event()) {
        let set = RULES_SET.with(|s| s.clone());
        let with = names(set.detect(&ev));
        let without = names(set.detect_evaluating_every_rule(&ev));
        prop_assert_eq!(with, without);
    }
}

thread_local! {
    static RULES_SET: std::rc::Rc<RuleSet> = std::rc::Rc::new(rules());
}

/// The generator does reach the rules: over many events, every rule fires.
#[test]
fn every_rule_fires_on_some_generated_event() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let set = rules();
    let mut runner = TestRunner::deterministic();
    let mut fired = std::collections::BTreeSet::new();
    for _ in 0..20_000 {
        let ev = event().new_tree(&mut runner).unwrap().current();
        fired.extend(names(set.detect_evaluating_every_rule(&ev)));
    }
    let missing: Vec<&str> = RULES
        .iter()
        .map(|r| r.lines().next().unwrap().trim_start_matches("title: "))
        .filter(|t| !fired.contains(*t))
        .collect();
    assert!(missing.is_empty(), "never fired: {missing:?}");
}
