//! End to end: the real binary, real sockets on 127.0.0.1, a temp data dir.

mod common;

use common::*;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

const FORTIGATE_VPN_FAIL: &str = r#"date=2026-11-24 time=10:00:00 devname="FG100E" devid="FG100E0000000001" logid="0101039426" type="event" subtype="vpn" level="alert" vd="root" eventtime=1795482000 logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web" remip=198.51.100.7 user="yamada" reason="sslvpn_login_permission_denied" msg="SSL user failed to logged in""#;
const RTX_INSPECT: &str =
    "<13> [INSPECT] PP[01][out][101] TCP 192.168.1.10:40980 > 203.0.113.5:80 (2026/11/24 10:59:24)";
const SQUID_5424: &str = "<134>1 2026-11-24T10:00:00+09:00 proxy01 squid - - - 1795482000.123    120 10.0.0.5 TCP_MISS/200 512 GET http://example.jp/index.html - HIER_DIRECT/203.0.113.9 text/html";

fn tls_send(server: &Server, frames: &[u8]) {
    let pem = std::fs::read(server.data.join("tls/cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(server.addr("syslog/tls")).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(frames).unwrap();
    tls.flush().unwrap();
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
}

fn octet(msg: &str) -> Vec<u8> {
    format!("{} {msg}", msg.len()).into_bytes()
}

#[test]
fn every_listener_decodes_and_events_are_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = base_config(
        &data,
        r#"
[[source]]
name = "rtx-clinic"
addresses = ["127.0.0.2"]
decoder = "yamaha-rtx"
"#,
    );
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.with_extension("toml"), &config).unwrap();
    let api = token(&data, &data.with_extension("toml"), &["--api", "tester"]);
    let server = Server::start(&data, &config);

    // UDP from the RTX's address (a configured source), and garbage.
    let udp = UdpSocket::bind("127.0.0.2:0").unwrap();
    udp.send_to(RTX_INSPECT.as_bytes(), server.addr("syslog/udp"))
        .unwrap();
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    junk.send_to(
        b"\x00\x01\x02\xff\xfe binary junk",
        server.addr("syslog/udp"),
    )
    .unwrap();

    // TCP with newline framing, then a second connection with octet counting.
    let mut tcp = TcpStream::connect(server.addr("syslog/tcp")).unwrap();
    writeln!(tcp, "<189>{FORTIGATE_VPN_FAIL}").unwrap();
    drop(tcp);
    let mut tcp = TcpStream::connect(server.addr("syslog/tcp")).unwrap();
    tcp.write_all(&octet(SQUID_5424)).unwrap();
    // CEF from an endpoint product, on the same connection.
    tcp.write_all(&octet(
        "<134>Nov 24 10:00:02 av01 CEF:0|Trend Micro|Apex One|14.0|4000|Virus detected|8|dvchost=ward-pc-03 act=Quarantine src=10.20.3.4 suser=tanaka fname=eicar.com",
    ))
    .unwrap();
    drop(tcp);
    // Sysmon as NXLog sends it (JSON over UDP).
    junk.send_to(
        br#"{"EventTime":"2026-11-24 10:00:03","Hostname":"ward-pc-03","SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\Windows\\System32\\vssadmin.exe","CommandLine":"vssadmin delete shadows /all /quiet"}"#,
        server.addr("syslog/udp"),
    )
    .unwrap();

    // TLS (RFC 5425), Japanese text included.
    let mut frames = octet(
        "<38>Nov 24 10:00:00 srv01 sshd[123]: Failed password for invalid user admin from 203.0.113.50 port 22 ssh2",
    );
    frames.extend(octet(
        "<14>Nov 24 10:00:01 srv01 emr: ログイン失敗 ユーザー 山田",
    ));
    tls_send(&server, &frames);

    let wait = Duration::from_secs(20);
    let all = server.search_until(&api, "", 8, wait);
    assert_eq!(all["total"], 8, "all eight messages are stored: {all:#}");

    let r = server.search_until(
        &api,
        "decoder:cef AND user.name:tanaka AND source.ip:10.20.0.0/16",
        1,
        wait,
    );
    assert_eq!(r["total"], 1, "{r:#}");
    assert_eq!(r["events"][0]["fields"]["event.action"], "Quarantine");

    let r = server.search_until(&api, "decoder:nxlog AND EventID:1 AND vssadmin", 1, wait);
    assert_eq!(r["total"], 1, "{r:#} {all:#}");
    assert_eq!(r["events"][0]["logsource"]["category"], "process_creation");

    let r = server.search_until(&api, "user.name:yamada AND source.ip:198.51.100.7", 1, wait);
    assert_eq!(r["total"], 1, "{r:#}");
    assert_eq!(r["events"][0]["decoder"], "fortigate");

    let r = server.search_until(
        &api,
        "source:rtx-clinic AND destination.ip:203.0.113.0/24",
        1,
        wait,
    );
    assert_eq!(r["total"], 1, "{r:#}");
    assert_eq!(r["events"][0]["decoder"], "yamaha-rtx");
    assert_eq!(r["events"][0]["fields"]["destination.port"], 80);

    let r = server.search_until(&api, "decoder:squid AND url.domain:example.jp", 1, wait);
    assert_eq!(r["total"], 1, "{r:#}");

    let r = server.search_until(&api, "失敗", 1, wait);
    assert_eq!(r["total"], 1, "{r:#}");
    assert!(r["events"][0]["raw"].as_str().unwrap().contains("山田"));

    let r = server.search_until(&api, "undecoded:true", 1, wait);
    assert_eq!(r["total"], 1, "garbage is kept, marked undecoded: {r:#}");

    let r = server.search_until(&api, "\"Failed password\" AND admin", 1, wait);
    assert_eq!(r["total"], 1, "{r:#}");
    assert!(r["histogram"].as_array().is_some_and(|h| !h.is_empty()));

    // CSV export over the API.
    let csv = server
        .client()
        .get(server.url("/api/v1/search"))
        .bearer_auth(&api)
        .query(&[("q", "yamada"), ("format", "csv")])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        csv.starts_with("seq,time,source,host,decoder,message"),
        "{csv}"
    );
    assert!(csv.contains("fortigate"), "{csv}");

    // No token, no search.
    let r = server
        .client()
        .get(server.url("/api/v1/search?q=yamada"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // Metrics in OpenMetrics format.
    let m = server
        .client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        m.lines().any(|l| l.starts_with("mamori_store_events 8")),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("mamori_events_received_total{")
                && l.contains("source=\"rtx-clinic\"")
                && l.contains("listener=\"syslog/udp\"")),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("mamori_events_undecoded_total{")),
        "{m}"
    );
    assert!(m.contains("mamori_index_lag_events"), "{m}");
    // The 8 events searchable, in at least one segment.
    assert!(m.lines().any(|l| l == "mamori_index_docs 8"), "{m}");
    assert!(
        m.lines()
            .filter_map(|l| l.strip_prefix("mamori_index_segments "))
            .any(|n| n.parse::<u64>().is_ok_and(|n| n >= 1)),
        "{m}"
    );
    assert!(m.trim_end().ends_with("# EOF"), "{m}");
    server.stop();
}

