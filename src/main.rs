//! The `salesingest` binary: parse, run, map the error to an exit code. Nothing else.

use std::process::ExitCode;

use salesingest::cli;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let quiet_color = cli.no_color;
    match cli::run(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let out = salesingest::output::Printer::new(
                false,
                false,
                0,
                !quiet_color && !salesingest::config::no_color_env(),
            );
            out.error(&format!("{err:#}"));
            ExitCode::from(u8::try_from(cli::exit_code_of(&err)).unwrap_or(1))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
