//! Live detection: alerts, dedup, suppressions, IOCs, and correlation
//! state that survives a restart.

use mamori_detect::alerts::{AlertKind, AlertQuery, AlertStatus, AlertStore, NewSuppression};
use mamori_detect::ioc::{IocReport, IocSet};
use mamori_detect::{LiveDetector, LiveOptions, RuleSet, builtin_rules};
use mamori_event::Event;
use mamori_ingest::decode::{Received, SourceSettings, decode};
use std::path::Path;

fn fortigate(time: &str, action: &str, user: &str) -> Event {
    let line = format!(
        "<189>date=2026-11-24 time={time} devname=\"FG100E\" devid=\"FG100E0000000001\" logid=\"0101039426\" type=\"event\" subtype=\"vpn\" level=\"alert\" vd=\"root\" action=\"{action}\" tunneltype=\"ssl-web\" remip=198.51.100.7 user=\"{user}\""
    );
    let settings = SourceSettings {
        name: "fortigate".into(),
        ..SourceSettings::default()
    };
    decode(
        line.as_bytes(),
        &settings,
        &Received {
            received_ns: 0,
            peer: None,
        },
    )
}

fn detector(db: &AlertStore, iocs: IocSet) -> LiveDetector {
    let (rules, report) = RuleSet::from_sources(&builtin_rules());
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    LiveDetector::new(rules, iocs, db.clone(), LiveOptions::default(), 0).unwrap()
}

const CORRELATION: &str = "VPN login failures followed by a success for the same user";

#[test]
fn correlation_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.db");
    {
        let db = AlertStore::open(&path).unwrap();
        let mut d = detector(&db, IocSet::default());
        let batch: Vec<(u64, Event)> = ["02:00:00", "02:00:10", "02:00:20"]
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u64, fortigate(t, "ssl-login-fail", "yamada")))
            .collect();
        let out = d.process(&batch).unwrap();
        assert_eq!(out.events, 3);
        // Three failures of one user from one address: one alert, count 3.
        assert_eq!((out.raised, out.updated), (1, 2));
        assert_eq!(d.next_seq(), 3);
        assert!(d.correlation_states() > 0);
    }
    // A new process: the failures are remembered, the success completes it.
    let db = AlertStore::open(&path).unwrap();
    let mut d = detector(&db, IocSet::default());
    assert!(d.restored_correlation_state());
    assert_eq!(d.next_seq(), 3);
    // Seq 2 again (a replay) is skipped; seq 3 is new.
    let out = d
        .process(&[
            (2, fortigate("02:00:20", "ssl-login-fail", "yamada")),
            (3, fortigate("02:01:00", "tunnel-up", "yamada")),
        ])
        .unwrap();
    assert_eq!(out.events, 1);
    let alerts = db.list(&AlertQuery::default()).unwrap();
    let corr = alerts
        .iter()
        .find(|a| a.rule_title == CORRELATION)
        .expect("the correlation fired after the restart");
    assert_eq!(corr.kind, AlertKind::Correlation);
    assert_eq!(corr.level, "high");
    assert_eq!(corr.entities.user, "yamada");
    assert!(corr.tags.iter().any(|t| t == "attack.t1110"));
    let full = db.get(corr.id).unwrap();
    // The events that made it fire, as store sequence numbers.
    assert!(full.event_seqs.contains(&3), "{:?}", full.event_seqs);
    assert!(full.event_seqs.contains(&0), "{:?}", full.event_seqs);
    // The informational "VPN login success" rule raised no alert.
    assert!(alerts.iter().all(|a| a.level != "informational"));
}

#[test]
fn without_the_saved_state_the_correlation_would_be_missed() {
    // The control for the test above: a detector that starts empty sees
    // only the success and raises nothing for it.
    let dir = tempfile::tempdir().unwrap();
    let db = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let mut d = detector(&db, IocSet::default());
    d.process(&[(3, fortigate("02:01:00", "tunnel-up", "yamada"))])
        .unwrap();
    let alerts = db.list(&AlertQuery::default()).unwrap();
    assert!(alerts.iter().all(|a| a.rule_title != CORRELATION));
}

#[test]
fn suppressions_silence_matching_events_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let id = db
        .add_suppression(&NewSuppression {
            rule: "VPN login failure on the FortiGate".into(),
            conditions: vec![("user".into(), "testuser".into())],
            reason: "monitoring probe logs in with a wrong password on purpose".into(),
            created_by: "test".into(),
            expires_ns: None,
        })
        .unwrap();
    let mut d = detector(&db, IocSet::default());
    let out = d
        .process(&[
            (0, fortigate("02:00:00", "ssl-login-fail", "testuser")),
            (1, fortigate("02:00:01", "ssl-login-fail", "testuser")),
            (2, fortigate("02:00:02", "ssl-login-fail", "yamada")),
        ])
        .unwrap();
    assert_eq!(out.suppressed, 2);
    assert_eq!(out.raised, 1);
    let alerts = db.list(&AlertQuery::default()).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].entities.user, "yamada");
    assert_eq!(db.suppressions(false).unwrap()[0].hits, 2);
    db.remove_suppression(id).unwrap();
}

#[test]
fn ioc_lists_raise_alerts_and_repeats_update_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let mut iocs = IocSet::default();
    iocs.add_list(
        Path::new("scanners.txt"),
        "198.51.100.0/24\n",
        &mut IocReport::default(),
    );
    let mut d = detector(&db, iocs);
    d.process(&[
        (0, fortigate("02:00:00", "tunnel-up", "suzuki")),
        (1, fortigate("02:10:00", "tunnel-up", "suzuki")),
    ])
    .unwrap();
    let alerts = db.list(&AlertQuery::default()).unwrap();
    let ioc: Vec<_> = alerts.iter().filter(|a| a.kind == AlertKind::Ioc).collect();
    assert_eq!(ioc.len(), 1, "{alerts:#?}");
    assert_eq!(ioc[0].count, 2);
    assert_eq!(ioc[0].rule_key, "ioc:scanners:198.51.100.0/24");
    assert_eq!(ioc[0].entities.ip, "198.51.100.7");
    db.set_status(ioc[0].id, AlertStatus::Acknowledged, "test", "looking")
        .unwrap();
    assert_eq!(db.get(ioc[0].id).unwrap().status, AlertStatus::Acknowledged);
}

#[test]
fn a_rule_turned_off_raises_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let db = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let mut d = detector(&db, IocSet::default());
    let key = d
        .rules()
        .rules()
        .iter()
        .find(|r| r.title == "VPN login failure on the FortiGate")
        .unwrap()
        .key
        .clone();
    db.set_rule_enabled(&key, false).unwrap();
    d.process(&[(0, fortigate("02:00:00", "ssl-login-fail", "yamada"))])
        .unwrap();
    assert!(db.list(&AlertQuery::default()).unwrap().is_empty());
    db.set_rule_enabled(&key, true).unwrap();
    d.process(&[(1, fortigate("02:00:05", "ssl-login-fail", "yamada"))])
        .unwrap();
    assert_eq!(db.list(&AlertQuery::default()).unwrap().len(), 1);
}
