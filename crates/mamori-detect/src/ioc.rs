//! Indicator-of-compromise lists: IP addresses and networks, domains, URLs
//! and file hashes, from plain text (one per line), CSV files (the first
//! cell of a row that is an indicator) or STIX 2.1 bundles (the values
//! compared with `=` in the patterns of `indicator` objects, such as
//! `[ipv4-addr:value = '198.51.100.7']` or
//! `[file:hashes.'SHA-256' = '…']`). `#` starts a comment; defanged forms
//! (`hxxp://`, `evil[.]com`) are accepted.
//!
//! Matching reads the event's field values: IP addresses against the
//! addresses and networks, host names and the host part of URLs against
//! the domains (a listed domain also covers its subdomains), URLs against
//! the URLs (with and without the query string), and hex tokens in hash
//! fields (Sysmon's `Hashes`, ECS `file.hash.*`) against the hashes.

use mamori_event::{Event, Value};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What kind of indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IocKind {
    /// One IP address.
    Ip,
    /// An IP network (CIDR).
    Cidr,
    /// A domain and its subdomains.
    Domain,
    /// A URL.
    Url,
    /// An MD5, SHA-1 or SHA-256 hash.
    Hash,
}

impl IocKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            IocKind::Ip => "ip",
            IocKind::Cidr => "cidr",
            IocKind::Domain => "domain",
            IocKind::Url => "url",
            IocKind::Hash => "hash",
        }
    }
}

/// One indicator found in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IocMatch {
    /// The list it is on (file name without extension).
    pub list: String,
    /// The indicator as listed (normalised).
    pub indicator: String,
    /// Its kind.
    pub kind: IocKind,
    /// The event field it was found in.
    pub field: String,
}

impl IocMatch {
    /// The title an IOC match is reported under: `IOC <kind> <indicator> (<list>)`.
    pub fn title(&self) -> String {
        format!(
            "IOC {} {} ({})",
            self.kind.as_str(),
            self.indicator,
            self.list
        )
    }

    /// Its tags: `ioc` and `ioc.<kind>`.
    pub fn tags(&self) -> Vec<String> {
        vec!["ioc".into(), format!("ioc.{}", self.kind.as_str())]
    }
}

/// Errors reading IOC files.
#[derive(Debug, thiserror::Error)]
pub enum IocError {
    /// The file could not be read.
    #[error("IOC file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What loading IOC lists did.
#[derive(Debug, Clone, Default)]
pub struct IocReport {
    /// Indicators loaded per kind.
    pub loaded: HashMap<&'static str, usize>,
    /// Lines that are not an indicator: (file, line number, text).
    pub skipped: Vec<(PathBuf, usize, String)>,
}

/// Loaded IOC lists, ready to match events.
#[derive(Debug, Default, Clone)]
pub struct IocSet {
    lists: Vec<String>,
    ips: HashMap<IpAddr, usize>,
    nets: Vec<(IpAddr, u8, usize)>,
    domains: HashMap<String, usize>,
    urls: HashMap<String, usize>,
    hashes: HashMap<String, usize>,
}

fn refang(s: &str) -> String {
    s.trim()
        .trim_matches('"')
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[:]", ":")
        .replace("hxxp", "http")
        .replace("hXXp", "http")
}

fn is_hex_hash(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (a, p) = s.split_once('/')?;
    let ip: IpAddr = a.parse().ok()?;
    let p: u8 = p.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (p <= max).then_some((ip, p))
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn is_domain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        && s.rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()))
}

/// The URL in a canonical form (lower-case scheme and host, no trailing
/// slash on an empty path, no fragment) and its host.
fn normalise_url(s: &str) -> Option<(String, String)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https" | "ftp") {
        return None;
    }
    let rest = rest.split('#').next().unwrap_or("");
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host
        .split(':')
        .next()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let path = if path == "/" { "" } else { path };
    let port = authority
        .rsplit('@')
        .next()
        .and_then(|a| a.split_once(':'))
        .map(|(_, p)| format!(":{p}"))
        .unwrap_or_default();
    Some((format!("{scheme}://{host}{port}{path}"), host))
}

