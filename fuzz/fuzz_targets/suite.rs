//! Policy test suites (`kbind test`, `kbind bench`): any bytes give a suite
//! or a one-line error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = kbind::yaml::from_str::<kbind::suite::SuiteDoc>(text) {
            assert!(!e.contains('\n'));
        }
    }
});
