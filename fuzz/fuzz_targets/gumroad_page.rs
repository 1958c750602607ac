//! Fuzz the Gumroad `/v2/sales` page parser. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = salesingest::platforms::gumroad::parse_page(data, 1);
});
