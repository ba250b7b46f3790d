//! mamori's HTTP API and web console: the door through which scripts,
//! agents and people reach the store and the alerts.
//!
//! Routes: `POST /api/v1/ingest` takes NDJSON (one event per line) with a
//! per-source bearer token and answers only once the whole batch is durable
//! (fsynced) in the store; `GET /api/v1/search` runs the query language over
//! the index and returns events from the store, with counts per time bucket
//! for a histogram, as JSON, NDJSON or CSV; `/api/v1/alerts` and
//! `/api/v1/suppressions` read and act on alerts; the console's own calls
//! (login, dashboard, sources, rules, users) are in [`console`], described
//! with the rest in the OpenAPI document at `/api/v1/openapi.json`;
//! `GET /metrics` gives OpenMetrics; `GET /healthz` says whether the process
//! is up. The console page itself is static and embedded, and draws
//! everything in the browser from the JSON API.
//!
//! Access: API tokens ([`tokens`], stored as hashes) or console sessions
//! ([`users`]: Argon2id passwords, TOTP two-factor, lockout, roles). One
//! layer authenticates every protected request, and checks the CSRF token
//! and origin of session requests that change something, before any body
//! is read; each handler then checks the role it needs. Console actions are
//! appended to the store as audit events. [`serve`] runs the router over
//! HTTPS (rustls) or plain HTTP.
//!
//! ```no_run
//! # async fn example(state: mamori_web::ApiState) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! mamori_web::serve(listener, None, mamori_web::router(state), shutdown).await?;
//! # Ok(()) }
//! ```
//!
//! The pieces without a server run anywhere:
//!
//! ```
//! use mamori_web::output::{write_events, OutputFormat};
//! let ev = mamori_event::Event::new(b"hello".to_vec());
//! let mut out = Vec::new();
//! write_events(&mut out, OutputFormat::Ndjson, &[(1, ev)], 80).unwrap();
//! assert!(String::from_utf8(out).unwrap().contains("\"seq\":1"));
//! ```

mod alerts;
pub mod console;
pub mod output;
pub mod tokens;
pub mod totp;
pub mod users;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query as QueryParams, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use mamori_event::now_ns;
use mamori_i18n::{Lang, t, tf};
use mamori_ingest::decode::{Received, SourceSettings, decode};
use mamori_search::{Index, TimeRange, parse_query, parse_time_bound};
use mamori_store::{Durability, Store};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokens::{TokenKind, TokenStore};
use tokio_util::sync::CancellationToken;

/// Renders the OpenMetrics text for `/metrics`.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The event store.
    pub store: Store,
    /// The search index.
    pub index: Index,
    /// Decoding settings of every configured source, by name.
    pub sources: Arc<HashMap<String, Arc<SourceSettings>>>,
    /// Ingest and API tokens.
    pub tokens: Arc<TokenStore>,
    /// `/metrics` output.
    pub metrics: MetricsRenderer,
    /// Whether `/metrics` answers without a token.
    pub metrics_public: bool,
    /// Language of error messages.
    pub lang: Lang,
    /// Largest ingest body accepted, bytes.
    pub max_body_bytes: usize,
    /// The alert database.
    pub alerts: mamori_detect::alerts::AlertStore,
    /// What is known about the loaded rules (for alert details).
    pub rules: Arc<Vec<mamori_detect::RuleInfo>>,
    /// Console users and sessions.
    pub users: users::UserStore,
    /// Whether session cookies are marked Secure (served over HTTPS).
    pub secure_cookies: bool,
    /// The listeners, as (what, address), for the sources page.
    pub listeners: Arc<Vec<(String, String)>>,
    /// The data directory (for the last verify result).
    pub data_dir: std::path::PathBuf,
}

impl ApiState {
    /// What is known about a loaded rule, by its key (id, or title).
    pub(crate) fn rule(&self, key: &str) -> Option<&mamori_detect::RuleInfo> {
        self.rules.iter().find(|r| r.key == key)
    }
}

