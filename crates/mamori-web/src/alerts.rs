//! `/api/v1/alerts` and `/api/v1/suppressions`: read alerts, act on them,
//! silence a rule for known-good events. Every route needs an API token;
//! the token's name is recorded as who acted.

use crate::users::Role;
use crate::{ApiState, error};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use mamori_detect::alerts::{AlertError, AlertQuery, AlertStatus, NewSuppression};
use mamori_i18n::{t, tf};
use serde::Deserialize;

/// An alert as JSON, with the rule's Japanese title when it has one.
pub(crate) fn alert_json(st: &ApiState, a: &mamori_detect::alerts::Alert) -> serde_json::Value {
    let mut j = serde_json::to_value(a).unwrap_or_default();
    if let Some(ja) = st.rule(&a.rule_key).and_then(|r| r.title_ja.clone())
        && let Some(o) = j.as_object_mut()
    {
        o.insert("rule_title_ja".into(), ja.into());
    }
    j
}

fn failed(st: &ApiState, e: AlertError) -> Response {
    match e {
        AlertError::NotFound { .. } => error(StatusCode::NOT_FOUND, e.to_string()),
        AlertError::Invalid(m) => error(StatusCode::BAD_REQUEST, m),
        AlertError::Db { .. } => {
            tracing::error!(error = %e, "alert database");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                t(st.lang, "api.alerts_unavailable"),
            )
        }
    }
}

async fn blocking<T: Send + 'static>(
    st: &ApiState,
    f: impl FnOnce() -> Result<T, AlertError> + Send + 'static,
) -> Result<T, Response> {
    crate::run_blocking(f, |e| failed(st, e)).await
}

/// Query string of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize)]
pub struct AlertParams {
    /// `open`, `acknowledged`, `closed` (default: all).
    pub status: Option<String>,
    /// Lowest level shown.
    pub level: Option<String>,
    /// Only this rule (id or title key).
    pub rule: Option<String>,
    /// Most alerts (default 100, at most 10,000).
    pub limit: Option<usize>,
    /// Alerts to skip.
    pub offset: Option<usize>,
}

pub(crate) async fn list(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    Query(p): Query<AlertParams>,
) -> Response {
    if let Err(r) = crate::principal(&st, &method, &headers, Role::Viewer) {
        return r;
    }
    let status = match p.status.as_deref().filter(|s| *s != "all") {
        None => None,
        Some(s) => match AlertStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    tf(st.lang, "alerts.bad_status", &[("status", s)]),
                );
            }
        },
    };
    if let Some(l) = p.level.as_deref()
        && mamori_detect::level_rank(l) == 0
    {
        return error(
            StatusCode::BAD_REQUEST,
            tf(st.lang, "alerts.bad_level", &[("level", l)]),
        );
    }
    if p.limit.is_some_and(|l| l > 10_000) || p.offset.is_some_and(|o| o > 1_000_000_000) {
        return error(
            StatusCode::BAD_REQUEST,
            "limit is at most 10000 and offset at most 1000000000",
        );
    }
    let q = AlertQuery {
        status,
        min_level: p.level,
        rule_key: p.rule,
        limit: p.limit,
        offset: p.offset.unwrap_or(0),
    };
    let db = st.alerts.clone();
    let r = blocking(&st, move || Ok((db.list(&q)?, db.counts()?))).await;
    match r {
        Ok((alerts, counts)) => {
            let alerts: Vec<serde_json::Value> =
                alerts.iter().map(|a| alert_json(&st, a)).collect();
            let counts: Vec<_> = counts
                .into_iter()
                .map(|(s, l, n)| serde_json::json!({"status": s, "level": l, "count": n}))
                .collect();
            Json(serde_json::json!({ "alerts": alerts, "counts": counts })).into_response()
        }
        Err(r) => r,
    }
}

pub(crate) async fn show(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = crate::principal(&st, &method, &headers, Role::Viewer) {
        return r;
    }
    let (db, store) = (st.alerts.clone(), st.store.clone());
    let r = blocking(&st, move || {
        let alert = db.get(id)?;
        // The triggering events themselves, from the store (the first 100).
        let seqs: Vec<u64> = alert.event_seqs.iter().take(100).copied().collect();
        let events = store.get(&seqs).unwrap_or_default();
        Ok((alert, events))
    })
    .await;
    let (alert, events) = match r {
        Ok(v) => v,
        Err(r) => return r,
    };
    let rule = st.rule(&alert.rule_key).cloned();
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|(seq, ev)| crate::output::event_json(*seq, ev))
        .collect();
    Json(serde_json::json!({ "alert": alert, "rule": rule, "events": events })).into_response()
}

