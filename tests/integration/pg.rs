//! PostgreSQL for the tests: a fresh database per test on the shared server (`SALESINGEST_TEST_PG`,
//! else `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the test ends; and private
//! servers (initdb in a temporary folder, on a free port) for the tests that restart a server,
//! speak TLS or go through PgBouncer. Whether these tests run is decided by `build.rs` (they are
//! reported as ignored on a machine without PostgreSQL, never as passed).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The admin URL of the shared test server.
pub fn admin_url() -> String {
    std::env::var("SALESINGEST_TEST_PG")
        .ok()
        .filter(|v| !v.trim().is_empty() && v != "0")
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The same server, another database.
fn with_database(admin: &str, db: &str) -> String {
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").expect("a URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A database of its own for one test, dropped with it.
pub struct PgDb {
    pub url: String,
    admin: String,
    pub name: String,
}

impl PgDb {
    /// A new empty database on the shared test server.
    pub fn create() -> PgDb {
        PgDb::on(&admin_url())
    }

    /// A new empty database on the server of `admin`.
    pub fn on(admin: &str) -> PgDb {
        let name = format!(
            "si_test_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            fastrand::u32(..)
        );
        let mut c = connect(admin);
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create a test database on `{admin}`: {e}"));
        PgDb {
            url: with_database(admin, &name),
            admin: admin.to_string(),
            name,
        }
    }

    /// A client on this database (for assertions).
    pub fn client(&self) -> postgres::Client {
        connect(&self.url)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Connect without TLS, or panic saying where.
pub fn connect(url: &str) -> postgres::Client {
    let config: postgres::Config = url.parse().unwrap();
    config
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL `{url}`: {e}"))
}

/// Options of a private server.
#[derive(Default, Clone)]
pub struct ServerOpts {
    /// Serve TLS with a certificate for `localhost` signed by a CA written next to it.
    pub tls: bool,
}

/// A PostgreSQL server of this test alone: its own data folder and port. Stopped (immediately)
/// and removed when dropped.
pub struct PgServer {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    /// The CA certificate that signed the server's (with `tls`).
    pub ca_cert: Option<PathBuf>,
}

/// PostgreSQL's server programs, newest version first.
pub fn server_bin() -> PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server programs under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Run a server program, as the `postgres` user when this process is root (PostgreSQL refuses
/// to run as root).
fn run_pg(bin: &Path, args: &[&str]) -> std::process::Output {
    let out = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin)
            .args(args)
            .output()
    } else {
        Command::new(bin).args(args).output()
    }
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    out
}

/// A TCP port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    /// initdb a new cluster (trust authentication on 127.0.0.1) and start it.
    pub fn start(opts: &ServerOpts) -> PgServer {
        let bin = server_bin();
        let dir = std::env::temp_dir().join(format!(
            "si-pg-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let st = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(st.success(), "chown of {}", dir.display());
        }
        let data = dir.join("data");
        let out = run_pg(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = PgServer {
            dir,
            port: free_port(),
            bin,
            ca_cert: None,
        };
        if opts.tls {
            server.make_certificates(&data);
        }
        server.pg_ctl_start();
        server
    }

    fn make_certificates(&mut self, data: &Path) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "salesingest test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let write = |name: &str, text: String, mode: u32| {
            let p = data.join(name);
            std::fs::write(&p, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            if is_root() {
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&p)
                    .status()
                    .unwrap();
            }
            p
        };
        write("server.crt", cert.pem(), 0o644);
        write("server.key", key.serialize_pem(), 0o600);
        let ca_path = self.dir.join("root.crt");
        std::fs::write(&ca_path, ca_cert.pem()).unwrap();
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        use std::io::Write;
        writeln!(
            conf,
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'"
        )
        .unwrap();
        self.ca_cert = Some(ca_path);
    }

    fn pg_ctl_start(&self) {
        let data = self.dir.join("data");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=60",
            self.port,
            self.dir.display()
        );
        let out = run_pg(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                self.dir.join("log").to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// Stop the server at once (as a crash or an operator's fast restart would).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        let _ = run_pg(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Start it again after `stop`, waiting until it accepts connections.
    pub fn restart(&self) {
        self.pg_ctl_start();
        let deadline = Instant::now() + Duration::from_secs(30);
        while postgres::Client::connect(&self.admin_url(), postgres::NoTls).is_err() {
            assert!(
                Instant::now() < deadline,
                "the restarted server never answered"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A streaming replica of this server (a read-only standby), made with `pg_basebackup`.
    pub fn start_standby(&self) -> PgServer {
        let dir = std::env::temp_dir().join(format!(
            "si-pg-standby-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
        }
        let data = dir.join("data");
        let port = self.port.to_string();
        let out = run_pg(
            &self.bin.join("pg_basebackup"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
            ],
        );
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let standby = PgServer {
            dir,
            port: free_port(),
            bin: self.bin.clone(),
            ca_cert: None,
        };
        standby.pg_ctl_start();
        standby
    }

    /// Its admin URL (no TLS).
    pub fn admin_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PgBouncer in transaction pooling mode in front of `server`, on a free port; killed when
/// dropped.
pub struct PgBouncer {
    pub port: u16,
    dir: PathBuf,
    child: std::process::Child,
}

impl PgBouncer {
    pub fn start(server_port: u16, pool_size: u32) -> PgBouncer {
        let dir = std::env::temp_dir().join(format!(
            "si-pgbouncer-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host=127.0.0.1 port={server_port}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n\
                 auth_file = {users}\npool_mode = transaction\ndefault_pool_size = {pool_size}\n\
                 max_client_conn = 200\nignore_startup_parameters = extra_float_digits\n\
                 unix_socket_dir =\nlogfile = {log}\npidfile = {pid}\n",
                users = dir.join("users.txt").display(),
                log = dir.join("log").display(),
                pid = dir.join("pid").display(),
            ),
        )
        .unwrap();
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("pgbouncer");
        let mut cmd = if is_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", bin]);
            c
        } else {
            Command::new(bin)
        };
        let child = cmd
            .arg(&ini)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pgbouncer");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer never listened: {}",
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        PgBouncer { port, dir, child }
    }

    /// A URL through this PgBouncer to `db`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Under runuser the child is runuser itself: stop pgbouncer by its pid file too.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
