//! Yamaha RTX router messages (filters, INSPECT, IPsec/L2TP VPN, PP, DHCP, logins).

use super::{fortigate::local_time, set_ip};
use mamori_event::{Event, Fields, LogSource};

/// Whether a message looks like it came from a Yamaha RTX.
pub fn looks_like(msg: &str) -> bool {
    let m = msg.trim_start();
    m.starts_with("[INSPECT]")
        || m.starts_with("[L2TP]")
        || m.starts_with("[IKE]")
        || m.starts_with("[DHCPD]")
        || m.starts_with("[NAT(")
        || m.starts_with("[SWCTL]")
        || m.starts_with("[IPSEC]")
        || m.starts_with("IP Tunnel[")
        || m.starts_with("PP[")
        || m.starts_with("TUNNEL[")
        || m.contains(" Rejected at ")
        || m.contains(" Passed at ")
        || m.starts_with("Configuration saved")
        || m.starts_with("Login succeeded")
        || m.starts_with("Login failed")
        || m.starts_with("Logout from")
}

/// `a.b.c.d:port` → (ip, port).
fn addr(s: &str) -> Option<(&str, Option<i64>)> {
    match s.rsplit_once(':') {
        Some((ip, p)) if ip.parse::<std::net::IpAddr>().is_ok() => Some((ip, p.parse().ok())),
        _ => s.parse::<std::net::IpAddr>().is_ok().then_some((s, None)),
    }
}

/// `PROTO src:port > dst:port` into fields.
fn flow(f: &mut Fields, s: &str) -> bool {
    let t: Vec<&str> = s.split_whitespace().collect();
    if t.len() < 4 || t[2] != ">" {
        return false;
    }
    let (Some((sip, sport)), Some((dip, dport))) = (addr(t[1]), addr(t[3])) else {
        return false;
    };
    f.push("network.transport", t[0].to_ascii_lowercase());
    set_ip(f, "source.ip", sip);
    if let Some(p) = sport {
        f.push("source.port", p);
    }
    set_ip(f, "destination.ip", dip);
    if let Some(p) = dport {
        f.push("destination.port", p);
    }
    true
}

fn is_mac(s: &str) -> bool {
    s.len() == 17 && s.split(':').count() == 6
}

/// Text between the first `open` and the next `close`.
fn between<'a>(s: &'a str, open: &str, close: char) -> Option<&'a str> {
    let i = s.find(open)? + open.len();
    let j = s[i..].find(close)? + i;
    Some(&s[i..j])
}

