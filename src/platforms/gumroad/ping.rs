//! Gumroad Ping (and resource-subscription) bodies: `application/x-www-form-urlencoded`,
//! FORMATS §3.5.

use serde_json::{Map, Value};

use super::{kept_share, privacy, utc_date, Kept, Sale, MICROS_PER_CENT};
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

/// One Ping, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPing {
    /// The sale to upsert, or `None` for a test purchase (`test=true`: the seller bought their
    /// own product, or Gumroad's "send test ping"), which is never counted, and for a Ping
    /// without `gumroad_fee` parsed with the fee optional ([`parse_ping_opts`]: the sale is then
    /// fetched from the API).
    pub event: Option<SaleEvent>,
    /// The Ping's `sale_id`.
    pub sale_id: String,
    /// `test=true`: never counted.
    pub test: bool,
    /// What to tell the user: a test purchase skipped, a partial refund whose share is unknown.
    pub warnings: Vec<String>,
    /// The body with only the allow-listed fields (`privacy::PING_FIELDS`), form-encoded in
    /// the order received: what the inbox keeps. Parsing it gives the same event and warnings.
    pub scrubbed: Vec<u8>,
}

/// Parse one Ping body into the same event an API sync gives for that sale (keyed by
/// `sale_id`, source `gumroad.ping`). Pure.
///
/// Both `+` and `%20` decode to a space. `price` and `gumroad_fee` must be integer USD cents;
/// `quantity` defaults to 1; `sale_timestamp` must be RFC 3339. `refunded=true`, or
/// `resource_name=refund` without `refunded`, marks the sale refunded; `resource_name=dispute`,
/// or `disputed=true` without `dispute_won=true`, marks it chargedback; both count zero units
/// and zero royalty. A refund Ping with `refunded=false` (Gumroad sends one after a partial
/// refund), or `partially_refunded=true`, is a partial refund: the Ping carries the price in
/// USD cents only, so the kept share is derived only for a `usd` product that gives
/// `amount_refundable_in_currency`; otherwise the sale keeps its full royalty with a warning.
/// The Ping carries no ISO country (only `ip_country`, a name), so `country` is empty. A
/// `test=true` Ping gives no event and a warning naming the sale and the product.
///
/// # Errors
/// `Rejected` (naming `display_name` and the field) for a body without `sale_id`, a
/// non-integer `price` or `gumroad_fee`, a bad timestamp, a JSON body, or a key given twice
/// with different values.
pub fn parse_ping(body: &[u8], display_name: &str) -> Result<ParsedPing, PlatformError> {
    parse_ping_opts(body, display_name, true)
}

