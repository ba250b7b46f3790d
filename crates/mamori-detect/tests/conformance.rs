//! Conformance with the shared corpora: SigmaHQ's rules load, and hunting
//! over EVTX-ATTACK-SAMPLES flags the files Chainsaw flags (ORACLE.csv).
//! Without the corpora these tests say "skipped: corpora not found".

use mamori_detect::{HuntOptions, RuleSet, builtin_rules, hunt_files};
use mamori_event::{Event, LogSource};
use std::collections::HashMap;
use std::path::PathBuf;

fn corpora() -> Option<PathBuf> {
    let p = std::env::var("MAMORI_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/corpora"
            ))
        });
    p.join("sigmahq-rules/rules").is_dir().then_some(p)
}

#[test]
fn sigmahq_rules_load() {
    let Some(c) = corpora() else {
        eprintln!("skipped: corpora not found");
        return;
    };
    let (rules, report) = RuleSet::load(&[c.join("sigmahq-rules/rules")], false).unwrap();
    for (path, why) in &report.failed {
        eprintln!("not loaded: {}: {why}", path.display());
    }
    eprintln!(
        "{} files, {} rules loaded, {} failed",
        report.files,
        report.rules_loaded,
        report.failed.len()
    );
    assert_eq!(report.files, 3141);
    assert!(report.loaded_ratio() >= 0.99, "{:?}", report.failed);
    let (win, wreport) = RuleSet::load(&[c.join("sigmahq-rules/rules/windows")], false).unwrap();
    assert_eq!(wreport.rules_loaded, 2407, "all Windows rules load");
    assert!(rules.len() >= win.len());
}

#[test]
fn hunt_flags_what_chainsaw_flags() {
    let Some(c) = corpora() else {
        eprintln!("skipped: corpora not found");
        return;
    };
    let samples = c.join("evtx-attack-samples");
    let (rules, _) = RuleSet::load(&[c.join("sigmahq-rules/rules/windows")], false).unwrap();
    let files = mamori_ingest::import::plan(std::slice::from_ref(&samples))
        .unwrap()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .collect::<Vec<_>>();
    let report = hunt_files(&files, &rules, &HuntOptions::default(), &|_| {});
    assert_eq!(report.files, 221);
    assert_eq!(report.events, 7825, "every record is read");
    assert!(report.failed_files.is_empty(), "{:?}", report.failed_files);

    let mut ours: HashMap<String, usize> = HashMap::new();
    for f in &report.findings {
        let rel = f
            .file
            .strip_prefix(&samples)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        *ours.entry(rel).or_default() += 1;
    }
    let oracle = std::fs::read_to_string(samples.join("ORACLE.csv")).unwrap();
    let (mut flagged, mut agree, mut missed) = (0, 0, Vec::new());
    for line in oracle.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let (path, chainsaw_hits) = (cols[0], cols[4].parse::<usize>().unwrap());
        let mine = ours.get(path).copied().unwrap_or(0);
        eprintln!("{path}\tchainsaw {chainsaw_hits}\tmamori {mine}");
        if chainsaw_hits > 0 {
            flagged += 1;
            if mine > 0 {
                agree += 1;
            } else {
                missed.push(path.to_owned());
            }
        }
    }
    eprintln!(
        "files Chainsaw flags: {flagged}; also flagged by mamori: {agree}; mamori hits {}",
        report.findings.len()
    );
    // Every file Chainsaw flags, mamori flags too. (The record-level
    // comparison, rule by rule, is bench/hunt-compare.py; docs/en/detection.md,
    // "Conformance", has its figures.)
    assert!(
        missed.is_empty(),
        "mamori missed files that Chainsaw flags: {missed:?}"
    );
    assert!(agree as f64 >= flagged as f64 * 0.99);
}