/// Decodes an RTX message; false if it is not one.
pub fn decode(msg: &str, ev: &mut Event, tz: &jiff::tz::TimeZone) -> bool {
    if !looks_like(msg) {
        return false;
    }
    let m = msg.trim();
    let f = &mut ev.fields;
    let mut category = None;
    let mut service = None;
    let mut action = "";
    let mut outcome = None;
    if let Some(r) = m.strip_prefix("[INSPECT] ") {
        // [INSPECT] PP[01][out][101] TCP a:p > b:q (2016/02/23 10:59:24)
        let (iface, rest) = r.split_once(' ').unwrap_or((r, ""));
        let name = if iface.starts_with("PP[") || iface.starts_with("TUNNEL[") {
            iface.find(']').map(|i| &iface[..=i]).unwrap_or(iface)
        } else {
            iface.split('[').next().unwrap_or(iface)
        };
        let parts: Vec<&str> = iface.split(['[', ']']).filter(|s| !s.is_empty()).collect();
        f.push("observer.ingress.interface.name", name);
        if let Some(dir) = parts.iter().find(|p| **p == "in" || **p == "out") {
            f.push(
                "network.direction",
                if *dir == "in" { "inbound" } else { "outbound" },
            );
        }
        if let Some(rule) = parts
            .last()
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
        {
            f.push("rule.id", *rule);
        }
        flow(f, rest);
        if let Some(t) =
            between(rest, "(", ')').and_then(|t| local_time(&t.replacen(' ', "T", 1), tz))
        {
            f.push("event.start", mamori_event::format_rfc3339(t));
        }
        action = "inspect-session";
        category = Some("firewall");
    } else if let Some(pos) = m.find(" Rejected at ").or_else(|| m.find(" Passed at ")) {
        let iface = &m[..pos];
        let rejected = m[pos..].starts_with(" Rejected");
        f.push("observer.ingress.interface.name", iface);
        let rest = &m[pos..];
        if let Some(dir_rule) = between(rest, " at ", ')') {
            let (dir, rule) = dir_rule.split_once('(').unwrap_or((dir_rule, ""));
            f.push(
                "network.direction",
                if dir == "IN" { "inbound" } else { "outbound" },
            );
            if !rule.is_empty() {
                f.push("rule.id", rule);
            }
        }
        if let Some((_, after)) = rest.split_once("filter: ") {
            let t: Vec<&str> = after.split_whitespace().collect();
            if t.len() >= 3 && is_mac(t[0]) && t[1] == ">" && is_mac(t[2]) {
                f.push("source.mac", t[0].to_ascii_lowercase());
                f.push("destination.mac", t[2].to_ascii_lowercase());
            } else {
                flow(f, after);
            }
        }
        action = if rejected {
            "filter-reject"
        } else {
            "filter-pass"
        };
        outcome = Some(if rejected { "failure" } else { "success" });
        category = Some("firewall");
    } else if let Some(r) = m.strip_prefix("[L2TP] ") {
        if let Some(t) = between(r, "TUNNEL[", ']') {
            f.push("yamaha.tunnel", t);
        }
        if let Some((_, ip)) = r.split_once("connected from ") {
            set_ip(f, "source.ip", ip.split_whitespace().next().unwrap_or(""));
            action = "vpn-connect";
        } else if r.contains("disconnect") {
            action = "vpn-disconnect";
        } else {
            action = "l2tp";
        }
        service = Some("vpn");
    } else if let Some(r) = m.strip_prefix("[IKE] ") {
        if let Some(ip) = r
            .split_whitespace()
            .last()
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        {
            set_ip(f, "source.ip", ip);
        }
        action = "ike";
        service = Some("vpn");
    } else if let Some(r) = m.strip_prefix("[DHCPD] ") {
        let t: Vec<&str> = r.split_whitespace().collect();
        let i = t
            .iter()
            .position(|w| *w == "Allocates" || *w == "Extends" || *w == "Releases");
        if let Some(i) = i {
            if i > 0 {
                f.push("observer.ingress.interface.name", t[0]);
            }
            if let Some(ip) = t.get(i + 1) {
                set_ip(f, "client.ip", ip.trim_end_matches(':'));
            }
            if let Some(mac) = t.get(i + 2) {
                f.push("client.mac", mac.to_ascii_lowercase());
            }
        }
        action = "dhcp-lease";
    } else if let Some(r) = m.strip_prefix("IP Tunnel[") {
        let (n, rest) = r.split_once(']').unwrap_or((r, ""));
        f.push("yamaha.tunnel", n);
        action = if rest.trim() == "Up" {
            "tunnel-up"
        } else {
            "tunnel-down"
        };
        service = Some("vpn");
    } else if m.starts_with("PP[") || m.starts_with("TUNNEL[") {
        let tag = if m.starts_with("PP[") {
            "PP["
        } else {
            "TUNNEL["
        };
        let id = between(m, tag, ']').unwrap_or("");
        f.push(
            if tag == "PP[" {
                "yamaha.pp"
            } else {
                "yamaha.tunnel"
            },
            id,
        );
        if let Some(u) = between(m, "from user '", '\'') {
            f.push("user.name", u);
            action = "vpn-call-detected";
            service = Some("vpn");
        } else if m.contains("disconnected") || m.contains("Disconnect") {
            action = "pp-disconnect";
        } else if m.contains("connected") || m.contains("Connect") {
            action = "pp-connect";
        }
        if let Some((_, ip)) = m.split_once(" from ")
            && let Some(ip) = ip
                .split_whitespace()
                .next()
                .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        {
            set_ip(f, "source.ip", ip);
        }
    } else if m.starts_with("Configuration saved") {
        action = "config-saved";
    } else if m.starts_with("Login succeeded")
        || m.starts_with("Login failed")
        || m.starts_with("Logout from")
    {
        action = if m.starts_with("Logout") {
            "logout"
        } else {
            "login"
        };
        outcome = Some(if m.starts_with("Login failed") {
            "failure"
        } else {
            "success"
        });
        if let Some(ip) = m
            .rsplit(": ")
            .next()
            .filter(|ip| ip.trim().parse::<std::net::IpAddr>().is_ok())
        {
            set_ip(f, "source.ip", ip.trim());
        }
        if let Some(proto) = between(m, " for ", ':') {
            f.push("network.protocol", proto.to_ascii_lowercase());
        }
        category = Some("authentication");
    }
    if !action.is_empty() {
        f.push("event.action", action);
    }
    if let Some(o) = outcome {
        f.push("event.outcome", o);
    }
    f.push("message", m);
    ev.logsource = LogSource::new(Some("yamaha"), service.or(Some("rtx")), category);
    ev.decoder = "yamaha-rtx".into();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(m: &str) -> Event {
        let mut ev = Event::new(m.as_bytes().to_vec());
        assert!(
            decode(m, &mut ev, &jiff::tz::TimeZone::get("Asia/Tokyo").unwrap()),
            "{m}"
        );
        ev
    }

    #[test]
    fn inspect_and_filter_lines() {
        let e = dec(
            "[INSPECT] PP[01][out][101] TCP 192.168.1.10:40980 > 203.0.113.5:80 (2016/02/23 10:59:24)",
        );
        assert_eq!(e.fields.get_str("destination.ip"), Some("203.0.113.5"));
        assert_eq!(
            e.fields.get("destination.port"),
            Some(&mamori_event::Value::Int(80))
        );
        assert_eq!(e.fields.get_str("rule.id"), Some("101"));
        assert_eq!(
            e.fields.get_str("event.start"),
            Some("2016-02-23T01:59:24.000Z")
        );
        let e =
            dec("PP[01] Rejected at IN(2000) filter: TCP 198.51.100.23:51234 > 192.168.1.5:3389");
        assert_eq!(e.fields.get_str("event.action"), Some("filter-reject"));
        assert_eq!(e.fields.get_str("rule.id"), Some("2000"));
        assert_eq!(
            e.fields.get_str("observer.ingress.interface.name"),
            Some("PP[01]")
        );
        assert_eq!(
            e.fields.get("destination.port"),
            Some(&mamori_event::Value::Int(3389))
        );
        let e =
            dec("LAN1(port1) Rejected at IN(1) filter: 00:a0:de:01:02:03 > FF:FF:FF:FF:FF:FF IP");
        assert_eq!(e.fields.get_str("source.mac"), Some("00:a0:de:01:02:03"));
    }

    #[test]
    fn vpn_lines() {
        let e = dec("[L2TP] TUNNEL[1] connected from 198.51.100.7");
        assert_eq!(e.fields.get_str("source.ip"), Some("198.51.100.7"));
        assert_eq!(e.fields.get_str("event.action"), Some("vpn-connect"));
        assert_eq!(e.logsource.service.as_deref(), Some("vpn"));
        let e = dec("PP[ANONYMOUS01] Call detected from user 'yamada'");
        assert_eq!(e.fields.get_str("user.name"), Some("yamada"));
        let e = dec("IP Tunnel[1] Down");
        assert_eq!(e.fields.get_str("event.action"), Some("tunnel-down"));
        let e = dec("[DHCPD] LAN1(port1) Extends 192.168.1.27: aa:bb:cc:dd:ee:01");
        assert_eq!(e.fields.get_str("client.ip"), Some("192.168.1.27"));
        let e = dec("Login failed for SSH: 203.0.113.9");
        assert_eq!(e.fields.get_str("event.outcome"), Some("failure"));
        assert_eq!(e.fields.get_str("source.ip"), Some("203.0.113.9"));
    }
}