/// [`parse_ping`], with `gumroad_fee` optional unless `fee_required`: when a Gumroad token is
/// configured the ping job stores the API's version of the sale (`GET /v2/sales/:id`), so an
/// older Ping without the fee is still a sale. Such a Ping gives no event (only its
/// `sale_id`); every other check is the same.
///
/// # Errors
/// As [`parse_ping`].
pub fn parse_ping_opts(
    body: &[u8],
    display_name: &str,
    fee_required: bool,
) -> Result<ParsedPing, PlatformError> {
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
    // Only the allow-listed fields are ever read or kept: the buyer's e-mail, name, card,
    // custom fields… are dropped here.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body)
        .filter(|(k, _)| privacy::ping_field(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
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
    let flag = |key: &str| -> Result<Option<bool>, PlatformError> {
        match get(key)?.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") => Ok(None),
            Some("false" | "0") => Ok(Some(false)),
            Some("true" | "1") => Ok(Some(true)),
            Some(other) => Err(reject(
                display_name,
                Some(key),
                format!("expected true or false, found `{other}`"),
            )),
        }
    };
    let is = |key: &str| -> Result<bool, PlatformError> { Ok(flag(key)?.unwrap_or(false)) };

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
    let fee_cents = cents("gumroad_fee", fee_required)?;
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
    let refunded_flag = flag("refunded")?;
    let refunded = refunded_flag == Some(true) || (resource == "refund" && refunded_flag.is_none());
    let chargedback = resource == "dispute" || (is("disputed")? && !is("dispute_won")?);
    let partial = !refunded
        && (is("partially_refunded")? || (resource == "refund" && refunded_flag == Some(false)));
    let currency = get("currency")?
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let kept = if partial {
        let price: Result<i64, String> = if currency == "usd" {
            Ok(price_cents
                .checked_mul(MICROS_PER_CENT)
                .ok_or_else(|| reject(display_name, Some("price"), "the amount is too large"))?)
        } else if currency.is_empty() {
            Err("the Ping does not name the product currency".to_string())
        } else {
            Err(format!(
                "the Ping gives the price in USD cents only, not in the product currency `{}`",
                currency.to_ascii_uppercase()
            ))
        };
        match get("amount_refundable_in_currency")? {
            None => Kept::Unknown(
                "the Ping does not say how much was refunded (`amount_refundable_in_currency`)"
                    .to_string(),
            ),
            Some(text) => kept_share(Some(text), price),
        }
    } else {
        Kept::All
    };
    let title = get("product_name")?.unwrap_or_default().to_string();
    let product_id = get("product_id")?.unwrap_or_default().to_string();
    let scrubbed = {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            ser.append_pair(k, v);
        }
        ser.finish().into_bytes()
    };
    if is("test")? {
        return Ok(ParsedPing {
            event: None,
            sale_id: id.to_string(),
            test: true,
            warnings: vec![format!(
                "`{display_name}`: Gumroad sale `{id}` (`{title}`, product `{product_id}`) is a test purchase (`test=true`: the seller bought their own product, or a test Ping); it is not counted and not stored"
            )],
            scrubbed,
        });
    }

    let Some(fee_cents) = fee_cents else {
        return Ok(ParsedPing {
            event: None,
            sale_id: id.to_string(),
            test: false,
            warnings: Vec::new(),
            scrubbed,
        });
    };
    let mut raw = Map::new();
    for (k, v) in &pairs {
        raw.insert(k.clone(), Value::String(v.clone()));
    }
    let sale = Sale {
        id: id.to_string(),
        date,
        title,
        product_id,
        country: String::new(),
        quantity,
        price_cents,
        fee_cents,
        refunded,
        chargedback,
        kept,
    };
    let (event, warning) = sale
        .into_event("gumroad.ping", Value::Object(raw).to_string())
        .map_err(|field| reject(display_name, Some(field), "the amount is too large"))?;
    Ok(ParsedPing {
        event: Some(event),
        sale_id: id.to_string(),
        test: false,
        warnings: warning
            .map(|w| format!("`{display_name}`: {w}"))
            .into_iter()
            .collect(),
        scrubbed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The sale of a Ping that must have one, with no warning.
    fn sale(body: &[u8], name: &str) -> SaleEvent {
        let p = parse_ping(body, name).unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        p.event.expect("a sale")
    }

    #[test]
    fn sale_ping() {
        let ev = sale(&fixture("gumroad/gumroad_ping.txt"), "ping.txt");
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
        assert_eq!(raw["currency"], "usd");
        assert_eq!(raw["ip_country"], "United States");
        assert_eq!(raw["sale_id"], "01Xq7t7919dvxYabdavG97Y-Q==");
        // The buyer's e-mail, name, purchaser id and card are not kept.
        for gone in [
            "email",
            "full_name",
            "purchaser_id",
            "card[visual]",
            "card[type]",
            "can_contact",
            "referrer",
        ] {
            assert!(raw.get(gone).is_none(), "{gone}: {raw}");
        }
        assert!(
            !ev.raw.contains("reader1") && !ev.raw.contains("Ana Reader"),
            "{}",
            ev.raw
        );
    }

    #[test]
    fn gumroad_fee_is_optional_only_when_asked() {
        let body = b"sale_id=X1&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=650";
        let err = parse_ping(body, "old.txt").unwrap_err().to_string();
        assert!(
            err.contains("gumroad_fee") && err.contains("missing"),
            "{err}"
        );
        let p = parse_ping_opts(body, "old.txt", false).unwrap();
        assert_eq!((p.event, p.sale_id.as_str(), p.test), (None, "X1", false));
        assert!(p.warnings.is_empty());
        // With the fee it is the same sale either way; other checks still apply.
        let full = b"sale_id=X1&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=650&gumroad_fee=100";
        assert_eq!(
            parse_ping_opts(full, "p", false).unwrap(),
            parse_ping(full, "p").unwrap()
        );
        assert!(parse_ping_opts(b"sale_timestamp=2025-08-06T12%3A00%3A01Z", "p", false).is_err());
        let test = parse_ping_opts(
            b"sale_id=T1&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=650&test=true",
            "p",
            false,
        )
        .unwrap();
        assert!(test.test && test.event.is_none());
    }

    #[test]
    fn refund_ping_zeroes_units_and_royalty() {
        let ev = sale(&fixture("gumroad/gumroad_ping_refund.txt"), "refund.txt");
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
        let ev = sale(body, "p");
        assert_eq!(
            (ev.status.as_str(), ev.units, ev.royalty_micros),
            ("refunded", 0, 0)
        );
    }

    #[test]
    fn dispute_ping_is_chargedback_unless_won() {
        let base = "sale_id=X1&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=650&gumroad_fee=100";
        let ev = sale(
            format!("{base}&resource_name=dispute&disputed=true").as_bytes(),
            "p",
        );
        assert_eq!(
            (ev.status.as_str(), ev.units, ev.royalty_micros),
            ("chargedback", 0, 0)
        );
        let ev = sale(
            format!("{base}&resource_name=dispute_won&disputed=true&dispute_won=true").as_bytes(),
            "p",
        );
        assert_eq!(
            (ev.status.as_str(), ev.units, ev.royalty_micros),
            ("", 1, 5_500_000)
        );
    }

    /// `test=true`: the seller bought their own product. No event; a warning naming the sale
    /// and the product.
    #[test]
    fn a_test_purchase_gives_no_sale_and_a_warning_naming_it() {
        let p = parse_ping(
            &fixture("gumroad/gumroad_ping_test_custom_fields.txt"),
            "t.txt",
        )
        .unwrap();
        assert_eq!(p.event, None);
        assert_eq!(
            p.warnings,
            ["`t.txt`: Gumroad sale `06Xq7t7514dvxYabdavG97Y-Q==` (`The Lighthouse Keeper's Daughter (EPUB + PDF)`, product `32-nPainqpLj1B_WIwVlMw==`) is a test purchase (`test=true`: the seller bought their own product, or a test Ping); it is not counted and not stored"]
        );
        for yes in ["TRUE", "1"] {
            let body = format!(
                "sale_id=X&sale_timestamp=2025-08-14T21:02:11Z&price=100&gumroad_fee=10&test={yes}"
            );
            assert_eq!(
                parse_ping(body.as_bytes(), "p").unwrap().event,
                None,
                "{yes}"
            );
        }
    }

    /// Custom fields come as top-level keys and as `custom_fields[…]`: neither is kept, in the
    /// event's `raw` or in the scrubbed body; the sale itself is unchanged.
    #[test]
    fn custom_fields_and_buyer_fields_are_dropped() {
        let body = String::from_utf8(fixture("gumroad/gumroad_ping_test_custom_fields.txt"))
            .unwrap()
            .replace("&test=true", "");
        let p = parse_ping(body.as_bytes(), "c.txt").unwrap();
        let ev = p.event.clone().unwrap();
        assert_eq!(
            ev.natural_key.as_deref(),
            Some("gumroad:sale:06Xq7t7514dvxYabdavG97Y-Q==")
        );
        assert_eq!(ev.units, 2);
        assert_eq!(ev.list_price_micros, Some(15_980_000));
        assert_eq!(ev.royalty_micros, 14_080_000);
        let raw: Value = serde_json::from_str(&ev.raw).unwrap();
        let mut keys: Vec<&str> = raw
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.retain(|k| !privacy::PING_FIELDS.contains(k));
        assert!(keys.is_empty(), "kept beyond the allow-list: {keys:?}");
        let scrubbed = String::from_utf8(p.scrubbed.clone()).unwrap();
        for gone in [
            "gift6",
            "example.com",
            "Favourite",
            "Cosy",
            "SUMMER20",
            "purchaser_id",
            "4242",
        ] {
            assert!(!ev.raw.contains(gone), "{gone} in raw {}", ev.raw);
            assert!(!scrubbed.contains(gone), "{gone} in {scrubbed}");
        }
        assert!(
            scrubbed.contains("sale_id=06Xq7t7514dvxYabdavG97Y-Q%3D%3D"),
            "{scrubbed}"
        );
    }

    /// What the inbox keeps (the scrubbed body) parses to the same sale and warnings as the
    /// body received, and scrubbing it again changes nothing.
    #[test]
    fn the_scrubbed_body_parses_the_same() {
        let partial = b"sale_id=P1&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=1000&gumroad_fee=150&currency=usd&resource_name=refund&refunded=false&email=x%40example.com".to_vec();
        for body in [
            fixture("gumroad/gumroad_ping.txt"),
            fixture("gumroad/gumroad_ping_refund.txt"),
            fixture("gumroad/gumroad_ping_test_custom_fields.txt"),
            partial,
        ] {
            let first = parse_ping(&body, "p").unwrap();
            let again = parse_ping(&first.scrubbed, "p").unwrap();
            assert_eq!(again, first);
            assert!(first.scrubbed.len() < body.len());
        }
    }

    /// Gumroad sends a refund Ping with `refunded=false` after a partial refund: that is not a
    /// full refund (it used to zero the sale). The Ping gives no refunded amount, so the sale
    /// keeps its royalty, with a warning that names it.
    #[test]
    fn a_partial_refund_ping_keeps_the_royalty_and_warns() {
        let body = b"sale_id=P1&product_id=PR&product_name=Zine&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=650&gumroad_fee=100&currency=eur&resource_name=refund&refunded=false&disputed=false";
        let p = parse_ping(body, "p.txt").unwrap();
        let ev = p.event.unwrap();
        assert_eq!(
            (ev.status.as_str(), ev.units, ev.royalty_micros),
            ("partially_refunded", 1, 5_500_000)
        );
        assert_eq!(p.warnings.len(), 1);
        let w = &p.warnings[0];
        assert!(
            w.starts_with("`p.txt`: Gumroad sale `P1` (`Zine`, product `PR`) is partly refunded"),
            "{w}"
        );
        assert!(
            w.contains("does not say how much was refunded") && w.contains("5.50 USD"),
            "{w}"
        );
        // `refunded=true` is still a full refund.
        let full = String::from_utf8_lossy(body).replace("refunded=false", "refunded=true");
        assert_eq!(sale(full.as_bytes(), "p").royalty_micros, 0);
    }

    /// A USD Ping that gives `amount_refundable_in_currency` has a derivable share: royalty
    /// (1000 − 150 = 850 cents) × 6.67 / 10.00 = 566.95 cents, rounded down to 566, which is
    /// Gumroad's own figure (it refunds floor(150 × 333 / 1000) = 49 cents of its fee:
    /// 667 − (150 − 49) = 566). Rounding to nearest would give 567.
    #[test]
    fn a_usd_partial_refund_ping_with_the_amount_is_reduced_rounding_down() {
        let body = b"sale_id=P1&sale_timestamp=2025-08-06T12%3A00%3A01Z&price=1000&gumroad_fee=150&currency=usd&partially_refunded=true&amount_refundable_in_currency=6.67";
        let ev = sale(body, "p");
        assert_eq!(
            (
                ev.status.as_str(),
                ev.units,
                ev.royalty_micros,
                ev.list_price_micros
            ),
            ("partially_refunded", 1, 5_660_000, Some(10_000_000))
        );
        // In another currency the Ping has no price to compare with: full royalty, warned.
        let eur = String::from_utf8_lossy(body).replace("currency=usd", "currency=eur");
        let p = parse_ping(eur.as_bytes(), "p").unwrap();
        assert_eq!(p.event.unwrap().royalty_micros, 8_500_000);
        assert!(
            p.warnings[0].contains("product currency `EUR`"),
            "{:?}",
            p.warnings
        );
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
        let plus = sale(format!("product_name=Two+Words{tail}").as_bytes(), "p");
        let pct = sale(format!("product_name=Two%20Words{tail}").as_bytes(), "p");
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
        let ev = sale(format!("{ok}&sale_id=X\n").as_bytes(), "p");
        assert_eq!(ev.units, 1);
    }
}
