//! Squid's native access.log format.

use super::set_ip;
use mamori_event::{Event, LogSource};

/// Decodes a native access.log line; false if it is not one.
pub fn decode(msg: &str, ev: &mut Event) -> bool {
    let t: Vec<&str> = msg.split_whitespace().collect();
    if t.len() < 10 {
        return false;
    }
    let Ok(epoch) = t[0].parse::<f64>() else {
        return false;
    };
    let Some((code, status)) = t[3].split_once('/') else {
        return false;
    };
    let (Ok(elapsed), Ok(status), Ok(bytes)) = (
        t[1].parse::<i64>(),
        status.parse::<i64>(),
        t[4].parse::<i64>(),
    ) else {
        return false;
    };
    if !code.chars().all(|c| c.is_ascii_uppercase() || c == '_') || !(1e8..1e11).contains(&epoch) {
        return false;
    }
    ev.time_ns = (epoch * 1e9) as i64;
    let f = &mut ev.fields;
    f.push("event.duration", elapsed);
    set_ip(f, "source.ip", t[2]);
    f.push("squid.result_code", code);
    f.push("http.response.status_code", status);
    f.push("http.response.bytes", bytes);
    f.push("http.request.method", t[5]);
    f.push("url.original", t[6]);
    let host = t[6]
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(t[6])
        .split(['/', ':', '?'])
        .next()
        .unwrap_or("");
    if !host.is_empty() {
        f.push("url.domain", host);
    }
    if t[7] != "-" {
        f.push("user.name", t[7]);
    }
    if let Some((hier, peer)) = t[8].split_once('/') {
        f.push("squid.hierarchy_code", hier);
        if peer != "-" {
            f.push("destination.address", peer);
        }
    }
    if t[9] != "-" {
        f.push("http.response.mime_type", t[9]);
    }
    f.push(
        "event.outcome",
        if status < 400 && status > 0 {
            "success"
        } else {
            "failure"
        },
    );
    ev.logsource = LogSource::new(Some("squid"), None, Some("proxy"));
    ev.decoder = "squid".into();
    true
}
