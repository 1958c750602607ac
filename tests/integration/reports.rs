//! `sales summary|export|chart` on the fixture reports, against figures computed independently.
//!
//! Expected numbers come from `tests/fixtures/gen/report_expected.py`, which reads the fixture
//! files with Python's `csv` and `openpyxl` and sums with `decimal` (no salesingest code): D2D
//! `Publisher Share` by `End Date` month, Smashwords `net` by `date` month, KDP per-format royalty
//! sheets + KENP Read, with the estimator's July 2025 rows replaced by the Prior Months' (final)
//! July 2025 workbook.

use std::collections::BTreeMap;

use crate::util::{fixture, Env};

/// Import every fixture family used here: D2D ebook + print, KDP estimator + final (July 2025
/// in both), Smashwords (several currencies).
fn import_all(env: &Env) {
    let f = |p: &str| fixture(p).display().to_string();
    for (platform, files) in [
        (
            "d2d",
            vec![f("d2d/d2d_sales.csv"), f("d2d/d2d_sales_print.csv")],
        ),
        (
            "kdp",
            vec![
                f("kdp/kdp_royalties_estimator.xlsx"),
                f("kdp/kdp_prior_month_royalties.xlsx"),
            ],
        ),
        (
            "smashwords",
            vec![f("smashwords/smashwords_salesReport.tsv")],
        ),
    ] {
        let mut cmd = env.cmd();
        cmd.args(["enqueue", platform, "-q"]);
        for file in &files {
            cmd.args(["--file", file]);
        }
        cmd.assert().code(0);
    }
    env.cmd().args(["run-worker", "-q"]).assert().code(0);
}

