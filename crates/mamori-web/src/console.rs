//! The console: the page and its assets (embedded, no outside request),
//! login with two-factor, sessions, users, and the JSON the pages read
//! (dashboard, sources, rules, UI messages). Every page is drawn in the
//! browser from the JSON API; nothing here renders data into HTML.

use crate::users::{LoginStep, Role, UserError};
use crate::{ApiState, error, principal};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mamori_event::{Event, LogSource, format_rfc3339, now_ns};
use mamori_i18n::{Lang, t};
use mamori_search::{Query as SearchQuery, TimeRange};
use mamori_store::Durability;
use serde::Deserialize;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "mamori_session";

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const FAVICON: &str = include_str!("../assets/favicon.svg");
/// The OpenAPI document of the API.
pub const OPENAPI: &str = include_str!("../assets/openapi.json");

/// Headers every console response carries: no framing, no sniffing, no
/// script or style from anywhere but mamori itself.
pub(crate) fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, ctype)], body).into_response();
    security_headers(r.headers_mut());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub(crate) async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}
pub(crate) async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}
pub(crate) async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}
pub(crate) async fn favicon() -> Response {
    asset("image/svg+xml", FAVICON)
}
pub(crate) async fn openapi() -> Response {
    asset("application/json", OPENAPI)
}

/// The UI's messages (`ui.*` keys of the shared catalogue) in one language.
#[derive(Debug, Deserialize)]
pub struct LangParam {
    /// `ja` or `en`.
    pub lang: Option<String>,
}

pub(crate) async fn messages(State(st): State<ApiState>, Query(p): Query<LangParam>) -> Response {
    let lang = match p.lang.as_deref() {
        None => st.lang,
        Some("ja") => Lang::Ja,
        Some("en") => Lang::En,
        Some(_) => return error(StatusCode::BAD_REQUEST, "lang must be ja or en"),
    };
    let map: serde_json::Map<String, serde_json::Value> = mamori_i18n::keys()
        .into_iter()
        .filter(|k| k.starts_with("ui."))
        .filter_map(|k| Some((k.to_owned(), mamori_i18n::get(lang, k)?.into())))
        .collect();
    Json(serde_json::json!({ "lang": lang.code(), "messages": map })).into_response()
}

