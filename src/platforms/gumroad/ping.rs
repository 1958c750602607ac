//! Gumroad Ping (and resource-subscription) bodies: `application/x-www-form-urlencoded`,
//! FORMATS §3.5.

use serde_json::{Map, Value};

use super::{utc_date, Sale};
use crate::model::SaleEvent;
use crate::platforms::{InputError, PlatformError};

fn reject(file: &str, column: Option<&str>, message: impl Into<String>) -> PlatformError {
    PlatformError::Rejected(InputError {
        file: file.to_string(),
        column: column.map(str::to_string),
        message: message.into(),
        ..InputError::default()
    })
}

/// The largest body read as a Ping (callers read at most one byte more, so a larger input is
/// rejected without being read whole).
pub const MAX_PING_BYTES: usize = 1 << 20;

/// Parse one Ping body into the same event an API sync gives for that sale (keyed by
/// `sale_id`, source `gumroad.ping`). Pure.
///
/// Both `+` and `%20` decode to a space. `price` and `gumroad_fee` must be integer USD cents;
/// `quantity` defaults to 1; `sale_timestamp` must be RFC 3339. `resource_name=refund` or
/// `refunded=true` marks the sale refunded; `resource_name=dispute`, or `disputed=true` without
/// `dispute_won=true`, marks it chargedback; both count zero units and zero royalty. The Ping
/// carries no ISO country (only `ip_country`, a name), so `country` is empty. A `test=true`
/// ping is parsed like any other (the flag stays in `raw`); the caller decides.
///
/// # Errors
/// `Rejected` (naming `display_name` and the field) for a body without `sale_id`, a
/// non-integer `price` or `gumroad_fee`, a bad timestamp, a JSON body, or a key given twice
/// with different values.
pub fn parse_ping(body: &[u8], display_name: &str) -> Result<SaleEvent, PlatformError> {
    if body.len() > MAX_PING_BYTES {
        return Err(reject(
            display_name,
            None,
            format!(
                "the body is larger than {} MB, and a Gumroad Ping is about 2 KB: this is not a Ping",
                MAX_PING_BYTES >> 20
            ),
        ));
    }
    let body = body.trim_ascii();
    if body.is_empty() {
        return Err(reject(display_name, None, "the Ping body is empty"));
    }
    if body.starts_with(b"{") {
        return Err(reject(
            display_name,
            None,
            "this Ping body is JSON; only the default application/x-www-form-urlencoded Ping is supported",
        ));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let get = |key: &str| -> Result<Option<&str>, PlatformError> {
        let mut found: Option<&str> = None;
        for (k, v) in &pairs {
            if k == key {
                match found {
                    Some(prev) if prev != v => {
                        return Err(reject(
                            display_name,
                            Some(key),
                            format!(
                            "the field is given twice with different values (`{prev}` and `{v}`)"
                        ),
                        ))
                    }
                    _ => found = Some(v.as_str()),
                }
            }
        }
        Ok(found)
    };
    let cents = |key: &str, required: bool| -> Result<Option<i64>, PlatformError> {
        match get(key)?.map(str::trim) {
            None | Some("") if !required => Ok(None),
            None | Some("") => Err(reject(
                display_name,
                Some(key),
                "the field is missing (expected an integer number of USD cents)",
            )),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                reject(
                    display_name,
                    Some(key),
                    format!("expected an integer number of USD cents, found `{v}`"),
                )
            }),
        }
    };
    let flag = |key: &str| -> Result<bool, PlatformError> {
        match get(key)?.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(reject(
                display_name,
                Some(key),
                format!("expected true or false, found `{other}`"),
            )),
        }
    };

    let id = get("sale_id")?.map(str::trim).unwrap_or_default();
    if id.is_empty() {
        return Err(reject(
            display_name,
            Some("sale_id"),
            "the Ping has no sale_id, so the sale cannot be identified",
        ));
    }
    let stamp = get("sale_timestamp")?.unwrap_or_default();
    let date = utc_date(stamp).ok_or_else(|| {
        reject(
            display_name,
            Some("sale_timestamp"),
            format!("expected an RFC 3339 timestamp like 2025-08-14T21:02:11Z, found `{stamp}`"),
        )
    })?;
    let price_cents = cents("price", true)?.unwrap_or(0);
    let fee_cents = cents("gumroad_fee", true)?.unwrap_or(0);
    let quantity = match get("quantity")?.map(str::trim) {
        None | Some("") => 1,
        Some(v) => v.parse::<i64>().ok().filter(|q| *q >= 0).ok_or_else(|| {
            reject(
                display_name,
                Some("quantity"),
                format!("expected a whole number of 0 or more, found `{v}`"),
            )
        })?,
    };
    let resource = get("resource_name")?.unwrap_or_default().trim();
    let refunded = resource == "refund" || flag("refunded")?;
    let chargedback = resource == "dispute" || (flag("disputed")? && !flag("dispute_won")?);

    let mut raw = Map::new();
    for (k, v) in &pairs {
        raw.insert(k.clone(), Value::String(v.clone()));
    }
    let sale = Sale {
        id: id.to_string(),
        date,
        title: get("product_name")?.unwrap_or_default().to_string(),
        product_id: get("product_id")?.unwrap_or_default().to_string(),
        country: String::new(),
        quantity,
        price_cents,
        fee_cents,
        refunded,
        chargedback,
        partially_refunded: false,
    };
    sale.into_event("gumroad.ping", Value::Object(raw).to_string())
        .map_err(|field| reject(display_name, Some(field), "the amount is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn sale_ping() {
        let ev = parse_ping(&fixture("gumroad/gumroad_ping.txt"), "ping.txt").unwrap();
        assert_eq!(
            ev.natural_key.as_deref(),
            Some("gumroad:sale:01Xq7t7919dvxYabdavG97Y-Q==")
        );
        assert_eq!(ev.source, "gumroad.ping");
        assert_eq!(ev.family, "gumroad");
        assert_eq!(ev.title, "The Lighthouse Keeper's Daughter (EPUB + PDF)");
        assert_eq!(ev.product_id, "32-nPainqpLj1B_WIwVlMw==");
        assert_eq!(ev.period_start, "2025-08-14".parse().unwrap());
        assert_eq!(ev.period_end, ev.period_start);
        assert_eq!(ev.units, 1);
        assert_eq!(ev.list_price_micros, Some(7_990_000));
        assert_eq!(ev.royalty_micros, 6_780_000);
        assert_eq!(ev.currency, "USD");
        assert_eq!(ev.country, "");
        assert_eq!(ev.status, "");
        assert!(ev.is_final);
        let raw: Value = serde_json::from_str(&ev.raw).unwrap();
        assert_eq!(raw["card[visual]"], "**** **** **** 4242");
        assert_eq!(raw["currency"], "usd");
        assert_eq!(raw["ip_country"], "United States");
    }

    #[test]
    fn refund_ping_zeroes_units_and_royalty() {
        let ev = parse_ping(&fixture("gumroad/gumroad_ping_refund.txt"), "refund.txt").unwrap();
        assert_eq!(
            ev.natural_key.as_deref(),
            Some("gumroad:sale:13Xq7t2947dvxYabdavG97Y-Q==")
        );
        assert_eq!(ev.title, "Nordlicht – Kurzgeschichten (EPUB)");
        assert_eq!(ev.status, "refunded");
        assert_eq!(ev.units, 0);
        assert_eq!(ev.royalty_micros, 0);
        assert_eq!(ev.list_price_micros, Some(6_500_000));
        let raw: Value = serde_json::from_str(&ev.raw).unwrap();
        assert_eq!(raw["price"], "650");
        assert_eq!(raw["gumroad_fee"], "100");
        assert_eq!(raw["currency"], "eur");
    }

    #[test]
    fn refund_by_resource_name_alone() {
        let body = b"sale_id=X1&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=650&gumroad_fee=100&resource_name=refund";
        let ev = parse_ping(body, "p").unwrap();
        assert_eq!(
            (ev.status.as_str(), ev.units, ev.royalty_micros),
            ("refunded", 0, 0)
        );
    }

    #[test]
    fn dispute_ping_is_chargedback_unless_won() {
        let base = "sale_id=X1&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=650&gumroad_fee=100";
        let ev = parse_ping(
            format!("{base}&resource_name=dispute&disputed=true").as_bytes(),
            "p",
        )
        .unwrap();
        assert_eq!(
            (ev.status.as_str(), ev.units, ev.royalty_micros),
            ("chargedback", 0, 0)
        );
        let ev = parse_ping(
            format!("{base}&resource_name=dispute_won&disputed=true&dispute_won=true").as_bytes(),
            "p",
        )
        .unwrap();
        assert_eq!(
            (ev.status.as_str(), ev.units, ev.royalty_micros),
            ("", 1, 5_500_000)
        );
    }

    #[test]
    fn test_ping_with_custom_fields_is_parsed() {
        let ev = parse_ping(
            &fixture("gumroad/gumroad_ping_test_custom_fields.txt"),
            "t.txt",
        )
        .unwrap();
        assert_eq!(
            ev.natural_key.as_deref(),
            Some("gumroad:sale:06Xq7t7514dvxYabdavG97Y-Q==")
        );
        assert_eq!(ev.units, 2);
        assert_eq!(ev.list_price_micros, Some(15_980_000));
        assert_eq!(ev.royalty_micros, 14_080_000);
        let raw: Value = serde_json::from_str(&ev.raw).unwrap();
        assert_eq!(raw["test"], "true");
        assert_eq!(raw["Favourite genre"], "Cosy mystery");
        assert_eq!(raw["custom_fields[Favourite genre]"], "Cosy mystery");
    }

    #[test]
    fn missing_sale_id_is_rejected() {
        let err = parse_ping(
            &fixture("bad/gumroad_ping_missing_sale_id.txt"),
            "nosale.txt",
        )
        .unwrap_err();
        assert!(matches!(err, PlatformError::Rejected(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("nosale.txt") && text.contains("sale_id"),
            "{text}"
        );
    }

    #[test]
    fn non_integer_price_is_rejected() {
        let err = parse_ping(
            &fixture("bad/gumroad_ping_price_not_integer.txt"),
            "price.txt",
        )
        .unwrap_err();
        assert!(matches!(err, PlatformError::Rejected(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("column `price`") && text.contains("7.99"),
            "{text}"
        );
    }

    #[test]
    fn no_prefix_or_byte_flip_of_a_ping_panics() {
        let body = fixture("gumroad/gumroad_ping_test_custom_fields.txt");
        for len in 0..body.len() {
            let _ = parse_ping(&body[..len], "p");
        }
        let mut flipped = body.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xa5;
            let _ = parse_ping(&flipped, "p");
            flipped[i] ^= 0xa5;
        }
    }

    #[test]
    fn plus_and_percent_20_both_decode_to_space() {
        let tail = "&sale_id=S%2B1&sale_timestamp=2025-08-14T21:02:11Z&price=100&gumroad_fee=10";
        let plus = parse_ping(format!("product_name=Two+Words{tail}").as_bytes(), "p").unwrap();
        let pct = parse_ping(format!("product_name=Two%20Words{tail}").as_bytes(), "p").unwrap();
        assert_eq!(plus.title, "Two Words");
        assert_eq!(pct.title, "Two Words");
        // An encoded plus stays a plus.
        assert_eq!(plus.natural_key.as_deref(), Some("gumroad:sale:S+1"));
    }

    #[test]
    fn other_bad_pings_are_rejected_without_panicking() {
        let ok = "sale_id=X&sale_timestamp=2025-08-14T21:02:11Z&price=100&gumroad_fee=10";
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            ("{\"sale_id\":\"X\"}".to_string(), "JSON"),
            (format!("{ok}&sale_id=Y"), "sale_id"),
            ("sale_id=X&sale_timestamp=14/08/2025&price=100&gumroad_fee=10".to_string(), "sale_timestamp"),
            ("sale_id=X&sale_timestamp=2025-08-14T21:02:11Z&price=100".to_string(), "gumroad_fee"),
            ("sale_id=X&sale_timestamp=2025-08-14T21:02:11Z&gumroad_fee=1".to_string(), "price"),
            (format!("{ok}&quantity=1.5"), "quantity"),
            (format!("{ok}&refunded=maybe"), "refunded"),
            ("sale_id=X&sale_timestamp=2025-08-14T21:02:11Z&price=9223372036854775807&gumroad_fee=0".to_string(), "price"),
            ("\u{0}\u{1}%ZZ&&==".to_string(), "sale_id"),
        ];
        for (body, needle) in cases {
            let err = parse_ping(body.as_bytes(), "p").unwrap_err();
            assert!(matches!(err, PlatformError::Rejected(_)), "{body}: {err:?}");
            assert!(err.to_string().contains(needle), "{body}: {err}");
        }
        // The same key twice with the same value is harmless; trailing newline is ignored.
        let ev = parse_ping(format!("{ok}&sale_id=X\n").as_bytes(), "p").unwrap();
        assert_eq!(ev.units, 1);
    }
}