/// One indicator from one cell.
fn classify(cell: &str) -> Option<(IocKind, String)> {
    let s = refang(cell);
    if s.is_empty() {
        return None;
    }
    if let Some((ip, p)) = parse_cidr(&s) {
        return Some((IocKind::Cidr, format!("{ip}/{p}")));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((IocKind::Ip, ip.to_string()));
    }
    if is_hex_hash(&s) {
        return Some((IocKind::Hash, s.to_ascii_lowercase()));
    }
    if let Some((url, _)) = normalise_url(&s) {
        return Some((IocKind::Url, url));
    }
    let d = s
        .trim_start_matches("*.")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    is_domain(&d).then_some((IocKind::Domain, d))
}

fn csv_cells(line: &str) -> Vec<&str> {
    line.split([',', '\t', ';'])
        .map(|c| c.trim().trim_matches('"').trim())
        .collect()
}

impl IocSet {
    /// Reads IOC files (plain text or CSV).
    pub fn load(paths: &[PathBuf]) -> Result<(IocSet, IocReport), IocError> {
        let mut set = IocSet::default();
        let mut report = IocReport::default();
        for p in paths {
            let bytes = std::fs::read(p).map_err(|source| IocError::Read {
                path: p.clone(),
                source,
            })?;
            set.add_text(p, &String::from_utf8_lossy(&bytes), &mut report);
        }
        Ok((set, report))
    }

    /// Adds one list in any of the accepted forms (a STIX 2.1 bundle, or
    /// text/CSV), named after `path`'s file stem.
    pub fn add_text(&mut self, path: &Path, text: &str, report: &mut IocReport) {
        match stix_values(text) {
            Some(values) => self.add_list(path, &values.join("\n"), report),
            None => self.add_list(path, text, report),
        }
    }

