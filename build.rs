//! Build-time probes that decide which end-to-end tests this machine can run.
//!
//! Some tests need what only some machines give: mounting a filesystem (a full tmpfs, a
//! read-only bind mount: `CAP_SYS_ADMIN` and `mount(8)`), setting the immutable flag
//! (`CAP_LINUX_IMMUTABLE` and `chattr(1)`), or a pseudo-terminal (util-linux `script(1)`).
//! A test that cannot run must be reported as ignored by `cargo test`, never counted as passed,
//! and libtest decides that at compile time. So this script looks at the machine (its
//! effective capabilities in `/proc/self/status` and the tools on `PATH`; it mounts and changes
//! nothing) and sets one `cfg` per capability; the tests carry
//! `#[cfg_attr(not(salesingest_test_mount), ignore = "...")]`. Where a capability is present,
//! the tests run by default and fail loudly if the machine refuses after all.
//!
//! PostgreSQL: the conformance suite runs every store test on PostgreSQL too when a server
//! answers. `SALESINGEST_TEST_PG` names it (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`; `.ci/run` sets it after starting one); unset,
//! `127.0.0.1:5432` is tried. `SALESINGEST_TEST_PG=0` turns the PostgreSQL tests off. The tests
//! that start their own server (a restart mid-run, TLS, PgBouncer) also need PostgreSQL's server
//! programs (`initdb`, found under `/usr/lib/postgresql`) and `pgbouncer`.
//!
//! The dashboard's browser test needs `chromedriver` and `chromium` on `PATH`
//! (`salesingest_test_browser`; `SALESINGEST_TEST_BROWSER=0` turns it off).
//!
//! `SALESINGEST_TEST_PRIVILEGED=0` turns the mount and immutable-flag tests off (a container
//! whose seccomp profile refuses `mount` despite the capability); `=1` turns them on whatever
//! the probe says (they then fail where they cannot run). Nothing of this reaches the binary.

use std::path::Path;

/// Capability numbers (linux/capability.h).
const CAP_LINUX_IMMUTABLE: u32 = 9;
const CAP_SYS_ADMIN: u32 = 21;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SALESINGEST_TEST_PRIVILEGED");
    println!("cargo::rerun-if-env-changed=SALESINGEST_TEST_PG");
    println!("cargo::rerun-if-env-changed=SALESINGEST_TEST_BROWSER");
    for cfg in [
        "salesingest_test_mount",
        "salesingest_test_chattr",
        "salesingest_test_pty",
        "salesingest_test_pg",
        "salesingest_test_pg_server",
        "salesingest_test_pgbouncer",
        "salesingest_test_browser",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    // The dashboard's browser test: chromedriver and chromium (Debian's `chromium-driver`
    // and `chromium`; `.ci/run` installs them). `SALESINGEST_TEST_BROWSER=0` turns it off.
    if std::env::var("SALESINGEST_TEST_BROWSER").as_deref() != Ok("0")
        && on_path("chromedriver")
        && (on_path("chromium") || on_path("chromium-browser") || on_path("google-chrome"))
    {
        println!("cargo::rustc-cfg=salesingest_test_browser");
    }
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !linux {
        return;
    }
    let caps = effective_capabilities();
    let has = |cap: u32| caps.is_some_and(|c| c & (1 << cap) != 0);
    let forced = std::env::var("SALESINGEST_TEST_PRIVILEGED").ok();
    let privileged = |probe: bool| match forced.as_deref() {
        Some("0") => false,
        Some("1") => true,
        _ => probe,
    };
    if privileged(has(CAP_SYS_ADMIN) && on_path("mount") && on_path("umount")) {
        println!("cargo::rustc-cfg=salesingest_test_mount");
    }
    if privileged(has(CAP_LINUX_IMMUTABLE) && on_path("chattr")) {
        println!("cargo::rustc-cfg=salesingest_test_chattr");
    }
    if util_linux_script() {
        println!("cargo::rustc-cfg=salesingest_test_pty");
    }
    let pg = match std::env::var("SALESINGEST_TEST_PG").ok().as_deref() {
        Some("0") => false,
        Some(url) => pg_answers(url),
        None => pg_answers("postgres://127.0.0.1:5432"),
    };
    if pg {
        println!("cargo::rustc-cfg=salesingest_test_pg");
        if pg_server_bin().is_some() {
            println!("cargo::rustc-cfg=salesingest_test_pg_server");
            if on_path("pgbouncer") || Path::new("/usr/sbin/pgbouncer").exists() {
                println!("cargo::rustc-cfg=salesingest_test_pgbouncer");
            }
        }
    }
}

/// Whether something accepts TCP connections at the host and port of `url` (the tests then
/// fail loudly if it is not a usable PostgreSQL).
fn pg_answers(url: &str) -> bool {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap_or(5432)),
        None => (hostport, 5432),
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    (host, port).to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| {
            std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_millis(500)).is_ok()
        })
    })
}

/// PostgreSQL's server programs (`initdb`, `postgres`, `pg_ctl`), newest version first.
fn pg_server_bin() -> Option<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// The `CapEff` mask of this process, or `None` when it cannot be read.
fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(tool))))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

/// util-linux `script` (its `-q -e -c` flags; BSD `script` takes others).
fn util_linux_script() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("util-linux"))
}
