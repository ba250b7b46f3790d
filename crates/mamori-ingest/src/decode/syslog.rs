//! Syslog headers: RFC 3164, RFC 5424, the Yamaha RTX form with no time or
//! host, and bare lines without a priority (files).

use jiff::tz::TimeZone;

/// What the header said.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Header<'a> {
    /// PRI value, if present.
    pub pri: Option<u8>,
    /// RFC 5424 (`<PRI>1 …`).
    pub rfc5424: bool,
    /// Event time from the header, ns.
    pub time_ns: Option<i64>,
    /// HOSTNAME.
    pub host: Option<&'a str>,
    /// APP-NAME / TAG.
    pub app: Option<&'a str>,
    /// PROCID / pid.
    pub procid: Option<&'a str>,
    /// MSGID (5424).
    pub msgid: Option<&'a str>,
    /// Structured data (5424): (sd-id.param, value).
    pub sd: Vec<(String, String)>,
    /// The message after the header.
    pub msg: &'a str,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses the syslog header of `line`. Never fails: a line without a header
/// is all message.
pub fn parse<'a>(line: &'a str, tz: &TimeZone, received_ns: i64) -> Header<'a> {
    let mut h = Header {
        msg: line,
        ..Default::default()
    };
    let mut rest = line;
    if let Some((pri, after)) = parse_pri(line) {
        h.pri = Some(pri);
        rest = after;
        if let Some(r) = rest.strip_prefix("1 ") {
            return parse_5424(h, r);
        }
    }
    // RFC 3164: optional space (Yamaha RTX puts one after the PRI).
    let r = rest.trim_start_matches(' ');
    if let Some((t, after)) = parse_3164_time(r, tz, received_ns).or_else(|| parse_iso_time(r)) {
        h.time_ns = Some(t);
        let after = after.trim_start_matches(' ');
        // HOSTNAME, unless the next token is already the tag.
        let (tok, after_tok) = split_token(after);
        if !tok.is_empty() && !tok.ends_with(':') && !tok.contains('[') && !after_tok.is_empty() {
            h.host = Some(tok);
            rest = after_tok.trim_start_matches(' ');
        } else {
            rest = after;
        }
        parse_tag(&mut h, rest);
        return h;
    }
    h.msg = r;
    if h.pri.is_some() {
        parse_tag(&mut h, r);
    }
    h
}

fn parse_pri(s: &str) -> Option<(u8, &str)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'<') {
        return None;
    }
    let end = b.iter().take(5).position(|c| *c == b'>')?;
    let digits = s.get(1..end)?;
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: u16 = digits.parse().ok()?;
    if v > 191 {
        return None;
    }
    Some((v as u8, s.get(end + 1..)?))
}

fn split_token(s: &str) -> (&str, &str) {
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// `app[pid]: msg` or `app: msg`.
fn parse_tag<'a>(h: &mut Header<'a>, s: &'a str) {
    h.msg = s;
    if s.starts_with("CEF:") {
        return;
    }
    let end = s.find([':', '[', ' ']);
    let Some(end) = end else { return };
    let app = &s[..end];
    if app.is_empty()
        || app.len() > 48
        || !app
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-/".contains(&c))
    {
        return;
    }
    let mut rest = &s[end..];
    let mut procid = None;
    if let Some(r) = rest.strip_prefix('[') {
        let Some(close) = r.find(']') else { return };
        procid = Some(&r[..close]);
        rest = &r[close + 1..];
    }
    let Some(msg) = rest.strip_prefix(':') else {
        return;
    };
    h.app = Some(app);
    h.procid = procid;
    h.msg = msg.strip_prefix(' ').unwrap_or(msg);
}

fn parse_3164_time<'a>(s: &'a str, tz: &TimeZone, received_ns: i64) -> Option<(i64, &'a str)> {
    // "Mmm dd hh:mm:ss" with dd possibly space-padded.
    let b = s.as_bytes();
    if b.len() < 15 {
        return None;
    }
    let month = MONTHS.iter().position(|m| s.get(..3) == Some(*m))? as i8 + 1;
    if b[3] != b' ' {
        return None;
    }
    let day_str = s.get(4..6)?.trim_start();
    let day: i8 = day_str.parse().ok()?;
    if b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let hh: i8 = s.get(7..9)?.parse().ok()?;
    let mm: i8 = s.get(10..12)?.parse().ok()?;
    let ss: i8 = s.get(13..15)?.parse().ok()?;
    let mut rest = &s[15..];
    let mut nanos = 0i32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        rest = &frac[digits.len()..];
        let padded = format!("{digits:0<9}");
        nanos = padded.get(..9)?.parse().ok()?;
    }
    let received = jiff::Timestamp::from_nanosecond(i128::from(received_ns)).ok()?;
    let year = received.to_zoned_datetime(tz.clone()).year();
    let mut best: Option<i64> = None;
    for y in [year - 1, year, year + 1] {
        let dt = jiff::civil::DateTime::new(y, month, day, hh, mm, ss, nanos).ok();
        let Some(dt) = dt else { continue };
        let Ok(z) = dt.to_zoned_datetime(tz.clone()) else {
            continue;
        };
        let ns = i64::try_from(z.timestamp().as_nanosecond()).ok()?;
        if best.is_none_or(|b| (ns - received_ns).abs() < (b - received_ns).abs()) {
            best = Some(ns);
        }
    }
    Some((best?, rest))
}