fn str_of(v: &serde_json::Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

/// (platform, currency) → (events, units, kenp_pages, royalty), from report_expected.py.
const BY_PLATFORM: &[(&str, &str, i64, i64, i64, &str)] = &[
    ("amazon_kdp", "AUD", 1, 2, 0, "9.86"),
    ("amazon_kdp", "BRL", 1, 1, 0, "3.47"),
    ("amazon_kdp", "CAD", 1, 4, 0, "4.37"),
    ("amazon_kdp", "EUR", 7, 9, 1300, "29.91"),
    ("amazon_kdp", "GBP", 2, 4, 0, "11.91"),
    ("amazon_kdp", "INR", 1, 1, 0, "117.42"),
    ("amazon_kdp", "JPY", 2, 1, 903, "754"),
    ("amazon_kdp", "USD", 12, 264, 5309, "203.12"),
    ("draft2digital", "AUD", 1, 0, 0, "0.00"),
    ("draft2digital", "CAD", 1, 1, 0, "4.19"),
    ("draft2digital", "EUR", 2, 5, 0, "5.19"),
    ("draft2digital", "GBP", 2, 3, 0, "6.69"),
    ("draft2digital", "USD", 8, 16, 0, "51.80"),
    ("smashwords", "AUD", 1, -1, 0, "-2.54"),
    ("smashwords", "CAD", 1, 2, 0, "8.39"),
    ("smashwords", "EUR", 1, 1, 0, "2.16"),
    ("smashwords", "GBP", 1, 1, 0, "4.49"),
    ("smashwords", "USD", 7, 7, 0, "14.81"),
];

/// (month, platform, currency) → (events, units, kenp_pages, royalty), from report_expected.py.
const BY_MONTH: &[(&str, &str, &str, i64, i64, i64, &str)] = &[
    ("2025-06", "amazon_kdp", "AUD", 1, 2, 0, "9.86"),
    ("2025-06", "amazon_kdp", "BRL", 1, 1, 0, "3.47"),
    ("2025-06", "amazon_kdp", "INR", 1, 1, 0, "117.42"),
    ("2025-06", "amazon_kdp", "USD", 3, 23, 0, "84.04"),
    ("2025-06", "draft2digital", "GBP", 1, 2, 0, "3.85"),
    ("2025-06", "draft2digital", "USD", 1, 7, 0, "20.96"),
    ("2025-06", "smashwords", "AUD", 1, -1, 0, "-2.54"),
    ("2025-06", "smashwords", "CAD", 1, 2, 0, "8.39"),
    ("2025-06", "smashwords", "EUR", 1, 1, 0, "2.16"),
    ("2025-07", "amazon_kdp", "CAD", 1, 4, 0, "4.37"),
    ("2025-07", "amazon_kdp", "EUR", 6, 9, 1204, "29.91"),
    ("2025-07", "amazon_kdp", "GBP", 2, 4, 0, "11.91"),
    ("2025-07", "amazon_kdp", "JPY", 2, 1, 903, "754"),
    ("2025-07", "amazon_kdp", "USD", 7, 241, 4810, "119.08"),
    ("2025-07", "draft2digital", "AUD", 1, 0, 0, "0.00"),
    ("2025-07", "draft2digital", "CAD", 1, 1, 0, "4.19"),
    ("2025-07", "draft2digital", "EUR", 2, 5, 0, "5.19"),
    ("2025-07", "draft2digital", "GBP", 1, 1, 0, "2.84"),
    ("2025-07", "draft2digital", "USD", 7, 9, 0, "30.84"),
    ("2025-07", "smashwords", "GBP", 1, 1, 0, "4.49"),
    ("2025-07", "smashwords", "USD", 7, 7, 0, "14.81"),
    ("2025-08", "amazon_kdp", "EUR", 1, 0, 96, "0.00"),
    ("2025-08", "amazon_kdp", "USD", 2, 0, 499, "0.00"),
];

#[test]
fn summary_by_platform_and_month_matches_independent_totals() {
    let env = Env::new();
    import_all(&env);

    let rows = env.json(&["sales", "summary", "--by", "platform,currency"]);
    let got: Vec<(String, String, i64, i64, i64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                str_of(r, "platform"),
                str_of(r, "currency"),
                r["events"].as_i64().unwrap(),
                r["units"].as_i64().unwrap(),
                r["kenp_pages"].as_i64().unwrap(),
                str_of(r, "royalty"),
            )
        })
        .collect();
    let want: Vec<_> = BY_PLATFORM
        .iter()
        .map(|(p, c, e, u, k, r)| (p.to_string(), c.to_string(), *e, *u, *k, r.to_string()))
        .collect();
    assert_eq!(got, want);

    // The default grouping is month, platform, currency.
    let rows = env.json(&["sales", "summary"]);
    let got: Vec<(String, String, String, i64, i64, i64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                str_of(r, "month"),
                str_of(r, "platform"),
                str_of(r, "currency"),
                r["events"].as_i64().unwrap(),
                r["units"].as_i64().unwrap(),
                r["kenp_pages"].as_i64().unwrap(),
                str_of(r, "royalty"),
            )
        })
        .collect();
    let want: Vec<_> = BY_MONTH
        .iter()
        .map(|(m, p, c, e, u, k, r)| {
            (
                m.to_string(),
                p.to_string(),
                c.to_string(),
                *e,
                *u,
                *k,
                r.to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);

    // July 2025 KDP is the final report only (the estimate for July is shadowed), and final.
    let july = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["month"] == "2025-07" && r["platform"] == "amazon_kdp" && r["currency"] == "USD"
        })
        .unwrap();
    assert_eq!(july["is_final"], true);
    let june = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["month"] == "2025-06" && r["platform"] == "amazon_kdp" && r["currency"] == "USD"
        })
        .unwrap();
    assert_eq!(june["is_final"], false);

    // The per-platform overview of `status` agrees.
    assert_eq!(
        env.royalty("draft2digital"),
        vec![
            ("AUD".to_string(), "0.00".to_string()),
            ("CAD".into(), "4.19".into()),
            ("EUR".into(), "5.19".into()),
            ("GBP".into(), "6.69".into()),
            ("USD".into(), "51.80".into()),
        ]
    );
}

