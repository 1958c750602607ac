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
    env.cmd()
        .args(["status", "999"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("no job with id 999"));
    env.cmd().args(["retry", "999"]).assert().code(4);
    env.cmd().args(["cancel", "999"]).assert().code(4);
    env.cmd().args(["enqueue", "kobo"]).assert().code(2);
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
    env.cmd().args(["jobs"]).assert().success();
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
