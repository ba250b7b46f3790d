//! The console in a real browser (Debian's headless Chromium driven over
//! WebDriver by chromedriver): first administrator set-up from the printed
//! link, login with two-factor enrolment, an alert raised by an event sent
//! to a real listener appears on the dashboard and is closed, a search with
//! CSV export, and the language switch. Screenshots are saved under
//! `target/test-artifacts/console/`.
//!
//! Skipped (with a message) when chromium or chromedriver is not installed;
//! `.ci/run` installs both.

mod common;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const SHADOW: &str = r#"{"EventTime":"2026-11-24 10:00:03","Hostname":"ward-pc-03","SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\Windows\\System32\\vssadmin.exe","CommandLine":"vssadmin delete shadows /all /quiet","User":"HOSP\\tanaka"}"#;

struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// The element `css`, once it appears (a screenshot and a panic if not).
async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(el) => el,
        Err(e) => {
            shot(c, "failure").await;
            let page = c.source().await.unwrap_or_default();
            panic!("{css} did not appear: {e}\n{page}");
        }
    }
}

async fn text(c: &Client, css: &str) -> String {
    element(c, css).await.text().await.unwrap()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let el = element(c, css).await;
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    element(c, css).await.click().await.unwrap();
}

/// Waits until `css`'s text satisfies `ok`, reloading the page between
/// looks when `reload`, or panics with what it last saw.
async fn until_text(c: &Client, css: &str, reload: bool, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while Instant::now() < deadline {
        // Give the page a moment to draw from the API after each load.
        for _ in 0..10 {
            if let Ok(el) = c.find(Locator::Css(css)).await {
                seen = el.text().await.unwrap_or_default();
                if ok(&seen) {
                    return seen;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if reload {
            c.refresh().await.unwrap();
        }
    }
    shot(c, "failure").await;
    panic!("{css}: gave up waiting, last text {seen:?}");
}

#[test]
fn console_set_up_login_alert_search_language() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "skipped: chromium or chromedriver not found (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = base_config(&data, "");
    let server = Server::start(&data, &config);
    let setup_url = server
        .setup_url
        .clone()
        .expect("a setup link at first start");
    let base = server.url("");

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert("acceptInsecureCerts".into(), true.into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,768", "--ignore-certificate-errors"],
            }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let c = loop {
            let conn = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(conn).capabilities(caps.clone()).connect(&webdriver).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver did not start: {e}"),
            }
        };

        // 1. The first administrator, from the link mamori serve printed.
        c.goto(&setup_url).await.unwrap();
        assert_eq!(text(&c, "h1").await, "最初の管理者の作成", "Japanese by default");
        fill(&c, "form input[autocomplete=username]", "admin").await;
        let pw = c.find_all(Locator::Css("input[type=password]")).await.unwrap();
        pw[0].send_keys("correct horse battery").await.unwrap();
        pw[1].send_keys("correct horse battery").await.unwrap();
        shot(&c, "01-setup").await;
        click(&c, "#setup-submit").await;

        // 2. Login: the password, then two-factor enrolment with a code.
        until_text(&c, "h1", false, |t| t == "ログイン").await;
        fill(&c, "input[name=username]", "admin").await;
        fill(&c, "input[name=password]", "correct horse battery").await;
        click(&c, "#login-submit").await;
        let secret = text(&c, "#totp-secret").await;
        // The key is also a QR code for the phone's camera.
        let qr = element(&c, "#totp-qr").await.attr("src").await.unwrap().unwrap();
        assert!(qr.starts_with("data:image/svg+xml;base64,"));
        shot(&c, "02-totp-enrolment").await;
        fill(&c, "input[name=code]", &totp_code(&secret, 0)).await;
        click(&c, "#login-submit").await;
        until_text(&c, "#status", false, |t| !t.is_empty()).await;
        shot(&c, "03-dashboard-empty").await;

        // 3. An attack step arrives over syslog/UDP: an alert appears.
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.send_to(SHADOW.as_bytes(), server.addr("syslog/udp")).unwrap();
        until_text(&c, "#open-alerts .big", true, |t| t == "1").await;
        let status = text(&c, "#status").await;
        assert!(status.contains("確認が必要"), "{status}");
        shot(&c, "04-dashboard-alert").await;

        // 4. Open it from the dashboard, read what to do, close it with a comment.
        click(&c, "table a[href^='#/alerts/']").await;
        let response = text(&c, "#alert-response").await;
        assert!(!response.is_empty());
        fill(&c, "#alert-comment", "業者の保守作業と電話で確認").await;
        shot(&c, "05-alert-detail").await;
        click(&c, "#alert-close").await;
        until_text(&c, "#alert-status", false, |t| t == "完了").await;
        shot(&c, "06-alert-closed").await;

        // 5. Search, with the histogram, and the CSV export as the browser gets it.
        c.goto(&format!("{base}/#/search?q=vssadmin&from=&to=")).await.unwrap();
        let total = until_text(&c, "#search-total", true, |t| t.starts_with('1')).await;
        assert!(total.contains('件'), "{total}");
        let href = c
            .find(Locator::Css("#search-csv"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let csv = c
            .execute(
                "return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text())",
                vec![href.into()],
            )
            .await
            .unwrap();
        let csv = csv.as_str().unwrap_or_default().to_owned();
        assert!(csv.lines().count() >= 2, "{csv}");
        assert!(csv.contains("vssadmin"), "{csv}");
        shot(&c, "07-search").await;

        // The source the event came from is healthy on the sources page.
        c.goto(&format!("{base}/#/sources")).await.unwrap();
        let row = until_text(&c, "table.sources tbody tr:first-child", false, |t| t.contains("default")).await;
        assert!(row.contains("受信中"), "the source that just sent is not silent: {row}");
        shot(&c, "07b-sources").await;

        // 6. English by the switch; the choice stays.
        click(&c, "#lang-switch").await;
        until_text(&c, "#nav-dashboard", false, |t| t == "Dashboard").await;
        c.goto(&format!("{base}/#/alerts?status=closed&level=")).await.unwrap();
        until_text(&c, "table.alerts tbody", false, |t| t.contains("closed")).await;
        shot(&c, "08-english-alerts").await;

        // 7. Settings: change one's own password.
        c.goto(&format!("{base}/#/settings")).await.unwrap();
        fill(&c, "#settings-current", "correct horse battery").await;
        fill(&c, "#settings-new", "a longer new password").await;
        click(&c, "#settings-save").await;
        until_text(&c, "#flash", false, |t| t == "Saved.").await;
        shot(&c, "09-settings").await;

        // 8. Log out: the pages need a login again.
        click(&c, "#logout").await;
        until_text(&c, "h1", false, |t| t == "Log in").await;
        c.close().await.unwrap();
    });

    // The audit trail is in the store, searchable like any log.
    server.stop();
    let o = mamori(
        &data,
        &["search", "source:mamori-audit", "--format", "ndjson"],
    );
    let audit = stdout(&o);
    for action in ["setup", "login", "alert-close", "logout"] {
        assert!(
            audit.contains(&format!("\"event.action\":\"{action}\"")),
            "audit trail lacks {action}: {audit}"
        );
    }
}
