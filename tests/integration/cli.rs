//! The command-line contract: JSON fields, exit codes, cron manners, completions.

use predicates::prelude::*;

use crate::util::{fixture, Env};

#[test]
fn enqueue_run_status_logs_json_contract() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["enqueue", "d2d", "--json", "--file"])
        .arg(fixture("d2d/d2d_sales.csv"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "id",
        "platform",
        "status",
        "run_at",
        "deduplicated",
        "input",
    ] {
        assert!(job.get(key).is_some(), "enqueue --json lacks {key}: {job}");
    }
    assert_eq!(job["platform"], "draft2digital");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["deduplicated"], false);
    assert!(job["input"]["file"]
        .as_str()
        .unwrap()
        .ends_with("d2d_sales.csv"));
    assert_eq!(job["input"]["sha256"].as_str().unwrap().len(), 64);
    assert!(job["run_at"].as_str().unwrap().ends_with('Z'));

    let run = env.json(&["run-worker", "--batch", "10"]);
    for key in [
        "run_id",
        "started_at",
        "finished_at",
        "claimed",
        "completed",
        "retrying",
        "failed",
        "rescued",
        "jobs",
    ] {
        assert!(run.get(key).is_some(), "run-worker --json lacks {key}");
    }
    assert_eq!(run["completed"], 1);
    let j = &run["jobs"][0];
    for key in ["id", "platform", "status", "attempt", "error", "events"] {
        assert!(j.get(key).is_some(), "run job lacks {key}");
    }
    assert_eq!(j["events"]["inserted"], 11);

    let id = job["id"].as_i64().unwrap().to_string();
    let st = env.json(&["status", &id]);
    for key in [
        "id",
        "platform",
        "status",
        "attempts",
        "max_attempts",
        "created_at",
        "run_at",
        "finished_at",
        "last_error",
        "input",
        "result",
        "attempt_history",
    ] {
        assert!(st.get(key).is_some(), "status --json lacks {key}");
    }
    assert_eq!(st["status"], "completed");
    assert_eq!(st["attempts"], 1);
    assert_eq!(st["result"]["events"]["inserted"], 11);
    let a = &st["attempt_history"][0];
    for key in [
        "attempt",
        "started_at",
        "finished_at",
        "outcome",
        "error",
        "worker",
    ] {
        assert!(a.get(key).is_some(), "attempt lacks {key}");
    }
    assert_eq!(a["outcome"], "completed");

    let logs = env.json(&["logs"]);
    let l = &logs.as_array().unwrap()[0];
    for key in [
        "id",
        "started_at",
        "finished_at",
        "host",
        "pid",
        "claimed",
        "completed",
        "retrying",
        "failed",
        "rescued",
        "exit_code",
    ] {
        assert!(l.get(key).is_some(), "logs --json lacks {key}");
    }
    assert_eq!(l["exit_code"], 0);
    assert_eq!(l["completed"], 1);

    let jobs = env.json(&["jobs", "--status", "completed"]);
    assert_eq!(jobs.as_array().unwrap().len(), 1);
}

