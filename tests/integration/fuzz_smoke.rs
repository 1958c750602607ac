//! A stable-Rust, in-CI complement to the cargo-fuzz targets in `fuzz/` (see FUZZING.md):
//! every parser gets randomly mutated copies of the repository's fixtures (byte flips,
//! insertions, deletions, truncations, duplicated spans), with a fixed seed so a failure
//! reproduces. None may panic. `FUZZ_SMOKE_ITERS` raises the count per fixture (default 40).

use salesingest::model::Platform;
use salesingest::platforms::{gumroad, parse_file, parse_ping, CountingSink};

use crate::util::fixture;

fn mutate(rng: &mut fastrand::Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..rng.usize(1..8) {
        let len = d.len();
        match rng.u8(0..6) {
            0 if len > 0 => {
                let i = rng.usize(..len);
                d[i] ^= 1 << rng.u8(0..8);
            }
            1 => {
                let i = rng.usize(..=len);
                let b = *rng
                    .choice(&[
                        b',', b'"', b'\n', b'\r', b'\t', 0, 0xff, b'-', b'.', b'9', b'{', b'}',
                    ])
                    .unwrap();
                d.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.usize(..len);
                let n = rng.usize(1..=(len - i).min(64));
                d.drain(i..i + n);
            }
            3 if len > 0 => d.truncate(rng.usize(..len)),
            4 if len > 0 => {
                let i = rng.usize(..len);
                let n = rng.usize(1..=(len - i).min(256));
                let span = d[i..i + n].to_vec();
                let at = rng.usize(..=d.len());
                d.splice(at..at, span);
            }
            _ if len > 0 => {
                let i = rng.usize(..len);
                d[i] = rng.u8(..);
            }
            _ => d.push(rng.u8(..)),
        }
    }
    d
}

fn iters() -> usize {
    std::env::var("FUZZ_SMOKE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

fn files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(fixture(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn file_parsers_never_panic_on_mutated_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5a1e5);
    let sets = [
        (Platform::Draft2digital, "d2d"),
        (Platform::AmazonKdp, "kdp"),
        (Platform::Smashwords, "smashwords"),
        (Platform::Draft2digital, "bad"),
        (Platform::AmazonKdp, "bad"),
        (Platform::Smashwords, "bad"),
        (Platform::Kobo, "kobo"),
        (Platform::Streetlib, "streetlib"),
        (Platform::GooglePlay, "google_play"),
        (Platform::Kobo, "bad"),
        (Platform::Streetlib, "bad"),
        (Platform::GooglePlay, "bad"),
        (Platform::AppleBooks, "apple_books"),
        (Platform::BarnesNoble, "barnes_noble"),
        (Platform::Ingramspark, "ingramspark"),
        (Platform::AppleBooks, "bad"),
        (Platform::BarnesNoble, "bad"),
        (Platform::Ingramspark, "bad"),
        (Platform::Gumroad, "gumroad"),
        (Platform::Gumroad, "bad"),
    ];
    let mut runs = 0;
    for (platform, dir) in sets {
        for path in files(dir) {
            let data = std::fs::read(&path).unwrap();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("bin");
            for i in 0..iters() {
                let bytes = mutate(&mut rng, &data);
                let p = tmp.path().join(format!("m.{ext}"));
                std::fs::write(&p, &bytes).unwrap();
                let res = std::panic::catch_unwind(|| {
                    let mut sink = CountingSink::default();
                    let _ = parse_file(platform, &p, "m", &mut sink);
                });
                if res.is_err() {
                    let keep = tmp.path().join("crash.bin");
                    std::fs::copy(&p, &keep).unwrap();
                    let _ = tmp.keep();
                    panic!(
                        "{platform} parser panicked on mutation {i} of {}; input kept at {}",
                        path.display(),
                        keep.display()
                    );
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 100, "only {runs} inputs");
}

#[test]
fn gumroad_parsers_never_panic_on_mutated_fixtures() {
    let mut rng = fastrand::Rng::with_seed(0x6a3e);
    for dir in ["gumroad", "bad"] {
        for path in files(dir) {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("gumroad") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            for i in 0..iters() * 4 {
                let bytes = mutate(&mut rng, &data);
                let res = std::panic::catch_unwind(|| {
                    let _ = gumroad::parse_page(&bytes, 1);
                    let _ = parse_ping(&bytes, "ping");
                });
                assert!(
                    res.is_ok(),
                    "gumroad parser panicked on mutation {i} of {name}: {bytes:?}"
                );
            }
        }
    }
}

/// Every input a fuzzer crashed on (`tests/fixtures/fuzz/<platform>_<what>.<ext>`) is rejected
/// through the real binary with exit 5 and a message naming the file, never a panic — in this
/// debug build too, where overflow checks are on.
///
/// - `kdp_xlsx_cell_reference_overflow.xlsx` (cargo-fuzz `kdp_xlsx`, 2026-11-28): calamine
///   0.32's cell-reference parser multiplied past `u32` on a huge row number and panicked.
#[test]
fn inputs_fuzzers_crashed_on_are_rejected_cleanly() {
    let env = crate::util::Env::new();
    let mut n = 0;
    for path in files("fuzz") {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let platform = name.split('_').next().unwrap().to_string();
        let out = env
            .cmd()
            .args(["enqueue", &platform, "--file"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(stderr.contains(&name), "{name}: {stderr}");
        n += 1;
    }
    assert!(n >= 1);
}
