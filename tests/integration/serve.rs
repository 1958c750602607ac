//! `salesingest serve`: in-process router tests (tower's `oneshot`) and end-to-end tests against
//! a real `serve --listen 127.0.0.1:0` spoken to over raw TCP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::on_both;
use crate::util::{fixture, Env};

/// A running `salesingest serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub login_url: String,
    pub token: String,
    pub hook_secret: String,
}

impl Server {
    pub fn start(env: &Env, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut cmd = env.spawn_cmd();
        cmd.args(["serve", "--json", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("start-up line {line:?} is not JSON ({e}); stderr: {err}")
        });
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        // The request log goes to stderr: drain it so the server never blocks on a full pipe.
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stderr.read_to_end(&mut sink);
            let _ = std::fs::write(
                std::env::temp_dir().join(format!("serve-{}.log", std::process::id())),
                sink,
            );
        });
        let shown = env.json(&["serve", "--show-hook-url"]);
        let token = std::fs::read_to_string(shown["token_file"].as_str().unwrap())
            .unwrap()
            .trim()
            .to_string();
        Server {
            addr: v["address"].as_str().unwrap().to_string(),
            login_url: v["login_url"].as_str().unwrap().to_string(),
            token,
            hook_secret: shown["hook_path"]
                .as_str()
                .unwrap()
                .trim_start_matches("/hooks/gumroad/")
                .to_string(),
            child,
        }
    }

    /// One request (HTTP/1.1, `Connection: close`): status, lower-cased head, body.
    pub fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        request(&self.addr, method, path, headers, body)
    }

    /// An authenticated API request; the body parsed as JSON.
    pub fn api(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let auth = format!("Bearer {}", self.token);
        let (code, _, body) = self.req(method, path, &[("Authorization", &auth)], body);
        let v = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        (code, v)
    }

    pub fn hook(&self, body: &[u8]) -> (u16, Value) {
        let path = format!("/hooks/gumroad/{}", self.hook_secret);
        let (code, _, body) = self.req("POST", &path, &[], body);
        (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    pub fn terminate(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Wait for the process to exit (at most `limit`); its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 request with `Host: <addr>` unless `headers` names one.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    (code, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
}

/// The Ping fixture with its `sale_id` replaced (a distinct sale).
pub fn ping_with_sale(id: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(fixture("gumroad/gumroad_ping.txt")).unwrap();
    text.split('&')
        .map(|kv| {
            if kv.starts_with("sale_id=") {
                format!("sale_id={id}")
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn job_count(env: &Env) -> i64 {
    env.scalar("SELECT count(*) FROM jobs")
}

on_both! {
    /// Auth: missing, wrong and right token; the hook's wrong secret stores nothing; a bad Host
    /// is 421; `/` is left to the dashboard.
    fn auth_hook_and_host(b) {
        let env = Env::on(b);
        let s = Server::start(&env, &[], &[]);
        let (code, _, _) = s.req("GET", "/api/status", &[], b"");
        assert_eq!(code, 401);
        let (code, head, _) = s.req("GET", "/api/status", &[("Authorization", "Bearer nope")], b"");
        assert_eq!(code, 401);
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        let (code, v) = s.api("GET", "/api/status", b"");
        assert_eq!(code, 200);
        assert_eq!(v, env.json(&["status"]));
        let ping = std::fs::read(fixture("gumroad/gumroad_ping.txt")).unwrap();
        let (code, _, _) = s.req("POST", "/hooks/gumroad/0123456789abcdef0123456789abcdef", &[], &ping);
        assert_eq!(code, 404);
        assert_eq!(job_count(&env), 0, "a wrong secret stores nothing");
        let auth = format!("Bearer {}", s.token);
        let (code, _, body) = s.req("GET", "/api/status", &[("Host", "evil.example:8750"), ("Authorization", &auth)], b"");
        assert_eq!(code, 421, "{}", String::from_utf8_lossy(&body));
        // The dashboard (crate::dashboard) needs a logged-in browser.
        let (code, _, _) = s.req("GET", "/", &[], b"");
        assert_eq!(code, 401);
        // No CORS: no Access-Control header, whatever the Origin.
        let (_, head, _) = s.req("GET", "/api/status", &[("Origin", "http://evil.example"), ("Authorization", &auth)], b"");
        assert!(!head.contains("access-control"), "{head}");
        // The token file is owner-only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let shown = env.json(&["serve", "--show-hook-url"]);
            let f = shown["token_file"].as_str().unwrap();
            let mode = std::fs::metadata(f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
}

on_both! {
    /// The Ping receiver: 200 with `enqueue --json`'s object; the same delivery twice is one job;
    /// a Gumroad retry (`retry_count` added) is another job but the same sale: stored once.
    fn hook_stores_each_sale_once(b) {
        let env = Env::on(b);
        let s = Server::start(&env, &[], &[]);
        let ping = ping_with_sale("S1");
        let (code, first) = s.hook(&ping);
        assert_eq!(code, 200, "{first}");
        assert_eq!(first["platform"], "gumroad");
        assert_eq!(first["input"]["kind"], "ping");
        assert_eq!(first["deduplicated"], false);
        let (code, again) = s.hook(&ping);
        assert_eq!(code, 200);
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["deduplicated"], true);
        let mut retried = ping.clone();
        retried.extend_from_slice(b"&retry_count=1");
        let (code, _) = s.hook(&retried);
        assert_eq!(code, 200);
        let (code, _) = s.hook(&ping_with_sale("S2"));
        assert_eq!(code, 200);
        let (code, bad) = s.hook(b"this is not a ping");
        assert_eq!(code, 422, "{bad}");
        let (code, run) = s.api("POST", "/api/run", br#"{"batch": 10}"#);
        assert_eq!(code, 200, "{run}");
        assert_eq!(run["failed"], 0, "{run}");
        assert_eq!(run["completed"], 3, "{run}");
        assert_eq!(env.scalar("SELECT count(*) FROM sales_events WHERE platform = 'gumroad'"), 2);
        // The job is the one `status <id> --json` shows.
        let id = first["id"].as_i64().unwrap();
        let (code, v) = s.api("GET", &format!("/api/jobs/{id}"), b"");
        assert_eq!(code, 200);
        assert_eq!(v, env.json(&["status", &id.to_string()]));
    }
}

on_both! {
    /// Every API route's codes and bodies, each body equal to the CLI's `--json` object.
    fn api_routes_match_the_cli(b) {
        let env = Env::on(b);
        let s = Server::start(&env, &[], &[]);
        // Uploads: raw with content detection, raw with ?platform=, multipart.
        let d2d = std::fs::read(fixture("d2d/d2d_sales.csv")).unwrap();
        let (code, v) = s.api("POST", "/api/files?name=d2d_sales.csv", &d2d);
        assert_eq!(code, 202, "{v}");
        assert_eq!(v[0]["platform"], "draft2digital");
        assert_eq!(v[0]["status"], "queued");
        assert_eq!(v[0]["file"], "d2d_sales.csv");
        let (code, v2) = s.api("POST", "/api/files?platform=d2d&name=again.csv", &d2d);
        assert_eq!(code, 202, "{v2}");
        assert_eq!(v2[0]["status"], "deduplicated");
        assert_eq!(v2[0]["job_id"], v[0]["job_id"]);
        let jobs_before = job_count(&env);
        let (code, bad) = s.api("POST", "/api/files?name=junk.csv", b"a,b,c\n1,2,3\n");
        assert_eq!(code, 422, "{bad}");
        assert!(bad["error"].as_str().unwrap().len() > 10, "{bad}");
        let (code, bad) = s.api("POST", "/api/files?platform=kobo&name=d2d.csv", &d2d);
        assert_eq!(code, 422, "{bad}");
        // The same message `enqueue` prints for that file.
        let cli = env.cmd().args(["enqueue", "kobo", "--file"]).arg(fixture("d2d/d2d_sales.csv")).output().unwrap();
        assert_eq!(cli.status.code(), Some(5));
        let cli_err = String::from_utf8_lossy(&cli.stderr).to_string();
        let api_err = bad["error"].as_str().unwrap().replace(&*fixture("d2d/d2d_sales.csv").display().to_string(), "");
        assert!(!api_err.is_empty() && cli_err.contains(api_err.split('`').next_back().unwrap().trim()), "api: {api_err}\ncli: {cli_err}");
        assert_eq!(job_count(&env), jobs_before, "a bad file queues nothing");
        let boundary = "XBOUNDARYX";
        let mut mp = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"print.csv\"\r\nContent-Type: text/csv\r\n\r\n").into_bytes();
        mp.extend_from_slice(&std::fs::read(fixture("d2d/d2d_sales_print.csv")).unwrap());
        mp.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let auth = format!("Bearer {}", s.token);
        let ct = format!("multipart/form-data; boundary={boundary}");
        let (code, _, body) = s.req("POST", "/api/files", &[("Authorization", &auth), ("Content-Type", &ct)], &mp);
        let mv: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(code, 202, "{mv}");
        assert_eq!(mv[0]["file"], "print.csv");
        assert_eq!(mv[0]["status"], "queued");
        // Jobs.
        let (code, v) = s.api("POST", "/api/jobs", br#"{"platform": "gumroad"}"#);
        assert_eq!(code, 422, "no token: {v}");
        let (code, v) = s.api("POST", "/api/jobs", br#"{"platform": "kdp"}"#);
        assert_eq!(code, 422, "{v}");
        let (code, v) = s.api("POST", "/api/jobs", br#"{"platform": "gumroad", "payload": {"since": "2025-01-01"}, "run_at": "2099-01-01T00:00:00Z", "priority": 3, "max_attempts": 2}"#);
        assert_eq!(code, 202, "{v}");
        assert_eq!(v["status"], "queued");
        assert_eq!(v["run_at"], "2099-01-01T00:00:00Z");
        assert_eq!(v["input"]["since"], "2025-01-01");
        let sync_id = v["id"].as_i64().unwrap();
        let (code, _) = s.api("POST", "/api/jobs", b"{not json");
        assert_eq!(code, 422);
        let (code, v) = s.api("GET", "/api/jobs", b"");
        assert_eq!(code, 200);
        assert_eq!(v, env.json(&["jobs"]));
        let (code, v) = s.api("GET", "/api/jobs?status=queued&platform=gumroad&limit=5", b"");
        assert_eq!(code, 200);
        assert_eq!(v, env.json(&["jobs", "--status", "queued", "--platform", "gumroad", "--limit", "5"]));
        let (code, _) = s.api("GET", "/api/jobs?status=bogus", b"");
        assert_eq!(code, 422);
        let (code, _) = s.api("GET", "/api/jobs/999999", b"");
        assert_eq!(code, 404);
        let (code, _) = s.api("GET", "/api/jobs/abc", b"");
        assert_eq!(code, 404);
        // Run, then the run's summary and the log.
        let (code, run) = s.api("POST", "/api/run", br#"{"batch": 5}"#);
        assert_eq!(code, 200, "{run}");
        assert_eq!(run["completed"], 2, "{run}");
        let (code, v) = s.api("GET", "/api/logs", b"");
        assert_eq!(code, 200);
        assert_eq!(v, env.json(&["logs"]));
        let (code, v) = s.api("GET", "/api/status", b"");
        assert_eq!(code, 200);
        assert_eq!(v, env.json(&["status"]));
        let (code, v) = s.api("GET", "/api/sales/summary", b"");
        assert_eq!(code, 200);
        assert!(!v.as_array().unwrap().is_empty(), "{v}");
        assert_eq!(v, env.json(&["sales", "summary"]));
        let (code, v) = s.api("GET", "/api/sales/summary?by=title,platform&since=2025-07&platform=d2d", b"");
        assert_eq!(code, 200);
        assert_eq!(v, env.json(&["sales", "summary", "--by", "title,platform", "--since", "2025-07", "--platform", "d2d"]));
        let (code, _) = s.api("GET", "/api/sales/summary?by=nonsense", b"");
        assert_eq!(code, 422);
        for format in ["csv", "ndjson"] {
            let (code, head, body) = s.req("GET", &format!("/api/sales/export?format={format}"), &[("Authorization", &auth)], b"");
            assert_eq!(code, 200);
            assert!(head.contains("transfer-encoding: chunked"), "streamed: {head}");
            let cli = env.cmd().args(["sales", "export", "--format", format]).output().unwrap();
            assert!(cli.status.success());
            assert_eq!(String::from_utf8_lossy(&body), String::from_utf8_lossy(&cli.stdout), "{format}");
        }
        let (code, _) = s.api("GET", "/api/sales/export?format=xml", b"");
        assert_eq!(code, 422);
        let (code, v) = s.api("GET", "/api/check", b"");
        assert_eq!(code, 200, "{v}");
        assert_eq!(v, serde_json::json!([]));
        // Retry and cancel: states that do not allow it are 409, unknown ids 404.
        let done = run["jobs"][0]["id"].as_i64().unwrap();
        let (code, v) = s.api("POST", &format!("/api/jobs/{done}/retry"), b"");
        assert_eq!(code, 409, "{v}");
        let (code, v) = s.api("POST", &format!("/api/jobs/{done}/cancel"), b"");
        assert_eq!(code, 409, "{v}");
        let (code, _) = s.api("POST", "/api/jobs/999999/cancel", b"");
        assert_eq!(code, 404);
        let (code, v) = s.api("POST", &format!("/api/jobs/{sync_id}/cancel"), b"");
        assert_eq!(code, 200, "{v}");
        assert_eq!(v, serde_json::json!({"id": sync_id, "status": "cancelled", "cancel_requested": false}));
        let (code, v) = s.api("POST", &format!("/api/jobs/{sync_id}/retry"), b"");
        assert_eq!(code, 200, "{v}");
        assert_eq!(v, serde_json::json!({"id": sync_id, "status": "queued"}));
        // The OpenAPI document served is the committed one.
        let (code, _, body) = s.req("GET", "/api/openapi.json", &[], b"");
        assert_eq!(code, 200);
        let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap();
        assert_eq!(body, committed);
    }
}

/// The one-time login URL sets the session cookie once; UI actions need it and its CSRF token.
#[test]
fn login_once_and_csrf() {
    let env = Env::new();
    let s = Server::start(&env, &[], &[]);
    let path = s.login_url.split_once(&s.addr).unwrap().1.to_string();
    let (code, head, _) = s.req("GET", &path, &[], b"");
    assert_eq!(code, 303);
    assert!(head.contains("location: /\r\n"), "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.starts_with("set-cookie: salesingest_session="))
        .unwrap_or_else(|| panic!("{head}"));
    assert!(cookie_line.contains("httponly"));
    assert!(cookie_line.contains("samesite=strict"));
    assert!(cookie_line.contains("path=/"));
    assert!(
        cookie_line.contains("max-age=604800"),
        "the session lasts 7 days at most: {cookie_line}"
    );
    let (code, _, _) = s.req("GET", &path, &[], b"");
    assert_eq!(code, 404, "the one-time URL works once");
    let cookie = cookie_line
        .trim_start_matches("set-cookie: ")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // Without a session: 401; with it but no CSRF token: 403.
    let (code, _, _) = s.req("POST", "/ui/jobs/1/retry", &[], b"csrf=x");
    assert_eq!(code, 401);
    let form = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (code, _, _) = s.req("POST", "/ui/jobs/1/retry", &form, b"csrf=wrong");
    assert_eq!(code, 403);
    // A new login URL from the API, for a second browser.
    let (code, v) = s.api("POST", "/api/session", b"");
    assert_eq!(code, 200);
    assert!(v["login_url"].as_str().unwrap().contains("/login/"));
}

/// The header-read timeout cuts a client that never finishes its request head.
#[test]
fn slow_loris_is_cut_off() {
    let env = Env::new();
    let s = Server::start(&env, &[], &[("SALESINGEST_SERVE_HEADER_TIMEOUT", "1s")]);
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    c.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "held for {took:?}");
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    // The server still answers others.
    let (code, _) = s.api("GET", "/api/status", b"");
    assert_eq!(code, 200);
}

/// A hook or JSON body over 64 KiB is 413; an upload over `[serve] max_upload` too.
#[test]
fn bodies_over_the_limit_are_413() {
    let env = Env::new();
    let s = Server::start(&env, &[], &[("SALESINGEST_SERVE_MAX_UPLOAD", "100KiB")]);
    let big = vec![b'a'; 70 * 1024];
    let (code, _) = s.hook(&big);
    assert_eq!(code, 413);
    let (code, _) = s.api("POST", "/api/jobs", &big);
    assert_eq!(code, 413);
    let huge = vec![b'a'; 200 * 1024];
    let (code, v) = s.api("POST", "/api/files?name=x.csv", &huge);
    assert_eq!(code, 413, "{v}");
    assert_eq!(job_count(&env), 0);
    // Nothing is left behind in the upload folder.
    let left = std::fs::read_dir(env.path("data/uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
}

/// SIGTERM while an upload is in flight: the server stops accepting, lets the upload finish
/// within the shutdown deadline, and exits 0; what was stored before stays stored.
#[test]
fn sigterm_mid_upload_loses_nothing() {
    let env = Env::new();
    let mut s = Server::start(&env, &[], &[]);
    let (code, _) = s.hook(&ping_with_sale("T1"));
    assert_eq!(code, 200);
    let d2d = std::fs::read(fixture("d2d/d2d_sales.csv")).unwrap();
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /api/files?name=d2d.csv HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        s.addr,
        s.token,
        d2d.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    let half = d2d.len() / 2;
    c.write_all(&d2d[..half]).unwrap();
    c.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.terminate();
    std::thread::sleep(Duration::from_millis(300));
    // New connections are refused once it stops accepting.
    assert!(
        TcpStream::connect(&s.addr).is_err()
            || request(&s.addr, "GET", "/api/openapi.json", &[], b"").0 != 200,
        "still accepting after SIGTERM"
    );
    c.write_all(&d2d[half..]).unwrap();
    let (code, _, body) = read_response(&mut c);
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&body));
    assert_eq!(s.wait(Duration::from_secs(15)), Some(0));
    let jobs = env.json(&["jobs"]);
    assert_eq!(jobs.as_array().unwrap().len(), 2, "{jobs}");
}

/// `--worker` runs the queued Pings in the same process.
#[test]
fn worker_flag_runs_jobs() {
    let env = Env::new();
    let s = Server::start(&env, &["--worker"], &[]);
    let (code, _) = s.hook(&ping_with_sale("W1"));
    assert_eq!(code, 200);
    let start = Instant::now();
    loop {
        let v = env.json(&["jobs", "--status", "completed"]);
        if v.as_array().unwrap().len() == 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the worker never ran the job: {} {}",
            env.json(&["jobs"]),
            env.json(&["logs"])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `--show-hook-url` prints the path with its secret and exits.
#[test]
fn show_hook_url() {
    let env = Env::new();
    let v = env.json(&["serve", "--show-hook-url"]);
    let secret = std::fs::read_to_string(env.path("data/serve-hook-secret")).unwrap();
    assert_eq!(v["hook_path"], format!("/hooks/gumroad/{}", secret.trim()));
}

/// A Ping that cannot be recorded is answered 503 (Gumroad then retries), and nothing is
/// half-stored: once the store is back, the same delivery is queued.
#[test]
fn hook_answers_503_when_the_job_cannot_be_recorded() {
    let env = Env::new();
    let s = Server::start(&env, &[], &[]);
    let db = env.db_path();
    let aside = env.path("data/aside.db");
    std::fs::rename(&db, &aside).unwrap();
    std::fs::create_dir(&db).unwrap();
    let ping = ping_with_sale("U1");
    let (code, v) = s.hook(&ping);
    assert_eq!(code, 503, "{v}");
    std::fs::remove_dir(&db).unwrap();
    std::fs::rename(&aside, &db).unwrap();
    let (code, v) = s.hook(&ping);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["deduplicated"], false);
    assert_eq!(job_count(&env), 1);
}

/// Peak resident memory (`VmHWM`, KiB) of a process, from `/proc/<pid>/status`.
fn peak_rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"))
}

/// A huge upload is streamed to disk with flat memory (issue 14): a valid D2D report of
/// `SALESINGEST_TEST_UPLOAD_MB` MB (default 300), generated while it is sent (never a whole
/// `Vec`), written to the socket in 64 KiB pieces; the job is queued (202, one row per line),
/// and serve's peak RSS stays under 80 MB — far below the body. `[serve] max_upload` is raised
/// to 1 GiB for it; the 413 path has its own test above.
#[cfg(target_os = "linux")]
#[test]
fn huge_upload_streams_with_flat_memory() {
    let mb: u64 = std::env::var("SALESINGEST_TEST_UPLOAD_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let target = mb * 1_000_000;
    let env = Env::new();
    let s = Server::start(
        &env,
        &[],
        &[
            ("SALESINGEST_SERVE_MAX_UPLOAD", "1GiB"),
            ("SALESINGEST_SERVE_REQUEST_TIMEOUT", "600s"),
        ],
    );
    let pid = s.child.id();
    let before = peak_rss_kib(pid);
    // Rows of one length (the date range keeps every field's width), so the exact body size
    // is known before sending it.
    let row = |i: u64| {
        crate::util::d2d_row(
            &crate::util::day(i64::try_from(i % 3650).unwrap()),
            "1.50",
            1,
        )
    };
    let header = format!("{}\n", crate::util::D2D_HEADER);
    let row_len = row(0).len() as u64 + 1;
    let rows = (target - header.len() as u64) / row_len;
    let total = header.len() as u64 + rows * row_len;
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let head = format!(
        "POST /api/files?name=huge-d2d.csv HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\nContent-Type: text/csv\r\nContent-Length: {total}\r\n\r\n",
        s.addr, s.token
    );
    c.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut buf = Vec::with_capacity(64 * 1024 + 512);
    buf.extend_from_slice(header.as_bytes());
    let mut sent = 0u64;
    for i in 0..rows {
        buf.extend_from_slice(row(i).as_bytes());
        buf.push(b'\n');
        if buf.len() >= 64 * 1024 {
            c.write_all(&buf).unwrap();
            sent += buf.len() as u64;
            buf.clear();
        }
    }
    c.write_all(&buf).unwrap();
    sent += buf.len() as u64;
    assert_eq!(sent, total);
    let upload_took = started.elapsed();
    let (code, _, body) = read_response(&mut c);
    let took = started.elapsed();
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    assert_eq!(code, 202, "{v}");
    assert_eq!(v[0]["status"], "queued", "{v}");
    assert_eq!(v[0]["rows"], rows, "{v}");
    assert!(v[0]["job_id"].as_i64().is_some(), "{v}");
    let peak = peak_rss_kib(pid);
    eprintln!(
        "upload of {total} bytes ({rows} rows): sent in {upload_took:?}, 202 after {took:?}; serve peak RSS {before} KiB before, {peak} KiB after"
    );
    assert!(
        peak < 80 * 1024,
        "serve's peak RSS was {peak} KiB for a {total}-byte body"
    );
    // Growth, not the start-up baseline, is what the body could have caused.
    assert!(
        (peak - before) * 1024 < total / 4,
        "peak grew {} KiB for a {total}-byte body",
        peak - before
    );
    // The temporary upload is gone once queued.
    let left = std::fs::read_dir(env.path("data/uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
}

/// Uploads have an idle limit, not the total one: with `request_timeout` 2 s and
/// `upload_idle_timeout` 1 s, a D2D report trickled in over ~3.5 s (a slow link) is queued,
/// while a body that stops sending is cut with 408 after about a second, nothing is queued or
/// left behind, and the server answers the next request.
#[test]
fn uploads_are_cut_when_idle_not_when_slow() {
    let env = Env::new();
    let s = Server::start(
        &env,
        &[],
        &[
            ("SALESINGEST_SERVE_REQUEST_TIMEOUT", "2s"),
            ("SALESINGEST_SERVE_UPLOAD_IDLE_TIMEOUT", "1s"),
        ],
    );
    let d2d = std::fs::read(fixture("d2d/d2d_sales.csv")).unwrap();
    let head = |len: usize| {
        format!(
            "POST /api/files?name=d2d.csv HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n",
            s.addr, s.token
        )
    };
    // Slow but moving: 8 pieces, 450 ms apart — longer in all than request_timeout.
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(head(d2d.len()).as_bytes()).unwrap();
    let started = Instant::now();
    let piece = d2d.len().div_ceil(8);
    for p in d2d.chunks(piece) {
        std::thread::sleep(Duration::from_millis(450));
        c.write_all(p).unwrap();
        c.flush().unwrap();
    }
    let (code, _, body) = read_response(&mut c);
    assert!(started.elapsed() > Duration::from_secs(3));
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&body));
    assert_eq!(job_count(&env), 1);
    // Stalled: half the body, then nothing.
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(head(d2d.len()).as_bytes()).unwrap();
    c.write_all(&d2d[..d2d.len() / 2]).unwrap();
    c.flush().unwrap();
    let started = Instant::now();
    let (code, _, body) = read_response(&mut c);
    let took = started.elapsed();
    assert_eq!(code, 408, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("upload_idle_timeout"),
        "{v}"
    );
    assert!(took >= Duration::from_millis(900), "cut after {took:?}");
    assert!(took < Duration::from_secs(5), "held for {took:?}");
    assert_eq!(job_count(&env), 1);
    let left = std::fs::read_dir(env.path("data/uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
    // The server is still up, and other routes keep their total limit.
    let (code, _) = s.api("GET", "/api/status", b"");
    assert_eq!(code, 200);
}

/// An uploaded file's job records the name the client gave (as `import` records the path it
/// was given), not the temporary upload path: `status <id>` and `GET /api/jobs/{id}` say which
/// file it was, a rejection names it too, and the job still runs from the stored content.
#[test]
fn uploaded_jobs_record_the_client_file_name() {
    let env = Env::new();
    let s = Server::start(&env, &[], &[]);
    let d2d = std::fs::read(fixture("d2d/d2d_sales.csv")).unwrap();
    let (code, v) = s.api("POST", "/api/files?name=reports%2Fd2d-2024-01.csv", &d2d);
    assert_eq!(code, 202, "{v}");
    let id = v[0]["job_id"].as_i64().unwrap();
    let shown = env.json(&["status", &id.to_string()]);
    let text = shown.to_string();
    assert_eq!(shown["input"]["file"], "reports/d2d-2024-01.csv", "{shown}");
    assert!(!text.contains("uploads/"), "{text}");
    let (code, job) = s.api("GET", &format!("/api/jobs/{id}"), b"");
    assert_eq!(code, 200);
    assert_eq!(job["input"]["file"], "reports/d2d-2024-01.csv", "{job}");
    // What is stored, not only what is shown.
    let stored: String = env
        .sql()
        .query_row("SELECT input FROM jobs WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    assert!(stored.contains("reports/d2d-2024-01.csv"), "{stored}");
    assert!(!stored.contains("uploads"), "{stored}");
    // A rejected upload is named by the client's name, never the server's temporary path.
    let (code, bad) = s.api(
        "POST",
        "/api/files?platform=d2d&name=broken.csv",
        b"a,b\n1,2\n",
    );
    assert_eq!(code, 422, "{bad}");
    let msg = bad.to_string();
    assert!(msg.contains("broken.csv"), "{msg}");
    assert!(!msg.contains("uploads"), "{msg}");
    // The job runs from the stored content (the temporary file is gone).
    let out = env.cmd().args(["run-worker", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = env.json(&["status", &id.to_string()]);
    assert_eq!(done["status"], "completed", "{done}");
}

/// The dashboard's plain upload form (`POST /ui/upload`) records the chosen file's name too.
#[test]
fn form_uploads_record_the_client_file_name() {
    let env = Env::new();
    let s = Server::start(&env, &[], &[]);
    let path = s.login_url.split_once(&s.addr).unwrap().1.to_string();
    let (_, head, _) = s.req("GET", &path, &[], b"");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|l| l.split(';').next())
        .unwrap()
        .to_string();
    let (code, _, page) = s.req("GET", "/", &[("Cookie", &cookie)], b"");
    assert_eq!(code, 200);
    let page = String::from_utf8(page).unwrap();
    let csrf = page
        .split("<meta name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let boundary = "XBOUNDARYX";
    let mut mp = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d2d-march.csv\"\r\nContent-Type: text/csv\r\n\r\n").into_bytes();
    mp.extend_from_slice(&std::fs::read(fixture("d2d/d2d_sales.csv")).unwrap());
    mp.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let (code, _, body) = s.req(
        "POST",
        "/ui/upload",
        &[("Cookie", &cookie), ("Content-Type", &ct)],
        &mp,
    );
    assert_eq!(code, 303, "{}", String::from_utf8_lossy(&body));
    let stored: String = env
        .sql()
        .query_row("SELECT input FROM jobs", [], |r| r.get(0))
        .unwrap();
    assert!(stored.contains("\"d2d-march.csv\""), "{stored}");
    assert!(!stored.contains("uploads"), "{stored}");
}