#[test]
fn exit_codes() {
    let env = Env::new();
    env.cmd().args(["run-worker"]).assert().success();
    env.cmd()
        .args(["status", "999"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("no job with id 999"));
    env.cmd().args(["retry", "999"]).assert().code(4);
    env.cmd().args(["cancel", "999"]).assert().code(4);
    env.cmd().args(["enqueue", "payhip"]).assert().code(2);
    env.cmd()
        .args(["enqueue", "d2d"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--file"));
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(fixture("bad/d2d_sales_truncated.csv"))
        .assert()
        .code(5)
        .stderr(
            predicate::str::contains("d2d_sales_truncated.csv")
                .and(predicate::str::contains("line 8")),
        );
    env.cmd()
        .args(["enqueue", "d2d", "--file", "/nonexistent/file.csv"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("/nonexistent/file.csv"));
    env.cmd()
        .args(["enqueue", "gumroad", "--payload", "{not json"])
        .assert()
        .code(5);
    // A missing explicit config file is an error (1).
    env.cmd()
        .args(["--config", "/nonexistent/config.toml", "jobs"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"));
    // Nothing was queued by the rejected commands.
    assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
}

#[test]
fn quiet_under_cron_and_alert_on_failure() {
    let env = Env::new();
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(fixture("d2d/d2d_sales.csv"))
        .assert()
        .success();
    // stdout is a pipe here, as under cron: nothing printed when all went well.
    env.cmd()
        .args(["run-worker"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");

    // A job whose inbox copy turned bad fails permanently: one stderr line, exit 3.
    let job = env.json(&[
        "enqueue",
        "d2d",
        "--file",
        fixture("d2d/d2d_sales_print.csv").to_str().unwrap(),
    ]);
    let sha = job["input"]["sha256"].as_str().unwrap();
    std::fs::write(env.path("data/inbox").join(sha), "not,a,report\n1,2,3\n").unwrap();
    env.cmd()
        .args(["run-worker"])
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "job {} (draft2digital) failed",
            job["id"]
        )));
    let logs = env.json(&["logs", "--failed"]);
    assert_eq!(logs.as_array().unwrap().len(), 1);
    assert_eq!(logs[0]["exit_code"], 3);
}

#[test]
fn completions_in_repo_match_the_binary() {
    for (shell, file) in [
        ("bash", "salesingest.bash"),
        ("zsh", "_salesingest"),
        ("fish", "salesingest.fish"),
    ] {
        let out = Env::new()
            .cmd()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let committed = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("completions")
                .join(file),
        )
        .unwrap_or_default();
        assert!(
            committed == out.stdout,
            "completions/{file} is stale: run `salesingest completions {shell} > completions/{file}`"
        );
    }
}

#[test]
fn help_documents_exit_codes_and_commands() {
    Env::new()
        .cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes").and(predicate::str::contains("run-worker")));
}

#[test]
fn config_with_token_readable_by_others_is_refused() {
    let env = Env::new();
    env.config("[gumroad]\naccess_token = \"tok_secret_123\"\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            env.path("config.toml"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        env.cmd().args(["jobs"]).assert().code(1).stderr(
            predicate::str::contains("chmod 600")
                .and(predicate::str::contains("tok_secret_123").not()),
        );
    }
}

#[cfg(unix)]
#[test]
fn database_and_folder_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.cmd().args(["run-worker"]).assert().success();
    let db = std::fs::metadata(env.db_path())
        .unwrap()
        .permissions()
        .mode();
    let dir = std::fs::metadata(env.db_path().parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(db & 0o077, 0, "db mode {db:o}");
    assert_eq!(dir & 0o077, 0, "dir mode {dir:o}");
}

// ----- a first run, smoothed (issue 16, section 2) -----
//
// Tests that need a pseudo-terminal (what a person at a terminal sees) run the binary under
// util-linux `script(1)`; `build.rs` looks for it, and where it is missing they are compiled
// with `#[ignore]`, so `cargo test` reports them as ignored, never as passed.

use std::path::Path;
use std::process::Command as StdCommand;

use crate::util::{d2d_row, write_d2d};

const D2D: &str = "d2d/d2d_sales.csv";

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An environment with the D2D fixture imported (job 1, completed).
fn imported() -> Env {
    let env = Env::new();
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(fixture(D2D))
        .assert()
        .success();
    env.cmd().args(["run-worker"]).assert().success();
    env
}

/// A job that failed for good (its inbox copy replaced by a file of no known layout).
fn failed_job(env: &Env) -> i64 {
    let f = env.path("fails.csv");
    write_d2d(&f, &[d2d_row("2025-07-01", "1.00", 1)]);
    let job = env.json(&["enqueue", "d2d", "--file", f.to_str().unwrap()]);
    let sha = job["input"]["sha256"].as_str().unwrap();
    std::fs::write(env.path("data/inbox").join(sha), "not,a,report\n1,2,3\n").unwrap();
    env.cmd().args(["run-worker"]).assert().code(3);
    job["id"].as_i64().unwrap()
}

/// Run the binary on a pseudo-terminal `cols` wide (stdout and stderr both go to it).
/// Returns the exit code and what the terminal showed, without carriage returns.
fn on_terminal(env: &Env, args: &[&str], cols: u16) -> (i32, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = format!(
        "stty rows 40 cols {cols}; exec {}",
        quote(env!("CARGO_BIN_EXE_salesingest"))
    );
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let template = env.spawn_cmd();
    let mut cmd = StdCommand::new("script");
    cmd.env_clear();
    for (k, v) in template.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    if let Some(dir) = template.get_current_dir() {
        cmd.current_dir(dir);
    }
    let out = cmd
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
    )
}

#[test]
fn export_json_means_json_in_the_output_file_too() {
    let env = imported();
    let out = env
        .cmd()
        .current_dir(env.dir.path())
        .args(["sales", "export", "--json", "--output", "e.json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let on_stdout = env.json(&["sales", "export"]);
    let in_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("e.json")).unwrap())
            .expect("e.json holds JSON");
    assert_eq!(in_file, on_stdout, "the same JSON as `sales export --json`");
    assert_eq!(in_file.as_array().unwrap().len(), 11);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["events"], 11);
    // --format still wins.
    env.cmd()
        .current_dir(env.dir.path())
        .args([
            "sales", "export", "--json", "--format", "csv", "-o", "e.csv",
        ])
        .assert()
        .success();
    assert!(std::fs::read_to_string(env.path("e.csv"))
        .unwrap()
        .starts_with("platform,source,"));
}

#[test]
fn commands_that_read_never_create_a_database() {
    let env = imported();
    let typo = env.path("data/typo.bd");
    let other = env.path("nowhere/salesingest.db");
    for db in [&typo, &other] {
        for args in [
            &["sales", "summary"][..],
            &["sales", "export"],
            &["sales", "chart"],
            &["status"],
            &["status", "--check"],
            &["status", "1"],
            &["jobs"],
            &["logs"],
            &["sales", "export"],
            &["schedules"],
            &["retry", "1"],
            &["cancel", "1"],
            &["prune"],
            &["backup", env.path("b.db").to_str().unwrap()],
        ] {
            let out = env.cmd().arg("--db").arg(db).args(args).output().unwrap();
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(
                err.contains(&format!("no database at `{}`", db.display()))
                    && err.contains("salesingest import"),
                "{args:?}: {err}"
            );
            assert!(!db.exists(), "{args:?} created {}", db.display());
            assert!(!env.path("b.db").exists());
        }
        // doctor reads too: a warning, nothing created.
        let out = env
            .cmd()
            .arg("--db")
            .arg(db)
            .args(["doctor", "--json"])
            .output()
            .unwrap();
        assert!(
            stdout_of(&out).contains("no database at"),
            "{}",
            stdout_of(&out)
        );
        assert!(!db.exists());
    }
    assert!(!env.path("nowhere").exists(), "not even its folder");
    // A command that writes creates it.
    env.cmd()
        .arg("--db")
        .arg(&typo)
        .args(["enqueue", "d2d", "--file"])
        .arg(fixture(D2D))
        .assert()
        .success();
    assert!(typo.exists());
}

#[test]
fn import_queues_the_good_files_and_names_a_missing_path() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["import", "--json"])
        .arg(fixture(D2D))
        .arg("/nonexistent")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("`/nonexistent`"), "{err}");
    assert!(err.contains("the other one was queued"), "{err}");
    let lines: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["status"], "queued");
    assert_eq!(lines[1]["file"], "/nonexistent");
    assert_eq!(lines[1]["status"], "rejected");
    let jobs = env.json(&["jobs"]);
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    assert_eq!(jobs[0]["status"], "queued");
}

