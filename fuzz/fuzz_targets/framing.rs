//! The RFC 6587 framer on arbitrary bytes cut at an arbitrary point: no
//! panic, no frame over the limit.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mamori_ingest::listen::Framer;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let max = 1 + usize::from(sel);
    let cut = usize::from(sel).min(rest.len());
    let mut f = Framer::new(max);
    let mut buf = BytesMut::new();
    for part in [&rest[..cut], &rest[cut..]] {
        buf.extend_from_slice(part);
        while let Some(fr) = f.next_frame(&mut buf) {
            assert!(fr.bytes.len() <= max);
        }
    }
    while let Some(fr) = f.finish(&mut buf) {
        assert!(fr.bytes.len() <= max);
    }
});