#[test]
fn summary_filters_by_period_end_platform_finality_and_other_keys() {
    let env = Env::new();
    import_all(&env);
    // D2D's Apple row 2025-06-29..2025-07-26 ends in July: --until 2025-06 leaves it out.
    let june = env.json(&[
        "sales",
        "summary",
        "--by",
        "platform,currency",
        "--until",
        "2025-06",
        "--platform",
        "d2d",
    ]);
    let got: Vec<(String, String)> = june
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (str_of(r, "currency"), str_of(r, "royalty")))
        .collect();
    assert_eq!(
        got,
        [
            ("GBP".into(), "3.85".into()),
            ("USD".into(), "20.96".into())
        ]
    );
    // --since is inclusive on the period end; KENP estimates of August only.
    let aug = env.json(&[
        "sales",
        "summary",
        "--by",
        "month",
        "--since",
        "2025-08-01",
        "--platform",
        "kdp",
    ]);
    assert_eq!(aug.as_array().unwrap().len(), 2);
    assert!(aug
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["month"] == "2025-08"));
    // Final only: KDP July (final report) but no June estimates.
    let fin = env.json(&[
        "sales",
        "summary",
        "--by",
        "month,platform",
        "--final-only",
        "--platform",
        "kdp",
    ]);
    let months: Vec<String> = fin
        .as_array()
        .unwrap()
        .iter()
        .map(|r| str_of(r, "month"))
        .collect();
    assert!(months.iter().all(|m| m == "2025-07"), "{months:?}");
    // Grouping by title adds the key; totals per currency are unchanged.
    let titles = env.json(&[
        "sales",
        "summary",
        "--by",
        "title,currency",
        "--platform",
        "smashwords",
    ]);
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    for r in titles.as_array().unwrap() {
        assert!(r["title"].is_string());
        *sums.entry(str_of(r, "currency")).or_default() +=
            str_of(r, "royalty").parse::<f64>().unwrap();
    }
    assert!((sums["USD"] - 14.81).abs() < 1e-9, "{sums:?}");
    // Human output has a totals row per currency.
    let out = env
        .cmd()
        .args(["sales", "summary", "--platform", "d2d"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("TOTAL") && l.contains("USD") && l.contains("51.80")),
        "{text}"
    );
    // Unknown key: usage error.
    env.cmd()
        .args(["sales", "summary", "--by", "isbn"])
        .assert()
        .code(2);
}

/// Sum decimal strings exactly as integer micro-units (no floats).
fn micros(s: &str) -> i64 {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    let v = i.parse::<i64>().unwrap() * 1_000_000 + format!("{f:0<6}").parse::<i64>().unwrap();
    if neg {
        -v
    } else {
        v
    }
}

