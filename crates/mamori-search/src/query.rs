//! The query language.
//!
//! ```text
//! query   := or
//! or      := and ( "OR" and )*
//! and     := unary ( ["AND"] unary )*        adjacent terms mean AND
//! unary   := ("NOT" | "-") unary | "(" or ")" | term
//! term    := word | "phrase" | ip | cidr | prefix* | field ":" value
//! value   := word | "phrase" | ip | cidr | prefix* | [a TO b] | {a TO b} | >n | >=n | <n | <=n
//! ```
//!
//! Operators may be written in lower case too (`and`, `or`, `not`). Field
//! names are case-insensitive.

use std::net::IpAddr;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Everything (the empty query).
    All,
    /// Free text anywhere in the event (one word, or a phrase of tokens).
    Text(String),
    /// Free text starting with this prefix.
    TextPrefix(String),
    /// Any IP-valued field within the network.
    AnyIp(IpNet),
    /// A condition on one field.
    Field(String, FieldValue),
    /// All must match.
    And(Vec<Query>),
    /// One must match.
    Or(Vec<Query>),
    /// Must not match.
    Not(Box<Query>),
}

/// What a field must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Contains these words (in this order).
    Text(String),
    /// A word starting with this prefix.
    Prefix(String),
    /// An IP address within the network.
    Ip(IpNet),
    /// A number within the range.
    Range(Bound, Bound),
}

/// One end of a numeric range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// Open.
    Unbounded,
    /// Including the value.
    Included(f64),
    /// Excluding the value.
    Excluded(f64),
}

/// An IP network (a single address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl IpNet {
    /// Parses `10.0.0.0/8`, `10.1.2.3`, `fd00::/8`.
    pub fn parse(s: &str) -> Option<IpNet> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        (len <= max).then_some(IpNet { addr, len })
    }

    /// The first and last address as 16-byte (IPv4-mapped) integers.
    pub fn bounds(&self) -> (u128, u128) {
        let (v, bits) = match self.addr {
            IpAddr::V4(a) => (u128::from(a.to_ipv6_mapped()), 32 - u32::from(self.len)),
            IpAddr::V6(a) => (u128::from(a), 128 - u32::from(self.len)),
        };
        if bits >= 128 {
            return (0, u128::MAX);
        }
        let host = (1u128 << bits) - 1;
        (v & !host, v | host)
    }
}

/// Why a query could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Syntax error at a byte position.
    #[error("{what} at position {pos} (example: user.name:yamada AND event.outcome:failure)")]
    Syntax {
        /// Byte offset in the query.
        pos: usize,
        /// What is wrong.
        what: String,
    },
    /// A time bound could not be read.
    #[error(
        "cannot read the time {0:?} (use 2d, 36h, 15m, 2026-11-24 or 2026-11-24T10:00:00+09:00)"
    )]
    Time(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// A term (`word`, `"phrase"`, `field:value`), with its position.
    Term(Term, usize),
}

#[derive(Debug, Clone, PartialEq)]
struct Term {
    field: Option<String>,
    value: String,
    quoted: bool,
}

fn err(pos: usize, what: impl Into<String>) -> QueryError {
    QueryError::Syntax {
        pos,
        what: what.into(),
    }
}

fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '#')
}

