//! Fuzz the Gumroad Sales CSV export parser: arbitrary bytes written to a .csv file, parsed
//! through `platforms::parse_file` (the path the worker and enqueue take). It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salesingest::model::Platform;
use salesingest::platforms::{parse_file, CountingSink};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("salesingest-fuzz-{}.csv", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let mut sink = CountingSink::default();
    let _ = parse_file(Platform::Gumroad, &path, "fuzz.csv", &mut sink);
});
