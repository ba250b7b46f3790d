//! End to end: events sent to a running `mamori serve` over real listeners
//! become alerts visible over the API and the CLI; a correlation begun
//! before a restart completes after it; IOC lists raise alerts; acting on
//! an alert is recorded.

mod common;

use common::*;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

fn vpn(time: &str, action: &str, user: &str) -> String {
    format!(
        r#"<189>date=2026-11-24 time={time} devname="FG100E" devid="FG100E0000000001" logid="0101039426" type="event" subtype="vpn" level="alert" vd="root" action="{action}" tunneltype="ssl-web" remip=198.51.100.7 user="{user}""#
    )
}

const CORRELATION: &str = "VPN login failures followed by a success for the same user";
const SHADOW: &str = r#"{"EventTime":"2026-11-24 10:00:03","Hostname":"ward-pc-03","SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\Windows\\System32\\vssadmin.exe","CommandLine":"vssadmin delete shadows /all /quiet","User":"HOSP\\tanaka"}"#;

fn alerts_until(
    server: &Server,
    token: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let client = server.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r: serde_json::Value = client
            .get(server.url("/api/v1/alerts"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let alerts = r["alerts"].as_array().cloned().unwrap_or_default();
        if done(&alerts) || Instant::now() > deadline {
            return alerts;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `mamori_detect_events_total` from /metrics.
fn detected(server: &Server) -> u64 {
    let m = server
        .client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix("mamori_detect_events_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn by_title<'a>(alerts: &'a [serde_json::Value], title: &str) -> Option<&'a serde_json::Value> {
    alerts.iter().find(|a| a["rule_title"] == title)
}

#[test]
fn events_over_listeners_become_alerts_and_correlations_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ioc = dir.path().join("c2-servers.txt");
    std::fs::write(
        &ioc,
        "# C2 seen in the Osaka case (example)\n203.0.113.66\n",
    )
    .unwrap();
    let config = base_config(
        &data,
        &format!(
            "[detect]\nioc = [\"{}\"]\ndedup_window_minutes = 60\n",
            ioc.display()
        ),
    );
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.with_extension("toml"), &config).unwrap();
    let api = token(&data, &data.with_extension("toml"), &["--api", "tester"]);
    let server = Server::start(&data, &config);

    // Unauthenticated: refused.
    let r = server
        .client()
        .get(server.url("/api/v1/alerts"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    // A status that is not one of the API's: refused, naming it.
    for bad in ["", "opened"] {
        let r = server
            .client()
            .get(server.url(&format!("/api/v1/alerts?status={bad}")))
            .bearer_auth(&api)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "status={bad:?}");
    }
    // A suppression's expiry is at most 100 years, not a number that wraps
    // into the past.
    for (hours, want) in [(876_001u64, 400), (u64::MAX, 400)] {
        let r = server
            .client()
            .post(server.url("/api/v1/suppressions"))
            .bearer_auth(&api)
            .json(&serde_json::json!({"rule": "x", "reason": "test", "expires_in_hours": hours}))
            .send()
            .unwrap();
        assert_eq!(r.status(), want, "expires_in_hours={hours}");
    }

    // Three VPN failures over TCP, a shadow-copy deletion over UDP, and a
    // connection to a listed C2 address.
    let mut tcp = TcpStream::connect(server.addr("syslog/tcp")).unwrap();
    for t in ["02:00:00", "02:00:10", "02:00:20"] {
        writeln!(tcp, "{}", vpn(t, "ssl-login-fail", "yamada")).unwrap();
    }
    writeln!(tcp, r#"<189>date=2026-11-24 time=02:03:00 devname="FG100E" devid="FG100E0000000001" logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.20.3.4 srcport=50123 dstip=203.0.113.66 dstport=443 proto=6 action="accept""#).unwrap();
    drop(tcp);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(SHADOW.as_bytes(), server.addr("syslog/udp"))
        .unwrap();

    let alerts = alerts_until(&server, &api, |a| {
        by_title(a, "VPN login failure on the FortiGate").is_some_and(|f| f["count"] == 3)
            && a.iter().any(|x| x["kind"] == "ioc")
            && a.iter().any(|x| x["level"] == "critical")
    });
    let fail = by_title(&alerts, "VPN login failure on the FortiGate")
        .unwrap_or_else(|| panic!("no VPN failure alert: {alerts:#?}"));
    assert_eq!(fail["count"], 3, "three failures, one alert: {fail:#}");
    assert_eq!(fail["entities"]["user"], "yamada");
    assert_eq!(fail["entities"]["ip"], "198.51.100.7");
    let ioc_alert = alerts.iter().find(|a| a["kind"] == "ioc").unwrap();
    assert_eq!(ioc_alert["rule_key"], "ioc:c2-servers:203.0.113.66");
    let shadow = alerts.iter().find(|a| a["level"] == "critical").unwrap();
    assert_eq!(shadow["entities"]["host"], "ward-pc-03");
    assert!(
        shadow["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().starts_with("attack.t1490")),
        "{shadow:#}"
    );
    assert!(by_title(&alerts, CORRELATION).is_none());

    // The detail has the rule's response note and the triggering event.
    let id = shadow["id"].as_i64().unwrap();
    let client = server.client();
    let detail: serde_json::Value = client
        .get(server.url(&format!("/api/v1/alerts/{id}")))
        .bearer_auth(&api)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        detail["rule"]["response_ja"].as_str().is_some(),
        "{detail:#}"
    );
    assert!(
        detail["events"][0]["fields"]["CommandLine"]
            .as_str()
            .unwrap()
            .contains("delete shadows")
    );

    // Close it over the API, with a comment; the history says who.
    let r: serde_json::Value = client
        .post(server.url(&format!("/api/v1/alerts/{id}/close")))
        .bearer_auth(&api)
        .json(&serde_json::json!({"comment": "vendor maintenance, confirmed by phone"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["alert"]["status"], "closed");
    assert_eq!(r["alert"]["notes"][0]["actor"], "token:tester");

    // Restart: the failures are remembered by the correlation.
    server.stop();
    let server = Server::start(&data, &config);
    let mut tcp = TcpStream::connect(server.addr("syslog/tcp")).unwrap();
    writeln!(tcp, "{}", vpn("02:01:00", "tunnel-up", "yamada")).unwrap();
    drop(tcp);
    let alerts = alerts_until(&server, &api, |a| by_title(a, CORRELATION).is_some());
    let corr = by_title(&alerts, CORRELATION)
        .unwrap_or_else(|| panic!("the correlation did not fire after the restart: {alerts:#?}"));
    assert_eq!(corr["kind"], "correlation");
    assert_eq!(corr["level"], "high");
    assert_eq!(corr["entities"]["user"], "yamada");

    // The CLI sees the same database beside the running server.
    let o = mamori(&data, &["alerts", "list", "--status", "open"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(CORRELATION), "{}", stdout(&o));
    assert!(
        !stdout(&o).contains("Volume shadow"),
        "closed alerts are not open"
    );
    let corr_id = corr["id"].as_i64().unwrap().to_string();
    let o = mamori(&data, &["alerts", "ack", &corr_id, "-m", "calling yamada"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mamori(&data, &["alerts", "show", &corr_id]);
    assert!(stdout(&o).contains("acknowledged"), "{}", stdout(&o));
    assert!(stdout(&o).contains("calling yamada"), "{}", stdout(&o));

    // The metrics count what detection did.
    let m = client
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(m.contains("mamori_alerts_raised_total "), "{m}");
    server.stop();
}

#[test]
fn suppressions_from_the_cli_silence_a_rule_for_one_host() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = base_config(&data, "");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.with_extension("toml"), &config).unwrap();
    let api = token(&data, &data.with_extension("toml"), &["--api", "tester"]);
    let server = Server::start(&data, &config);
    let o = mamori(
        &data,
        &[
            "alerts",
            "suppress",
            "--rule",
            "VPN login failure on the FortiGate",
            "--where",
            "user=monitor",
            "--reason",
            "the uptime monitor tries a wrong password on purpose",
            "--for",
            "7d",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mamori(
        &data,
        &[
            "alerts", "suppress", "--rule", "x", "--where", "novalue", "--reason", "r",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("field=value"), "{}", stderr(&o));

    let mut tcp = TcpStream::connect(server.addr("syslog/tcp")).unwrap();
    writeln!(tcp, "{}", vpn("03:00:00", "ssl-login-fail", "monitor")).unwrap();
    writeln!(tcp, "{}", vpn("03:00:01", "ssl-login-fail", "sato")).unwrap();
    drop(tcp);
    // Both events evaluated (the detection counter says so), then look.
    let deadline = Instant::now() + Duration::from_secs(30);
    while detected(&server) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let alerts = alerts_until(&server, &api, |a| !a.is_empty());
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["entities"]["user"], "sato");
    let o = mamori(&data, &["alerts", "suppressions"]);
    assert!(stdout(&o).contains("hits 1"), "{}", stdout(&o));
    server.stop();
}