#[test]
fn builtin_pack_loads_and_fires() {
    let (rules, report) = RuleSet::from_sources(&builtin_rules());
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.rules_loaded + report.correlations,
        builtin_rules().len()
    );

    let win = |service: &str, category: Option<&str>, fields: &[(&str, mamori_event::Value)]| {
        let mut ev = Event::new(Vec::new());
        ev.logsource = LogSource::new(Some("windows"), Some(service), category);
        for (k, v) in fields {
            ev.fields.push(*k, v.clone());
        }
        ev
    };
    use mamori_event::Value::{Int, Str};
    let cases = [
        (
            win(
                "security",
                None,
                &[
                    ("EventID", Int(4624)),
                    ("LogonType", Str("10".into())),
                    ("IpAddress", Str("10.212.134.201".into())),
                ],
            ),
            "RDP logon from the VPN address pool",
        ),
        (
            win("windefend", None, &[("EventID", Int(5001))]),
            "Microsoft Defender real-time protection turned off",
        ),
        (
            win(
                "security",
                None,
                &[("EventID", Int(1102)), ("Channel", Str("Security".into()))],
            ),
            "Windows event log cleared",
        ),
        (
            win(
                "sysmon",
                Some("process_creation"),
                &[(
                    "CommandLine",
                    Str("vssadmin.exe Delete Shadows /All /Quiet".into()),
                )],
            ),
            "Shadow copies or backup catalog deleted",
        ),
    ];
    for (ev, title) in &cases {
        let hits = rules.evaluate(ev);
        assert!(hits.iter().any(|h| h.title == *title), "{title}: {hits:?}");
    }
    let mut fg = Event::new(Vec::new());
    fg.logsource = LogSource::new(Some("fortigate"), Some("vpn"), None);
    fg.fields.push("event.action", "ssl-login-fail");
    assert_eq!(
        rules.evaluate(&fg)[0].title,
        "VPN login failure on the FortiGate"
    );
    // An RDP logon from the LAN is not a VPN logon.
    let lan = win(
        "security",
        None,
        &[
            ("EventID", Int(4624)),
            ("LogonType", Str("10".into())),
            ("IpAddress", Str("192.168.1.20".into())),
        ],
    );
    assert!(rules.evaluate(&lan).is_empty());
}