fn lex(input: &str) -> Result<Vec<Tok>, QueryError> {
    let b: Vec<(usize, char)> = input.char_indices().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let read_quoted = |i: &mut usize| -> Result<String, QueryError> {
        let start = b[*i].0;
        *i += 1;
        let mut s = String::new();
        while *i < b.len() {
            let c = b[*i].1;
            *i += 1;
            match c {
                '"' => return Ok(s),
                '\\' if *i < b.len() => {
                    s.push(b[*i].1);
                    *i += 1;
                }
                c => s.push(c),
            }
        }
        Err(err(start, "unclosed quote"))
    };
    while i < b.len() {
        let (pos, c) = b[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '"' => {
                let s = read_quoted(&mut i)?;
                out.push(Tok::Term(
                    Term {
                        field: None,
                        value: s,
                        quoted: true,
                    },
                    pos,
                ));
            }
            '-' if i + 1 < b.len() && !b[i + 1].1.is_whitespace() => {
                out.push(Tok::Not);
                i += 1;
            }
            _ => {
                // A bare run up to whitespace or a parenthesis.
                while i < b.len()
                    && !b[i].1.is_whitespace()
                    && b[i].1 != '('
                    && b[i].1 != ')'
                    && b[i].1 != '"'
                {
                    i += 1;
                }
                let end = if i < b.len() { b[i].0 } else { input.len() };
                let word = &input[pos..end];
                // field:"phrase" and field:[a TO b]
                if let Some(name) = word.strip_suffix(':')
                    && !name.is_empty()
                    && name.chars().all(is_field_char)
                {
                    if i < b.len() && b[i].1 == '"' {
                        let s = read_quoted(&mut i)?;
                        out.push(Tok::Term(
                            Term {
                                field: Some(name.to_owned()),
                                value: s,
                                quoted: true,
                            },
                            pos,
                        ));
                        continue;
                    }
                    return Err(err(end, format!("a value is missing after {word}")));
                }
                if let Some((name, rest)) = word.split_once(':')
                    && !name.is_empty()
                    && name.chars().all(is_field_char)
                    && IpNet::parse(word).is_none()
                    && (rest.starts_with('[') || rest.starts_with('{'))
                    && !(rest.ends_with(']') || rest.ends_with('}'))
                {
                    // A range with spaces: read on to the closing bracket.
                    let close = if rest.starts_with('[') { ']' } else { '}' };
                    let other = if close == ']' { '}' } else { ']' };
                    while i < b.len() && b[i].1 != close && b[i].1 != other {
                        i += 1;
                    }
                    if i >= b.len() {
                        return Err(err(pos, "unclosed range (write field:[1 TO 1024])"));
                    }
                    i += 1;
                    let end = if i < b.len() { b[i].0 } else { input.len() };
                    let whole = &input[pos..end];
                    let (name, value) = whole.split_once(':').unwrap_or((whole, ""));
                    out.push(Tok::Term(
                        Term {
                            field: Some(name.to_owned()),
                            value: value.to_owned(),
                            quoted: false,
                        },
                        pos,
                    ));
                    continue;
                }
                out.push(match word {
                    "AND" | "and" | "&&" => Tok::And,
                    "OR" | "or" | "||" => Tok::Or,
                    "NOT" | "not" => Tok::Not,
                    _ => Tok::Term(split_field(word), pos),
                });
            }
        }
    }
    Ok(out)
}

