//! End-to-end tests: the real `salesingest` binary on real-format fixture files, with a
//! temporary database each.

mod browser;
mod cli;
mod conformance;
mod coverage;
mod d2d;
mod fuzz_smoke;
mod gumroad;
mod kdp;
mod pg;
mod props;
mod queue;
mod reports;
mod serve;
mod smashwords;
mod soak;
mod storage;
mod unattended;
mod util;
mod wide;
mod wide2;