/// The peer address of a connection, put in each request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Who is asking: a console session or an API token.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// User name, or `token:NAME`.
    pub name: String,
    /// What they may do (API tokens act as analysts).
    pub role: users::Role,
    /// The session's CSRF token (empty for API tokens).
    pub csrf: String,
}

/// The session cookie's value, if sent.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == console::SESSION_COOKIE && !v.is_empty()).then_some(v)
        })
}

/// Refuses a browser request from another site: when an `Origin` header
/// is sent it must name this host.
#[allow(clippy::result_large_err)]
pub(crate) fn same_origin(st: &ApiState, headers: &HeaderMap) -> Result<(), Response> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host);
    if ok {
        Ok(())
    } else {
        Err(error(StatusCode::FORBIDDEN, t(st.lang, "api.csrf")))
    }
}

/// Authenticates a request (API token or session cookie) and checks that
/// its role is at least `need`. Requests that change something with a
/// session must carry the session's CSRF token in `X-CSRF-Token` and come
/// from this site.
#[allow(clippy::result_large_err)]
pub(crate) fn principal(
    st: &ApiState,
    method: &axum::http::Method,
    headers: &HeaderMap,
    need: users::Role,
) -> Result<Principal, Response> {
    let forbidden = || error(StatusCode::FORBIDDEN, t(st.lang, "api.forbidden"));
    let p = if let Some(token) = bearer(headers) {
        match st.tokens.check(token) {
            Some(r) if r.kind == TokenKind::Api => Principal {
                name: format!("token:{}", r.name),
                role: users::Role::Analyst,
                csrf: String::new(),
            },
            Some(_) => return Err(forbidden()),
            None => return Err(unauthorized(st)),
        }
    } else if let Some(cookie) = session_cookie(headers) {
        let s = match st.users.session(cookie) {
            Ok(Some(s)) => s,
            Ok(None) => return Err(unauthorized(st)),
            Err(e) => {
                tracing::error!(error = %e, "session lookup");
                return Err(unauthorized(st));
            }
        };
        if !method.is_safe() {
            same_origin(st, headers)?;
            let sent = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if sent.len() != s.csrf.len()
                || sent
                    .bytes()
                    .zip(s.csrf.bytes())
                    .fold(0u8, |a, (x, y)| a | (x ^ y))
                    != 0
            {
                return Err(error(StatusCode::FORBIDDEN, t(st.lang, "api.csrf")));
            }
        }
        Principal {
            name: s.user,
            role: s.role,
            csrf: s.csrf,
        }
    } else {
        return Err(unauthorized(st));
    };
    if p.role < need {
        return Err(forbidden());
    }
    Ok(p)
}

fn unauthorized(st: &ApiState) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, t(st.lang, "api.unauthorized"));
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// The API router.
pub fn router(state: ApiState) -> Router {
    let limit = state.max_body_bytes;
    // Answer without credentials: health, metrics (it checks its own
    // setting), the page and its assets, the messages, the API description,
    // and the login steps.
    let open = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/", get(console::index))
        .route("/assets/app.js", get(console::app_js))
        .route("/assets/app.css", get(console::app_css))
        .route("/favicon.svg", get(console::favicon))
        .route("/api/v1/openapi.json", get(console::openapi))
        .route("/api/v1/messages", get(console::messages))
        .route("/api/v1/session", get(console::session))
        .route("/api/v1/login", post(console::login))
        .route("/api/v1/login/enroll", post(console::enroll))
        .route("/api/v1/setup", post(console::setup));
    // Everything else: authenticated (and CSRF-checked) before the request
    // body is even read; each handler then checks the role it needs.
    let protected = Router::new()
        .route(
            "/api/v1/ingest",
            post(ingest).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/api/v1/logout", post(console::logout))
        .route("/api/v1/account/password", post(console::change_password))
        .route(
            "/api/v1/users",
            get(console::list_users).post(console::add_user),
        )
        .route("/api/v1/users/{name}/{action}", post(console::user_action))
        .route("/api/v1/dashboard", get(console::dashboard))
        .route("/api/v1/sources", get(console::sources))
        .route("/api/v1/rules", get(console::rules))
        .route("/api/v1/rules/test", post(console::test_rule))
        .route("/api/v1/rules/{key}/{action}", post(console::rule_action))
        .route("/api/v1/search", get(search))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{id}", get(alerts::show))
        .route("/api/v1/alerts/{id}/{action}", post(alerts::act))
        .route(
            "/api/v1/suppressions",
            get(alerts::suppressions).post(alerts::add_suppression),
        )
        .route(
            "/api/v1/suppressions/{id}",
            delete(alerts::remove_suppression),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ));
    open.merge(protected)
        .layer(axum::middleware::map_response(errors_as_json))
        .with_state(state)
}

