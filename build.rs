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
    for cfg in [
        "salesingest_test_mount",
        "salesingest_test_chattr",
        "salesingest_test_pty",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
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
