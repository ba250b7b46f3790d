//! Search results as a table, NDJSON or CSV, for the CLI and the API alike.

use mamori_event::{Event, format_rfc3339};
use std::io::{self, Write};

/// How to print events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180 CSV with a header row.
    Csv,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "ndjson" | "json" | "jsonl" => Ok(OutputFormat::Ndjson),
            "csv" => Ok(OutputFormat::Csv),
            other => Err(format!(
                "unknown output format {other:?}: use table, ndjson or csv"
            )),
        }
    }
}

fn raw_text(ev: &Event) -> String {
    String::from_utf8_lossy(&ev.raw)
        .replace(['\r', '\n', '\t'], " ")
        .trim()
        .to_owned()
}

/// One CSV cell: quoted when needed, with spreadsheet formulas defused.
pub fn csv_cell(s: &str) -> String {
    // Cells that a spreadsheet would run as a formula get a leading quote.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Writes the CSV header row.
pub fn write_csv_header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "seq,time,source,host,decoder,message")
}

/// An event as JSON with its store sequence number (`seq`).
pub fn event_json(seq: u64, ev: &Event) -> serde_json::Value {
    let mut j = ev.to_json();
    if let Some(o) = j.as_object_mut() {
        o.insert("seq".into(), seq.into());
    }
    j
}

/// Writes events (with their sequence numbers) in `format`.
pub fn write_events(
    out: &mut dyn Write,
    format: OutputFormat,
    events: &[(u64, Event)],
    width: usize,
) -> io::Result<()> {
    match format {
        OutputFormat::Ndjson => {
            for (seq, ev) in events {
                serde_json::to_writer(&mut *out, &event_json(*seq, ev))?;
                out.write_all(b"\n")?;
            }
        }
        OutputFormat::Csv => {
            write_csv_header(out)?;
            for (seq, ev) in events {
                let cells = [
                    seq.to_string(),
                    format_rfc3339(ev.time_ns),
                    ev.source.to_string(),
                    ev.host.to_string(),
                    ev.decoder.to_string(),
                    raw_text(ev),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        OutputFormat::Table => {
            let src_w = events
                .iter()
                .map(|(_, e)| e.source.chars().count())
                .max()
                .unwrap_or(6)
                .clamp(6, 24);
            let host_w = events
                .iter()
                .map(|(_, e)| e.host.chars().count())
                .max()
                .unwrap_or(4)
                .clamp(4, 24);
            writeln!(
                out,
                "{:<24}  {:<src_w$}  {:<host_w$}  MESSAGE",
                "TIME", "SOURCE", "HOST"
            )?;
            for (_, ev) in events {
                let fixed = 24 + 2 + src_w + 2 + host_w + 2;
                let room = width.saturating_sub(fixed).max(20);
                let msg: String = raw_text(ev).chars().take(room).collect();
                let src: String = ev.source.chars().take(src_w).collect();
                let host: String = ev.host.chars().take(host_w).collect();
                writeln!(
                    out,
                    "{:<24}  {:<src_w$}  {:<host_w$}  {}",
                    format_rfc3339(ev.time_ns),
                    src,
                    host,
                    msg
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut ev = Event::new(b"=cmd|' /C calc'!A0, \"x\"".to_vec());
        ev.source = "s".into();
        let mut out = Vec::new();
        write_events(&mut out, OutputFormat::Csv, &[(7, ev)], 80).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("seq,time,source,host,decoder,message\n7,"));
        assert!(s.contains("\"'=cmd|' /C calc'!A0, \"\"x\"\"\""), "{s}");
    }
}
