//! Getting events in: listeners, decoders and file import.
//!
//! Everything that enters mamori passes through here exactly once and leaves
//! as a normalised [`mamori_event::Event`]. [`decode`] turns raw bytes into an
//! event (syslog header, vendor format chosen by content or by the source's
//! override, Japanese charsets converted) and never fails: what no decoder
//! understands is kept raw and marked undecoded. [`listen`] runs the syslog
//! listeners (UDP, TCP with RFC 6587 framing, TLS) and hands batches to a
//! bounded channel, so a slow store slows TCP senders rather than losing
//! their messages. [`import`] reads `.evtx`, JSON lines and syslog text files
//! through the same decoders.
//!
//! ```
//! use mamori_ingest::decode::{decode, Received, SourceSettings};
//! let line = b"<134>date=2026-11-24 time=10:00:00 devname=\"fg\" type=\"event\" subtype=\"vpn\" action=\"tunnel-up\" remip=203.0.113.7 user=\"yamada\"";
//! let rx = Received { received_ns: 0, peer: None };
//! let ev = decode(line, &SourceSettings::default(), &rx);
//! assert_eq!(ev.decoder, "fortigate");
//! assert_eq!(ev.fields.get_str("user.name"), Some("yamada"));
//! ```

pub mod decode;
pub mod import;
pub mod listen;
