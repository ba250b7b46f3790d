//! Conformance with a peer's parse of real vendor samples
//! (`$MAMORI_CORPORA/logs/*/sekoia`: Sekoia.io intake test cases).
//! For each sample, the key fields mamori extracts are compared with the
//! peer's expected output wherever both have a value.

use mamori_event::Value;
use mamori_ingest::decode::{Received, SourceSettings, decode};
use std::path::{Path, PathBuf};

fn corpora() -> Option<PathBuf> {
    let p = std::env::var("MAMORI_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"));
    p.join("logs").is_dir().then_some(p)
}

fn expected<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn as_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Tally {
    compared: usize,
    agreed: usize,
    samples: usize,
    decoded: usize,
    diffs: Vec<String>,
}

fn run(vendor_dir: &Path, want_decoder: &[&str], fields: &[(&str, &str)]) -> Tally {
    let mut t = Tally {
        compared: 0,
        agreed: 0,
        samples: 0,
        decoded: 0,
        diffs: Vec::new(),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(vendor_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let Some(msg) = expected(&j, "input.message").and_then(|m| m.as_str()) else {
            continue;
        };
        let Some(exp) = j.get("expected") else {
            continue;
        };
        t.samples += 1;
        let ev = decode(
            msg.as_bytes(),
            &SourceSettings::default(),
            &Received {
                received_ns: 0,
                peer: None,
            },
        );
        if want_decoder.contains(&ev.decoder.as_str()) {
            t.decoded += 1;
        } else {
            t.diffs
                .push(format!("{}: decoded as {}", f.display(), ev.decoder));
        }
        for (ours, theirs) in fields {
            let (Some(a), Some(b)) = (ev.fields.get(ours), expected(exp, theirs)) else {
                continue;
            };
            t.compared += 1;
            let a = match a {
                Value::Str(s) => s.to_string(),
                other => other.to_string(),
            };
            if a == as_text(b) {
                t.agreed += 1;
            } else {
                t.diffs.push(format!(
                    "{}: {ours} = {a:?}, peer {theirs} = {}",
                    f.display(),
                    as_text(b)
                ));
            }
        }
    }
    t
}

const NET: &[(&str, &str)] = &[
    ("source.ip", "source.ip"),
    ("destination.ip", "destination.ip"),
    ("source.port", "source.port"),
    ("destination.port", "destination.port"),
    ("network.transport", "network.transport"),
];

#[test]
fn fortigate_key_value_samples_agree_with_the_peer() {
    let Some(c) = corpora() else {
        eprintln!("skipped: corpora not found");
        return;
    };
    let t = run(
        &c.join("logs/fortinet/sekoia/fortigate"),
        &["fortigate", "cef"],
        NET,
    );
    eprintln!(
        "fortigate: {} samples, {} decoded as FortiGate/CEF, {}/{} fields agree",
        t.samples, t.decoded, t.agreed, t.compared
    );
    for d in &t.diffs {
        eprintln!("  {d}");
    }
    assert!(t.samples > 40);
    // CSV-format samples are not key=value: they are kept as syslog lines.
    assert!(
        t.decoded * 10 >= t.samples * 8,
        "{} of {} decoded",
        t.decoded,
        t.samples
    );
    assert!(
        t.compared > 50 && t.agreed * 100 >= t.compared * 95,
        "{}/{}",
        t.agreed,
        t.compared
    );
}

#[test]
fn squid_and_cef_samples_agree_with_the_peer() {
    let Some(c) = corpora() else {
        eprintln!("skipped: corpora not found");
        return;
    };
    for (dir, dec) in [("logs/squid/sekoia", "squid"), ("logs/cef/sekoia", "cef")] {
        for sub in std::fs::read_dir(c.join(dir)).unwrap() {
            let sub = sub.unwrap().path();
            if !sub.is_dir() {
                continue;
            }
            let t = run(&sub, &[dec], NET);
            eprintln!(
                "{}: {} samples, {} decoded as {dec}, {}/{} fields agree",
                sub.display(),
                t.samples,
                t.decoded,
                t.agreed,
                t.compared
            );
            for d in &t.diffs {
                eprintln!("  {d}");
            }
            if t.compared > 0 {
                assert!(
                    t.agreed * 100 >= t.compared * 90,
                    "{}: {}/{}",
                    sub.display(),
                    t.agreed,
                    t.compared
                );
            }
        }
    }
}
