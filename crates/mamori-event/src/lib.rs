//! The normalised event: the one form in which every mamori stage sees a log
//! record after it has been decoded once at the edge.
//!
//! An [`Event`] keeps the bytes as they arrived ([`Event::raw`]), when mamori
//! received them, when the device says they happened, which source sent them,
//! the Sigma `logsource` they belong to, and the decoded [`Fields`]. Field
//! names follow what detection content expects: Windows/Sysmon names
//! (`EventID`, `Image`, `CommandLine` …) for Windows events, ECS names
//! (`source.ip`, `user.name`, `event.outcome` …) for device logs.
//!
//! Events are written to the store with [`Event::encode`] and read back with
//! [`Event::decode`]: a small, versioned, length-prefixed binary form that
//! never panics on hostile bytes. [`Event::to_json`] gives the form shown to
//! people and scripts.
//!
//! ```
//! use mamori_event::{Event, LogSource, Value};
//!
//! let mut ev = Event::new(b"<13>Nov 24 10:00:00 rtx [INSPECT] ...".to_vec());
//! ev.source = "rtx-main".into();
//! ev.logsource = LogSource::new(Some("yamaha"), Some("rtx"), Some("firewall"));
//! ev.fields.insert("source.ip", "198.51.100.7");
//! ev.fields.insert("destination.port", 80i64);
//!
//! let mut buf = Vec::new();
//! ev.encode(&mut buf);
//! let (back, used) = Event::decode(&buf).unwrap();
//! assert_eq!(used, buf.len());
//! assert_eq!(back, ev);
//! assert_eq!(back.fields.get("destination.port"), Some(&Value::Int(80)));
//! ```

mod codec;
mod fields;
mod time;

pub use codec::DecodeError;
pub use fields::{Fields, Text, Value};
pub use time::{format_rfc3339, now_ns, parse_rfc3339};

/// Sigma's `logsource`: which product, service and category an event belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    /// e.g. `windows`, `fortigate`, `yamaha`, `squid`.
    pub product: Option<Text>,
    /// e.g. `security`, `sysmon`, `vpn`.
    pub service: Option<Text>,
    /// e.g. `process_creation`, `firewall`, `proxy`.
    pub category: Option<Text>,
}

impl LogSource {
    /// A log source from its three optional parts.
    pub fn new(product: Option<&str>, service: Option<&str>, category: Option<&str>) -> Self {
        LogSource {
            product: product.map(Text::from),
            service: service.map(Text::from),
            category: category.map(Text::from),
        }
    }
}

/// The Sigma category of a Windows event from its service (as
/// [`LogSource::service`]) and event id: Sysmon's event ids as pySigma's
/// Sysmon pipeline (the reference Sigma's own tooling uses) reads them,
/// process creation in the Security log, and PowerShell's script and
/// module events. Ingest stores it; detection also asks it of events
/// stored without one (by an earlier version that knew fewer ids). Events
/// 12–14 and 26 also belong to more specific categories, which detection
/// adds.
///
/// ```
/// assert_eq!(mamori_event::windows_category("sysmon", 20), Some("wmi_event"));
/// assert_eq!(mamori_event::windows_category("security", 4624), None);
/// ```
pub fn windows_category(service: &str, event_id: i64) -> Option<&'static str> {
    Some(match (service, event_id) {
        ("sysmon", 1) | ("security", 4688) => "process_creation",
        ("sysmon", 2) => "file_change",
        ("sysmon", 3) => "network_connection",
        ("sysmon", 4 | 16) => "sysmon_status",
        ("sysmon", 5) => "process_termination",
        ("sysmon", 6) => "driver_load",
        ("sysmon", 7) => "image_load",
        ("sysmon", 8) => "create_remote_thread",
        ("sysmon", 9) => "raw_access_thread",
        ("sysmon", 10) => "process_access",
        ("sysmon", 11) => "file_event",
        ("sysmon", 12..=14) => "registry_event",
        ("sysmon", 15) => "create_stream_hash",
        ("sysmon", 17 | 18) => "pipe_created",
        ("sysmon", 19..=21) => "wmi_event",
        ("sysmon", 22) => "dns_query",
        ("sysmon", 23 | 26) => "file_delete",
        ("sysmon", 24) => "clipboard_capture",
        ("sysmon", 25) => "process_tampering",
        ("sysmon", 27) => "file_block_executable",
        ("sysmon", 28) => "file_block_shredding",
        ("sysmon", 29) => "file_executable_detected",
        ("sysmon", 255) => "sysmon_error",
        ("powershell", 4104) => "ps_script",
        ("powershell", 4103) => "ps_module",
        ("powershell-classic", 400) => "ps_classic_start",
        ("powershell-classic", 600) => "ps_classic_provider_start",
        ("powershell-classic", 800) => "ps_classic_script",
        _ => return None,
    })
}

