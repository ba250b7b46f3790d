//! The store's event codec on arbitrary bytes: decoding never panics, and
//! what decodes re-encodes to something that encodes the same again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mamori_event::Event;

fuzz_target!(|data: &[u8]| {
    if let Ok((ev, _)) = Event::decode(data) {
        let mut out = Vec::new();
        ev.encode(&mut out);
        let (again, used) = Event::decode(&out).expect("re-encoded event decodes");
        assert_eq!(used, out.len());
        let mut out2 = Vec::new();
        again.encode(&mut out2);
        assert_eq!(out, out2);
    }
});
