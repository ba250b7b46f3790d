//! Time helpers: mamori keeps every time as nanoseconds since the Unix epoch, UTC.

/// Now, in nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC (`2026-11-24T10:00:00.123Z`).
pub fn format_rfc3339(ns: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(ts) => {
            let ms = ts.round(jiff::Unit::Millisecond).unwrap_or(ts);
            format!("{ms:.3}")
        }
        Err(_) => String::from("invalid-time"),
    }
}

/// Parses an RFC 3339 / ISO 8601 time with an offset into nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let ts: jiff::Timestamp = s.trim().parse().ok()?;
    i64::try_from(ts.as_nanosecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ns = parse_rfc3339("2026-11-24T10:00:00.123+09:00").unwrap();
        assert_eq!(format_rfc3339(ns), "2026-11-24T01:00:00.123Z");
    }
}