#[test]
fn export_csv_round_trips_and_counts_every_effective_event() {
    let env = Env::new();
    import_all(&env);
    let out = env
        .cmd()
        .args(["sales", "export", "--format", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out
        .stdout
        .starts_with(b"platform,source,period_start,period_end,month,title,"));
    assert!(
        out.stdout.windows(2).any(|w| w == b"\r\n"),
        "RFC 4180 line ends"
    );
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = rdr.headers().unwrap().clone();
    let want = [
        "platform",
        "source",
        "period_start",
        "period_end",
        "month",
        "title",
        "product_id",
        "format",
        "marketplace",
        "retailer",
        "country",
        "units",
        "kenp_pages",
        "list_price",
        "royalty",
        "currency",
        "is_final",
        "status",
        "job_id",
        "raw",
    ];
    assert_eq!(headers.iter().collect::<Vec<_>>(), want);
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let mut per: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut rows = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        rows += 1;
        // `raw` is the source row as JSON text.
        let raw: serde_json::Value = serde_json::from_str(&rec[col("raw")]).unwrap();
        assert!(raw.is_object());
        *per.entry((
            rec[col("platform")].to_string(),
            rec[col("currency")].to_string(),
        ))
        .or_default() += micros(&rec[col("royalty")]);
    }
    let events: i64 = BY_PLATFORM.iter().map(|r| r.2).sum();
    assert_eq!(rows, events);
    for (p, c, _, _, _, royalty) in BY_PLATFORM {
        assert_eq!(
            per[&(p.to_string(), c.to_string())],
            micros(royalty),
            "{p} {c}"
        );
    }

    // NDJSON: one object per line; JSON: one array; both as many as the CSV; --output writes a file.
    let nd = env
        .cmd()
        .args([
            "sales",
            "export",
            "--format",
            "ndjson",
            "--platform",
            "smashwords",
        ])
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(nd.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    assert!(lines
        .iter()
        .all(|l| l["platform"] == "smashwords" && l["raw"].is_string()));
    let path = env.path("all.json");
    env.cmd()
        .args(["sales", "export", "--format", "json", "--output"])
        .arg(&path)
        .assert()
        .code(0);
    let arr: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(arr.as_array().unwrap().len() as i64, events);
    // Nothing matches: an empty array / a header only.
    let empty = env.json(&["sales", "export", "--since", "2030-01-01"]);
    assert_eq!(empty, serde_json::json!([]));
}

const RATES: &str = "rates/eur_reference_rates.csv";

#[test]
fn conversion_names_rates_and_rounds_per_event() {
    let env = Env::new();
    import_all(&env);
    let rates = fixture(RATES).display().to_string();
    let rows = env.json(&[
        "sales",
        "summary",
        "--by",
        "platform",
        "--in",
        "EUR",
        "--rates",
        &rates,
        "--platform",
        "d2d",
        "--platform",
        "smashwords",
    ]);
    let rows = rows.as_array().unwrap();
    // report_expected.py: each event / rate of the latest date <= period end, half-even to
    // 0.000001, then summed.
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                str_of(r, "platform"),
                str_of(r, "currency"),
                str_of(r, "royalty"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("draft2digital".into(), "EUR".into(), "60.229895".into()),
            ("smashwords".into(), "EUR".into(), "23.86184".into()),
        ]
    );
    // Provenance: each source currency with its rate and date.
    let sw = &rows[1]["rates"];
    let usd = sw
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "USD")
        .unwrap();
    assert_eq!(usd["rate"], "1.1801");
    assert_eq!(usd["rate_date"], "2025-07-01");
    assert_eq!(usd["royalty"], "14.81");
    assert_eq!(usd["events"], 7);
    let eur = sw
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "EUR")
        .unwrap();
    assert_eq!(eur["rate"], "1");
    assert!(eur["rate_date"].is_null());

    // Export with conversion: per-event columns that add up to the same total.
    let out = env
        .cmd()
        .args(["sales", "export", "--in", "EUR", "--rates", &rates])
        .args(["--platform", "d2d", "--platform", "smashwords"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    let h = rdr.headers().unwrap().clone();
    let ci = h.iter().position(|x| x == "converted_royalty").unwrap();
    let ri = h.iter().position(|x| x == "rate_date").unwrap();
    let mut total = 0;
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        total += micros(&rec[ci]);
        n += 1;
        if &rec[h.iter().position(|x| x == "currency").unwrap()] != "EUR" {
            assert!(!rec[ri].is_empty());
        }
    }
    assert_eq!(n, 25);
    assert_eq!(total, micros("60.229895") + micros("23.86184"));

    // The chart converts the same way.
    let chart = env.json(&[
        "sales",
        "chart",
        "--in",
        "EUR",
        "--rates",
        &rates,
        "--platform",
        "d2d",
        "--platform",
        "smashwords",
    ]);
    let sum: i64 = chart["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| micros(m["royalty"].as_str().unwrap()))
        .sum();
    assert_eq!(sum, micros("84.091735"));
}

#[test]
fn a_missing_rate_or_a_bad_rates_file_is_rejected_by_name() {
    let env = Env::new();
    import_all(&env);
    let rates = fixture(RATES).display().to_string();
    // KDP has June BRL (period end 2025-06-30) but the file has BRL only from 2025-07-01, and
    // no JPY at all.
    for sub in [
        &["summary"][..],
        &["export", "--format", "ndjson"],
        &["chart"],
    ] {
        let out = env
            .cmd()
            .arg("sales")
            .args(sub)
            .args(["--in", "EUR", "--rates", &rates])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5), "{sub:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no BRL rate on or before 2025-06-30"),
            "{sub:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "nothing written before the check");
    }
    let out = env
        .cmd()
        .args([
            "sales",
            "summary",
            "--in",
            "EUR",
            "--rates",
            &rates,
            "--platform",
            "kdp",
        ])
        .args(["--since", "2025-07"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no JPY rate on or before 2025-07-31"));

    let bad = env.path("bad.csv");
    std::fs::write(&bad, "date,currency,rate\n2025-07-01,USD,1,18\n").unwrap();
    let out = env
        .cmd()
        .args(["sales", "summary", "--in", "EUR", "--rates"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    // --in needs --rates (usage error).
    env.cmd()
        .args(["sales", "summary", "--in", "EUR"])
        .assert()
        .code(2);
}

#[test]
fn chart_snapshot_at_width_60_without_colour() {
    let env = Env::new();
    import_all(&env);
    let out = env
        .cmd()
        .args(["sales", "chart", "--width", "60", "--currency", "USD"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // USD: June 84.04 KDP + 20.96 D2D = 105.00; July 119.08 KDP + 30.84 D2D + 14.81 SW =
    // 164.73, the widest bar: 60 - len("2025-07 |") - len("| 164.73") = 43 cells. Cells are
    // allotted on cumulative sums: July 119.08/164.73·43 = 31.08 → 31 KDP, 149.92/164.73·43 =
    // 39.13 → 39 (8 D2D), 43 (4 SW); June 84.04/164.73·43 = 21.94 → 22 KDP, 105/164.73·43 =
    // 27.41 → 27 (5 D2D). August has only KENP pages (0.00).
    let want = "\
Royalty per month in USD, stacked by platform
not shown: AUD, BRL, CAD, EUR, GBP, INR, JPY (pick one with --currency, or convert with --in CUR --rates FILE)
2025-06 |██████████████████████▓▓▓▓▓                | 105.00
2025-07 |███████████████████████████████▓▓▓▓▓▓▓▓░░░░| 164.73
2025-08 |                                           |   0.00
         ██ amazon_kdp  ▓▓ draft2digital  ░░ smashwords
";
    assert_eq!(text, want);
    for line in text.lines().skip(2).take(3) {
        assert_eq!(line.chars().count(), 60, "{line}");
    }
    // The default currency is the one with the most events (USD here).
    let out = env
        .cmd()
        .args(["sales", "chart", "--width", "60"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

/// A small well-formedness check: every element closed in order, attributes quoted.
fn assert_well_formed(xml: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        let end = rest[i..].find('>').expect("unclosed tag") + i;
        let tag = &rest[i + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        assert_eq!(tag.matches('"').count() % 2, 0, "quotes in <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "</{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap().to_string());
        }
        let text = rest.split('<').next().unwrap();
        for (j, _) in text.match_indices('&') {
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;"]
                    .iter()
                    .any(|e| text[j..].starts_with(e)),
                "bare & in {text:?}"
            );
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn svg_chart_is_written_and_well_formed() {
    let env = Env::new();
    import_all(&env);
    let svg = env.path("chart.svg");
    env.cmd()
        .args(["sales", "chart", "--currency", "EUR", "--svg"])
        .arg(&svg)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<?xml"));
    assert!(text.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    for needle in [
        "2025-06",
        "2025-07",
        "2025-08",
        "amazon_kdp",
        "draft2digital",
        "smashwords",
        "Royalty per month in EUR",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    assert_well_formed(&text);
}