/// Body of the alert actions.
#[derive(Debug, Default, Deserialize)]
pub struct ActionBody {
    /// A comment for the history.
    #[serde(default)]
    pub comment: String,
    /// For `assign`: who.
    #[serde(default)]
    pub assignee: String,
}

pub(crate) async fn act(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    Path((id, action)): Path<(i64, String)>,
    body: axum::body::Bytes,
) -> Response {
    let actor = match crate::principal(&st, &method, &headers, Role::Analyst) {
        Ok(p) => p.name,
        Err(r) => return r,
    };
    let body: ActionBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActionBody::default()
    } else {
        match crate::parse_json(&body) {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    let peer = peer.map(|p| p.0.0.ip());
    let who = actor.clone();
    let db = st.alerts.clone();
    let r = match action.as_str() {
        "ack" | "acknowledge" => {
            blocking(&st, move || {
                db.set_status(id, AlertStatus::Acknowledged, &actor, &body.comment)
            })
            .await
        }
        "close" => {
            blocking(&st, move || {
                db.set_status(id, AlertStatus::Closed, &actor, &body.comment)
            })
            .await
        }
        "reopen" => {
            blocking(&st, move || {
                db.set_status(id, AlertStatus::Open, &actor, &body.comment)
            })
            .await
        }
        "assign" => {
            blocking(&st, move || {
                db.assign(id, &body.assignee, &actor, &body.comment)
            })
            .await
        }
        "comment" => blocking(&st, move || db.comment(id, &actor, &body.comment)).await,
        other => {
            return error(
                StatusCode::NOT_FOUND,
                tf(st.lang, "alerts.bad_action", &[("action", other)]),
            );
        }
    };
    let outcome = if r.is_ok() { "success" } else { "failure" };
    crate::console::audit(
        &st,
        &who,
        &format!("alert-{action}"),
        &id.to_string(),
        outcome,
        peer,
    )
    .await;
    if let Err(r) = r {
        return r;
    }
    let db = st.alerts.clone();
    match blocking(&st, move || db.get(id)).await {
        Ok(a) => Json(serde_json::json!({ "alert": a })).into_response(),
        Err(r) => r,
    }
}

pub(crate) async fn suppressions(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = crate::principal(&st, &method, &headers, Role::Viewer) {
        return r;
    }
    let db = st.alerts.clone();
    match blocking(&st, move || db.suppressions(true)).await {
        Ok(s) => Json(serde_json::json!({ "suppressions": s })).into_response(),
        Err(r) => r,
    }
}

/// Body of `POST /api/v1/suppressions`.
#[derive(Debug, Deserialize)]
pub struct SuppressionBody {
    /// Rule id or title; `*` for every rule.
    pub rule: String,
    /// Field = value conditions (`host`, `user`, `ip` or event fields).
    #[serde(default)]
    pub conditions: std::collections::BTreeMap<String, String>,
    /// Why (required).
    pub reason: String,
    /// Expiry, hours from now (none: never); at most [`MAX_EXPIRY_HOURS`].
    pub expires_in_hours: Option<u64>,
}

/// The longest expiry of a suppression, in hours (100 years).
pub const MAX_EXPIRY_HOURS: u64 = 876_000;

pub(crate) async fn add_suppression(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    body: axum::body::Bytes,
) -> Response {
    let actor = match crate::principal(&st, &method, &headers, Role::Analyst) {
        Ok(p) => p.name,
        Err(r) => return r,
    };
    let b: SuppressionBody = match crate::parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if b.expires_in_hours.is_some_and(|h| h > MAX_EXPIRY_HOURS) {
        return error(StatusCode::BAD_REQUEST, t(st.lang, "alerts.bad_expiry"));
    }
    let target = b.rule.clone();
    crate::console::audit(
        &st,
        &actor,
        "suppression-add",
        &target,
        "requested",
        peer.map(|p| p.0.0.ip()),
    )
    .await;
    let s = NewSuppression {
        rule: b.rule,
        conditions: b.conditions.into_iter().collect(),
        reason: b.reason,
        created_by: actor,
        expires_ns: b.expires_in_hours.map(|h| {
            mamori_event::now_ns().saturating_add((h as i64).saturating_mul(3_600_000_000_000))
        }),
    };
    let db = st.alerts.clone();
    match blocking(&st, move || db.add_suppression(&s)).await {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(r) => r,
    }
}

pub(crate) async fn remove_suppression(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    Path(id): Path<i64>,
) -> Response {
    let actor = match crate::principal(&st, &method, &headers, Role::Analyst) {
        Ok(p) => p.name,
        Err(r) => return r,
    };
    crate::console::audit(
        &st,
        &actor,
        "suppression-remove",
        &id.to_string(),
        "requested",
        peer.map(|p| p.0.0.ip()),
    )
    .await;
    let db = st.alerts.clone();
    match blocking(&st, move || db.remove_suppression(id)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}
