//! The one-shot commands, run as a user would.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn config_init_writes_a_valid_file_and_bad_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mamori.toml");
    let o = std::process::Command::new(BIN)
        .args(["config", "init"])
        .arg(&path)
        .env("MAMORI_LANG", "en")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("syslog_udp = \"0.0.0.0:5514\""));
    // A second init refuses to overwrite.
    let o = std::process::Command::new(BIN)
        .args(["config", "init"])
        .arg(&path)
        .env("MAMORI_LANG", "en")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));

    std::fs::write(&path, "[listen]\nsyslog_udpp = \"0.0.0.0:1\"\n").unwrap();
    let o = std::process::Command::new(BIN)
        .args(["search", "x", "--config"])
        .arg(&path)
        .env("MAMORI_LANG", "en")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("syslog_udpp") && e.contains("mamori.toml"),
        "{e}"
    );
}

#[test]
fn import_search_verify_and_detect_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("rtx.log"),
        "<13> [INSPECT] PP[01][out][101] TCP 192.168.1.10:40980 > 203.0.113.5:80 (2026/11/24 10:59:24)\n\
         <13> PP[01] Rejected at IN(2000) filter: TCP 198.51.100.23:51234 > 192.168.1.5:3389\n",
    )
    .unwrap();
    std::fs::write(
        logs.join("events.jsonl"),
        "{\"message\":\"user yamada logged on\",\"user\":{\"name\":\"yamada\"},\"@timestamp\":\"2026-11-24T01:00:00Z\"}\n",
    )
    .unwrap();
    let o = mamori(&data, &["import", logs.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Imported 3 events from 2 files"),
        "{}",
        stdout(&o)
    );

    let o = mamori(
        &data,
        &["search", "destination.port:3389", "--format", "csv"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("Rejected at IN(2000)"), "{csv}");

    let o = mamori(&data, &["search", "user.name:yamada"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("yamada logged on"), "{}", stdout(&o));

    let o = mamori(&data, &["search", "nosuchword"]);
    assert_eq!(o.status.code(), Some(1));

    let o = mamori(&data, &["verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("intact"), "{}", stdout(&o));

    let o = mamori(&data, &["checkpoint", "export"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cp = dir.path().join("checkpoint.txt");
    std::fs::write(&cp, stdout(&o)).unwrap();
    let o = mamori(&data, &["verify", "--checkpoint", cp.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    // An intruder flips one byte in the middle of the stored segment.
    let seg = std::fs::read_dir(data.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mseg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&seg, bytes).unwrap();
    let o = mamori(&data, &["verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("segment"), "{}", stdout(&o));

    // Reindex rebuilds the derived index from the segments.
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn import_real_evtx_when_corpora_present() {
    let corpora = std::env::var("MAMORI_CORPORA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora").into());
    let dir = std::path::Path::new(&corpora).join("evtx-attack-samples/Lateral Movement");
    if !dir.is_dir() {
        eprintln!("skipped: corpora not found");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let o = mamori(&data, &["import", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mamori(
        &data,
        &[
            "search",
            "EventID:4624",
            "--format",
            "ndjson",
            "--limit",
            "5",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let first: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["fields"]["EventID"], 4624);
    assert_eq!(first["logsource"]["product"], "windows");
    let o = mamori(&data, &["reindex"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mamori(
        &data,
        &[
            "search",
            "EventID:4624",
            "--format",
            "ndjson",
            "--limit",
            "5",
        ],
    );
    assert_eq!(stdout(&o).lines().count(), 5);
}

#[test]
fn hunt_over_files_and_over_the_store_with_the_builtin_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("sysmon.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"EventTime":"2026-11-24 10:00:03","Hostname":"ward-pc-03","SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\Windows\\System32\\vssadmin.exe","CommandLine":"vssadmin delete shadows /all /quiet"}"#,
            "\n",
            r#"{"EventTime":"2026-11-24 10:00:04","Hostname":"ward-pc-03","SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\Windows\\notepad.exe","CommandLine":"notepad.exe"}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = mamori(&data, &["hunt", file.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", stdout(&o));
    assert_eq!(lines[0]["rule"], "Shadow copies or backup catalog deleted");
    assert_eq!(lines[0]["level"], "critical");
    assert_eq!(lines[0]["computer"], "ward-pc-03");

    // The same over the store (retro-hunt), after importing the file.
    let o = mamori(&data, &["import", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mamori(
        &data,
        &["hunt", "--store", "--format", "csv", "--level", "high"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.contains("Shadow copies or backup catalog deleted"),
        "{out}"
    );
    assert!(out.contains("store:seq=0"), "{out}");

    // Bad input is named.
    let o = mamori(
        &data,
        &["hunt", "--level", "severe", file.to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--level severe"), "{}", stderr(&o));
    let o = mamori(&data, &["rules", "check", "/nonexistent/rules"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/nonexistent/rules"), "{}", stderr(&o));
}
