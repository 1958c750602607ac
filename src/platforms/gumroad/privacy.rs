//! What of a Gumroad sale is kept: an explicit allow-list of the fields the events and the
//! reports are built from (ids, product, prices and fees, currency, quantity, refund and
//! chargeback state and amounts, dates, country). Everything else is dropped, so the buyer's
//! e-mail, name, address, IP, card, custom fields, license key, gift and affiliate e-mails, and
//! any personal field Gumroad adds later never reach the database, an export, `--json` or the
//! inbox.
//!
//! Migration 008 applies the same lists to the `raw` of events stored before (a test checks
//! that its lists are these).

use serde_json::{Map, Value};

/// Fields of a `/v2/sales` sale object that are kept (FORMATS §3.3).
pub const API_FIELDS: [&str; 20] = [
    "amount_refundable_in_currency",
    "chargedback",
    "country",
    "country_iso2",
    "created_at",
    "currency_symbol",
    "dispute_won",
    "disputed",
    "formatted_display_price",
    "formatted_total_price",
    "gumroad_fee",
    "id",
    "order_id",
    "partially_refunded",
    "price",
    "product_id",
    "product_name",
    "product_permalink",
    "quantity",
    "refunded",
];

/// Fields of a Ping body that are kept (FORMATS §3.5). `test` stays so that a test purchase
/// can be recognised (it is never stored as a sale).
pub const PING_FIELDS: [&str; 21] = [
    "affiliate_credit_amount_cents",
    "amount_refundable_in_currency",
    "currency",
    "dispute_won",
    "disputed",
    "gumroad_fee",
    "ip_country",
    "order_number",
    "partially_refunded",
    "permalink",
    "price",
    "product_id",
    "product_name",
    "product_permalink",
    "quantity",
    "refunded",
    "resource_name",
    "sale_id",
    "sale_timestamp",
    "short_product_id",
    "test",
];

/// Columns of the web Sales CSV export that are kept in `raw` (FORMATS §3.6, §14.7): ids,
/// product, money, flags, dates and the buyer's country as Gumroad names it. Names, e-mails,
/// addresses, referrer, discount code, custom fields (and their columns), gift and affiliate
/// e-mails, reviews, license keys, transaction ids and UTM tags are not.
pub const CSV_FIELDS: [&str; 29] = [
    "Purchase ID",
    "Item Name",
    "Purchase Date",
    "Purchase Time (UTC timezone)",
    "Subtotal ($)",
    "Taxes ($)",
    "Tax Type",
    "Shipping ($)",
    "Sale Price ($)",
    "Fees ($)",
    "Net Total ($)",
    "Tip ($)",
    "Tax Included in Price?",
    "Country",
    "Refunded?",
    "Partial Refund ($)",
    "Fully Refunded?",
    "Disputed?",
    "Dispute Won?",
    "Recurring Charge?",
    "Free trial purchase?",
    "Pre-order authorization?",
    "Product ID",
    "Order Number",
    "Item Price ($)",
    "Variants Price ($)",
    "Quantity",
    "Recurrence",
    "Affiliate commission ($)",
];

/// The sale object with only the allow-listed fields (values unchanged).
pub fn api_sale(obj: &Map<String, Value>) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| API_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// True when a Ping field is kept.
pub fn ping_field(key: &str) -> bool {
    PING_FIELDS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upgrade scrubs stored rows with the same lists as new events: every list in the
    /// migration's SQL is exactly one of these, and both are there.
    #[test]
    fn migration_008_uses_these_lists() {
        let sql = include_str!("../../store/sqlite/migrations/008_gumroad_buyer_data.sql");
        let lists: Vec<Vec<String>> = sql
            .split("key IN (")
            .skip(1)
            .map(|rest| {
                let inner = rest.split(')').next().unwrap();
                let mut v: Vec<String> = inner
                    .split(',')
                    .map(|s| s.trim().trim_matches('\'').to_string())
                    .collect();
                v.sort();
                v
            })
            .collect();
        let want = |l: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = l.iter().map(|s| (*s).to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(lists, [want(&API_FIELDS), want(&PING_FIELDS)]);
    }

    #[test]
    fn only_allow_listed_fields_are_kept() {
        let sale: Value = serde_json::json!({
            "id": "S1", "email": "a@example.com", "purchase_email": "a@example.com",
            "full_name": "Ana Reader", "price": 799, "card": {"visual": "a@example.com"},
            "custom_fields": {"Phone": "555"}, "license_key": "K", "refunded": false,
            "ip_address": "203.0.113.9", "brand_new_personal_field": "x",
        });
        let kept = api_sale(sale.as_object().unwrap());
        let keys: Vec<&str> = kept.keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "price", "refunded"]);
        assert!(ping_field("sale_id") && ping_field("test"));
        for gone in [
            "email",
            "full_name",
            "card[visual]",
            "Favourite genre",
            "license_key",
        ] {
            assert!(!ping_field(gone), "{gone}");
        }
    }
}