#[test]
fn http_ingest_answers_after_storing_and_checks_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = base_config(&data, "[[source]]\nname = \"agent\"\n");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = data.with_extension("toml");
    std::fs::write(&cfg, &config).unwrap();
    let ingest = token(&data, &cfg, &["--source", "agent"]);
    let api = token(&data, &cfg, &["--api", "reader"]);
    let server = Server::start(&data, &config);
    let client = server.client();
    let body = concat!(
        r#"{"@timestamp":"2026-11-24T01:00:00Z","winlog":{"channel":"Security","event_id":4625,"computer_name":"EMR-SV01","event_data":{"TargetUserName":"yamada","IpAddress":"10.20.0.15","LogonType":"10"}}}"#,
        "\n",
        r#"{"message":"backup finished","host":{"name":"nas01"}}"#,
        "\n\n"
    );
    let r = client
        .post(server.url("/api/v1/ingest"))
        .bearer_auth(&ingest)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().unwrap();
    assert_eq!(j["accepted"], 2, "{j}");

    for (tok, want) in [
        (None, 401),
        (Some("mamori_forged"), 401),
        (Some(api.as_str()), 403),
    ] {
        let mut req = client.post(server.url("/api/v1/ingest")).body("{}\n");
        if let Some(t) = tok {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().unwrap().status(), want);
    }
    // An ingest token cannot read.
    let r = client
        .get(server.url("/api/v1/search?q=x"))
        .bearer_auth(&ingest)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);

    let r = server.search_until(
        &api,
        "EventID:4625 AND TargetUserName:yamada",
        1,
        Duration::from_secs(20),
    );
    assert_eq!(r["total"], 1, "{r:#}");
    assert_eq!(r["events"][0]["source"], "agent");
    assert_eq!(r["events"][0]["host"], "EMR-SV01");
    let r = server.search_until(&api, "IpAddress:10.20.0.0/16", 1, Duration::from_secs(5));
    assert_eq!(r["total"], 1, "{r:#}");

    // A bad query is a clear 400.
    let r = client
        .get(server.url("/api/v1/search"))
        .bearer_auth(&api)
        .query(&[("q", "user.name:(yamada")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    server.stop();
}

#[test]
fn checkpoints_are_sent_off_the_machine_and_verify_against_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Something in the store first, so there is a block to checkpoint.
    let log = dir.path().join("a.log");
    std::fs::write(&log, "<13>Nov 24 10:00:00 host app: hello\n").unwrap();
    let o = mamori(&data, &["import", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let config = base_config(
        &data,
        &format!(
            "[checkpoint]\nsyslog_target = \"udp://{}\"\ninterval_minutes = 60\n",
            receiver.local_addr().unwrap()
        ),
    );
    let server = Server::start(&data, &config);
    let mut buf = vec![0u8; 8192];
    let (n, _) = receiver
        .recv_from(&mut buf)
        .expect("a checkpoint arrives at start");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.contains(" mamori - checkpoint - "), "{msg}");
    let json = &msg[msg.find('{').expect("JSON in the message")..];
    server.stop();

    let cp = dir.path().join("cp.json");
    std::fs::write(&cp, json).unwrap();
    let o = mamori(&data, &["verify", "--checkpoint", cp.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}
