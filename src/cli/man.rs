//! `salesingest man`: one complete man page, generated from the clap definitions
//! (clap_mangen renders each command's synopsis and options) plus the sections clap does not
//! know: ENVIRONMENT, FILES, CONFIGURATION, EXIT STATUS.

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::{Cli, EXIT_CODE_TABLE, GLOBAL};

/// Print the man page (roff) on stdout.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "One page holds every command with its options, the environment, the \
files, the config file and the exit codes.

Example:
  salesingest man > ~/.local/share/man/man1/salesingest.1
  (man/salesingest.1 in the source tree is the same page)"
)]
pub struct Args {}

/// The man page as roff text.
///
/// # Errors
/// When rendering fails.
pub fn render() -> Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    out.extend_from_slice(DESCRIPTION.as_bytes());
    man.render_options_section(&mut out)
        .context("cannot render the man page")?;
    out.extend_from_slice(b".SH COMMANDS\n");
    out.extend_from_slice(
        b"Every command also takes the global options above, before or after its name.\n",
    );
    for sub in cmd.get_subcommands() {
        command_section(&mut out, sub, None)?;
    }
    out.extend_from_slice(STATIC_SECTIONS.as_bytes());
    out.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for (code, meaning) in EXIT_CODE_TABLE {
        out.extend_from_slice(format!(".TP\n{code}\n{}\n", escape(meaning)).as_bytes());
    }
    out.extend_from_slice(SEE_ALSO.as_bytes());
    Ok(out)
}

