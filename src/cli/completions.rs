//! `salesingest completions <SHELL>`: print a shell completion script.

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

/// Print a completion script.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  salesingest completions bash > ~/.local/share/bash-completion/completions/salesingest
  salesingest completions zsh > ~/.zfunc/_salesingest
  salesingest completions fish > ~/.config/fish/completions/salesingest.fish")]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = super::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "salesingest", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Run `completions`.
///
/// # Errors
/// Never in practice (writing to stdout).
pub fn run(args: &Args) -> Result<i32> {
    use std::io::Write;
    std::io::stdout().write_all(script(args.shell).as_bytes())?;
    Ok(0)
}
