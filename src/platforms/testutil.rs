//! Test helpers shared by the adapters' unit tests.

use std::path::{Path, PathBuf};

use super::{EventSink, SinkError};
use crate::model::SaleEvent;

/// A sink that keeps every event.
#[derive(Default)]
pub(crate) struct Collect(pub(crate) Vec<SaleEvent>);

impl EventSink for Collect {
    fn event(&mut self, event: SaleEvent) -> Result<(), SinkError> {
        self.0.push(event);
        Ok(())
    }
}

/// A fixture file in the repository (`tests/fixtures/<rel>`).
pub(crate) fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}
