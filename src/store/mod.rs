//! The store: everything salesingest keeps, behind one API, with one implementation per
//! database engine (`sqlite/`; PostgreSQL to follow).
//!
//! Owns: every SQL statement in the program (each backend's own), opening the database and its
//! migrations. Must not: make retry decisions (it records what the queue decides), parse
//! reports, or print.

pub mod sqlite;

pub use sqlite::{reports, sales, upkeep, views, Db, BUSY_TIMEOUT};

#[cfg(test)]
pub(crate) use sqlite::testutil;