/// Overwrite every page after the first (the header page) with garbage.
fn damage(db: &Path) {
    let len = std::fs::metadata(db).unwrap().len() as usize;
    let mut bytes = std::fs::read(db).unwrap();
    for b in &mut bytes[4096..len] {
        *b = 0x5a;
    }
    std::fs::write(db, bytes).unwrap();
}

#[test]
fn a_damaged_database_is_named_with_what_to_do() {
    let env = imported();
    let broken = env.path("broken.db");
    std::fs::copy(env.db_path(), &broken).unwrap();
    damage(&broken);
    let garbage = env.path("garbage.db");
    std::fs::write(&garbage, "this is not an SQLite database\n".repeat(200)).unwrap();
    for (db, what) in [
        (&broken, "is damaged"),
        (&garbage, "is not an SQLite database"),
    ] {
        for args in [
            &["status"][..],
            &["sales", "summary"],
            &["jobs"],
            &["run-worker"],
        ] {
            let out = env.cmd().arg("--db").arg(db).args(args).output().unwrap();
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(
                err.contains(&format!("the database `{}` {what}", db.display())),
                "{args:?}: {err}"
            );
            assert!(
                err.contains("run `salesingest doctor`") && err.contains("restore from `backup`"),
                "{args:?}: {err}"
            );
        }
    }
}

#[test]
fn cancel_is_idempotent_and_dismisses_a_failed_job() {
    let env = imported();
    let failed = failed_job(&env);
    let id = failed.to_string();
    env.cmd()
        .args(["status", "--check"])
        .assert()
        .code(6)
        .stdout(
            predicate::str::contains(format!("job {id} failed"))
                .and(predicate::str::contains(format!("salesingest cancel {id}"))),
        );
    env.cmd()
        .args(["cancel", &id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("dismissed"));
    env.cmd()
        .args(["status", "--check"])
        .assert()
        .code(0)
        .stdout("");
    let error = env.json(&["status", &id])["last_error"].clone();
    let st = env.json(&["status", &id]);
    assert_eq!(st["status"], "cancelled");
    assert!(
        error.as_str().is_some_and(|e| e.contains("fails.csv")),
        "{error}"
    );
    // Again: nothing changes, still success.
    let again = env.json(&["cancel", &id]);
    assert_eq!(again["status"], "cancelled");
    // A completed job cannot be cancelled: a state problem (7), not a database error (1).
    env.cmd()
        .args(["cancel", "1"])
        .assert()
        .code(7)
        .stderr(predicate::str::contains("job 1 is already completed"));
    env.cmd().args(["retry", "1"]).assert().code(7);
    // The dismissed job can still be revived.
    env.cmd().args(["retry", &id]).assert().code(0);
}

/// What no line of a table may do at `width` columns: be wider, or split a number.
fn assert_fits(text: &str, width: usize, whole: &[&str]) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "a line is {} columns wide:\n{line}\n{text}",
            line.chars().count()
        );
    }
    for w in whole {
        assert!(text.contains(w), "`{w}` is split or missing:\n{text}");
    }
}

