//! Every decoder, forced and chosen by content, on arbitrary bytes: none may
//! panic, and every input comes out as an event.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mamori_ingest::decode::{DecoderKind, Encoding, Received, SourceSettings, decode};

const KINDS: [DecoderKind; 7] = [
    DecoderKind::Auto,
    DecoderKind::Syslog,
    DecoderKind::FortiGate,
    DecoderKind::YamahaRtx,
    DecoderKind::Squid,
    DecoderKind::Cef,
    DecoderKind::Json,
];
const ENCODINGS: [Encoding; 4] = [
    Encoding::Auto,
    Encoding::Utf8,
    Encoding::ShiftJis,
    Encoding::EucJp,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, raw)) = data.split_first() else {
        return;
    };
    let settings = SourceSettings {
        decoder: KINDS[usize::from(sel) % KINDS.len()],
        encoding: ENCODINGS[usize::from(sel >> 4) % ENCODINGS.len()],
        max_message_bytes: 1 + usize::from(sel) * 16,
        ..SourceSettings::default()
    };
    let rx = Received {
        received_ns: 1_795_000_000_000_000_000,
        peer: None,
    };
    let ev = decode(raw, &settings, &rx);
    assert!(ev.raw.len() <= settings.max_message_bytes.max(raw.len()));
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(raw) {
        let _ = mamori_ingest::decode::event_from_windows_json(&v, &settings, &rx);
    }
});