/// SigmaHQ's own regression data: for each rule id an .evtx and the number
/// of matches the rule must produce on it.
#[test]
fn sigmahq_regression_cases() {
    let Some(c) = corpora() else {
        eprintln!("skipped: corpora not found");
        return;
    };
    let reg = c.join("sigmahq-regression");
    if !reg.is_dir() {
        eprintln!("skipped: corpora not found (sigmahq-regression)");
        return;
    }
    // Rule id → (file, text), over every rule folder the regression data uses.
    let mut by_id: HashMap<String, (PathBuf, String)> = HashMap::new();
    for folder in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
        let mut files = Vec::new();
        collect(&c.join("sigmahq-rules").join(folder), "yml", &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            if let Some(id) = text
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(|s| s.trim().to_owned())
            {
                by_id.insert(id, (f, text));
            }
        }
    }
    let mut infos = Vec::new();
    collect(&reg, "yml", &mut infos);
    let (mut passed, mut skipped, mut failures) = (0usize, 0usize, Vec::new());
    for info in &infos {
        let text = std::fs::read_to_string(info).unwrap();
        let rule_id = text
            .split("rule_metadata:")
            .nth(1)
            .and_then(|r| r.lines().find_map(|l| l.trim().strip_prefix("- id: ")))
            .map(|s| s.trim().to_owned())
            .expect("rule id in info.yml");
        let expected: Option<usize> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|l| l.trim().strip_prefix("match_count: "))
            .and_then(|n| n.trim().parse().ok());
        let dir = info.parent().unwrap();
        let mut evtx = Vec::new();
        collect(dir, "evtx", &mut evtx);
        if evtx.is_empty() {
            // Not an EVTX case (e.g. raw network-device text): not applicable.
            skipped += 1;
            continue;
        }
        let Some((rule_file, rule_text)) = by_id.get(&rule_id) else {
            failures.push(format!(
                "{rule_id}: rule not in the corpus ({})",
                dir.display()
            ));
            continue;
        };
        let (rules, report) = RuleSet::from_sources(&[(rule_file.clone(), rule_text.clone())]);
        if report.rules_loaded != 1 {
            failures.push(format!("{rule_id}: does not load: {:?}", report.failed));
            continue;
        }
        let hunt = hunt_files(&evtx, &rules, &HuntOptions::default(), &|_| {});
        let got = hunt.findings.len();
        let ok = match expected {
            Some(n) => got == n,
            None => got >= 1,
        };
        if ok {
            passed += 1;
        } else if KNOWN_REGRESSION_DIFFERENCES.contains(&rule_id.as_str()) {
            eprintln!("known difference: {rule_id}: expected {expected:?}, got {got}");
            passed += 1;
        } else {
            failures.push(format!(
                "{rule_id} ({}): expected {expected:?}, got {got}",
                rule_file.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    for f in &failures {
        eprintln!("regression failure: {f}");
    }
    eprintln!(
        "regression cases: {passed} passed, {skipped} not EVTX, of {}",
        infos.len()
    );
    assert_eq!(infos.len(), 163);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Cases where mamori finds more matches than the regression data expects,
/// and every extra match does satisfy the rule as written (checked by hand;
/// docs/en/detection.md): the expected count seems to count something else.
///
/// - AnyDesk artefact: three file events contain `\AnyDesk\user.conf`
///   (`user.conf.new` twice and a `user.conf~RF….TMP`); expected 1.
/// - Credential dump tools dropped files: three matching file events; expected 1.
/// - Disable administrative share: two matching registry events; expected 1.
const KNOWN_REGRESSION_DIFFERENCES: &[&str] = &[
    "0b9ad457-2554-44c1-82c2-d56a99c42377",
    "8fbf3271-1ef6-4e94-8210-03c2317947f6",
    "c7dcacd0-cc59-4004-b0a4-1d6cdebe6f3e",
];

fn collect(dir: &std::path::Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

/// The built-in correlation: VPN login failures and then a success for the
/// same user within 30 minutes, over a FortiGate log file.
#[test]
fn vpn_failures_then_success_is_correlated() {
    let dir = tempfile::tempdir().unwrap();
    let line = |time: &str, action: &str, user: &str| {
        format!(
            "<189>date=2026-11-24 time={time} devname=\"FG100E\" devid=\"FG100E0000000001\" logid=\"0101039426\" type=\"event\" subtype=\"vpn\" level=\"alert\" vd=\"root\" action=\"{action}\" tunneltype=\"ssl-web\" remip=198.51.100.7 user=\"{user}\"\n"
        )
    };
    let mut log = String::new();
    for t in ["02:00:00", "02:00:10", "02:00:20"] {
        log += &line(t, "ssl-login-fail", "yamada");
    }
    log += &line("02:01:00", "tunnel-up", "yamada");
    // Another user who only succeeds: no correlation.
    log += &line("02:05:00", "tunnel-up", "suzuki");
    let path = dir.path().join("fortigate.log");
    std::fs::write(&path, log).unwrap();
    let (rules, report) = RuleSet::from_sources(&builtin_rules());
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.correlations, 1);
    let opts = HuntOptions::default();
    let r = hunt_files(std::slice::from_ref(&path), &rules, &opts, &|_| {});
    let corr: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule == "VPN login failures followed by a success for the same user")
        .collect();
    assert_eq!(corr.len(), 1, "{:#?}", r.findings);
    assert_eq!(corr[0].level, "high");
    let fails = r
        .findings
        .iter()
        .filter(|f| f.rule == "VPN login failure on the FortiGate")
        .count();
    assert_eq!(fails, 3);

    // The same over a stream of events (as `hunt --store` reads the store).
    let mut events = Vec::new();
    mamori_ingest::import::import_paths(
        &[path],
        &mamori_ingest::decode::SourceSettings::default(),
        &mut |_| {},
        &mut |b| {
            events.extend(b);
            Ok(())
        },
    )
    .unwrap();
    let stream = events
        .into_iter()
        .enumerate()
        .map(|(i, ev)| Ok::<_, ()>((PathBuf::from(format!("store:seq={i}")), ev)));
    let r = mamori_detect::hunt_events(stream, &rules, &opts, &|_| {}).unwrap();
    let corr = r
        .findings
        .iter()
        .find(|f| f.rule == "VPN login failures followed by a success for the same user")
        .expect("correlated over the stream");
    assert_eq!(corr.file, PathBuf::from("store:seq=3"));
}

/// The prefilter only chooses which rules rsigma evaluates; it must never
/// leave out one that matches. Every SigmaHQ rule over every record of both
/// EVTX corpora, with and without it: the same detections.
#[test]
fn the_prefilter_never_drops_a_detection() {
    let Some(c) = corpora() else {
        eprintln!("skipped: corpora not found");
        return;
    };
    let folders: Vec<PathBuf> = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|f| c.join("sigmahq-rules").join(f))
        .filter(|p| p.is_dir())
        .collect();
    let (rules, _) = RuleSet::load(&folders, true).unwrap();
    let mut files = Vec::new();
    for dir in ["evtx-attack-samples", "sigmahq-regression"] {
        collect(&c.join(dir), "evtx", &mut files);
    }
    let settings = mamori_ingest::decode::SourceSettings {
        name: "hunt".into(),
        ..Default::default()
    };
    let (mut events, mut detections) = (0usize, 0usize);
    let mut differences = Vec::new();
    for file in &files {
        let mut sink = |batch: Vec<Event>| -> Result<(), String> {
            for ev in batch {
                events += 1;
                let names = |v: Vec<rsigma_eval::EvaluationResult>| {
                    let mut v: Vec<String> = v
                        .into_iter()
                        .map(|r| format!("{} {:?}", r.header.rule_title, r.header.rule_id))
                        .collect();
                    v.sort();
                    v
                };
                let with = names(rules.detect(&ev));
                let without = names(rules.detect_evaluating_every_rule(&ev));
                detections += without.len();
                if with != without {
                    differences.push(format!(
                        "{}: with the prefilter {with:?}, evaluating every rule {without:?}",
                        file.display()
                    ));
                }
            }
            Ok(())
        };
        mamori_ingest::import::import_paths(
            std::slice::from_ref(file),
            &settings,
            &mut |_| {},
            &mut sink,
        )
        .unwrap();
    }
    eprintln!(
        "{} files, {events} records, {} rules, {detections} detections",
        files.len(),
        rules.len()
    );
    assert!(events > 8000, "{events}");
    assert!(detections > 1000, "{detections}");
    assert!(differences.is_empty(), "{differences:#?}");
}