/// Jobs of every kind: completed, failed (a long error), queued for later (a due time).
fn busy() -> (Env, i64) {
    let env = imported();
    failed_job(&env);
    let later = env.json(&[
        "enqueue",
        "d2d",
        "--run-at",
        "2030-01-01T00:00:00Z",
        "--file",
        fixture("d2d/d2d_sales_print.csv").to_str().unwrap(),
    ]);
    (env, later["id"].as_i64().unwrap())
}

#[test]
fn status_and_jobs_are_readable_at_80_columns() {
    let (env, later) = busy();
    let later = later.to_string();
    for (args, whole) in [
        (
            &["status"][..],
            &["37.61 USD", "5.19 EUR", "draft2digital", "2025-07-26"][..],
        ),
        (
            &["jobs"],
            &["2030-01-01T00:00:00Z", "draft2digital", "completed", &later],
        ),
        (&["logs"], &["completed"]),
        (&["status", "1"], &["11 inserted", "completed"]),
    ] {
        let out = env.cmd().env("COLUMNS", "80").args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        assert_fits(&stdout_of(&out), 80, whole);
    }
    // Wide enough, nothing is hidden.
    let out = env
        .cmd()
        .env("COLUMNS", "250")
        .arg("jobs")
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.contains("created") && !text.contains("not shown"),
        "{text}"
    );
}

#[test]
#[cfg_attr(
    not(salesingest_test_pty),
    ignore = "needs util-linux script(1) for a pseudo-terminal (probed by build.rs)"
)]
fn status_and_jobs_fit_an_80_column_terminal() {
    let (env, later) = busy();
    let later = later.to_string();
    for (args, whole) in [
        (&["status"][..], &["37.61 USD", "2025-07-26"][..]),
        (&["jobs"], &["2030-01-01T00:00:00Z", &later, "completed"]),
    ] {
        let (code, text) = on_terminal(&env, args, 80);
        assert_eq!(code, 0, "{text}");
        assert_fits(&text, 80, whole);
    }
}

#[test]
fn the_man_page_is_complete() {
    use clap::CommandFactory;
    let out = Env::new().cmd().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = stdout_of(&out);
    for section in [
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH CONFIGURATION",
        ".SH \"GLOBAL OPTIONS\"",
    ] {
        assert!(page.contains(section), "{section} missing");
    }
    for env_var in [
        "SALESINGEST_DB",
        "GUMROAD_ACCESS_TOKEN",
        "NO_COLOR",
        "SALESINGEST_PING_URL",
    ] {
        assert!(page.contains(env_var), "{env_var} missing");
    }
    for code in 0..=7 {
        assert!(
            page.contains(&format!(".TP\n{code}\n")),
            "exit {code} missing"
        );
    }
    assert!(page.contains("[[schedule]]") && page.contains("[retention]"));
    // Every command and each of its options.
    fn walk(cmd: &clap::Command, prefix: &str, page: &str) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{prefix} {}", sub.get_name());
            if sub.has_subcommands() {
                walk(sub, &name, page);
                continue;
            }
            let heading = format!(".SS \"{}\"", name.replace('-', "\\-"));
            let at = page
                .find(&heading)
                .unwrap_or_else(|| panic!("{heading} missing"));
            let end = page[at + 1..]
                .find(".SS ")
                .map_or(page.len(), |e| at + 1 + e);
            let section = &page[at..end];
            for arg in sub.get_arguments() {
                if let Some(long) = arg.get_long() {
                    let flag = format!("\\-\\-{}", long.replace('-', "\\-"));
                    assert!(section.contains(&flag), "{name}: --{long} missing");
                }
            }
        }
    }
    walk(&salesingest::cli::Cli::command(), "salesingest", &page);
    // No page it cites is missing: it cites no salesingest-*(1) page at all.
    assert!(
        !page.contains("salesingest\\-enqueue(1)"),
        "dangling reference"
    );
    let dangling = page
        .match_indices("(1)")
        .filter(|(i, _)| {
            page[..*i]
                .rsplit(|c: char| c.is_whitespace())
                .next()
                .is_some_and(|w| w.contains("salesingest"))
        })
        .count();
    assert_eq!(dangling, 0);
}

