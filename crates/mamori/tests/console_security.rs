//! Security of the console and API against the real server: every route
//! but health, metrics (configurable), the login steps and the static page
//! refuses an unauthenticated request; CSRF is enforced on session
//! requests; a viewer cannot change anything; five wrong passwords lock an
//! account; the session cookie is Secure, HttpOnly and SameSite=Strict.

mod common;

use common::*;
use reqwest::blocking::RequestBuilder;

/// (method, path) of every route that must refuse an unauthenticated request.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/api/v1/session"),
    ("POST", "/api/v1/logout"),
    ("POST", "/api/v1/account/password"),
    ("GET", "/api/v1/dashboard"),
    ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/alerts/1"),
    ("POST", "/api/v1/alerts/1/close"),
    ("GET", "/api/v1/suppressions"),
    ("POST", "/api/v1/suppressions"),
    ("DELETE", "/api/v1/suppressions/1"),
    ("GET", "/api/v1/search?q=x"),
    ("GET", "/api/v1/sources"),
    ("GET", "/api/v1/rules"),
    ("POST", "/api/v1/rules/test"),
    ("POST", "/api/v1/rules/x/disable"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/users/admin/remove"),
    ("POST", "/api/v1/ingest"),
];

fn req(server: &Server, method: &str, path: &str) -> RequestBuilder {
    let c = server.client();
    let url = server.url(path);
    let r = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "DELETE" => c.delete(url),
        m => panic!("{m}"),
    };
    if method == "POST" {
        r.header("content-type", "application/json").body("{}")
    } else {
        r
    }
}

#[test]
fn the_console_and_api_refuse_what_they_must() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = base_config(&data, "").replace("[listen]\n", "[listen]\nmetrics_public = false\n");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "admin", "admin", "correct horse battery");
    add_user(&data, "boss", "viewer", "director's own password");
    add_user(&data, "nurse", "analyst", "nightshift password 1");
    let server = Server::start(&data, &config);
    assert!(
        server.setup_url.is_none(),
        "no setup link once a user exists"
    );

    // Open: health, the page and its assets, the messages, the API description.
    for path in [
        "/healthz",
        "/",
        "/assets/app.js",
        "/api/v1/messages?lang=en",
        "/api/v1/openapi.json",
    ] {
        let r = req(&server, "GET", path).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let page = req(&server, "GET", "/").send().unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    // Everything else: 401 without credentials, 401 with a wrong token or cookie.
    for (method, path) in PROTECTED.iter().chain(&[("GET", "/metrics")]) {
        let r = req(&server, method, path).send().unwrap();
        assert_eq!(r.status(), 401, "{method} {path} without credentials");
        let r = req(&server, method, path)
            .bearer_auth("not-a-token")
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path} with a wrong token");
        let r = req(&server, method, path)
            .header("cookie", "mamori_session=forged")
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path} with a forged cookie");
    }

    // The session cookie's flags.
    let client = server.client();
    let r = client
        .post(server.url("/api/v1/login"))
        .json(&serde_json::json!({"username": "admin", "password": "correct horse battery"}))
        .send()
        .unwrap();
    let j: serde_json::Value = r.json().unwrap();
    let secret = j["enroll"]["secret"].as_str().unwrap().to_owned();
    let r = client
        .post(server.url("/api/v1/login/enroll"))
        .json(&serde_json::json!({"token": j["enroll"]["token"], "code": totp_code(&secret, 0)}))
        .send()
        .unwrap();
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }
    let admin_cookie = set_cookie.split(';').next().unwrap().to_owned();
    let admin_csrf = r.json::<serde_json::Value>().unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    // The password alone no longer logs in; a code is needed.
    let r = client
        .post(server.url("/api/v1/login"))
        .json(&serde_json::json!({"username": "admin", "password": "correct horse battery"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().unwrap()["totp_required"],
        true
    );

    // CSRF: a session request that changes something needs the token and
    // must come from this site.
    let add = |csrf: Option<&str>, origin: Option<&str>| {
        let mut r = client
            .post(server.url("/api/v1/users"))
            .header("cookie", &admin_cookie)
            .json(&serde_json::json!({"username": "clerk", "role": "viewer", "password": "ten chars or more"}));
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send().unwrap().status()
    };
    assert_eq!(add(None, None), 403, "no CSRF token");
    assert_eq!(add(Some("wrong"), None), 403, "wrong CSRF token");
    assert_eq!(
        add(Some(&admin_csrf), Some("https://evil.example")),
        403,
        "other origin"
    );
    let own = format!("https://localhost:{}", server.addr("https").port());
    assert_eq!(
        add(Some(&admin_csrf), Some(&own)),
        201,
        "token and own origin"
    );
    // Reading needs no CSRF token.
    let r = client
        .get(server.url("/api/v1/users"))
        .header("cookie", &admin_cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // A viewer reads but cannot change anything.
    let (viewer_cookie, viewer_csrf, _) = login(&server, "boss", "director's own password");
    let as_viewer = |method: &str, path: &str| {
        req(&server, method, path)
            .header("cookie", &viewer_cookie)
            .header("x-csrf-token", &viewer_csrf)
            .send()
            .unwrap()
            .status()
    };
    for path in [
        "/api/v1/dashboard",
        "/api/v1/alerts",
        "/api/v1/rules",
        "/api/v1/sources",
    ] {
        assert_eq!(as_viewer("GET", path), 200, "viewer reads {path}");
    }
    for (method, path) in [
        ("POST", "/api/v1/alerts/1/close"),
        ("POST", "/api/v1/suppressions"),
        ("DELETE", "/api/v1/suppressions/1"),
        ("POST", "/api/v1/rules/test"),
        ("POST", "/api/v1/rules/x/disable"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/users/admin/remove"),
    ] {
        assert_eq!(as_viewer(method, path), 403, "viewer: {method} {path}");
    }
    // An analyst acts on alerts but does not manage users.
    let (nurse_cookie, nurse_csrf, _) = login(&server, "nurse", "nightshift password 1");
    let r = client
        .post(server.url("/api/v1/users"))
        .header("cookie", &nurse_cookie)
        .header("x-csrf-token", &nurse_csrf)
        .json(&serde_json::json!({"username": "x", "role": "admin", "password": "0123456789"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);

    // Lockout: five wrong passwords, then even the right one is refused.
    for i in 0..5 {
        let r = client
            .post(server.url("/api/v1/login"))
            .json(&serde_json::json!({"username": "nurse", "password": "wrong password"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), if i < 4 { 401 } else { 429 }, "attempt {i}");
    }
    let r = client
        .post(server.url("/api/v1/login"))
        .json(&serde_json::json!({"username": "nurse", "password": "nightshift password 1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 429, "locked even with the right password");
    assert!(r.text().unwrap().contains("locked"));

    // Logging out ends the session.
    let r = client
        .post(server.url("/api/v1/logout"))
        .header("cookie", &admin_cookie)
        .header("x-csrf-token", &admin_csrf)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client
        .get(server.url("/api/v1/session"))
        .header("cookie", &admin_cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    server.stop();

    // Failed logins and the lockout are in the audit trail.
    let o = mamori(
        &data,
        &[
            "search",
            "source:mamori-audit AND event.outcome:locked",
            "--format",
            "ndjson",
        ],
    );
    assert!(stdout(&o).contains("nurse"), "{}", stdout(&o));
}