/// One `.SS` per command (nested commands too: `sales summary`), with its own options only.
fn command_section(out: &mut Vec<u8>, sub: &clap::Command, shared: Option<&str>) -> Result<()> {
    if sub.get_name() == "help" {
        return Ok(());
    }
    if sub.has_subcommands() {
        // The text the nested commands share (`sales`: effective sales, dates, conversion)
        // is printed once, after them.
        let shared = sub
            .get_after_long_help()
            .or_else(|| sub.get_after_help())
            .map(ToString::to_string);
        for s in sub.get_subcommands() {
            command_section(out, s, shared.as_deref())?;
        }
        if let Some(text) = shared {
            let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
            out.extend_from_slice(format!(".SS \"About {}\"\n", escape(name)).as_bytes());
            out.extend_from_slice(paragraphs(&text).as_bytes());
        }
        return Ok(());
    }
    let name = sub
        .get_bin_name()
        .unwrap_or_else(|| sub.get_name())
        .to_string();
    // Its own options only: the global ones are listed once, above.
    let own = sub.clone().mut_args(|a| {
        let id = a.get_id().as_str();
        if a.get_help_heading() == Some(GLOBAL) || id == "help" || id == "version" {
            a.hide(true)
        } else {
            a
        }
    });
    let man = clap_mangen::Man::new(own.clone());
    out.extend_from_slice(format!(".SS \"{}\"\n", escape(&name)).as_bytes());
    let mut buf = Vec::new();
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    if own.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buf)?;
    }
    // The sections clap_mangen opens become paragraphs inside this command's subsection.
    for line in String::from_utf8_lossy(&buf).lines() {
        if line.starts_with(".SH ") {
            out.extend_from_slice(b".PP\n");
        } else {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    if let Some(after) = sub.get_after_long_help().or_else(|| sub.get_after_help()) {
        let after = after.to_string();
        if shared != Some(after.as_str()) {
            out.extend_from_slice(paragraphs(&after).as_bytes());
        }
    }
    Ok(())
}

/// Plain text as roff: blank lines start paragraphs, indented lines (examples) are kept as
/// they are.
fn paragraphs(text: &str) -> String {
    let mut out = String::from(".PP\n");
    let mut literal = false;
    for line in text.lines() {
        let indented = line.starts_with(' ');
        if indented && !literal {
            out.push_str(".RS 4\n.nf\n");
            literal = true;
        } else if !indented && literal {
            out.push_str(".fi\n.RE\n");
            literal = false;
        }
        if line.trim().is_empty() {
            out.push_str(".PP\n");
        } else {
            out.push_str(&escape(if indented { line.trim_start() } else { line }));
            out.push('\n');
        }
    }
    if literal {
        out.push_str(".fi\n.RE\n");
    }
    out
}

/// Escape text for roff: backslashes, hyphens, and a leading `.` or `'`.
fn escape(text: &str) -> String {
    let s = text.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

const DESCRIPTION: &str = r".PP
Each report file is checked when it is queued (\fBenqueue\fR or \fBimport\fR) and copied into
the database's inbox folder; \fBrun\-worker\fR, run by cron or a systemd timer, imports the queued
files and Gumroad syncs. Reports (\fBsales\fR) read the effective sales: for a month with a final
KDP report the estimates are replaced by the final figures. Money is exact (integer
micro\-units), and amounts of different currencies are never added together unless converted
with \fB\-\-in\fR.
.PP
Commands that only read (\fBsales\fR, \fBstatus\fR, \fBjobs\fR, \fBlogs\fR, \fBschedules\fR,
\fBretry\fR, \fBcancel\fR, \fBprune\fR, \fBbackup\fR) need an existing database: they say
\(lqno database at PATH\(rq (exit 1) instead of creating an empty one. \fBenqueue\fR,
\fBimport\fR and \fBrun\-worker\fR create it on first use.
.PP
With \fB\-\-json\fR, stdout holds only JSON (times RFC 3339 UTC, money as decimal strings with a
currency); human output uses the same RFC 3339 UTC times.
";

const STATIC_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBSALESINGEST_DB\fR
The database, when \fB\-\-db\fR is not given: a SQLite file path (or \fIsqlite:PATH\fR), or a
PostgreSQL URL \fIpostgres://user:password@host:port/database?sslmode=verify\-full&sslrootcert=FILE\fR
for workers on several hosts (the password is never printed).
.TP
\fBSALESINGEST_PG_POOL_SIZE\fR
Connections a PostgreSQL store keeps per process (default 2; also \fB[postgres] pool_size\fR).
.TP
\fBSALESINGEST_HOST\fR
The host name a worker records in its identity and judges leases by (default: the machine's).
Set it when containers share one host name: a worker never judges another host's worker dead,
it waits for that worker's lease to expire.
.TP
\fBSALESINGEST_CONFIG\fR
The config file, when \fB\-\-config\fR is not given.
.TP
\fBGUMROAD_ACCESS_TOKEN\fR
The Gumroad API token (instead of \fB[gumroad] access_token\fR). It is only ever sent in the
Authorization header and never printed.
.TP
\fBSALESINGEST_GUMROAD_API_URL\fR
The Gumroad API base URL (default https://api.gumroad.com).
.TP
\fBSALESINGEST_PING_URL\fR
The healthcheck ping URL, when \fBrun\-worker \-\-ping\-url\fR is not given.
.TP
\fBSALESINGEST_DASHBOARD_CURRENCY\fR, \fBSALESINGEST_DASHBOARD_RATES\fR
The currency and rates file the dashboard of \fBserve\fR converts its book table and chart with
(instead of \fB[dashboard] currency\fR and \fBrates\fR; both or neither).
.TP
\fBNO_COLOR\fR
Set to anything non\-empty: no colour, as with \fB\-\-no\-color\fR (usage errors included).
.TP
\fBCOLUMNS\fR
The width tables and charts fit in when stdout is not a terminal (on a terminal, its width).
.TP
\fBXDG_DATA_HOME\fR, \fBXDG_CONFIG_HOME\fR
Where the default database and config file live.
.SH FILES
.TP
\fI~/.local/share/salesingest/salesingest.db\fR
The database (\fB$XDG_DATA_HOME/salesingest/salesingest.db\fR), created owner\-only (0600, its
folder 0700) by the first command that writes. WAL mode: keep its \fI\-wal\fR and \fI\-shm\fR files
next to it; the folder must be writable.
.TP
\fI<database folder>/inbox/<sha256>\fR
The copy of every queued report file, named by its SHA\-256, so that moving or deleting the
original loses nothing.
.TP
\fI~/.config/salesingest/config.toml\fR
The config file (\fB$XDG_CONFIG_HOME/salesingest/config.toml\fR); a missing default file is
fine, a missing \fB\-\-config\fR file is an error. Holding a token, it must be chmod 600.
.SH CONFIGURATION
The config file is TOML; every key is optional:
.PP
.RS 4
.nf
[queue]
max_attempts = 3        # per job, unless \-\-max\-attempts
retry_base = "5m"       # backoff: min(cap, base * 2^(attempt\-1)), with jitter
retry_cap = "6h"
lease = "60s"           # renewed by a heartbeat while a job runs
synchronous = "full"    # or "normal": faster on slow disks, a power cut may
                        # roll back the last commits
window = 16             # quick jobs (< 20 ms) claimed and recorded together,
                        # 1 to 64; 1 = one job at a time

[retention]             # pruned after every run\-worker, by finish time
completed = "30d"
failed = "90d"
cron_runs = "30d"

[gumroad]
access_token = "..."    # or GUMROAD_ACCESS_TOKEN; then chmod 600 this file
trailing_days = 30      # an incremental sync re\-reads this many days
first_sync = "2011\-01\-01"
# api_url = "https://api.gumroad.com"

[[schedule]]            # run\-worker enqueues this sync when due
platform = "gumroad"
every = "6h"
# name = "gumroad"

[postgres]              # with \-\-db postgres://...
pool_size = 2           # connections per process

[inbox]                 # report files dropped here are imported by run\-worker
path = "~/salesingest\-inbox"

[healthcheck]
ping_url = "https://hc\-ping.com/<uuid>"

[dashboard]             # serve's dashboard: book table and chart in one currency
currency = "EUR"        # as sales \-\-in EUR \-\-rates FILE (both or neither)
rates = "~/sales/eur\-rates.csv"
.fi
.RE
"#;

const SEE_ALSO: &str = r".SH EXAMPLES
.nf
salesingest import ~/Downloads/reports/ && salesingest run\-worker
salesingest sales summary \-\-by platform,currency
salesingest status \-\-check
*/5 * * * * salesingest run\-worker \-\-batch 10    (crontab)
.fi
.SH SEE ALSO
\fBcrontab\fR(5), \fBsystemd.timer\fR(5), \fBsqlite3\fR(1)
";

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