#[test]
fn completions_offer_platforms_keys_and_states() {
    let env = Env::new();
    let script = |shell: &str| stdout_of(&env.cmd().args(["completions", shell]).output().unwrap());
    let platforms: Vec<&str> = salesingest::model::Platform::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    let keys: Vec<&str> = salesingest::store::Dim::ALL
        .iter()
        .map(|d| d.name())
        .collect();
    let states: Vec<&str> = salesingest::queue::JobState::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    let bash = script("bash");
    let words = |list: &[&str]| format!("compgen -W \"{}\"", list.join(" "));
    assert!(bash.contains(&words(&platforms)), "--platform");
    assert!(bash.contains(&words(&keys)), "--by");
    assert!(bash.contains(&words(&states)), "jobs --status");
    // `enqueue <TAB>`: the platforms among its words.
    let enqueue = bash
        .lines()
        .skip_while(|l| !l.contains("salesingest__subcmd__enqueue)"))
        .find(|l| l.contains("opts="))
        .unwrap();
    for p in &platforms {
        assert!(enqueue.contains(p), "enqueue <TAB> lacks {p}: {enqueue}");
    }
    for shell in ["zsh", "fish"] {
        let s = script(shell);
        for w in platforms.iter().chain(&keys).chain(&states) {
            assert!(s.contains(w), "{shell} lacks {w}");
        }
    }
}

#[test]
fn unsupported_files_say_what_is_read_in_the_words_of_the_command() {
    let env = Env::new();
    for (file, says) in [
        ("other/payhip_webhook_paid.json", "it holds JSON"),
        (
            "other/payhip_sales_export.csv",
            "found header: Date,Country",
        ),
    ] {
        let out = env.cmd().arg("import").arg(fixture(file)).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(5), "{file}: {err}");
        assert!(err.contains(says), "{file}: {err}");
        assert!(
            err.contains("not queued") && !err.contains("inbox") && !err.contains("left in place"),
            "{file}: {err}"
        );
        assert!(
            err.contains(
                "amazon_kdp, draft2digital, smashwords, kobo, streetlib, google_play, apple_books, \
                 barnes_noble, ingramspark and gumroad"
            ),
            "{file}: {err}"
        );
        assert!(!err.contains("found header: {"), "{file}: {err}");
        assert!(
            err.contains("`salesingest enqueue gumroad`") && err.contains("--ping-file"),
            "{err}"
        );
    }
    // The inbox scan says where the file stays.
    let inbox = env.path("drop");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::copy(
        fixture("other/payhip_sales_export.csv"),
        inbox.join("k.csv"),
    )
    .unwrap();
    env.config(&format!("[inbox]\npath = \"{}\"\n", inbox.display()));
    let out = env.cmd().arg("run-worker").output().unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("left in the inbox folder"), "{err}");
}

#[test]
fn a_gumroad_sync_without_a_token_is_refused_at_enqueue() {
    let env = Env::new();
    let out = env.cmd().args(["enqueue", "gumroad"]).output().unwrap();
    let refused = stderr_of(&out);
    assert_eq!(out.status.code(), Some(5), "{refused}");
    assert!(refused.contains("GUMROAD_ACCESS_TOKEN"), "{refused}");
    env.cmd()
        .args(["enqueue", "gumroad", "--since", "2025-01-01"])
        .assert()
        .code(5);
    assert_eq!(env.json(&["run-worker"])["claimed"], 0, "nothing queued");
    // A Ping needs no token.
    env.cmd()
        .args(["enqueue", "gumroad", "--ping-file"])
        .arg(fixture("gumroad/gumroad_ping.txt"))
        .assert()
        .success();
    // Later than now: the token may be there by then. When it is not, the worker says what
    // enqueue says.
    let later = env.json(&["enqueue", "gumroad", "--run-at", "2099-01-01"]);
    let id = later["id"].as_i64().unwrap();
    rusqlite::Connection::open(env.db_path())
        .unwrap()
        .execute("UPDATE jobs SET run_at = 0 WHERE id = ?1", [id])
        .unwrap();
    env.cmd().args(["run-worker"]).assert().code(3);
    let st = env.json(&["status", &id.to_string()]);
    let worker_says = st["last_error"].as_str().unwrap();
    assert_eq!(
        refused.trim().trim_start_matches("error: "),
        worker_says,
        "the same message"
    );
}

#[test]
fn a_backup_into_a_missing_folder_names_the_folder() {
    let env = imported();
    let out = env
        .cmd()
        .current_dir(env.dir.path())
        .args(["backup", "missing-dir/b.db"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("folder `missing-dir` does not exist"), "{err}");
    assert!(!err.contains(".tmp"), "{err}");
}

#[test]
#[cfg_attr(
    not(salesingest_test_chattr),
    ignore = "needs CAP_LINUX_IMMUTABLE and chattr(1) (probed by build.rs; run as root outside a restricted container)"
)]
fn doctor_fails_naming_a_database_folder_that_takes_no_files() {
    let env = imported();
    let dir = env.db_path().parent().unwrap().to_path_buf();
    crate::storage::chattr("+i", &dir);
    let out = env.cmd().args(["doctor", "--json"]).output().unwrap();
    let text = env.cmd().arg("doctor").output().unwrap();
    crate::storage::chattr("-i", &dir);
    assert_eq!(out.status.code(), Some(6));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "database folder")
        .unwrap_or_else(|| panic!("no database folder check: {v}"))
        .clone();
    assert_eq!(check["status"], "fail", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("`{}` is not writable", dir.display())),
        "{detail}"
    );
    assert!(stdout_of(&text).contains("[FAIL] database folder"));
    // Writable again: ok.
    let out = env.cmd().args(["doctor", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout_of(&out));
}