fn parse_iso_time(s: &str) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.len() < 20 || !b[0].is_ascii_digit() || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let end = s.find(' ').unwrap_or(s.len());
    let ts: jiff::Timestamp = s[..end].parse().ok()?;
    Some((i64::try_from(ts.as_nanosecond()).ok()?, &s[end..]))
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

fn parse_5424<'a>(mut h: Header<'a>, s: &'a str) -> Header<'a> {
    h.rfc5424 = true;
    let mut parts = s.splitn(6, ' ');
    let ts = parts.next().unwrap_or("-");
    h.time_ns = ts
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| i64::try_from(t.as_nanosecond()).ok());
    h.host = parts.next().and_then(nil);
    h.app = parts.next().and_then(nil);
    h.procid = parts.next().and_then(nil);
    h.msgid = parts.next().and_then(nil);
    let rest = parts.next().unwrap_or("");
    let (sd, msg) = parse_sd(rest);
    h.sd = sd;
    h.msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    h
}

/// Structured data: `-` or `[id k="v" …]…`, then the message.
fn parse_sd(s: &str) -> (Vec<(String, String)>, &str) {
    let mut out = Vec::new();
    if let Some(r) = s.strip_prefix('-') {
        return (out, r.strip_prefix(' ').unwrap_or(r));
    }
    let mut rest = s;
    while let Some(r) = rest.strip_prefix('[') {
        let id_end = r.find([' ', ']']).unwrap_or(r.len());
        let id = &r[..id_end];
        let mut p = &r[id_end..];
        loop {
            p = p.trim_start_matches(' ');
            if let Some(after) = p.strip_prefix(']') {
                p = after;
                break;
            }
            let Some(eq) = p.find('=') else {
                return (out, s);
            };
            let name = &p[..eq];
            let Some(v) = p[eq + 1..].strip_prefix('"') else {
                return (out, s);
            };
            let mut val = String::new();
            let mut chars = v.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            if !matches!(n, '"' | '\\' | ']') {
                                val.push('\\');
                            }
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => val.push(c),
                }
            }
            let Some(end) = end else {
                return (out, s);
            };
            out.push((format!("{id}.{name}"), val));
            p = &v[end + 1..];
        }
        rest = p;
    }
    (out, rest.strip_prefix(' ').unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokyo() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }
    fn ns(s: &str) -> i64 {
        mamori_event::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn rfc3164_with_host_and_tag() {
        let rx = ns("2026-11-24T02:00:00Z");
        let h = parse(
            "<38>Nov 24 10:00:00 srv01 sshd[123]: Failed password",
            &tokyo(),
            rx,
        );
        assert_eq!(h.pri, Some(38));
        assert_eq!(h.time_ns, Some(ns("2026-11-24T10:00:00+09:00")));
        assert_eq!(h.host, Some("srv01"));
        assert_eq!(h.app, Some("sshd"));
        assert_eq!(h.procid, Some("123"));
        assert_eq!(h.msg, "Failed password");
    }

    #[test]
    fn december_log_read_in_january_is_last_year() {
        let rx = ns("2027-01-01T00:10:00+09:00");
        let h = parse("<13>Dec 31 23:59:00 h app: x", &tokyo(), rx);
        assert_eq!(h.time_ns, Some(ns("2026-12-31T23:59:00+09:00")));
        let h = parse("<13>Jan  2 01:00:00 h app: x", &tokyo(), rx);
        assert_eq!(h.time_ns, Some(ns("2027-01-02T01:00:00+09:00")));
    }

    #[test]
    fn rtx_form_has_no_time_or_host() {
        let h = parse(
            "<13> [INSPECT] PP[01][out][101] TCP 1.2.3.4:5 > 6.7.8.9:80",
            &tokyo(),
            0,
        );
        assert_eq!(h.pri, Some(13));
        assert_eq!(h.time_ns, None);
        assert_eq!(h.host, None);
        assert_eq!(
            h.msg,
            "[INSPECT] PP[01][out][101] TCP 1.2.3.4:5 > 6.7.8.9:80"
        );
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let h = parse(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\"lication"] An application event"#,
            &tokyo(),
            0,
        );
        assert!(h.rfc5424);
        assert_eq!(h.host, Some("mymachine.example.com"));
        assert_eq!(h.app, Some("evntslog"));
        assert_eq!(h.procid, None);
        assert_eq!(h.msgid, Some("ID47"));
        assert_eq!(
            h.sd[1],
            (
                "exampleSDID@32473.eventSource".into(),
                "App\"lication".into()
            )
        );
        assert_eq!(h.msg, "An application event");
        assert_eq!(h.time_ns, Some(ns("2003-10-11T22:14:15.003Z")));
    }

    #[test]
    fn bare_line_is_all_message() {
        let h = parse("just text", &tokyo(), 0);
        assert_eq!(h.pri, None);
        assert_eq!(h.msg, "just text");
        let h = parse("<999>x", &tokyo(), 0);
        assert_eq!(h.pri, None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse(&s, &tokyo(), 0);
            let _ = parse(&format!("<13>{s}"), &tokyo(), 0);
            let _ = parse(&format!("<13>1 {s}"), &tokyo(), 0);
        }
    }
}
