-- salesingest schema, version 8: Gumroad buyers' personal data leaves the database, and test
-- purchases stop counting.
-- Append-only: never edit a released migration; add a new file.
--
-- Self-contained: it reads and writes only `sales_events` (columns of migration 6), so it
-- applies the same after any migration 7.
--
-- Freed space is overwritten with zeros while this runs, so the old `raw` text does not stay
-- behind in the file's free pages.
PRAGMA secure_delete = ON;

-- 1. Test purchases. A Ping with `test=true` is the seller buying their own product (or
-- Gumroad's "send test ping"); `/v2/sales` never returns those, so no later sync removed them.
-- Only Pings stored them, and their `raw` (the Ping's fields as strings) says `"test":"true"`.
-- API events are never test purchases. Gumroad events have no import, so the rollup's delete
-- trigger (migration 6) takes each one out of `sales_rollup`: it stays equal to the events.
DELETE FROM sales_events
 WHERE platform = 'gumroad' AND raw_layout IS NULL
   AND CASE WHEN json_valid(raw) AND json_type(raw) = 'object'
            THEN lower(CAST(json_extract(raw, '$.test') AS TEXT)) IN ('true', '1')
            ELSE 0 END;

-- 2. Buyers' personal data. `raw` kept the whole sale object (e-mail, name, address, IP
-- country, card, custom fields, license key, gift and affiliate e-mails…) or the whole Ping.
-- Keep only the allow-listed fields (the same lists as `platforms::gumroad::privacy`, which a
-- test checks); values and key order are unchanged (`json_each` reads them in order, and JSON
-- booleans, null, objects and arrays are written back as JSON, not as text). Only `raw`
-- changes: no other column, so the rollup's update triggers do not fire.
UPDATE sales_events
   SET raw = coalesce(
         (SELECT json_group_object(e.key,
                   CASE e.type WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
                               WHEN 'null' THEN json('null') WHEN 'object' THEN json(e.value)
                               WHEN 'array' THEN json(e.value) ELSE e.value END)
            FROM json_each(sales_events.raw) AS e
           WHERE e.key IN ('amount_refundable_in_currency', 'chargedback', 'country',
                           'country_iso2', 'created_at', 'currency_symbol', 'dispute_won',
                           'disputed', 'formatted_display_price', 'formatted_total_price',
                           'gumroad_fee', 'id', 'order_id', 'partially_refunded', 'price',
                           'product_id', 'product_name', 'product_permalink', 'quantity',
                           'refunded')),
         '{}')
 WHERE platform = 'gumroad' AND source = 'gumroad.api' AND raw_layout IS NULL
   AND CASE WHEN json_valid(raw) THEN json_type(raw) = 'object' ELSE 0 END;

-- Pings (and any other Gumroad event): the Ping's list.
UPDATE sales_events
   SET raw = coalesce(
         (SELECT json_group_object(e.key,
                   CASE e.type WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
                               WHEN 'null' THEN json('null') WHEN 'object' THEN json(e.value)
                               WHEN 'array' THEN json(e.value) ELSE e.value END)
            FROM json_each(sales_events.raw) AS e
           WHERE e.key IN ('affiliate_credit_amount_cents', 'amount_refundable_in_currency',
                           'currency', 'dispute_won', 'disputed', 'gumroad_fee', 'ip_country',
                           'order_number', 'partially_refunded', 'permalink', 'price',
                           'product_id', 'product_name', 'product_permalink', 'quantity',
                           'refunded', 'resource_name', 'sale_id', 'sale_timestamp',
                           'short_product_id', 'test')),
         '{}')
 WHERE platform = 'gumroad' AND source <> 'gumroad.api' AND raw_layout IS NULL
   AND CASE WHEN json_valid(raw) THEN json_type(raw) = 'object' ELSE 0 END;

-- A Gumroad `raw` that is not a JSON object cannot be sorted into fields: keep none of it.
UPDATE sales_events SET raw = '{}'
 WHERE platform = 'gumroad' AND raw_layout IS NULL
   AND NOT CASE WHEN json_valid(raw) THEN json_type(raw) = 'object' ELSE 0 END;

PRAGMA secure_delete = OFF;