#[test]
fn help_lists_a_command_s_options_before_the_global_ones() {
    let env = Env::new();
    for cmd in ["enqueue", "jobs", "backup"] {
        let text = stdout_of(&env.cmd().args([cmd, "--help"]).output().unwrap());
        let own = text.find("Options:").unwrap();
        let global = text
            .find("Global options:")
            .unwrap_or_else(|| panic!("{text}"));
        let db = text.find("--db <").unwrap();
        assert!(own < global && global < db, "{cmd}:\n{text}");
        // SALESINGEST_DB is set here: its value is never shown, nor an empty one.
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("[env: SALESINGEST_DB]") && !flat.contains("SALESINGEST_DB="),
            "{text}"
        );
    }
    let text = stdout_of(&env.cmd().args(["enqueue", "--help"]).output().unwrap());
    assert!(text.find("--file").unwrap() < text.find("--json").unwrap());
    // `man` and `completions` take none of --db, --config, --json from the command line
    // (SALESINGEST_DB in the environment is fine).
    for args in [
        &["man", "--json"][..],
        &["--db", "x.db", "man"],
        &["completions", "bash", "--json"],
        &["completions", "--config", "c.toml", "bash"],
    ] {
        env.cmd()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("means nothing to"));
    }
    env.cmd().arg("man").assert().success();
}

#[test]
fn no_color_also_for_usage_errors() {
    let env = Env::new();
    let run = |args: &[&str], no_color_env: bool| {
        let mut c = env.cmd();
        c.env_remove("NO_COLOR").env("CLICOLOR_FORCE", "1");
        if no_color_env {
            c.env("NO_COLOR", "1");
        }
        let out = c.args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        stderr_of(&out)
    };
    // The control: clap colours its errors when asked to.
    assert!(run(&["enqueue", "payhip"], false).contains('\x1b'));
    for (args, env_var) in [
        (&["--no-color", "enqueue", "payhip"][..], false),
        (&["enqueue", "payhip", "--no-color"], false),
        (&["enqueue", "--bogus", "--no-color"], false),
        (&["enqueue", "payhip"], true),
    ] {
        let err = run(args, env_var);
        assert!(!err.contains('\x1b'), "{args:?}: {err:?}");
        assert!(err.contains("error:"), "{err}");
    }
}

#[test]
fn status_of_a_job_says_what_its_json_says() {
    let env = Env::new();
    let sw = env.path("empty_sw.tsv");
    let header = std::fs::read_to_string(fixture("smashwords/smashwords_salesReport.tsv"))
        .unwrap()
        .split(['\r', '\n'])
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&sw, format!("{header}\n")).unwrap();
    let job = env.json(&["enqueue", "smashwords", "--file", sw.to_str().unwrap()]);
    env.cmd().args(["run-worker"]).assert().success();
    let id = job["id"].to_string();
    let v = env.json(&["status", &id]);
    assert!(
        !v["result"]["warnings"].as_array().unwrap().is_empty(),
        "{v}"
    );
    let text = stdout_of(&env.cmd().args(["status", &id]).output().unwrap());
    let mut facts: Vec<String> = vec![
        v["platform"].as_str().unwrap().into(),
        v["status"].as_str().unwrap().into(),
        format!("{} of {}", v["attempts"], v["max_attempts"]),
        format!("priority  {}", v["priority"]),
        v["created_at"].as_str().unwrap().into(),
        v["finished_at"].as_str().unwrap().into(),
        v["input"]["file"].as_str().unwrap().into(),
        v["input"]["sha256"].as_str().unwrap().into(),
        format!("{} bytes", v["input"]["size"]),
        v["result"]["layout"].as_str().unwrap().into(),
        format!("rows      {}", v["result"]["rows"]),
        format!("{} inserted", v["result"]["events"]["inserted"]),
    ];
    for w in v["result"]["warnings"].as_array().unwrap() {
        facts.push(w.as_str().unwrap().into());
    }
    for a in v["attempt_history"].as_array().unwrap() {
        for k in ["started_at", "finished_at", "outcome", "worker"] {
            facts.push(a[k].as_str().unwrap().into());
        }
    }
    for f in &facts {
        assert!(text.contains(f.as_str()), "`{f}` missing from:\n{text}");
    }
    // One time format: RFC 3339 UTC, never `2026-11-28 16:05:00`.
    for cmd in [&["status", &id][..], &["jobs"], &["logs"]] {
        let text = stdout_of(&env.cmd().args(cmd).output().unwrap());
        let bytes = text.as_bytes();
        for i in 0..bytes.len().saturating_sub(13) {
            let w = &bytes[i..i + 13];
            let date_then_space = w[..10].iter().enumerate().all(|(j, b)| {
                if j == 4 || j == 7 {
                    *b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            }) && w[10] == b' '
                && w[11].is_ascii_digit();
            assert!(!date_then_space, "{cmd:?}: another time format:\n{text}");
        }
    }
}

