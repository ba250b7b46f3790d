//! FortiGate key=value logs (traffic, UTM, event/VPN).

use super::{kv, set_ip, transport};
use mamori_event::{Event, LogSource};

/// Whether a message looks like a FortiGate log.
pub fn looks_like(msg: &str) -> bool {
    (msg.contains("logid=") && (msg.contains("type=") || msg.contains("devname=")))
        || (msg.starts_with("date=") && msg.contains(" devname="))
        || (msg.starts_with("type=") && msg.contains(" subtype="))
}

/// Decodes into `ev`; false if the message is not FortiGate key=value.
pub fn decode(msg: &str, ev: &mut Event, tz: &jiff::tz::TimeZone) -> bool {
    let pairs = kv::parse(msg);
    if pairs.len() < 3
        || !pairs
            .iter()
            .any(|(k, _)| ["logid", "devname", "subtype"].contains(k))
    {
        return false;
    }
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(kk, _)| *kk == k)
            .map(|(_, v)| v.as_str())
    };
    let f = &mut ev.fields;
    for (k, v) in &pairs {
        f.push(format!("fortinet.{k}"), v.as_str());
    }
    let ty = get("type").unwrap_or("");
    let subtype = get("subtype").unwrap_or("");
    let is_vpn = subtype == "vpn" || get("tunneltype").is_some();
    // Addresses: VPN events carry the client in remip.
    let src = if is_vpn {
        get("remip").or(get("srcip"))
    } else {
        get("srcip")
    };
    if let Some(ip) = src {
        set_ip(f, "source.ip", ip);
    }
    if let Some(p) = get("srcport").and_then(|p| p.parse::<i64>().ok()) {
        f.push("source.port", p);
    }
    if let Some(ip) = get("dstip") {
        set_ip(f, "destination.ip", ip);
    }
    if let Some(p) = get("dstport").and_then(|p| p.parse::<i64>().ok()) {
        f.push("destination.port", p);
    }
    if let Some(t) = get("proto")
        .and_then(|p| p.parse::<u8>().ok())
        .and_then(transport)
    {
        f.push("network.transport", t);
    }
    if let Some(u) = get("user").filter(|u| !u.is_empty() && *u != "N/A") {
        f.push("user.name", u);
    }
    let action = get("action").unwrap_or("");
    if !action.is_empty() {
        f.push("event.action", action);
    }
    if let Some(d) = get("devname") {
        f.push("observer.name", d);
        ev.host = d.into();
    }
    if let Some(p) = get("policyid") {
        f.push("rule.id", p);
    }
    let logid = get("logid").unwrap_or("");
    if !logid.is_empty() {
        f.push("event.code", logid);
    }
    if let Some(m) = get("msg").or(get("logdesc")) {
        f.push("message", m);
    }
    let status = get("status").unwrap_or("");
    let outcome = match (logid, action, status) {
        ("0100032001", _, _) | ("0101039947", _, _) => Some("success"),
        ("0100032002", _, _) | ("0100032021", _, _) | ("0101039426", _, _) => Some("failure"),
        (_, a, _)
            if [
                "deny",
                "block",
                "blocked",
                "dropped",
                "ssl-login-fail",
                "login-failed",
            ]
            .contains(&a) =>
        {
            Some("failure")
        }
        (_, _, s) if ["failed", "failure", "deny"].contains(&s) => Some("failure"),
        (_, a, _)
            if [
                "accept",
                "close",
                "start",
                "allow",
                "pass",
                "passthrough",
                "tunnel-up",
                "ssl-login",
            ]
            .contains(&a) =>
        {
            Some("success")
        }
        (_, _, "success") => Some("success"),
        _ => None,
    };
    if let Some(o) = outcome {
        f.push("event.outcome", o);
    }
    let category = match ty {
        "traffic" => "network",
        "utm" => "intrusion_detection",
        _ if is_vpn => "authentication",
        _ => "host",
    };
    f.push("event.category", category);
    // Time: eventtime (s, ms, µs or ns) or date + time in the device's zone.
    if let Some(t) = get("eventtime").and_then(|t| t.parse::<i64>().ok()) {
        ev.time_ns = match t {
            t if t > 100_000_000_000_000_000 => t,
            t if t > 100_000_000_000_000 => t * 1_000,
            t if t > 100_000_000_000 => t * 1_000_000,
            t => t * 1_000_000_000,
        };
    } else if let (Some(d), Some(t)) = (get("date"), get("time")) {
        let zone = get("tz").and_then(offset).unwrap_or_else(|| tz.clone());
        if let Some(ns) = local_time(&format!("{d}T{t}"), &zone) {
            ev.time_ns = ns;
        }
    }
    ev.logsource = match ty {
        "traffic" => LogSource::new(Some("fortigate"), None, Some("firewall")),
        _ if is_vpn => LogSource::new(Some("fortigate"), Some("vpn"), None),
        "utm" => LogSource::new(Some("fortigate"), Some("utm"), None),
        _ => LogSource::new(Some("fortigate"), Some("event"), None),
    };
    ev.decoder = "fortigate".into();
    true
}

/// `+0900` / `-0500` as a fixed offset zone.
fn offset(s: &str) -> Option<jiff::tz::TimeZone> {
    let s = s.trim_matches('"');
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = s.get(1..)?.replace(':', "");
    if digits.len() != 4 {
        return None;
    }
    let h: i32 = digits.get(..2)?.parse().ok()?;
    let m: i32 = digits.get(2..)?.parse().ok()?;
    let off = jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()?;
    Some(jiff::tz::TimeZone::fixed(off))
}

/// A civil time `YYYY-MM-DDThh:mm:ss` (or with `/`) in `tz`, as ns.
pub fn local_time(s: &str, tz: &jiff::tz::TimeZone) -> Option<i64> {
    let s = s.replace('/', "-");
    let dt: jiff::civil::DateTime = s.trim().parse().ok()?;
    let z = dt.to_zoned_datetime(tz.clone()).ok()?;
    i64::try_from(z.timestamp().as_nanosecond()).ok()
}