    /// Adds one list of text or CSV, named after `path`'s file stem.
    pub fn add_list(&mut self, path: &Path, text: &str, report: &mut IocReport) {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ioc".into());
        let list = self.lists.len();
        self.lists.push(name);
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            // "#" inside a URL is a fragment, not a comment, only after "://".
            let line = if line.is_empty() { continue } else { line };
            let found = csv_cells(line).into_iter().find_map(classify);
            let Some((kind, v)) = found else {
                // A CSV header row is not worth a warning.
                if n > 0 || !line.chars().any(|c| c.is_ascii_alphabetic()) || line.contains('.') {
                    report
                        .skipped
                        .push((path.to_owned(), n + 1, line.to_owned()));
                }
                continue;
            };
            *report.loaded.entry(kind.as_str()).or_default() += 1;
            match kind {
                IocKind::Ip => {
                    if let Ok(ip) = v.parse() {
                        self.ips.insert(ip, list);
                    }
                }
                IocKind::Cidr => {
                    if let Some((ip, p)) = parse_cidr(&v) {
                        self.nets.push((ip, p, list));
                    }
                }
                IocKind::Domain => {
                    self.domains.insert(v, list);
                }
                IocKind::Url => {
                    self.urls.insert(v, list);
                }
                IocKind::Hash => {
                    self.hashes.insert(v, list);
                }
            }
        }
    }

    /// Indicators loaded.
    pub fn len(&self) -> usize {
        self.ips.len() + self.nets.len() + self.domains.len() + self.urls.len() + self.hashes.len()
    }

    /// Whether no indicator is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The indicators found in `ev`'s fields, each once.
    pub fn matches(&self, ev: &Event) -> Vec<IocMatch> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        let mut seen = HashSet::new();
        for (name, v) in ev.fields.iter() {
            let hash_field = name.to_ascii_lowercase().contains("hash")
                || matches!(name, "md5" | "sha1" | "sha256" | "MD5" | "SHA1" | "SHA256");
            visit(v, &mut |s| {
                self.match_value(name, s, hash_field, &mut |m| {
                    if seen.insert((m.kind, m.indicator.clone())) {
                        out.push(m);
                    }
                })
            });
        }
        out
    }

    fn found(&self, list: usize, kind: IocKind, indicator: &str, field: &str) -> IocMatch {
        IocMatch {
            list: self.lists.get(list).cloned().unwrap_or_default(),
            indicator: indicator.to_owned(),
            kind,
            field: field.to_owned(),
        }
    }

    fn match_value(&self, field: &str, s: &str, hash_field: bool, out: &mut dyn FnMut(IocMatch)) {
        let s = s.trim();
        if s.is_empty() || s.len() > 4096 {
            return;
        }
        if (!self.ips.is_empty() || !self.nets.is_empty())
            && s.len() <= 45
            && let Ok(ip) = s.parse::<IpAddr>()
        {
            if let Some(&l) = self.ips.get(&ip) {
                out(self.found(l, IocKind::Ip, &ip.to_string(), field));
            }
            for &(net, p, l) in &self.nets {
                if in_net(ip, net, p) {
                    out(self.found(l, IocKind::Cidr, &format!("{net}/{p}"), field));
                }
            }
            return;
        }
        if !self.hashes.is_empty() && (hash_field || is_hex_hash(s)) {
            for token in s.split(|c: char| !c.is_ascii_hexdigit()) {
                if is_hex_hash(token) {
                    let t = token.to_ascii_lowercase();
                    if let Some(&l) = self.hashes.get(&t) {
                        out(self.found(l, IocKind::Hash, &t, field));
                    }
                }
            }
            if hash_field {
                return;
            }
        }
        let host = if let Some((url, host)) = normalise_url(s) {
            if !self.urls.is_empty() {
                let bare = url.split('?').next().unwrap_or(&url);
                for u in [url.as_str(), bare] {
                    if let Some(&l) = self.urls.get(u) {
                        out(self.found(l, IocKind::Url, u, field));
                        break;
                    }
                }
            }
            host
        } else if is_domain(s.trim_end_matches('.')) {
            s.trim_end_matches('.').to_ascii_lowercase()
        } else {
            return;
        };
        if self.domains.is_empty() {
            return;
        }
        // The host and every parent domain.
        let mut d = host.as_str();
        loop {
            if let Some(&l) = self.domains.get(d) {
                out(self.found(l, IocKind::Domain, d, field));
                return;
            }
            match d.split_once('.') {
                Some((_, parent)) if parent.contains('.') => d = parent,
                _ => return,
            }
        }
    }
}

/// The quoted values compared with `=` in the patterns of a STIX 2.1
/// bundle's indicators; `None` if `text` is not a STIX bundle.
fn stix_values(text: &str) -> Option<Vec<String>> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(trimmed).ok()?;
    if v.get("type")?.as_str()? != "bundle" {
        return None;
    }
    let mut out = Vec::new();
    for o in v.get("objects")?.as_array()? {
        if o.get("type").and_then(|t| t.as_str()) != Some("indicator")
            || o.get("pattern_type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t != "stix")
        {
            continue;
        }
        let Some(pattern) = o.get("pattern").and_then(|p| p.as_str()) else {
            continue;
        };
        // Each comparison `object:path = 'value'`; quotes inside a value are
        // written \' in STIX.
        let mut rest = pattern;
        while let Some(eq) = rest.find('=') {
            let after = rest[eq + 1..].trim_start();
            // Only equality: not !=, <=, >=.
            let negated = rest[..eq].ends_with(['!', '<', '>']);
            let Some(body) = after.strip_prefix('\'').filter(|_| !negated) else {
                rest = &rest[eq + 1..];
                continue;
            };
            let mut value = String::new();
            let mut chars = body.char_indices();
            let mut end = body.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            out.push(value);
            rest = &body[end.min(body.len())..];
        }
    }
    Some(out)
}

