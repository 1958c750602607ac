//! Disk-full and read-only databases: a clear error naming the database and what to do, exit 1,
//! and no corruption.
//!
//! These need to mount filesystems (tmpfs, a read-only bind mount) or set the immutable flag,
//! because the tests run as root and root ignores file modes. Where the sandbox does not allow
//! it, the test says so on stderr and returns without checking anything (see BENCHMARKS.md,
//! "Disk full and read-only", for the manual commands).

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use crate::util::{d2d_row, day, write_d2d, Env};

/// A mount that is undone when dropped.
struct Mount(PathBuf);

impl Mount {
    fn new(args: &[&str], target: &Path) -> Option<Mount> {
        std::fs::create_dir_all(target).unwrap();
        let ok = StdCommand::new("mount")
            .args(args)
            .arg(target)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(target.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = StdCommand::new("umount").arg(&self.0).status();
    }
}

fn integrity(db: &Path) -> String {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn rows(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| d2d_row(&day((i % 300) as i64), "1.25", 1))
        .collect()
}

#[test]
fn disk_full_during_import_exits_1_names_the_database_and_corrupts_nothing() {
    let env = Env::new();
    let Some(_m) = Mount::new(
        &["-t", "tmpfs", "-o", "size=1m", "tmpfs"],
        &env.path("data"),
    ) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    };
    // A report whose inbox copy fits but whose events do not.
    let big = env.path("big.csv");
    write_d2d(&big, &rows(3000));
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(&big)
        .assert()
        .success();
    let out = env.cmd().args(["run-worker"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("is full"), "{err}");
    assert!(err.contains(&env.db_path().display().to_string()), "{err}");
    assert!(err.contains("free some space"), "{err}");
    assert_eq!(integrity(&env.db_path()), "ok");
    // Nothing half-imported is visible, and the job is waiting for another try.
    let c = env.sql();
    let live: i64 = c
        .query_row("SELECT count(*) FROM live_sales", [], |r| r.get(0))
        .unwrap();
    assert_eq!(live, 0);
    let state: String = c
        .query_row("SELECT state FROM jobs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(state, "retrying");
    drop(c);
    // Free space: the retry imports everything.
    let grown = StdCommand::new("mount")
        .args(["-o", "remount,size=32m"])
        .arg(env.path("data"))
        .status()
        .unwrap();
    assert!(grown.success());
    // Make the retry due now instead of after its backoff.
    let c = rusqlite::Connection::open(env.db_path()).unwrap();
    c.execute("UPDATE jobs SET run_at = 0", []).unwrap();
    drop(c);
    env.cmd().args(["run-worker"]).assert().success();
    let c = env.sql();
    let live: i64 = c
        .query_row("SELECT count(*) FROM live_sales", [], |r| r.get(0))
        .unwrap();
    assert_eq!(live, 3000);
    assert_eq!(integrity(&env.db_path()), "ok");
}

#[test]
fn read_only_mount_exits_1_with_what_to_do() {
    let env = Env::new();
    let small = env.path("s.csv");
    write_d2d(&small, &rows(5));
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(&small)
        .assert()
        .success();
    env.cmd().args(["run-worker"]).assert().success();
    let ro = env.path("ro");
    let src = env.path("data");
    let Some(_m) = Mount::new(&["--bind", "-o", "ro", src.to_str().unwrap()], &ro) else {
        eprintln!("SKIPPED: cannot bind-mount read-only here (needs CAP_SYS_ADMIN)");
        return;
    };
    for args in [
        &["run-worker"][..],
        &["enqueue", "d2d", "--file", small.to_str().unwrap()],
    ] {
        let out = env
            .cmd()
            .env("SALESINGEST_DB", ro.join("salesingest.db"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("read-only"), "{args:?}: {err}");
        assert!(err.contains(&ro.display().to_string()), "{args:?}: {err}");
    }
    drop(_m);
    assert_eq!(integrity(&env.db_path()), "ok");
}

#[test]
fn immutable_database_file_exits_1_with_what_to_do() {
    let env = Env::new();
    env.json(&["jobs"]);
    let db = env.db_path();
    if !StdCommand::new("chattr")
        .arg("+i")
        .arg(&db)
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED: chattr +i is not available here");
        return;
    }
    let out = env.cmd().args(["run-worker"]).output().unwrap();
    let _ = StdCommand::new("chattr").arg("-i").arg(&db).status();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("immutable"), "{err}");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert_eq!(integrity(&db), "ok");
}