fn split_field(word: &str) -> Term {
    if IpNet::parse(word).is_none()
        && let Some((name, value)) = word.split_once(':')
        && !name.is_empty()
        && !value.is_empty()
        && name.chars().all(is_field_char)
    {
        return Term {
            field: Some(name.to_owned()),
            value: value.to_owned(),
            quoted: false,
        };
    }
    Term {
        field: None,
        value: word.to_owned(),
        quoted: false,
    }
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn pos(&self) -> usize {
        match self.toks.get(self.i) {
            Some(Tok::Term(_, p)) => *p,
            _ => self.len,
        }
    }

    fn or(&mut self, depth: usize) -> Result<Query, QueryError> {
        let mut parts = vec![self.and(depth)?];
        while let Some(Tok::Or) = self.peek() {
            self.i += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Query, QueryError> {
        let mut parts = vec![self.unary(depth)?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.i += 1;
                    parts.push(self.unary(depth)?);
                }
                Some(Tok::Term(..) | Tok::Not | Tok::LParen) => parts.push(self.unary(depth)?),
                _ => break,
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::And(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Query, QueryError> {
        if depth > 64 {
            return Err(err(self.pos(), "too deeply nested"));
        }
        match self.toks.get(self.i).cloned() {
            Some(Tok::Not) => {
                self.i += 1;
                Ok(Query::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::LParen) => {
                self.i += 1;
                let q = self.or(depth + 1)?;
                match self.peek() {
                    Some(Tok::RParen) => {
                        self.i += 1;
                        Ok(q)
                    }
                    _ => Err(err(self.pos(), "a closing parenthesis is missing")),
                }
            }
            Some(Tok::Term(t, pos)) => {
                self.i += 1;
                term(t, pos)
            }
            Some(Tok::RParen) => Err(err(self.pos(), "unexpected ')'")),
            Some(Tok::And | Tok::Or) => Err(err(self.pos(), "AND/OR needs a term on each side")),
            None => Err(err(self.len, "the query ends too early")),
        }
    }
}

fn number(s: &str, pos: usize) -> Result<f64, QueryError> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| err(pos, format!("{s:?} is not a number")))
}

fn term(t: Term, pos: usize) -> Result<Query, QueryError> {
    let v = t.value;
    let Some(field) = t.field else {
        if t.quoted {
            return Ok(Query::Text(v));
        }
        if let Some(net) = IpNet::parse(&v) {
            return Ok(Query::AnyIp(net));
        }
        if let Some(p) = v.strip_suffix('*')
            && !p.is_empty()
            && !p.contains('*')
        {
            return Ok(Query::TextPrefix(p.to_owned()));
        }
        if v.contains('*') {
            return Err(err(pos, "only a trailing * is supported (yama*)"));
        }
        return Ok(Query::Text(v));
    };
    let field = field.to_lowercase();
    // A GUID in braces, as Windows writes it, is a value, not a range.
    let braced_guid = v
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .is_some_and(crate::tokenize::is_guid);
    if t.quoted || braced_guid {
        return Ok(Query::Field(field, FieldValue::Text(v)));
    }
    let fv = if let Some(r) = v.strip_prefix(">=") {
        FieldValue::Range(Bound::Included(number(r, pos)?), Bound::Unbounded)
    } else if let Some(r) = v.strip_prefix('>') {
        FieldValue::Range(Bound::Excluded(number(r, pos)?), Bound::Unbounded)
    } else if let Some(r) = v.strip_prefix("<=") {
        FieldValue::Range(Bound::Unbounded, Bound::Included(number(r, pos)?))
    } else if let Some(r) = v.strip_prefix('<') {
        FieldValue::Range(Bound::Unbounded, Bound::Excluded(number(r, pos)?))
    } else if (v.starts_with('[') || v.starts_with('{')) && (v.ends_with(']') || v.ends_with('}')) {
        let inner = &v[1..v.len() - 1];
        let (lo, hi) = inner
            .split_once(" TO ")
            .or_else(|| inner.split_once(" to "))
            .ok_or_else(|| err(pos, "a range is written [1 TO 1024]"))?;
        let bound = |s: &str, incl: bool| -> Result<Bound, QueryError> {
            let s = s.trim();
            if s == "*" {
                return Ok(Bound::Unbounded);
            }
            let n = number(s, pos)?;
            Ok(if incl {
                Bound::Included(n)
            } else {
                Bound::Excluded(n)
            })
        };
        FieldValue::Range(bound(lo, v.starts_with('['))?, bound(hi, v.ends_with(']'))?)
    } else if let Some(net) = IpNet::parse(&v) {
        FieldValue::Ip(net)
    } else if let Some(p) = v.strip_suffix('*')
        && !p.is_empty()
        && !p.contains('*')
    {
        FieldValue::Prefix(p.to_owned())
    } else if v.contains('*') {
        return Err(err(pos, "only a trailing * is supported (user.name:yama*)"));
    } else {
        FieldValue::Text(v)
    };
    Ok(Query::Field(field, fv))
}

/// Parses a query string; the empty string matches everything.
pub fn parse_query(input: &str) -> Result<Query, QueryError> {
    if input.trim().is_empty() || input.trim() == "*" {
        return Ok(Query::All);
    }
    let toks = lex(input)?;
    let mut p = Parser {
        toks,
        i: 0,
        len: input.len(),
    };
    let q = p.or(0)?;
    if p.i < p.toks.len() {
        return Err(err(p.pos(), "unexpected text (a ')' without '('?)"));
    }
    Ok(q)
}

/// Reads a time bound: relative (`2d`, `36h`, `15m`, `30s`, `1w`, `now`),
/// RFC 3339, or a local date/time without zone (read as `tz`).
pub fn parse_time_bound_in(
    s: &str,
    now_ns: i64,
    tz: &jiff::tz::TimeZone,
) -> Result<i64, QueryError> {
    let s = s.trim();
    let bad = || QueryError::Time(s.to_owned());
    if s == "now" {
        return Ok(now_ns);
    }
    if let Some(unit) = s.chars().last()
        && s.len() > 1
        && s[..s.len() - unit.len_utf8()]
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        return n
            .checked_mul(secs)
            .and_then(|x| x.checked_mul(1_000_000_000))
            .map(|d| now_ns.saturating_sub(d))
            .ok_or_else(bad);
    }
    if let Some(ns) = mamori_event::parse_rfc3339(s) {
        return Ok(ns);
    }
    let civil: jiff::civil::DateTime = if let Ok(d) = s.parse::<jiff::civil::Date>() {
        d.to_datetime(jiff::civil::Time::midnight())
    } else {
        s.parse::<jiff::civil::DateTime>().map_err(|_| bad())?
    };
    let z = civil.to_zoned_datetime(tz.clone()).map_err(|_| bad())?;
    i64::try_from(z.timestamp().as_nanosecond()).map_err(|_| bad())
}

/// [`parse_time_bound_in`] with times without zone read as Asia/Tokyo.
pub fn parse_time_bound(s: &str, now_ns: i64) -> Result<i64, QueryError> {
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC);
    parse_time_bound_in(s, now_ns, &tz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(name: &str, v: FieldValue) -> Query {
        Query::Field(name.into(), v)
    }

    #[test]
    fn the_issue_example() {
        assert_eq!(
            parse_query("user.name:yamada AND event.outcome:failure").unwrap(),
            Query::And(vec![
                f("user.name", FieldValue::Text("yamada".into())),
                f("event.outcome", FieldValue::Text("failure".into())),
            ])
        );
    }

    #[test]
    fn precedence_not_and_or_parens() {
        let q = parse_query("a b OR NOT c (d OR -e)").unwrap();
        assert_eq!(
            q,
            Query::Or(vec![
                Query::And(vec![Query::Text("a".into()), Query::Text("b".into())]),
                Query::And(vec![
                    Query::Not(Box::new(Query::Text("c".into()))),
                    Query::Or(vec![
                        Query::Text("d".into()),
                        Query::Not(Box::new(Query::Text("e".into())))
                    ])
                ])
            ])
        );
    }

    #[test]
    fn values() {
        assert_eq!(
            parse_query("source.ip:10.0.0.0/8").unwrap(),
            f(
                "source.ip",
                FieldValue::Ip(IpNet::parse("10.0.0.0/8").unwrap())
            )
        );
        assert_eq!(
            parse_query("fe80::1").unwrap(),
            Query::AnyIp(IpNet::parse("fe80::1").unwrap())
        );
        assert_eq!(
            parse_query("destination.port:[1 TO 1024}").unwrap(),
            f(
                "destination.port",
                FieldValue::Range(Bound::Included(1.0), Bound::Excluded(1024.0))
            )
        );
        assert_eq!(
            parse_query("EventID:>=4624").unwrap(),
            f(
                "eventid",
                FieldValue::Range(Bound::Included(4624.0), Bound::Unbounded)
            )
        );
        assert_eq!(
            parse_query("message:\"ログイン 失敗\"").unwrap(),
            f("message", FieldValue::Text("ログイン 失敗".into()))
        );
        assert_eq!(
            parse_query("yama*").unwrap(),
            Query::TextPrefix("yama".into())
        );
        assert_eq!(
            parse_query("tunnel-up").unwrap(),
            Query::Text("tunnel-up".into())
        );
    }

    #[test]
    fn errors_say_where() {
        for bad in [
            "(a",
            "a)",
            "\"open",
            "AND",
            "port:[1 TO",
            "x:>abc",
            "a*b",
            "user:",
        ] {
            let e = parse_query(bad).unwrap_err();
            assert!(e.to_string().contains("position"), "{bad}: {e}");
        }
    }

    #[test]
    fn cidr_bounds() {
        let (lo, hi) = IpNet::parse("10.1.0.0/16").unwrap().bounds();
        let a = |s: &str| u128::from(s.parse::<std::net::Ipv4Addr>().unwrap().to_ipv6_mapped());
        assert_eq!((lo, hi), (a("10.1.0.0"), a("10.1.255.255")));
    }

    #[test]
    fn times() {
        let now = mamori_event::parse_rfc3339("2026-11-24T12:00:00Z").unwrap();
        assert_eq!(
            parse_time_bound("2d", now).unwrap(),
            now - 2 * 86_400_000_000_000
        );
        assert_eq!(
            parse_time_bound("2026-11-24", now).unwrap(),
            mamori_event::parse_rfc3339("2026-11-23T15:00:00Z").unwrap()
        );
        assert!(parse_time_bound("yesterday", now).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = parse_query(&s);
            let _ = parse_time_bound(&s, 0);
        }

        #[test]
        fn never_panics_on_query_like(s in "[a-z:.\"()\\[\\]{}<>=* \\-0-9/]{0,60}") {
            let _ = parse_query(&s);
        }
    }
}
