# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_salesingest_global_optspecs
    string join \n db= config= json q/quiet v/verbose no-color h/help V/version
end

function __fish_salesingest_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_salesingest_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_salesingest_using_subcommand
    set -l cmd (__fish_salesingest_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c salesingest -n "__fish_salesingest_needs_command" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_needs_command" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_needs_command" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_needs_command" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_needs_command" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_needs_command" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_needs_command" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_needs_command" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "enqueue" -d 'Queue an import: report files (KDP, Kobo, Google Play, StreetLib, Smashwords, Draft2Digital), a sync for Gumroad'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "run-worker" -d 'Process up to N due jobs, then exit (what cron runs every 5 minutes)'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "status" -d 'One job with its attempt history; without an id, the per-platform overview'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "logs" -d 'The run-worker log, newest first'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "jobs" -d 'List jobs, newest first'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "retry" -d 'Revive a failed (or cancelled) job so the next run-worker tries it again'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "cancel" -d 'Cancel a queued or retrying job (a running one stops at its next heartbeat); dismiss a failed one so that status --check stops reporting it'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "import" -d 'Queue report files or folders, recognising each file\'s platform by its content'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "schedules" -d 'List the [[schedule]] entries of the config with their last and next run'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "prune" -d 'Delete old finished jobs and cron runs now (never sales)'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "backup" -d 'Copy the database to FILE with SQLite\'s online backup (safe while workers run)'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "migrate" -d 'Copy a SQLite store into an empty PostgreSQL database (workers on several hosts), verified'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "doctor" -d 'Check the installation: database, permissions, config, token, stuck jobs and runs'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "man" -d 'Print the man page (roff)'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "sales" -d 'Sales reports: summaries, exports and charts (per month, platform, title, ...)'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "serve" -d 'Serve the Gumroad Ping receiver, the JSON API and the dashboard over HTTP'
complete -c salesingest -n "__fish_salesingest_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l file -d 'A report file to import (repeatable; each file becomes one job, which records the file\'s absolute path)' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l since -d 'API platforms: sync sales from this date (YYYY-MM-DD)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l until -d 'API platforms: sync sales up to and including this date (YYYY-MM-DD)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l payload -d 'API platforms: the sync window as JSON, e.g. \'{"since":"2025-01-01"}\'' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l ping-file -d 'Gumroad: ingest one Gumroad Ping body from FILE (`-` for stdin) instead of syncing' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l max-attempts -d 'Attempts before the job ends failed [default: 3, or queue.max_attempts in the config]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l priority -d 'Higher runs first' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l run-at -d 'Do not run before this time (RFC 3339, or YYYY-MM-DD for midnight UTC)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l force -d 'Import a file again even if the same content was already imported'
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand enqueue" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -l batch -d 'Process at most N jobs' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -l platform -d 'Only jobs of this platform' -r -f -a "amazon_kdp\t''
apple_books\t''
barnes_noble\t''
draft2digital\t''
google_play\t''
gumroad\t''
ingramspark\t''
kobo\t''
smashwords\t''
streetlib\t''"
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -l lease -d 'Lease length in seconds, renewed by a heartbeat while a job runs [default: 60]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -l ping-url -d 'Healthcheck ping URL (healthchecks.io style: URL/start, URL, URL/fail) [default: SALESINGEST_PING_URL, or [healthcheck] ping_url in the config]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand run-worker" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -l check -d 'Exit 6 with one line per problem when data is stale (a scheduled sync overdue, failed jobs not retried, a KDP month without its final report after the 20th of the next month); print nothing and exit 0 when healthy. With --json: an array of problems'
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand status" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -l limit -d 'Show at most N runs' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -l failed -d 'Only runs with a failed job, an error exit, or that were killed'
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand logs" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -l status -d 'Only jobs in this state' -r -f -a "queued\t''
processing\t''
retrying\t''
completed\t''
failed\t''
cancelled\t''"
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -l platform -d 'Only jobs of this platform' -r -f -a "amazon_kdp\t''
apple_books\t''
barnes_noble\t''
draft2digital\t''
google_play\t''
gumroad\t''
ingramspark\t''
kobo\t''
smashwords\t''
streetlib\t''"
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -l limit -d 'Show at most N jobs' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand jobs" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -l attempts -d 'Attempts to grant on top of those used' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand retry" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand cancel" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand cancel" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand cancel" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand cancel" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand cancel" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand cancel" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand cancel" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand cancel" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand completions" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand completions" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand completions" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand completions" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand completions" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand completions" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand completions" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand completions" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -l max-attempts -d 'Attempts before a job ends failed [default: 3, or queue.max_attempts in the config]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -l force -d 'Import a file again even if the same content was already imported'
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand import" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand schedules" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand schedules" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand schedules" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand schedules" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand schedules" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand schedules" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand schedules" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand schedules" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -l older-than -d 'One horizon for everything instead of the [retention] settings (e.g. 7d, 12h)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -l dry-run -d 'Only count what would be deleted'
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand prune" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -l force -d 'Replace FILE if it exists'
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand backup" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -l from -d 'The SQLite database file to copy' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -l to -d 'The PostgreSQL database to copy into (must hold no salesingest data)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand migrate" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand doctor" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand doctor" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand doctor" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand doctor" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand doctor" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand doctor" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand man" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand man" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand man" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand man" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand man" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand man" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand man" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand man" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -f -a "summary" -d 'Totals of units, KENP pages and royalty, grouped by month, platform, title, ...'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -f -a "export" -d 'Every effective event with every normalised field, as CSV, JSON or NDJSON (streamed)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -f -a "chart" -d 'Royalty per month, stacked by platform, as a terminal bar chart (and optionally SVG)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and not __fish_seen_subcommand_from summary export chart help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l by -d 'Group by these keys, comma-separated [default: month,platform,currency; with --in: month,platform]' -r -f -a "month\t''
platform\t''
title\t''
product\t''
format\t''
marketplace\t''
retailer\t''
country\t''
currency\t''"
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l since -d 'Only events whose period ends on or after DATE (YYYY-MM-DD, or YYYY-MM for its first day)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l until -d 'Only events whose period ends on or before DATE (YYYY-MM-DD, or YYYY-MM for its last day)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l platform -d 'Only this platform (repeatable)' -r -f -a "amazon_kdp\t''
apple_books\t''
barnes_noble\t''
draft2digital\t''
google_play\t''
gumroad\t''
ingramspark\t''
kobo\t''
smashwords\t''
streetlib\t''"
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l in -d 'Convert every amount into this currency (needs --rates)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l rates -d 'The rates file for --in: CSV `date,currency,rate` (see "Currency conversion" in --help)' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l final-only -d 'Only final events (KDP final reports, D2D verified rows, Smashwords adjusted rows, Gumroad, Apple Books, B&N Press and IngramSpark compensation rows)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from summary" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l format -d 'The file format [default: csv; json with --json, on stdout or in the --output file]' -r -f -a "csv\t'RFC 4180 CSV with a header row'
json\t'One JSON array'
ndjson\t'One JSON object per line'"
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -s o -l output -d 'Write to FILE instead of stdout (an existing FILE only with --force)' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l since -d 'Only events whose period ends on or after DATE (YYYY-MM-DD, or YYYY-MM for its first day)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l until -d 'Only events whose period ends on or before DATE (YYYY-MM-DD, or YYYY-MM for its last day)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l platform -d 'Only this platform (repeatable)' -r -f -a "amazon_kdp\t''
apple_books\t''
barnes_noble\t''
draft2digital\t''
google_play\t''
gumroad\t''
ingramspark\t''
kobo\t''
smashwords\t''
streetlib\t''"
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l in -d 'Convert every amount into this currency (needs --rates)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l rates -d 'The rates file for --in: CSV `date,currency,rate` (see "Currency conversion" in --help)' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l force -d 'Replace the --output file if it exists'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l final-only -d 'Only final events (KDP final reports, D2D verified rows, Smashwords adjusted rows, Gumroad, Apple Books, B&N Press and IngramSpark compensation rows)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l by -d 'What the bars are: only `month` for now' -r -f -a "month\t''"
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l currency -d 'The currency to chart [default: the one with the most events]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l width -d 'Chart width in columns [default: the terminal\'s width, 80 when not a terminal]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l svg -d 'Also write the chart as an SVG file (opens in a browser; an existing FILE only with --force)' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l since -d 'Only events whose period ends on or after DATE (YYYY-MM-DD, or YYYY-MM for its first day)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l until -d 'Only events whose period ends on or before DATE (YYYY-MM-DD, or YYYY-MM for its last day)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l platform -d 'Only this platform (repeatable)' -r -f -a "amazon_kdp\t''
apple_books\t''
barnes_noble\t''
draft2digital\t''
google_play\t''
gumroad\t''
ingramspark\t''
kobo\t''
smashwords\t''
streetlib\t''"
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l in -d 'Convert every amount into this currency (needs --rates)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l rates -d 'The rates file for --in: CSV `date,currency,rate` (see "Currency conversion" in --help)' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l force -d 'Replace the --svg file if it exists'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l final-only -d 'Only final events (KDP final reports, D2D verified rows, Smashwords adjusted rows, Gumroad, Apple Books, B&N Press and IngramSpark compensation rows)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from chart" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from help" -f -a "summary" -d 'Totals of units, KENP pages and royalty, grouped by month, platform, title, ...'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from help" -f -a "export" -d 'Every effective event with every normalised field, as CSV, JSON or NDJSON (streamed)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from help" -f -a "chart" -d 'Royalty per month, stacked by platform, as a terminal bar chart (and optionally SVG)'
complete -c salesingest -n "__fish_salesingest_using_subcommand sales; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l listen -d 'The address to listen on, e.g. 127.0.0.1:8750 (port 0: any free port) [default: [serve] listen, else 127.0.0.1:8750]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l batch -d 'Jobs one worker pass takes (with --worker)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l allowed-host -d 'A Host name to accept besides 127.0.0.1, localhost and [::1] (repeatable; adds to [serve] allowed_hosts)' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l db -d 'The database: a SQLite file, or a postgres:// URL for workers on several hosts [default: <XDG data dir>/salesingest/salesingest.db]' -r
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l config -d 'The TOML config file [default: <XDG config dir>/salesingest/config.toml]' -r -F
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l worker -d 'Also run a worker loop in this process (otherwise jobs wait for run-worker from cron)'
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l show-hook-url -d 'Print the Gumroad Ping URL path (with its secret) and the API token file, then exit'
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l json -d 'Machine-readable JSON on stdout'
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -s q -l quiet -d 'Print nothing but errors'
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -l no-color -d 'Never use colour (also: the NO_COLOR environment variable)'
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -s h -l help -d 'Print help'
complete -c salesingest -n "__fish_salesingest_using_subcommand serve" -s V -l version -d 'Print version'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "enqueue" -d 'Queue an import: report files (KDP, Kobo, Google Play, StreetLib, Smashwords, Draft2Digital), a sync for Gumroad'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "run-worker" -d 'Process up to N due jobs, then exit (what cron runs every 5 minutes)'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "status" -d 'One job with its attempt history; without an id, the per-platform overview'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "logs" -d 'The run-worker log, newest first'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "jobs" -d 'List jobs, newest first'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "retry" -d 'Revive a failed (or cancelled) job so the next run-worker tries it again'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "cancel" -d 'Cancel a queued or retrying job (a running one stops at its next heartbeat); dismiss a failed one so that status --check stops reporting it'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "completions" -d 'Print a shell completion script'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "import" -d 'Queue report files or folders, recognising each file\'s platform by its content'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "schedules" -d 'List the [[schedule]] entries of the config with their last and next run'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "prune" -d 'Delete old finished jobs and cron runs now (never sales)'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "backup" -d 'Copy the database to FILE with SQLite\'s online backup (safe while workers run)'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "migrate" -d 'Copy a SQLite store into an empty PostgreSQL database (workers on several hosts), verified'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "doctor" -d 'Check the installation: database, permissions, config, token, stuck jobs and runs'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "man" -d 'Print the man page (roff)'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "sales" -d 'Sales reports: summaries, exports and charts (per month, platform, title, ...)'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "serve" -d 'Serve the Gumroad Ping receiver, the JSON API and the dashboard over HTTP'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and not __fish_seen_subcommand_from enqueue run-worker status logs jobs retry cancel completions import schedules prune backup migrate doctor man sales serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and __fish_seen_subcommand_from sales" -f -a "summary" -d 'Totals of units, KENP pages and royalty, grouped by month, platform, title, ...'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and __fish_seen_subcommand_from sales" -f -a "export" -d 'Every effective event with every normalised field, as CSV, JSON or NDJSON (streamed)'
complete -c salesingest -n "__fish_salesingest_using_subcommand help; and __fish_seen_subcommand_from sales" -f -a "chart" -d 'Royalty per month, stacked by platform, as a terminal bar chart (and optionally SVG)'
