//! Fuzz the Kobo file parser: arbitrary bytes written to a .xlsx file, parsed through
//! `platforms::parse_file` (the path the worker and enqueue take). It must never panic.
//! Seeds hold both layouts the parser reads (detection is by content, not by extension).
#![no_main]

use libfuzzer_sys::fuzz_target;
use salesingest::model::Platform;
use salesingest::platforms::{parse_file, CountingSink};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("salesingest-fuzz-kobo-{}.xlsx", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let mut sink = CountingSink::default();
    let _ = parse_file(Platform::Kobo, &path, "fuzz.xlsx", &mut sink);
});