fn cookie_header(st: &ApiState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if st.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Appends one console action to the store as an event (source
/// `mamori-audit`): the audit trail is as tamper-evident as the logs.
pub(crate) async fn audit(
    st: &ApiState,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    peer: Option<std::net::IpAddr>,
) {
    let now = now_ns();
    let record = serde_json::json!({
        "actor": actor, "action": action, "target": target, "outcome": outcome,
        "peer": peer.map(|p| p.to_string()),
    });
    let mut ev = Event::new(record.to_string().into_bytes());
    ev.received_ns = now;
    ev.time_ns = now;
    ev.source = "mamori-audit".into();
    ev.host = "mamori".into();
    ev.decoder = "audit".into();
    ev.logsource = LogSource::new(Some("mamori"), Some("audit"), None);
    ev.fields.push("user.name", actor);
    ev.fields.push("event.action", action);
    ev.fields.push("audit.target", target);
    ev.fields.push("event.outcome", outcome);
    if let Some(p) = peer {
        ev.fields.push("source.ip", p.to_string());
    }
    if let Err(e) = st.store.append(vec![ev], Durability::Sync).await {
        tracing::error!(error = %e, action, actor, "audit record could not be stored");
    }
}

fn user_error(st: &ApiState, e: UserError) -> Response {
    match e {
        UserError::BadCredentials => error(StatusCode::UNAUTHORIZED, t(st.lang, "ui.login.bad")),
        UserError::Locked { until } => error(
            StatusCode::TOO_MANY_REQUESTS,
            mamori_i18n::tf(
                st.lang,
                "ui.login.locked",
                &[(
                    "until",
                    &format_rfc3339(until.saturating_mul(1_000_000_000)),
                )],
            ),
        ),
        UserError::TotpRequired => {
            let mut r = Json(serde_json::json!({
                "error": t(st.lang, "ui.login.totp_needed"), "totp_required": true
            }))
            .into_response();
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        UserError::Expired => error(StatusCode::GONE, t(st.lang, "ui.login.expired")),
        UserError::Invalid(m) => error(StatusCode::BAD_REQUEST, m),
        UserError::NotFound(m) => error(StatusCode::NOT_FOUND, format!("no user {m}")),
        UserError::Db(e) => {
            tracing::error!(error = %e, "user database");
            error(StatusCode::INTERNAL_SERVER_ERROR, "user database error")
        }
    }
}

async fn blocking<T: Send + 'static>(
    st: &ApiState,
    f: impl FnOnce() -> Result<T, UserError> + Send + 'static,
) -> Result<T, Response> {
    crate::run_blocking(f, |e| user_error(st, e)).await
}

/// The answer to a completed login: who, with the CSRF token, and the
/// session cookie.
fn logged_in(st: &ApiState, s: &crate::users::Session) -> Response {
    let mut resp =
        Json(serde_json::json!({ "user": s.user, "role": s.role, "csrf": s.csrf })).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie_header(st, &s.token, crate::users::MAX_SESSION_SECS),
    );
    resp
}

/// Body of `POST /api/v1/login`.
#[derive(Debug, Deserialize)]
pub struct LoginBody {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// TOTP code (when two-factor is set up).
    #[serde(default)]
    pub code: Option<String>,
}

pub(crate) async fn login(
    State(st): State<ApiState>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    Json(b): Json<LoginBody>,
) -> Response {
    if let Err(r) = crate::same_origin(&st, &headers) {
        return r;
    }
    let peer = peer.map(|p| p.0.0.ip());
    let users = st.users.clone();
    let (name, pw, code) = (b.username.clone(), b.password, b.code);
    let r =
        match tokio::task::spawn_blocking(move || users.login(&name, &pw, code.as_deref())).await {
            Ok(Ok(step)) => Ok(step),
            // The normal second step, not a failure.
            Ok(Err(UserError::TotpRequired)) => return user_error(&st, UserError::TotpRequired),
            Ok(Err(e)) => Err(user_error(&st, e)),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    match r {
        Ok(LoginStep::Session(s)) => {
            audit(&st, &s.user, "login", &s.user, "success", peer).await;
            logged_in(&st, &s)
        }
        Ok(LoginStep::Enroll { token, secret, uri }) => {
            audit(
                &st,
                &b.username,
                "login",
                &b.username,
                "totp-enrolment",
                peer,
            )
            .await;
            let qr = crate::totp::qr_data_uri(&uri);
            Json(serde_json::json!({ "enroll": { "token": token, "secret": secret, "uri": uri, "qr": qr } }))
                .into_response()
        }
        Err(r) => {
            let outcome = match r.status() {
                StatusCode::TOO_MANY_REQUESTS => "locked",
                StatusCode::UNAUTHORIZED => "failure",
                _ => "error",
            };
            audit(&st, &b.username, "login", &b.username, outcome, peer).await;
            // Slow down guessing.
            if outcome != "error" {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            r
        }
    }
}

/// Body of `POST /api/v1/login/enroll`.
#[derive(Debug, Deserialize)]
pub struct EnrollBody {
    /// The token from the password step.
    pub token: String,
    /// A code from the new secret.
    pub code: String,
}

pub(crate) async fn enroll(
    State(st): State<ApiState>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    Json(b): Json<EnrollBody>,
) -> Response {
    if let Err(r) = crate::same_origin(&st, &headers) {
        return r;
    }
    let peer = peer.map(|p| p.0.0.ip());
    let users = st.users.clone();
    match blocking(&st, move || users.enroll(&b.token, &b.code)).await {
        Ok(s) => {
            audit(&st, &s.user, "totp-enrolled", &s.user, "success", peer).await;
            logged_in(&st, &s)
        }
        Err(r) => r,
    }
}

pub(crate) async fn logout(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    let p = match principal(&st, &method, &headers, Role::Viewer) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(token) = crate::session_cookie(&headers) {
        let users = st.users.clone();
        let token = token.to_owned();
        let _ = blocking(&st, move || users.logout(&token)).await;
    }
    audit(
        &st,
        &p.name,
        "logout",
        &p.name,
        "success",
        peer.map(|p| p.0.0.ip()),
    )
    .await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie_header(&st, "", 0));
    r
}

pub(crate) async fn session(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let needs_setup = st.users.count().map(|n| n == 0).unwrap_or(false);
    match principal(&st, &method, &headers, Role::Viewer) {
        Ok(p) => Json(serde_json::json!({
            "user": p.name, "role": p.role, "csrf": p.csrf, "setup_needed": false
        }))
        .into_response(),
        Err(mut r) => {
            if needs_setup {
                r = Json(serde_json::json!({ "error": t(st.lang, "api.unauthorized"), "setup_needed": true }))
                    .into_response();
                *r.status_mut() = StatusCode::UNAUTHORIZED;
            }
            r
        }
    }
}

/// Body of `POST /api/v1/setup`.
#[derive(Debug, Deserialize)]
pub struct SetupBody {
    /// The one-time token printed at first start.
    pub token: String,
    /// The first administrator's name.
    pub username: String,
    /// Their password.
    pub password: String,
}

pub(crate) async fn setup(
    State(st): State<ApiState>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    Json(b): Json<SetupBody>,
) -> Response {
    if let Err(r) = crate::same_origin(&st, &headers) {
        return r;
    }
    let users = st.users.clone();
    let name = b.username.clone();
    match blocking(&st, move || users.setup(&b.token, &b.username, &b.password)).await {
        Ok(()) => {
            audit(
                &st,
                &name,
                "setup",
                &name,
                "success",
                peer.map(|p| p.0.0.ip()),
            )
            .await;
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "user": name })),
            )
                .into_response()
        }
        Err(r) => r,
    }
}

