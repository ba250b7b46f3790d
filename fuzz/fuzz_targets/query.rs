//! The query language and time bounds on arbitrary text: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = mamori_search::parse_query(s);
        let _ = mamori_search::parse_time_bound(s, 0);
        let _ = mamori_search::tokens(s);
    }
});
