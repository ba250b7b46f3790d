//! IOC lists (text, CSV, STIX bundles) and matching on arbitrary bytes:
//! lines are skipped or read, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut set = mamori_detect::ioc::IocSet::default();
    let mut report = mamori_detect::ioc::IocReport::default();
    set.add_text(std::path::Path::new("fuzz.txt"), &text, &mut report);
    let mut ev = mamori_event::Event::new(Vec::new());
    for line in text.lines().take(8) {
        ev.fields.push("url.original", line);
    }
    let _ = set.matches(&ev);
    // The TOTP secret decoder sees user input too.
    let _ = mamori_web::totp::from_base32(&text);
});