pub(crate) async fn list_users(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = principal(&st, &method, &headers, Role::Admin) {
        return r;
    }
    let users = st.users.clone();
    match blocking(&st, move || users.list()).await {
        Ok(u) => Json(serde_json::json!({ "users": u })).into_response(),
        Err(r) => r,
    }
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize)]
pub struct NewUserBody {
    /// Login name.
    pub username: String,
    /// `admin`, `analyst` or `viewer`.
    pub role: String,
    /// First password (they set up two-factor at first login).
    pub password: String,
}

pub(crate) async fn add_user(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    body: axum::body::Bytes,
) -> Response {
    let p = match principal(&st, &method, &headers, Role::Admin) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let b: NewUserBody = match crate::parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(role) = Role::parse(&b.role) else {
        return error(StatusCode::BAD_REQUEST, t(st.lang, "ui.users.bad_role"));
    };
    let users = st.users.clone();
    let name = b.username.clone();
    let r = blocking(&st, move || users.add(&b.username, role, &b.password)).await;
    let outcome = if r.is_ok() { "success" } else { "failure" };
    audit(
        &st,
        &p.name,
        "user-add",
        &name,
        outcome,
        peer.map(|p| p.0.0.ip()),
    )
    .await;
    match r {
        Ok(()) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "user": name })),
        )
            .into_response(),
        Err(r) => r,
    }
}

