//! Fuzz the Gumroad Ping (form-encoded body) parser. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = salesingest::platforms::parse_ping(data, "ping.txt");
});
