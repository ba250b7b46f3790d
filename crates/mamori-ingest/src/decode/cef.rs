//! ArcSight Common Event Format.

use super::set_ip;
use mamori_event::{Event, LogSource};

/// Splits the seven header fields (with `\|` and `\\` escapes) and the extension.
fn header(s: &str) -> Option<(Vec<String>, &str)> {
    let mut fields = Vec::with_capacity(7);
    let mut cur = String::new();
    let mut it = s.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '\\' => match it.next() {
                Some((_, n)) if n == '|' || n == '\\' => cur.push(n),
                Some((_, n)) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            },
            '|' => {
                fields.push(std::mem::take(&mut cur));
                if fields.len() == 7 {
                    return Some((fields, &s[i + 1..]));
                }
            }
            c => cur.push(c),
        }
    }
    None
}

fn unescape_ext(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Extension `k=v k2=v with spaces` (values run to the next ` key=`).
pub fn extension(s: &str) -> Vec<(String, String)> {
    let b = s.as_bytes();
    // Start positions of keys: after start or a space, [A-Za-z0-9_.\[\]]+ then an unescaped '='.
    let mut starts = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if i == 0 || b[i - 1] == b' ' {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b"_.[]-".contains(&b[j])) {
                j += 1;
            }
            if j > i && j < b.len() && b[j] == b'=' {
                starts.push((i, j));
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    let mut out = Vec::with_capacity(starts.len());
    for (n, (ks, eq)) in starts.iter().enumerate() {
        let end = starts
            .get(n + 1)
            .map(|(s, _)| s.saturating_sub(1))
            .unwrap_or(b.len());
        let (Some(k), Some(v)) = (s.get(*ks..*eq), s.get(eq + 1..end.max(eq + 1))) else {
            continue;
        };
        out.push((k.to_owned(), unescape_ext(v.trim_end())));
    }
    out
}

/// Decodes `CEF:…` (possibly after a syslog header); false if not CEF.
pub fn decode(msg: &str, ev: &mut Event) -> bool {
    let Some(pos) = msg.find("CEF:") else {
        return false;
    };
    let Some((h, ext)) = header(&msg[pos + 4..]) else {
        return false;
    };
    let f = &mut ev.fields;
    for (k, v) in [
        ("cef.version", &h[0]),
        ("observer.vendor", &h[1]),
        ("observer.product", &h[2]),
        ("observer.version", &h[3]),
        ("event.code", &h[4]),
        ("message", &h[5]),
        ("cef.severity", &h[6]),
    ] {
        f.push(k, v.as_str());
    }
    for (k, v) in extension(ext) {
        match k.as_str() {
            "src" => set_ip(f, "source.ip", &v),
            "dst" => set_ip(f, "destination.ip", &v),
            "spt" => {
                if let Ok(p) = v.parse::<i64>() {
                    f.push("source.port", p)
                }
            }
            "dpt" => {
                if let Ok(p) = v.parse::<i64>() {
                    f.push("destination.port", p)
                }
            }
            "suser" | "duser" if f.get("user.name").is_none() => f.push("user.name", v.clone()),
            "act" => f.push("event.action", v.clone()),
            "outcome" => f.push("event.outcome", v.to_ascii_lowercase()),
            "shost" => f.push("source.address", v.clone()),
            "dhost" => f.push("destination.address", v.clone()),
            "rt" | "end" | "start" => {
                if let Ok(ms) = v.parse::<i64>() {
                    ev.time_ns = ms.saturating_mul(1_000_000);
                }
            }
            _ => {}
        }
        f.push(format!("cef.{k}"), v);
    }
    ev.logsource = LogSource::new(Some(&h[2].to_ascii_lowercase()), None, None);
    ev.decoder = "cef".into();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_extension_with_escapes() {
        let m = r"CEF:0|Trend\|Micro|Deep Security|10|4000|Malware \\found|8|src=10.0.0.5 dst=203.0.113.9 dpt=443 suser=yamada msg=detected a=b\=c filePath=C:\\Temp\\x y.exe";
        let mut ev = Event::new(m.as_bytes().to_vec());
        assert!(decode(m, &mut ev));
        assert_eq!(ev.fields.get_str("observer.vendor"), Some("Trend|Micro"));
        assert_eq!(ev.fields.get_str("message"), Some("Malware \\found"));
        assert_eq!(ev.fields.get_str("source.ip"), Some("10.0.0.5"));
        assert_eq!(ev.fields.get_str("user.name"), Some("yamada"));
        assert_eq!(ev.fields.get_str("cef.a"), Some("b=c"));
        assert_eq!(ev.fields.get_str("cef.filePath"), Some("C:\\Temp\\x y.exe"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let mut ev = Event::new(Vec::new());
            let _ = decode(&format!("CEF:{s}"), &mut ev);
            let _ = extension(&s);
        }
    }
}