#[test]
fn converted_summaries_are_shown_to_the_minor_unit() {
    let env = imported();
    let rates = fixture("rates/eur_reference_rates.csv");
    let args = [
        "sales",
        "summary",
        "--by",
        "platform,currency",
        "--in",
        "EUR",
        "--rates",
        rates.to_str().unwrap(),
    ];
    let rows = env.json(&args);
    let text = stdout_of(&env.cmd().args(args).output().unwrap());
    let mut long = 0;
    for r in rows.as_array().unwrap() {
        let exact = r["royalty"].as_str().unwrap();
        let decimals = exact.split_once('.').map_or(0, |(_, d)| d.len());
        if decimals > 2 {
            long += 1;
            assert!(!text.contains(exact), "{exact} shown unrounded:\n{text}");
        }
        let micros = salesingest::model::parse_micros(exact).unwrap();
        let shown = salesingest::output::display_micros(micros, "EUR");
        assert_eq!(shown.split_once('.').map_or(0, |(_, d)| d.len()), 2);
        assert!(text.contains(&shown), "{shown} missing:\n{text}");
    }
    assert!(
        long > 0,
        "the fixture gives some amounts beyond the cent: {rows}"
    );
    assert!(text.contains("--json gives them to 0.000001"), "{text}");
}

#[test]
fn display_rounding_is_half_to_even() {
    use salesingest::output::display_micros;
    for (micros, shown) in [
        (220_108_288, "220.11"),
        (1_005_000, "1.00"),
        (1_015_000, "1.02"),
        (-1_005_000, "-1.00"),
        (-1_005_001, "-1.01"),
        (6_000_000, "6.00"),
    ] {
        assert_eq!(display_micros(micros, "EUR"), shown, "{micros}");
    }
    assert_eq!(display_micros(1_500_000, "JPY"), "2");
}

#[test]
fn output_files_are_never_replaced_without_force() {
    let env = imported();
    let dir = env.dir.path();
    for (args, file) in [
        (&["sales", "export", "-o", "out.csv"][..], "out.csv"),
        (&["sales", "chart", "--svg", "c.svg"], "c.svg"),
        (&["backup", "b.db"], "b.db"),
    ] {
        std::fs::write(dir.join(file), "mine").unwrap();
        let out = env.cmd().current_dir(dir).args(args).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("already exists") && err.contains("--force"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(dir.join(file)).unwrap(), "mine");
        // Under cron (stdout a pipe) success is quiet; -v says what was written.
        let out = env
            .cmd()
            .current_dir(dir)
            .args(args)
            .args(["--force", "-v"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(file),
            "{args:?}: {}",
            stderr_of(&out)
        );
        assert_ne!(
            std::fs::read_to_string(dir.join(file)).unwrap_or_default(),
            "mine"
        );
        let out = env
            .cmd()
            .current_dir(dir)
            .args(args)
            .arg("--force")
            .output()
            .unwrap();
        assert_eq!(stderr_of(&out), "", "{args:?}");
        if file != "c.svg" {
            assert_eq!(stdout_of(&out), "", "{args:?}");
        }
    }
}

#[test]
#[cfg_attr(
    not(salesingest_test_pty),
    ignore = "needs util-linux script(1) for a pseudo-terminal (probed by build.rs)"
)]
fn on_a_terminal_one_line_says_what_was_written() {
    let env = imported();
    let svg = env.path("c.svg");
    let csv = env.path("out.csv");
    let (code, text) = on_terminal(&env, &["sales", "export", "-o", csv.to_str().unwrap()], 100);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        text.trim(),
        format!("wrote 11 events to {} (CSV)", csv.display())
    );
    let (code, text) = on_terminal(
        &env,
        &["sales", "chart", "--svg", svg.to_str().unwrap()],
        100,
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("to {}", svg.display())), "{text}");
    let (_, text) = on_terminal(
        &env,
        &[
            "-q",
            "sales",
            "export",
            "-o",
            csv.to_str().unwrap(),
            "--force",
        ],
        100,
    );
    assert_eq!(text, "");
}

