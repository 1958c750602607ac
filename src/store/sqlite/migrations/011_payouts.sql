-- salesingest schema, version 11: payouts, in a table of their own (issue #15 §2). Append-only:
-- never edit a released one.
--
-- What platforms paid (a KDP Payments workbook's payments, a Smashwords report's `payment` rows,
-- the payment a Google Play earnings report or a StreetLib invoice states). Never sales: no
-- view of sales reads this table. One row per (platform, source, reference, paid_on, currency);
-- written by the fenced completion that publishes the file's import. Money in micro-units.
CREATE TABLE payouts (
  id                 INTEGER PRIMARY KEY,
  platform           TEXT    NOT NULL,
  source             TEXT    NOT NULL,
  reference          TEXT    NOT NULL,
  paid_on            TEXT    NOT NULL,            -- ISO date
  amount_micros      INTEGER NOT NULL,            -- in currency
  currency           TEXT    NOT NULL,
  period_start       TEXT,                        -- the sales periods it pays, when stated
  period_end         TEXT,
  marketplace        TEXT    NOT NULL DEFAULT '',
  royalty_currency   TEXT    NOT NULL,
  accrued_micros     INTEGER,                     -- in royalty_currency, as the report says
  withholding_micros INTEGER,
  adjustments_micros INTEGER,
  net_micros         INTEGER NOT NULL,            -- paid before conversion, royalty_currency
  fx_rate            TEXT,
  status             TEXT    NOT NULL,
  import_id          INTEGER,                     -- the import that last wrote it (no FK)
  line               INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL             -- ms
);
CREATE UNIQUE INDEX payouts_key ON payouts (platform, source, reference, paid_on, currency);
CREATE INDEX payouts_paid_on ON payouts (platform, paid_on);