/// axum's own rejections (a malformed path, query or body) come as plain
/// text; the API answers every error as `{"error": "…"}`.
async fn errors_as_json(r: Response) -> Response {
    let status = r.status();
    let plain = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return r;
    }
    let body = axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    error(status, String::from_utf8_lossy(&body).into_owned())
}

/// Runs blocking work (SQLite, argon2) off the async threads; its error
/// becomes a response through `on_err`.
pub(crate) async fn run_blocking<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
    on_err: impl FnOnce(E) -> Response,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(on_err(e)),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// Parses a JSON request body (after the caller has checked who is asking).
#[allow(clippy::result_large_err)]
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the request body is not the JSON expected: {e}"),
        )
    })
}

/// Lets a request through only with a known token, or a live session
/// (plus, when it changes something, the session's CSRF token and this
/// site as its origin).
async fn authenticate(
    State(st): State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = req.headers();
    if let Some(token) = bearer(headers) {
        if st.tokens.check(token).is_none() {
            return unauthorized(&st);
        }
    } else if session_cookie(headers).is_some() {
        // The full check (session, CSRF, origin) at the lowest role.
        if let Err(r) = principal(&st, req.method(), headers, users::Role::Viewer) {
            return r;
        }
    } else {
        return unauthorized(&st);
    }
    next.run(req).await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, axum::Json(body)).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[allow(clippy::result_large_err)] // the error is the response itself, returned at once
fn authorize(st: &ApiState, headers: &HeaderMap) -> Result<TokenKind, Response> {
    let unauthorized = || {
        let mut r = error(StatusCode::UNAUTHORIZED, t(st.lang, "api.unauthorized"));
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    let token = bearer(headers).ok_or_else(unauthorized)?;
    st.tokens
        .check(token)
        .map(|r| r.kind)
        .ok_or_else(unauthorized)
}

async fn metrics(
    State(st): State<ApiState>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    if !st.metrics_public
        && let Err(r) = principal(&st, &method, &headers, users::Role::Viewer)
    {
        return r;
    }
    let body = (st.metrics)();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn ingest(State(st): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let source = match authorize(&st, &headers) {
        Ok(TokenKind::Ingest { source }) => source,
        Ok(TokenKind::Api) => return error(StatusCode::FORBIDDEN, t(st.lang, "api.forbidden")),
        Err(r) => return r,
    };
    let settings = match st.sources.get(&source) {
        Some(s) => s.clone(),
        None => {
            return error(
                StatusCode::FORBIDDEN,
                tf(st.lang, "token.unknown_source", &[("name", &source)]),
            );
        }
    };
    if st.store.stats().paused {
        let mut r = error(StatusCode::SERVICE_UNAVAILABLE, t(st.lang, "api.paused"));
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return r;
    }
    let rx = Received {
        received_ns: now_ns(),
        peer: None,
    };
    let events: Vec<_> = body
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|line| decode(line, &settings, &rx))
        .collect();
    let n = events.len();
    if n == 0 {
        return (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "accepted": 0 })),
        )
            .into_response();
    }
    match st.store.append(events, Durability::Sync).await {
        Ok(range) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "accepted": n,
                "first_seq": range.start,
                "last_seq": range.end - 1,
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, source = %source, "ingest batch not stored");
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

