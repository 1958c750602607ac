//! Disk-full and read-only databases: a clear error naming the database and what to do, exit 1,
//! and no corruption.
//!
//! These need to mount filesystems (tmpfs, a read-only bind mount) or set the immutable flag,
//! because the tests run as root and root ignores file modes. Whether this machine can is
//! decided when the tests are built (`build.rs` reads the process's effective capabilities and
//! looks for `mount`/`chattr`; it mounts nothing): where it cannot, each test is compiled with
//! `#[ignore]` and its reason, so `cargo test` reports it as ignored (and `.ci/run` as
//! skipped), never as passed. Where it can, the tests run by default, and a mount or `chattr`
//! that fails anyway fails the test loudly instead of skipping it. `SALESINGEST_TEST_PRIVILEGED=0`
//! (or `=1`) overrides the probe (see `build.rs`; BENCHMARKS.md, "Disk full and read-only", has
//! the manual commands).

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use crate::util::{d2d_row, day, write_d2d, Env};

/// A mount that is undone when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mount, or fail the test: the build found `CAP_SYS_ADMIN` and `mount(8)` here, so a
    /// refusal is a finding, not a reason to skip.
    fn new(args: &[&str], target: &Path) -> Mount {
        std::fs::create_dir_all(target).unwrap();
        let out = StdCommand::new("mount").args(args).arg(target).output();
        match out {
            Ok(o) if o.status.success() => Mount(target.to_path_buf()),
            other => panic!(
                "mount {args:?} {} failed although the build found CAP_SYS_ADMIN and mount(8) \
                 here (build.rs, or SALESINGEST_TEST_PRIVILEGED=1): {}; if mounting is forbidden here (seccomp, AppArmor), rebuild the \
                 tests with SALESINGEST_TEST_PRIVILEGED=0 so that they are reported as ignored",
                target.display(),
                match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                }
            ),
        }
    }
}

/// Set or clear the immutable flag, or fail the test (see `Mount::new`).
pub fn chattr(flag: &str, path: &Path) {
    let out = StdCommand::new("chattr").arg(flag).arg(path).output();
    match out {
        Ok(o) if o.status.success() => {}
        other => panic!(
            "chattr {flag} {} failed although the build found CAP_LINUX_IMMUTABLE and chattr(1) \
             here (build.rs, or SALESINGEST_TEST_PRIVILEGED=1): {}; on a filesystem without the flag, or where it is forbidden, rebuild \
             the tests with SALESINGEST_TEST_PRIVILEGED=0 so that they are reported as ignored",
            path.display(),
            match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            }
        ),
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
#[cfg_attr(
    not(salesingest_test_mount),
    ignore = "needs CAP_SYS_ADMIN and mount(8) (probed by build.rs; run as root outside a restricted container)"
)]
fn disk_full_during_import_exits_1_names_the_database_and_corrupts_nothing() {
    let env = Env::new();
    let _m = Mount::new(
        &["-t", "tmpfs", "-o", "size=1m", "tmpfs"],
        &env.path("data"),
    );
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
#[cfg_attr(
    not(salesingest_test_mount),
    ignore = "needs CAP_SYS_ADMIN and mount(8) (probed by build.rs; run as root outside a restricted container)"
)]
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
    let m = Mount::new(&["--bind", "-o", "ro", src.to_str().unwrap()], &ro);
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
    drop(m);
    assert_eq!(integrity(&env.db_path()), "ok");
}

#[test]
#[cfg_attr(
    not(salesingest_test_chattr),
    ignore = "needs CAP_LINUX_IMMUTABLE and chattr(1) (probed by build.rs; run as root outside a restricted container)"
)]
fn immutable_database_file_exits_1_with_what_to_do() {
    let env = Env::new();
    env.json(&["run-worker"]);
    let db = env.db_path();
    chattr("+i", &db);
    let out = env.cmd().args(["run-worker"]).output().unwrap();
    chattr("-i", &db);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("immutable"), "{err}");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert_eq!(integrity(&db), "ok");
}
