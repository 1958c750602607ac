//! Fuzz the Apple Books file parser: arbitrary bytes written to a .txt file, parsed through
//! `platforms::parse_file` (the path the worker and enqueue take). It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salesingest::model::Platform;
use salesingest::platforms::{parse_file, CountingSink};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("salesingest-fuzz-{}.txt", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let mut sink = CountingSink::default();
    let _ = parse_file(Platform::AppleBooks, &path, "fuzz.txt", &mut sink);
});
