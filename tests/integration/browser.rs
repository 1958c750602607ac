//! The dashboard in a real browser: Debian's `chromium` driven headless through
//! `chromedriver` (WebDriver, with fantoccini), against a real `salesingest serve` on
//! 127.0.0.1:0 over a temporary database holding a known fixture set.
//!
//! It logs in with the one-time URL `serve --json` prints, reads the known figures off the page
//! (those of `reports.rs`, computed independently by `tests/fixtures/gen/report_expected.py`),
//! uploads a report through the drop zone's file picker and one by a dropped file (JavaScript,
//! `X-CSRF-Token`) and one through the plain form (no JavaScript), sees their jobs appear,
//! retries a job that failed at
//! run time (its kept copy removed before the worker ran) and sees it queued, then completed,
//! checks that a phone-width window needs no horizontal scrolling and that the page works with
//! JavaScript off. Screenshots go to `target/browser-screenshots/` (desktop, phone, after the
//! upload, after the retry, without JavaScript).
//!
//! Needs `chromedriver` and `chromium` on `PATH` (`build.rs` probes them; `.ci/run` installs
//! Debian's `chromium-driver` and `chromium`); without them the test is reported as ignored,
//! never as passed. `SALESINGEST_TEST_BROWSER=0` turns it off.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::util::{fixture, Env};

/// A child process killed (by its own handle) when the test ends, passed or not.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn chromium() -> String {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map_or_else(|| "chromium".to_string(), |b| (*b).to_string())
}

/// Start chromedriver on a free port and wait until it answers.
fn start_chromedriver() -> (Reaped, u16) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is on PATH (build.rs found it) but did not start");
    let child = Reaped(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

/// Start `salesingest serve --listen 127.0.0.1:0 --json`; returns it with its base URL and
/// one-time login URL (from the start-up line).
fn start_serve(env: &Env) -> (Reaped, String, String) {
    let mut child = env
        .spawn_cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child = Reaped(child);
    let v: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("serve --json start-up line {line:?}: {e}"));
    let base = format!("http://{}", v["address"].as_str().unwrap());
    let login = v["login_url"].as_str().unwrap().to_string();
    assert!(login.starts_with(&format!("{base}/login/")), "{login}");
    (child, base, login)
}

async fn browser(port: u16, javascript: bool) -> Client {
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1280,2400",
    ];
    if !javascript {
        args.push("--blink-settings=scriptEnabled=false");
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": args, "binary": which(&chromium()) }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromedriver session with headless chromium")
}

fn which(bin: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn shot_at(c: &Client, name: &str, id: &str) {
    c.execute(
        "document.getElementById(arguments[0]).scrollIntoView();",
        vec![serde_json::json!(id)],
    )
    .await
    .unwrap();
    shot(c, name).await;
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(screenshots_dir().join(name), png).unwrap();
}

/// Wait until `css`'s text contains `want` (reloading the page between looks when `reload`).
async fn wait_text(c: &Client, css: &str, want: &str, reload: bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if t.contains(want) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{want:?} never appeared in {css}: {t}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        if reload {
            c.refresh().await.unwrap();
        }
    }
}

