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
    // Known gap, not yet explained: LM_sysmon_1_12_13_3_tsclient_SharpRdp.evtx
    // (Chainsaw: 4 hits of one rule; mamori: none).
    assert!(
        agree as f64 >= flagged as f64 * 0.99,
        "mamori missed files that Chainsaw flags: {missed:?}"
    );
}

#[test]
fn builtin_pack_loads_and_fires() {
    let (rules, report) = RuleSet::from_sources(&builtin_rules());
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.rules_loaded, builtin_rules().len());

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
