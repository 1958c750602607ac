//! `salesingest man`: the man page, generated from the clap definitions (clap_mangen).

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::Cli;

/// Print the man page (roff) on stdout.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:
  salesingest man > ~/.local/share/man/man1/salesingest.1
  (man/salesingest.1 in the source tree is the same page)")]
pub struct Args {}

/// The man page as roff text.
///
/// # Errors
/// When rendering fails.
pub fn render() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .context("cannot render the man page")?;
    Ok(buf)
}

/// Run `man`.
///
/// # Errors
/// Rendering or stdout errors.
pub fn run(_args: &Args) -> Result<i32> {
    use std::io::Write;
    let page = render()?;
    std::io::stdout()
        .lock()
        .write_all(&page)
        .context("cannot write the man page")?;
    Ok(0)
}
