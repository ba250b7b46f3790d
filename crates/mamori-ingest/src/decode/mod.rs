//! Decoders: raw bytes from a source into a normalised [`Event`].
//!
//! PUBLIC API CONTRACT (other crates code against exactly these items):
//! `Encoding`, `DecoderKind`, `SourceSettings`, `Received`, `decode`,
//! `event_from_windows_json`. Bodies below are placeholders being replaced.

use mamori_event::{Event, Flags};
use std::net::IpAddr;

/// How a source's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 if valid, else detect Shift_JIS or EUC-JP.
    #[default]
    Auto,
    /// UTF-8 (invalid bytes replaced).
    Utf8,
    /// Shift_JIS (Windows-31J).
    ShiftJis,
    /// EUC-JP.
    EucJp,
}

/// Which decoder reads a source (`Auto` chooses by content).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecoderKind {
    /// Choose by content.
    #[default]
    Auto,
    /// Generic syslog only.
    Syslog,
    /// FortiGate key=value.
    FortiGate,
    /// Yamaha RTX router messages.
    YamahaRtx,
    /// Squid access.log.
    Squid,
    /// ArcSight CEF.
    Cef,
    /// JSON events (Winlogbeat, NXLog, Sysmon-over-JSON, generic).
    Json,
}

/// Per-source decoding settings.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Source name as configured (`default` for unconfigured peers).
    pub name: String,
    /// Decoder override.
    pub decoder: DecoderKind,
    /// Character encoding.
    pub encoding: Encoding,
    /// Zone for device times that carry none.
    pub timezone: jiff::tz::TimeZone,
    /// Longer messages are cut to this many bytes and marked truncated.
    pub max_message_bytes: usize,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            name: "default".into(),
            decoder: DecoderKind::Auto,
            encoding: Encoding::Auto,
            timezone: jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC),
            max_message_bytes: 64 * 1024,
        }
    }
}

/// Where and when bytes arrived.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Receive time, ns since the epoch.
    pub received_ns: i64,
    /// The sending peer, if known.
    pub peer: Option<IpAddr>,
}

/// Decodes one message. Never fails: bytes no decoder understands come back
/// as an event flagged [`Flags::UNDECODED`] holding the raw bytes.
pub fn decode(raw: &[u8], settings: &SourceSettings, rx: &Received) -> Event {
    let mut ev = Event::new(raw.to_vec());
    ev.received_ns = rx.received_ns;
    ev.time_ns = rx.received_ns;
    ev.source = settings.name.clone();
    ev.decoder = "undecoded".into();
    ev.flags.insert(Flags::UNDECODED);
    ev
}

/// Builds an event from one Windows event record as JSON in the form the
/// `evtx` crate emits (`{"Event":{"System":{…},"EventData":{…}}}`).
pub fn event_from_windows_json(
    record: &serde_json::Value,
    settings: &SourceSettings,
    rx: &Received,
) -> Event {
    decode(record.to_string().as_bytes(), settings, rx)
}