#[test]
fn a_job_records_the_absolute_path_of_its_file() {
    let env = Env::new();
    std::fs::copy(fixture(D2D), env.path("rel.csv")).unwrap();
    let out = env
        .cmd()
        .current_dir(env.dir.path())
        .args(["enqueue", "--json", "d2d", "--file", "rel.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let abs = env.path("rel.csv").display().to_string();
    assert_eq!(job["input"]["file"], abs.as_str());
    let jobs = env.json(&["jobs"]);
    assert_eq!(jobs[0]["input"]["file"], abs.as_str());
    std::fs::copy(fixture("d2d/d2d_sales_print.csv"), env.path("p.csv")).unwrap();
    let out = env
        .cmd()
        .current_dir(env.dir.path())
        .args(["import", "--json", "p.csv"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["file"], env.path("p.csv").display().to_string().as_str());
}

#[test]
fn logs_show_the_claims_of_a_run_killed_mid_job() {
    use std::time::{Duration, Instant};
    let env = Env::new();
    let big = env.path("big.csv");
    let rows: Vec<String> = (0..150_000)
        .map(|i| d2d_row(&crate::util::day(i % 2000), "0.01", 1))
        .collect();
    write_d2d(&big, &rows);
    env.json(&["enqueue", "d2d", "--file", big.to_str().unwrap()]);
    let mut worker = env
        .spawn_cmd()
        .args(["run-worker"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the import never started");
        let staged: i64 = rusqlite::Connection::open(env.db_path())
            .and_then(|c| c.query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0)))
            .unwrap_or(0);
        if staged > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.kill().unwrap(); // SIGKILL
    worker.wait().unwrap();
    let logs = env.json(&["logs"]);
    let killed = &logs[0];
    assert_eq!(killed["state"], "killed", "{logs}");
    assert_eq!(killed["claimed"], 1, "{killed}");
    assert_eq!(killed["completed"], 0);
    // --failed lists killed runs.
    let failed = env.json(&["logs", "--failed"]);
    assert_eq!(failed[0]["id"], killed["id"]);
    // After the rescue its counts stay what it did; the next run's are its own.
    env.json(&["run-worker"]);
    let logs = env.json(&["logs"]);
    assert_eq!(logs[1]["claimed"], 1, "{logs}");
    assert_eq!(logs[0]["claimed"], 1);
    assert_eq!(logs[0]["completed"], 1);
}

#[test]
fn run_worker_names_the_next_job_when_none_is_due() {
    let env = Env::new();
    let job = env.json(&[
        "enqueue",
        "d2d",
        "--run-at",
        "2030-01-01T00:00:00Z",
        "--file",
        fixture(D2D).to_str().unwrap(),
    ]);
    let id = job["id"].as_i64().unwrap();
    let out = env.cmd().args(["run-worker", "-v"]).output().unwrap();
    assert!(
        stderr_of(&out).contains(&format!(
            "no due jobs; next: job {id} at 2030-01-01T00:00:00Z"
        )),
        "{}",
        stderr_of(&out)
    );
    // Under cron without -v: still nothing.
    env.cmd()
        .args(["run-worker"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let text = stdout_of(&env.cmd().args(["jobs"]).output().unwrap());
    assert!(
        text.contains("due") && text.contains("2030-01-01T00:00:00Z"),
        "{text}"
    );
}

#[test]
#[cfg_attr(
    not(salesingest_test_pty),
    ignore = "needs util-linux script(1) for a pseudo-terminal (probed by build.rs)"
)]
fn on_a_terminal_run_worker_names_the_next_job_and_prints_a_failure_once() {
    let env = Env::new();
    let job = env.json(&[
        "enqueue",
        "d2d",
        "--run-at",
        "2030-01-01T00:00:00Z",
        "--file",
        fixture(D2D).to_str().unwrap(),
    ]);
    let (code, text) = on_terminal(&env, &["run-worker"], 100);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "no due jobs; next: job {} at 2030-01-01T00:00:00Z",
            job["id"]
        )),
        "{text}"
    );
    // A job that fails: its error once, in the table.
    let f = env.path("fails.csv");
    write_d2d(&f, &[d2d_row("2025-07-01", "1.00", 1)]);
    let bad = env.json(&["enqueue", "d2d", "--file", f.to_str().unwrap()]);
    let sha = bad["input"]["sha256"].as_str().unwrap();
    std::fs::write(env.path("data/inbox").join(sha), "not,a,report\n1,2,3\n").unwrap();
    let (code, text) = on_terminal(&env, &["run-worker"], 500);
    assert_eq!(code, 3, "{text}");
    let st = env.json(&["status", &bad["id"].to_string()]);
    let error = st["last_error"].as_str().unwrap();
    assert_eq!(text.matches(error).count(), 1, "{error}\n{text}");
}

/// `salesingest … | head`: a reader that goes away ends the command quietly (exit 0, nothing on
/// stderr), never with a panic ("failed printing to stdout: Broken pipe").
#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let env = imported();
    for args in [
        &["sales", "summary", "--by", "title,month"][..],
        &["sales", "chart"],
        &["sales", "payouts"],
        &["jobs"],
        &["logs"],
        &["sales", "export"],
    ] {
        let mut cmd = env.spawn_cmd();
        cmd.args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // Close the reading end before the command gets to print (it opens the store first).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr_of(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}
