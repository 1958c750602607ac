//! `salesingest serve`: the Gumroad Ping receiver, the JSON API and the dashboard over HTTP.

use anyhow::Result;

use super::Ctx;

/// Serve the Gumroad Ping receiver, the JSON API and the dashboard.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Binds 127.0.0.1:8750 unless told otherwise ([serve] listen, \
SALESINGEST_SERVE_LISTEN or --listen). Every /api route needs `Authorization: Bearer <token>`, \
the token being the content of [serve] token_file (created owner-only on first start). The \
Gumroad Ping URL holds its own secret: see it with --show-hook-url. Gumroad cannot post to a \
loopback or private address: put a tunnel or reverse proxy with TLS in front, and name it in \
[serve] allowed_hosts.

Examples:
  salesingest serve
  salesingest serve --worker
  salesingest serve --show-hook-url
  salesingest serve --listen 0.0.0.0:8750 --allowed-host sales.example.org"
)]
pub struct Args {
    /// The address to listen on, e.g. 127.0.0.1:8750 (port 0: any free port) [default:
    /// [serve] listen, else 127.0.0.1:8750]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,

    /// Also run a worker loop in this process (otherwise jobs wait for run-worker from cron)
    #[arg(long)]
    pub worker: bool,

    /// Jobs one worker pass takes (with --worker)
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub batch: u32,

    /// A Host name to accept besides 127.0.0.1, localhost and [::1] (repeatable; adds to
    /// [serve] allowed_hosts)
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,

    /// Print the Gumroad Ping URL path (with its secret) and the API token file, then exit
    #[arg(long)]
    pub show_hook_url: bool,
}

/// Run `serve`.
///
/// # Errors
/// A bad address, a port in use, an unreadable token file, database errors.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let opts = crate::serve::ServeOptions {
        listen: args.listen.clone(),
        worker: args.worker,
        batch: args.batch,
        allowed_hosts: args.allowed_hosts.clone(),
        show_hook_url: args.show_hook_url,
        json: ctx.out.json,
        quiet: ctx.out.quiet,
    };
    crate::serve::run(&ctx.settings, &ctx.open_options(), &opts)
}
