//! Starts the real `mamori` binary on 127.0.0.1 with random ports and a
//! temporary data directory, and talks to it like a device or a script would.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mamori");

/// Runs `mamori ARGS` with English messages and the given data dir.
pub fn mamori(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env("MAMORI_LANG", "en")
        .env_remove("MAMORI_CONFIG")
        .output()
        .expect("run mamori")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub struct Server {
    pub child: Child,
    pub data: PathBuf,
    pub config: PathBuf,
    pub addrs: HashMap<String, SocketAddr>,
    /// The one-time setup link printed at first start (no users yet).
    pub setup_url: Option<String>,
}

/// The configuration every test starts from: all listeners on random ports.
pub fn base_config(data: &Path, extra: &str) -> String {
    format!(
        r#"data_dir = "{}"
[listen]
syslog_udp = "127.0.0.1:0"
syslog_tcp = "127.0.0.1:0"
syslog_tls = "127.0.0.1:0"
http = "127.0.0.1:0"
[store]
flush_interval_ms = 200
{extra}
"#,
        data.display()
    )
}

impl Server {
    /// Writes `config` next to `data` and starts `mamori serve`.
    pub fn start(data: &Path, config: &str) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let cfg_path = data.with_extension("toml");
        std::fs::write(&cfg_path, config).unwrap();
        // The server's own log, appended over restarts, for a failing test's
        // reader.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("log"))
            .expect("open the server log");
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&cfg_path)
            .env("MAMORI_LANG", "en")
            .env("MAMORI_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start mamori serve");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while addrs.len() < 4 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    if parts.len() == 3 && parts[0] == "listening" {
                        addrs.insert(parts[1].to_owned(), parts[2].parse().unwrap());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("mamori serve did not report its listeners in time: {addrs:?}");
                }
            }
        }
        // The setup link follows the HTTP listener's line when no user exists.
        let mut setup_url = None;
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500))
            && let Some(url) = line.strip_prefix("setup ")
        {
            setup_url = Some(url.to_owned());
        }
        Server {
            child,
            data: data.to_path_buf(),
            config: cfg_path,
            addrs,
            setup_url,
        }
    }

    pub fn addr(&self, what: &str) -> SocketAddr {
        self.addrs[what]
    }

    /// An HTTPS client that trusts the server's self-signed certificate.
    pub fn client(&self) -> reqwest::blocking::Client {
        let pem = std::fs::read(self.data.join("tls/cert.pem")).unwrap();
        reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr("https").port())
    }

    /// Searches over the API until `want` events match or `timeout` passes.
    pub fn search_until(
        &self,
        token: &str,
        query: &str,
        want: usize,
        timeout: Duration,
    ) -> serde_json::Value {
        let client = self.client();
        let deadline = Instant::now() + timeout;
        loop {
            let r: serde_json::Value = client
                .get(self.url("/api/v1/search"))
                .bearer_auth(token)
                .query(&[("q", query), ("limit", "1000")])
                .send()
                .unwrap()
                .json()
                .unwrap();
            let n = r["total"].as_u64().unwrap_or(0) as usize;
            if n >= want || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "mamori serve did not stop cleanly on SIGTERM ({status}); its log: {}",
                    self.data.with_extension("log").display()
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("mamori serve did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Makes a token with the CLI and returns it.
pub fn token(data: &Path, config: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "add"];
    all.extend_from_slice(args);
    let o = Command::new(BIN)
        .args(&all)
        .arg("--config")
        .arg(config)
        .env("MAMORI_LANG", "en")
        .output()
        .unwrap();
    assert!(o.status.success(), "token add failed: {}", stderr(&o));
    let _ = data;
    stdout(&o).trim().to_owned()
}

/// Adds a console user with the CLI (password on stdin).
pub fn add_user(data: &Path, name: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["user", "add", name, "--role", role, "--data"])
        .arg(data)
        .env("MAMORI_LANG", "en")
        .env_remove("MAMORI_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "user add failed: {}", stderr(&o));
}

/// The current TOTP code of a base32 secret, `steps_ahead` 30 s steps on
/// (the server accepts one step of clock drift, and each step only once).
pub fn totp_code(secret_b32: &str, steps_ahead: u64) -> String {
    let secret = mamori_web::totp::from_base32(secret_b32).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    mamori_web::totp::code(&secret, now + steps_ahead * mamori_web::totp::STEP)
}

/// A logged-in console session over the API: (cookie header value, CSRF token).
/// Enrols two-factor on the way; returns the TOTP secret too.
pub fn login(server: &Server, name: &str, password: &str) -> (String, String, String) {
    let client = server.client();
    let r: serde_json::Value = client
        .post(server.url("/api/v1/login"))
        .json(&serde_json::json!({"username": name, "password": password}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let secret = r["enroll"]["secret"]
        .as_str()
        .expect("enrolment")
        .to_owned();
    let token = r["enroll"]["token"].as_str().unwrap();
    let resp = client
        .post(server.url("/api/v1/login/enroll"))
        .json(&serde_json::json!({"token": token, "code": totp_code(&secret, 0)}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let j: serde_json::Value = resp.json().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    (cookie, j["csrf"].as_str().unwrap().to_owned(), secret)
}