#[test]
#[cfg_attr(
    not(salesingest_test_browser),
    ignore = "needs chromedriver and chromium on PATH (Debian chromium-driver and chromium; probed by build.rs, installed by .ci/run)"
)]
fn dashboard_in_a_real_browser() {
    let env = Env::new();
    // The known set: D2D ebook + print and Smashwords (reports.rs's figures).
    for (platform, file) in [
        ("d2d", "d2d/d2d_sales.csv"),
        ("d2d", "d2d/d2d_sales_print.csv"),
        ("smashwords", "smashwords/smashwords_salesReport.tsv"),
    ] {
        env.cmd()
            .args(["enqueue", platform, "-q", "--file"])
            .arg(fixture(file))
            .assert()
            .code(0);
    }
    // A job that fails at run time: its kept copy is gone when the worker runs it.
    let broken = env.json(&[
        "enqueue",
        "smashwords",
        "--file",
        fixture("smashwords/smashwords_salesReport_paid_later.tsv")
            .to_str()
            .unwrap(),
    ]);
    let broken_id = broken["id"].as_i64().unwrap();
    let sha = broken["input"]["sha256"].as_str().unwrap().to_string();
    let kept = env.db_path().parent().unwrap().join("inbox").join(&sha);
    let saved = env.path("saved-copy");
    std::fs::rename(&kept, &saved).unwrap();
    env.cmd().args(["run-worker", "-q"]).assert().code(3);

    let (serve, base, login) = start_serve(&env);
    let (_driver, port) = start_chromedriver();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(port, true).await;
        // Without the session cookie the dashboard refuses.
        c.goto(&base).await.unwrap();
        let body = text(&c, "body").await;
        assert!(
            !body.contains("Total USD"),
            "no dashboard before logging in: {body}"
        );
        // The one-time URL logs in and redirects to the dashboard without the token.
        c.goto(&login).await.unwrap();
        let url = c.current_url().await.unwrap();
        assert_eq!(url.path(), "/", "{url}");
        assert!(!url.as_str().contains("/login/"));

        // The known figures.
        let totals = text(&c, "#books tfoot").await;
        // USD: D2D 51.80 + Smashwords 14.81; EUR: 5.19 + 2.16; GBP 6.69 + 4.49.
        for want in ["66.61 USD", "7.35 EUR", "11.18 GBP", "12.58 CAD"] {
            assert!(totals.contains(want), "{want} in {totals}");
        }
        let books = text(&c, "#books tbody").await;
        assert!(
            books.contains("The Lighthouse Keeper's Daughter"),
            "{books}"
        );
        let d2d = text(&c, "article[data-platform=draft2digital]").await;
        assert!(d2d.contains("Draft2Digital"), "{d2d}");
        let chart = text(&c, "#chart h2").await;
        assert!(chart.contains("Royalty per month"), "{chart}");
        assert!(
            c.find(Locator::Css("#chart svg rect[fill='#0072B2']"))
                .await
                .is_ok(),
            "D2D's bars in the chart"
        );
        // The failed job heads the page, with its history and a retry button.
        let problems = text(&c, "#problems").await;
        assert!(
            problems.contains(&format!("job {broken_id} failed")),
            "{problems}"
        );
        let row = text(&c, &format!("#job-{broken_id}")).await;
        assert!(row.contains("failed"), "{row}");
        shot(&c, "desktop.png").await;

        // Upload through the drop zone's file picker (the script posts with X-CSRF-Token and
        // reloads): the job appears.
        let zone_visible = c
            .find(Locator::Css("#dropzone"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap();
        assert!(zone_visible, "the script shows the drop zone");
        c.find(Locator::Css("#dropzone-input"))
            .await
            .unwrap()
            .send_keys(fixture("kobo/kobo_sales_details.csv").to_str().unwrap())
            .await
            .unwrap();
        let jobs = wait_text(&c, "#jobs", "kobo_sales_details.csv", false).await;
        assert!(jobs.contains("queued"), "{jobs}");
        // A real drop on the zone: a DragEvent carrying a file (the fixture's bytes).
        let dropped = std::fs::read(fixture("google_play/google_play_earnings_EUR_2025-07.csv")).unwrap();
        c.execute(
            "const dt = new DataTransfer();
             dt.items.add(new File([new Uint8Array(arguments[0])], 'google_play_earnings_EUR_2025-07.csv', {type: 'text/csv'}));
             const zone = document.getElementById('dropzone');
             zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
             zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));",
            vec![serde_json::json!(dropped)],
        )
        .await
        .unwrap();
        let jobs = wait_text(&c, "#jobs", "google_play_earnings_EUR_2025-07.csv", false).await;
        assert!(jobs.contains("Google Play"), "{jobs}");
        shot_at(&c, "after-upload.png", "upload").await;

        // Retry the failed job with its form (CSRF field): queued again.
        c.find(Locator::Css(&format!("#job-{broken_id} form.retry button")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let row = wait_text(&c, &format!("#job-{broken_id}"), "queued", true).await;
        assert!(!row.contains("Retry"), "{row}");
        // Put the kept copy back and let the worker run it: completed.
        std::fs::rename(&saved, &kept).unwrap();
        env.cmd().args(["run-worker", "-q"]).assert().code(0);
        c.refresh().await.unwrap();
        wait_text(&c, &format!("#job-{broken_id}"), "completed", true).await;
        let problems = text(&c, "#problems").await;
        assert!(
            !problems.contains(&format!("job {broken_id}")),
            "{problems}"
        );
        shot_at(&c, "after-retry.png", "jobs").await;

        // A phone: 390 px wide, nothing wider than the screen but the tables' own scrollers.
        c.set_window_size(390, 1400).await.unwrap();
        c.refresh().await.unwrap();
        let widths = c
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
        assert!(inner <= 420, "phone-width window: {inner}");
        assert!(
            scroll <= inner,
            "no horizontal scrolling on a phone: {scroll} > {inner}"
        );
        shot(&c, "phone.png").await;
        c.close().await.unwrap();
    });
    drop(rt);
    drop(serve);

    // JavaScript off: a second serve (a new one-time login URL) on the same database, with the
    // dashboard converting into EUR at the fixture rates (`[dashboard]`).
    env.config(&format!(
        "[dashboard]\ncurrency = \"EUR\"\nrates = \"{}\"\n",
        fixture("rates/eur_reference_rates.csv").display()
    ));
    let (_serve2, base2, login2) = start_serve(&env);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(port, false).await;
        c.goto(&login2).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/");
        let totals = text(&c, "#books tfoot").await;
        assert_eq!(totals.matches("Total").count(), 1, "{totals}");
        assert!(totals.contains("Total EUR"), "{totals}");
        let note = text(&c, "#books .note").await;
        assert!(note.contains("converted into EUR"), "{note}");
        assert!(text(&c, "#chart h2").await.contains("Royalty per month"));
        let zone = c.find(Locator::Css("#dropzone")).await.unwrap();
        assert!(
            !zone.is_displayed().await.unwrap(),
            "no drop zone without script"
        );
        // Sorting is by links: units, descending.
        c.find(Locator::Css("#books th a[href*='sort=-units']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let url = c.current_url().await.unwrap();
        assert!(url.as_str().starts_with(&base2), "{url}");
        assert_eq!(url.query(), Some("sort=-units"), "{url}");
        let first_units: Vec<i64> = {
            let rows = c
                .find_all(Locator::Css("#books tbody tr td:nth-child(4)"))
                .await
                .unwrap();
            let mut v = Vec::new();
            for r in rows {
                v.push(r.text().await.unwrap().trim().parse().unwrap());
            }
            v
        };
        assert!(first_units.len() > 3);
        assert!(
            first_units.windows(2).all(|w| w[0] >= w[1]),
            "{first_units:?}"
        );
        // The plain form uploads too (csrf hidden field), and the job appears.
        c.find(Locator::Css("form.upload input[name=file]"))
            .await
            .unwrap()
            .send_keys(
                fixture("google_play/google_play_earnings_USD_2025-07.csv")
                    .to_str()
                    .unwrap(),
            )
            .await
            .unwrap();
        c.find(Locator::Css("form.upload button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.goto(&base2).await.unwrap();
        wait_text(&c, "#jobs", "google_play_earnings_USD_2025-07.csv", true).await;
        shot(&c, "no-javascript.png").await;
        c.close().await.unwrap();
    });
}

/// A multipart body: `(name, filename, bytes)` parts in order.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----salesingest-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Without a browser (runs everywhere): the page's headers and assets, and the plain upload
/// form's checks over HTTP: the CSRF field must come first and be right (else 403 and nothing
/// is written or queued), a rejected file is a 422 page naming the reason, a good one is
/// queued and answered with a redirect to the jobs list.
#[test]
fn page_assets_and_the_plain_upload_form() {
    use crate::serve::{request, Server};
    let env = Env::new();
    let s = Server::start(&env, &[], &[]);
    let login = s.login_url.split_once(&s.addr).unwrap().1.to_string();
    let raw_cookie = raw_set_cookie(&s.addr, &login);
    let (code, head, _) = request(&s.addr, "GET", &login, &[], b"");
    assert_ne!(code, 303, "the login URL works once: {head}");
    let headers = [("Cookie", raw_cookie.as_str())];
    let (code, head, body) = request(&s.addr, "GET", "/", &headers, b"");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-store"), "{head}");
    let page = String::from_utf8(body).unwrap();
    let csrf = page
        .split_once("<meta name=\"csrf-token\" content=\"")
        .unwrap()
        .1
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(csrf.len() >= 16, "{csrf}");
    let (code, head, body) = request(&s.addr, "GET", "/assets/dashboard.css", &[], b"");
    assert_eq!(code, 200);
    assert!(head.contains("content-type: text/css"), "{head}");
    assert_eq!(body, salesingest::dashboard::CSS.as_bytes());
    let (code, _, _) = request(&s.addr, "GET", "/assets/..%2FCargo.toml", &[], b"");
    assert_eq!(code, 404);

    let d2d = std::fs::read(fixture("d2d/d2d_sales.csv")).unwrap();
    let jobs = || env.json(&["jobs"]).as_array().unwrap().len();
    let post = |parts: &[(&str, Option<&str>, &[u8])]| {
        let (ct, body) = multipart(parts);
        request(
            &s.addr,
            "POST",
            "/ui/upload",
            &[
                ("Cookie", raw_cookie.as_str()),
                ("Content-Type", ct.as_str()),
            ],
            &body,
        )
    };
    // Wrong token, no token, token after the file: 403, nothing queued.
    for parts in [
        vec![
            ("csrf", None, b"wrong".as_slice()),
            ("file", Some("d2d.csv"), d2d.as_slice()),
        ],
        vec![("file", Some("d2d.csv"), d2d.as_slice())],
        vec![
            ("file", Some("d2d.csv"), d2d.as_slice()),
            ("csrf", None, csrf.as_bytes()),
        ],
    ] {
        let (code, _, body) = post(&parts);
        assert_eq!(code, 403, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("CSRF"));
    }
    assert_eq!(jobs(), 0);
    // Without the session cookie: 401.
    let (ct, body) = multipart(&[("csrf", None, csrf.as_bytes())]);
    let (code, _, _) = request(
        &s.addr,
        "POST",
        "/ui/upload",
        &[("Content-Type", ct.as_str())],
        &body,
    );
    assert_eq!(code, 401);
    // A file no platform reads: 422 naming it, nothing queued.
    let (code, _, body) = post(&[
        ("csrf", None, csrf.as_bytes()),
        (
            "file",
            Some("notes <b>.txt"),
            b"just some notes\n".as_slice(),
        ),
    ]);
    assert_eq!(code, 422);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("notes _b_.txt"), "{body}");
    assert!(!body.contains("<b>"), "{body}");
    assert_eq!(jobs(), 0);
    // No file chosen: 422.
    let (code, _, _) = post(&[
        ("csrf", None, csrf.as_bytes()),
        ("file", Some(""), b"".as_slice()),
    ]);
    assert_eq!(code, 422);
    // The real thing: queued, redirected to the jobs list.
    let (code, head, _) = post(&[
        ("csrf", None, csrf.as_bytes()),
        ("file", Some("d2d_sales.csv"), d2d.as_slice()),
    ]);
    assert_eq!(code, 303, "{head}");
    assert!(head.contains("location: /#jobs"), "{head}");
    let list = env.json(&["jobs"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["platform"], "draft2digital");
    assert!(list[0]["input"]["file"]
        .as_str()
        .unwrap()
        .ends_with("d2d_sales.csv"));
    // The upload folder is gone (the store keeps its own copy).
    let uploads = env.db_path().parent().unwrap().join("uploads");
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// The `Cookie` value a one-time login path sets, case kept (`request` lower-cases heads).
fn raw_set_cookie(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
                .map(|(_, v)| v.trim().split(';').next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| panic!("no Set-Cookie from {path}: {raw}"))
}