pub(crate) async fn user_action(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    Path((name, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let p = match principal(&st, &method, &headers, Role::Admin) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let users = st.users.clone();
    let target = name.clone();
    let r = match action.as_str() {
        "remove" => blocking(&st, move || users.remove(&name)).await,
        "reset-totp" => blocking(&st, move || users.reset_totp(&name)).await,
        "password" => {
            let pw: String = body
                .as_ref()
                .and_then(|b| b.get("password"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            blocking(&st, move || users.set_password(&name, &pw)).await
        }
        _ => return error(StatusCode::NOT_FOUND, "unknown action"),
    };
    let outcome = if r.is_ok() { "success" } else { "failure" };
    audit(
        &st,
        &p.name,
        &format!("user-{action}"),
        &target,
        outcome,
        peer.map(|p| p.0.0.ip()),
    )
    .await;
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

/// Body of `POST /api/v1/account/password`.
#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    /// The current password.
    pub current: String,
    /// The new one.
    pub new: String,
}

pub(crate) async fn change_password(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    body: axum::body::Bytes,
) -> Response {
    let p = match principal(&st, &method, &headers, Role::Viewer) {
        Ok(p) if p.csrf.is_empty() => {
            // An API token is not a person with a password.
            return error(StatusCode::FORBIDDEN, t(st.lang, "api.forbidden"));
        }
        Ok(p) => p,
        Err(r) => return r,
    };
    let b: PasswordBody = match crate::parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let users = st.users.clone();
    let name = p.name.clone();
    let r = blocking(&st, move || {
        users.change_own_password(&name, &b.current, &b.new)
    })
    .await;
    let outcome = if r.is_ok() { "success" } else { "failure" };
    audit(
        &st,
        &p.name,
        "password-change",
        &p.name,
        outcome,
        peer.map(|p| p.0.0.ip()),
    )
    .await;
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

/// When a source counts as silent on the dashboard: no event for this long.
const SILENT_NS: i64 = 3_600_000_000_000;

/// Every configured or seen source with the time of its newest event,
/// whether it has gone silent, and the events stored since start.
fn source_health(st: &ApiState, now: i64) -> Vec<serde_json::Value> {
    let stats = st.store.stats();
    let mut names: Vec<String> = st.sources.keys().cloned().collect();
    for (s, _) in &stats.events_per_source {
        if !names.contains(s) {
            names.push(s.clone());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            // Received since start (the receive time); else the newest
            // event in the index (the device's time).
            let last = stats
                .last_received_per_source
                .iter()
                .find(|(s, _)| *s == name)
                .map(|(_, t)| *t)
                .or_else(|| {
                    mamori_search::parse_query(&format!("source:\"{}\"", name.replace('"', "")))
                        .ok()
                        .and_then(|q| st.index.search(&q, TimeRange::default(), 1, 0).ok())
                        .and_then(|r| r.hits.first().map(|h| h.time_ns))
                });
            let stored = stats
                .events_per_source
                .iter()
                .find(|(s, _)| *s == name)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            serde_json::json!({
                "name": name,
                "configured": st.sources.contains_key(&name),
                "last_seen": last.map(format_rfc3339),
                "silent": last.is_none_or(|t| now - t > SILENT_NS),
                "events_since_start": stored,
            })
        })
        .collect()
}

pub(crate) async fn dashboard(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = principal(&st, &method, &headers, Role::Viewer) {
        return r;
    }
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, String> {
        let st = st2;
        let now = now_ns();
        let counts = st.alerts.counts().map_err(|e| e.to_string())?;
        let newest = st
            .alerts
            .list(&mamori_detect::alerts::AlertQuery {
                status: Some(mamori_detect::alerts::AlertStatus::Open),
                min_level: Some("high".into()),
                limit: Some(5),
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        let day = TimeRange {
            from_ns: Some(now - 24 * 3_600_000_000_000),
            to_ns: Some(now),
        };
        let hours = st
            .index
            .histogram(&SearchQuery::All, day, 24)
            .map_err(|e| e.to_string())?;
        let stats = st.store.stats();
        let sources = source_health(&st, now);
        let verify = std::fs::read_to_string(st.data_dir.join("last-verify.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
        Ok(serde_json::json!({
            "alerts": {
                "counts": counts.into_iter().map(|(s, l, n)| serde_json::json!({"status": s, "level": l, "count": n})).collect::<Vec<_>>(),
                "newest": newest.iter().map(|a| crate::alerts::alert_json(&st, a)).collect::<Vec<_>>(),
            },
            "sources": sources,
            "store": {
                "events": stats.next_seq, "bytes": stats.bytes, "segments": stats.segments,
                "paused": stats.paused, "last_verify": verify,
            },
            "index": { "docs": st.index.stats().docs, "lag": stats.next_seq.saturating_sub(st.index.indexed_upto()) },
            "events_per_hour": hours.iter().map(|b| serde_json::json!({"start": format_rfc3339(b.start_ns), "count": b.count})).collect::<Vec<_>>(),
        }))
    })
    .await;
    match r {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub(crate) async fn sources(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = principal(&st, &method, &headers, Role::Viewer) {
        return r;
    }
    let mut configured: Vec<serde_json::Value> = st
        .sources
        .values()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "decoder": format!("{:?}", s.decoder).to_lowercase(),
                "encoding": format!("{:?}", s.encoding).to_lowercase(),
                "timezone": s.timezone.iana_name().unwrap_or("UTC"),
            })
        })
        .collect();
    configured.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let tokens: Vec<serde_json::Value> = st
        .tokens
        .list()
        .into_iter()
        .map(|r| serde_json::json!({ "name": r.name, "kind": r.kind, "created": r.created }))
        .collect();
    let st2 = st.clone();
    let health = match tokio::task::spawn_blocking(move || source_health(&st2, now_ns())).await {
        Ok(h) => h,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    Json(serde_json::json!({
        "listeners": st.listeners.iter().map(|(w, a)| serde_json::json!({"listener": w, "address": a})).collect::<Vec<_>>(),
        "sources": configured,
        "tokens": tokens,
        "health": health,
    }))
    .into_response()
}

pub(crate) async fn rules(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = principal(&st, &method, &headers, Role::Viewer) {
        return r;
    }
    let disabled = st.alerts.disabled_rules().unwrap_or_default();
    let rules: Vec<serde_json::Value> = st
        .rules
        .iter()
        .map(|r| {
            let mut j = serde_json::to_value(r).unwrap_or_default();
            if let Some(o) = j.as_object_mut() {
                o.insert("enabled".into(), (!disabled.contains(&r.key)).into());
            }
            j
        })
        .collect();
    Json(serde_json::json!({ "rules": rules })).into_response()
}

pub(crate) async fn rule_action(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    Path((key, action)): Path<(String, String)>,
) -> Response {
    let p = match principal(&st, &method, &headers, Role::Admin) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return error(StatusCode::NOT_FOUND, "unknown action"),
    };
    if st.rule(&key).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no rule {key}"));
    }
    if let Err(e) = st.alerts.set_rule_enabled(&key, enabled) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    audit(
        &st,
        &p.name,
        &format!("rule-{action}"),
        &key,
        "success",
        peer.map(|p| p.0.0.ip()),
    )
    .await;
    StatusCode::NO_CONTENT.into_response()
}

/// Body of `POST /api/v1/rules/test`.
#[derive(Debug, Deserialize)]
pub struct RuleTestBody {
    /// One Sigma rule (YAML).
    pub rule: String,
    /// Events, one JSON object per line (Windows JSON as exported by
    /// winlogbeat/NXLog/evtx_dump, or mamori's own fields), or syslog lines.
    pub events: String,
}

pub(crate) async fn test_rule(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = principal(&st, &method, &headers, Role::Analyst) {
        return r;
    }
    let b: RuleTestBody = match crate::parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if b.rule.len() > 256 * 1024 || b.events.len() > 4 * 1024 * 1024 {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the rule or the events are too large",
        );
    }
    let r = tokio::task::spawn_blocking(move || {
        let (set, report) = mamori_detect::RuleSet::from_sources(&[("pasted.yml".into(), b.rule)]);
        let settings = mamori_ingest::decode::SourceSettings {
            name: "rule-test".into(),
            ..Default::default()
        };
        let rx = mamori_ingest::decode::Received {
            received_ns: now_ns(),
            peer: None,
        };
        let mut results = Vec::new();
        for (i, line) in b.events.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let ev = mamori_ingest::decode::decode(line.as_bytes(), &settings, &rx);
            let hits: Vec<String> = set.evaluate(&ev).into_iter().map(|h| h.title).collect();
            results.push(serde_json::json!({
                "line": i + 1, "matched": !hits.is_empty(), "rules": hits,
                "decoder": ev.decoder, "logsource": ev.to_json().get("logsource").cloned(),
            }));
        }
        serde_json::json!({
            "loaded": report.rules_loaded + report.correlations,
            "errors": report.failed.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
            "results": results,
        })
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