/// Query string of `GET /api/v1/search`.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    /// The query (empty: everything).
    #[serde(default)]
    pub q: String,
    /// Lower time bound (`2d`, RFC 3339, `2026-11-24` …).
    pub from: Option<String>,
    /// Upper time bound.
    pub to: Option<String>,
    /// Most events to return (default 100, at most 10,000).
    pub limit: Option<usize>,
    /// Events to skip.
    pub offset: Option<usize>,
    /// Number of histogram buckets (default 60, 0 for none).
    pub buckets: Option<usize>,
    /// `json` (default), `ndjson` or `csv`.
    pub format: Option<String>,
}

async fn search(
    State(st): State<ApiState>,
    method: axum::http::Method,
    headers: HeaderMap,
    QueryParams(p): QueryParams<SearchParams>,
) -> Response {
    if let Err(r) = principal(&st, &method, &headers, users::Role::Viewer) {
        return r;
    }
    let lang = st.lang;
    let bad = |e: String| {
        error(
            StatusCode::BAD_REQUEST,
            tf(lang, "search.bad_query", &[("error", &e)]),
        )
    };
    let format = match p.format.as_deref().unwrap_or("json") {
        "json" => None,
        f => match f.parse::<output::OutputFormat>() {
            Ok(f) => Some(f),
            Err(e) => return bad(e),
        },
    };
    let query = match parse_query(&p.q) {
        Ok(q) => q,
        Err(e) => return bad(e.to_string()),
    };
    let now = now_ns();
    let bound = |s: &Option<String>| -> Result<Option<i64>, String> {
        s.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_time_bound(s, now).map_err(|e| e.to_string()))
            .transpose()
    };
    let range = match (bound(&p.from), bound(&p.to)) {
        (Ok(from_ns), Ok(to_ns)) => TimeRange { from_ns, to_ns },
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let limit = p.limit.unwrap_or(100);
    let offset = p.offset.unwrap_or(0);
    let buckets = p.buckets.unwrap_or(60);
    if limit > 10_000 || offset > 100_000 || buckets > 1000 {
        return bad("limit is at most 10000, offset at most 100000, buckets at most 1000: narrow the query or the time range".into());
    }
    let started = std::time::Instant::now();
    let res = tokio::task::spawn_blocking(move || {
        let result = st
            .index
            .search(&query, range, limit, offset)
            .map_err(|e| e.to_string())?;
        let seqs: Vec<u64> = result.hits.iter().map(|h| h.seq).collect();
        let events = st.store.get(&seqs).map_err(|e| e.to_string())?;
        let histogram = if buckets > 0 && format.is_none() {
            st.index
                .histogram(&query, range, buckets)
                .map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        Ok::<_, String>((result.total, events, histogram))
    })
    .await;
    let (total, events, histogram) = match res {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if let Some(f) = format {
        let mut out = Vec::new();
        if let Err(e) = output::write_events(&mut out, f, &events, 200) {
            return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
        let ctype = match f {
            output::OutputFormat::Csv => "text/csv; charset=utf-8",
            output::OutputFormat::Ndjson => "application/x-ndjson",
            output::OutputFormat::Table => "text/plain; charset=utf-8",
        };
        return ([(header::CONTENT_TYPE, ctype)], out).into_response();
    }
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|(seq, ev)| output::event_json(*seq, ev))
        .collect();
    let histogram: Vec<serde_json::Value> = histogram
        .iter()
        .map(|b| {
            serde_json::json!({
                "start": mamori_event::format_rfc3339(b.start_ns),
                "count": b.count,
            })
        })
        .collect();
    axum::Json(serde_json::json!({
        "total": total,
        "took_ms": started.elapsed().as_millis() as u64,
        "events": events,
        "histogram": histogram,
    }))
    .into_response()
}

/// Serves `router` on `listener` over TLS when `tls` is given, else plain
/// HTTP, until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed on the API listener");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::Extension(Peer(peer)));
                req
            },
        ));
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let result = match acceptor {
                Some(a) => {
                    let tls = match tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        a.accept(tcp),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls), service);
                    tokio::select! {
                        r = conn => r,
                        _ = shutdown.cancelled() => Ok(()),
                    }
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(tcp), service);
                    tokio::select! {
                        r = conn => r,
                        _ = shutdown.cancelled() => Ok(()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
}