/// Marks on an event that say how faithfully it was decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// No decoder understood the bytes: the event holds only `raw` and metadata.
    pub const UNDECODED: Flags = Flags(1);
    /// The message was longer than the configured limit and was cut.
    pub const TRUNCATED: Flags = Flags(2);
    /// The device gave no usable time: `time_ns` is the receive time.
    pub const TIME_FROM_RECEIVE: Flags = Flags(4);
    /// The bytes were not UTF-8 and were converted (Shift_JIS, EUC-JP …).
    pub const TRANSCODED: Flags = Flags(8);

    /// The raw bit set.
    pub fn bits(self) -> u8 {
        self.0
    }
    /// Flags from raw bits (unknown bits are kept).
    pub fn from_bits(bits: u8) -> Self {
        Flags(bits)
    }
    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Sets the bits of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }
}

/// One log record, decoded once into mamori's normalised form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// When mamori received it, nanoseconds since the Unix epoch (UTC).
    pub received_ns: i64,
    /// When the device says it happened, nanoseconds since the Unix epoch (UTC).
    pub time_ns: i64,
    /// The configured source name (or `listener/peer-address` when unconfigured).
    pub source: Text,
    /// The host that produced the record (syslog hostname, Windows Computer), if known.
    pub host: Text,
    /// Sigma log source.
    pub logsource: LogSource,
    /// Name of the decoder that produced the fields (`undecoded` if none did).
    pub decoder: Text,
    /// Decoding marks.
    pub flags: Flags,
    /// The bytes as received (after transport framing; possibly truncated).
    pub raw: Vec<u8>,
    /// Decoded fields.
    pub fields: Fields,
}

impl Event {
    /// A new event holding `raw`, received now, with its event time set to now.
    pub fn new(raw: Vec<u8>) -> Self {
        let now = now_ns();
        Event {
            received_ns: now,
            time_ns: now,
            raw,
            ..Default::default()
        }
    }

    /// Whether no decoder understood this event.
    pub fn is_undecoded(&self) -> bool {
        self.flags.contains(Flags::UNDECODED)
    }

    /// The event as JSON for people and scripts: times in RFC 3339, raw as text
    /// (lossy UTF-8; `raw_base64` is added when the bytes are not UTF-8).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value as J};
        let mut m = Map::new();
        m.insert("time".into(), J::String(format_rfc3339(self.time_ns)));
        m.insert(
            "received".into(),
            J::String(format_rfc3339(self.received_ns)),
        );
        m.insert("source".into(), J::String(self.source.to_string()));
        m.insert("host".into(), J::String(self.host.to_string()));
        let mut ls = Map::new();
        for (k, v) in [
            ("product", &self.logsource.product),
            ("service", &self.logsource.service),
            ("category", &self.logsource.category),
        ] {
            if let Some(v) = v {
                ls.insert(k.into(), J::String(v.to_string()));
            }
        }
        m.insert("logsource".into(), J::Object(ls));
        m.insert("decoder".into(), J::String(self.decoder.to_string()));
        if self.flags.contains(Flags::UNDECODED) {
            m.insert("undecoded".into(), J::Bool(true));
        }
        if self.flags.contains(Flags::TRUNCATED) {
            m.insert("truncated".into(), J::Bool(true));
        }
        match std::str::from_utf8(&self.raw) {
            Ok(s) => {
                m.insert("raw".into(), J::String(s.to_owned()));
            }
            Err(_) => {
                use base64::Engine;
                m.insert(
                    "raw".into(),
                    J::String(String::from_utf8_lossy(&self.raw).into_owned()),
                );
                m.insert(
                    "raw_base64".into(),
                    J::String(base64::engine::general_purpose::STANDARD.encode(&self.raw)),
                );
            }
        }
        m.insert("fields".into(), self.fields.to_json());
        J::Object(m)
    }
}