fn visit(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::Str(s) => f(s),
        Value::List(vs) => vs.iter().for_each(|v| visit(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text as a list, then any event values against it: no panic.
        #[test]
        fn lists_and_matching_never_panic(list in ".{0,400}", value in ".{0,200}") {
            let mut s = IocSet::default();
            let mut r = IocReport::default();
            s.add_text(Path::new("x.txt"), &list, &mut r);
            let mut e = Event::new(Vec::new());
            e.fields.push("url.original", value.as_str());
            e.fields.push("Hashes", value.as_str());
            let _ = s.matches(&e);
        }
    }

    fn set(text: &str) -> (IocSet, IocReport) {
        let mut s = IocSet::default();
        let mut r = IocReport::default();
        s.add_list(Path::new("/x/bad.txt"), text, &mut r);
        (s, r)
    }

    fn ev(fields: &[(&str, &str)]) -> Event {
        let mut e = Event::new(Vec::new());
        for (k, v) in fields {
            e.fields.push(*k, *v);
        }
        e
    }

    #[test]
    fn plain_text_and_csv_lists_load_every_kind() {
        let (s, r) = set(
            "# known bad\n198.51.100.7\n203.0.113.0/24\nevil[.]example\nhxxps://files.example.org/drop.exe\n\
             44d88612fea8a8f36de82e1278abb02f\nnot an indicator\n\"192.0.2.9\",\"C2\"\n",
        );
        assert_eq!(s.len(), 6);
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(r.skipped[0].1, 7);
        let (csv, _) = set("indicator,type\nbad.example,domain\n");
        assert_eq!(csv.len(), 1);
    }

    #[test]
    fn stix_bundles_give_the_values_of_their_indicator_patterns() {
        let bundle = r#"{"type": "bundle", "id": "bundle--1", "objects": [
          {"type": "indicator", "spec_version": "2.1", "id": "indicator--1", "pattern_type": "stix",
           "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'evil.example']"},
          {"type": "indicator", "spec_version": "2.1", "id": "indicator--2", "pattern_type": "stix",
           "pattern": "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']"},
          {"type": "indicator", "id": "indicator--3", "pattern_type": "sigma", "pattern": "title: x"},
          {"type": "malware", "id": "malware--1", "name": "LockBit"}
        ]}"#;
        let values = stix_values(bundle).unwrap();
        assert_eq!(values.len(), 3, "{values:?}");
        let (s, r) = set(&values.join("\n"));
        assert_eq!(s.len(), 3);
        assert!(r.skipped.is_empty());
        assert!(stix_values("198.51.100.7\n").is_none());
        assert!(stix_values("{\"type\": \"other\"}").is_none());
    }

    #[test]
    fn events_match_by_ip_network_domain_url_and_hash() {
        let (s, _) = set(
            "198.51.100.7\n203.0.113.0/24\nevil.example\nhttps://files.example.org/drop.exe\n\
             44d88612fea8a8f36de82e1278abb02f\n",
        );
        let m = s.matches(&ev(&[("source.ip", "198.51.100.7")]));
        assert_eq!(m[0].kind, IocKind::Ip);
        assert_eq!(m[0].list, "bad");
        let m = s.matches(&ev(&[("destination.ip", "203.0.113.200")]));
        assert_eq!(m[0].indicator, "203.0.113.0/24");
        let m = s.matches(&ev(&[("QueryName", "cdn.EVIL.example")]));
        assert_eq!(m[0].indicator, "evil.example");
        let m = s.matches(&ev(&[(
            "url.original",
            "HTTPS://files.example.org/drop.exe?x=1",
        )]));
        assert_eq!(m[0].kind, IocKind::Url);
        let m = s.matches(&ev(&[(
            "Hashes",
            "SHA1=0000000000000000000000000000000000000000,MD5=44D88612FEA8A8F36DE82E1278ABB02F",
        )]));
        assert_eq!(m[0].kind, IocKind::Hash);
        assert!(
            s.matches(&ev(&[
                ("source.ip", "192.0.2.1"),
                ("QueryName", "notevil.example.com")
            ]))
            .is_empty()
        );
        // A domain that only ends like a listed one is not it.
        assert!(s.matches(&ev(&[("QueryName", "xevil.example")])).is_empty());
    }
}
