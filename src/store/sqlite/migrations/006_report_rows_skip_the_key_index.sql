-- salesingest schema, version 6: report rows no longer enter the index of the Gumroad upsert key.
-- Append-only: never edit a released migration; add a new file.
--
-- `natural_key TEXT UNIQUE` (migration 1) made SQLite keep an automatic index on the column in
-- which every event has an entry, NULL ones included. Only API events (Gumroad sales) have a key;
-- every row of a report file is a NULL entry that serves nothing and costs its staging: about
-- 8 % of a 1,000,000-row import (issue #6, BENCHMARKS.md). A partial unique index on the non-NULL
-- keys enforces exactly the same rule (UNIQUE never applied to NULLs) and still answers the
-- upsert's `natural_key = ?` lookup.
--
-- SQLite cannot drop a column constraint's index, so the table is rebuilt: every event is copied
-- once, with its id, into a table of the same columns in the same order, and the old one is
-- dropped. The views over it are dropped first and recreated after (same text as migrations 2
-- and 4) because renaming a table checks every view; its triggers (the rollup's, migration 2) go
-- with the old table and are recreated with the same text. Nothing refers to `sales_events` by
-- foreign key, so dropping it deletes nothing else. The rollup is unchanged: it already equals
-- the live events, which are copied as they are.
DROP VIEW effective_sales;
DROP VIEW live_sales;

CREATE TABLE sales_events_v6 (
  id                INTEGER PRIMARY KEY,
  platform          TEXT    NOT NULL,
  family            TEXT    NOT NULL,
  source            TEXT    NOT NULL,
  import_id         INTEGER REFERENCES imports(id),  -- NULL for API events
  job_id            INTEGER,                         -- the job that last wrote it (no FK: jobs are pruned)
  natural_key       TEXT,                            -- Gumroad sale id, unique (sales_natural_key); NULL for report rows
  period_start      TEXT    NOT NULL,
  period_end        TEXT    NOT NULL,
  month             TEXT    NOT NULL,                -- month of period_end, YYYY-MM
  title             TEXT    NOT NULL,
  product_id        TEXT    NOT NULL,
  format            TEXT    NOT NULL,
  marketplace       TEXT    NOT NULL,
  retailer          TEXT    NOT NULL,
  country           TEXT    NOT NULL,
  units             INTEGER NOT NULL,
  kenp_pages        INTEGER NOT NULL,
  list_price_micros INTEGER,
  royalty_micros    INTEGER NOT NULL,
  currency          TEXT    NOT NULL,
  is_final          INTEGER NOT NULL,
  status            TEXT    NOT NULL DEFAULT '',
  raw               TEXT    NOT NULL,
  line              INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  raw_layout        INTEGER                          -- raw_layouts.id (migration 4), no FK
);
INSERT INTO sales_events_v6 (id, platform, family, source, import_id, job_id, natural_key,
                             period_start, period_end, month, title, product_id, format,
                             marketplace, retailer, country, units, kenp_pages, list_price_micros,
                             royalty_micros, currency, is_final, status, raw, line, updated_at,
                             raw_layout)
  SELECT id, platform, family, source, import_id, job_id, natural_key, period_start, period_end,
         month, title, product_id, format, marketplace, retailer, country, units, kenp_pages,
         list_price_micros, royalty_micros, currency, is_final, status, raw, line, updated_at,
         raw_layout
    FROM sales_events ORDER BY id;
DROP TABLE sales_events;
ALTER TABLE sales_events_v6 RENAME TO sales_events;

CREATE INDEX sales_import ON sales_events (import_id);
CREATE UNIQUE INDEX sales_natural_key ON sales_events (natural_key) WHERE natural_key IS NOT NULL;

CREATE TRIGGER sales_rollup_delete AFTER DELETE ON sales_events
    WHEN OLD.import_id IS NULL OR (SELECT state FROM imports WHERE id = OLD.import_id) = 'live' BEGIN
  UPDATE sales_rollup SET events = events - 1, units = units - OLD.units,
         kenp_pages = kenp_pages - OLD.kenp_pages, royalty_micros = royalty_micros - OLD.royalty_micros
   WHERE platform = OLD.platform AND family = OLD.family AND import_id = coalesce(OLD.import_id, 0)
     AND month = OLD.month AND period_start = OLD.period_start AND period_end = OLD.period_end
     AND currency = OLD.currency AND is_final = OLD.is_final;
  DELETE FROM sales_rollup
   WHERE platform = OLD.platform AND family = OLD.family AND import_id = coalesce(OLD.import_id, 0)
     AND month = OLD.month AND period_start = OLD.period_start AND period_end = OLD.period_end
     AND currency = OLD.currency AND is_final = OLD.is_final AND events = 0;
END;

CREATE TRIGGER sales_rollup_update_old AFTER UPDATE OF platform, family, import_id, month,
    period_start, period_end, currency, is_final, units, kenp_pages, royalty_micros
    ON sales_events
    WHEN OLD.import_id IS NULL OR (SELECT state FROM imports WHERE id = OLD.import_id) = 'live' BEGIN
  UPDATE sales_rollup SET events = events - 1, units = units - OLD.units,
         kenp_pages = kenp_pages - OLD.kenp_pages, royalty_micros = royalty_micros - OLD.royalty_micros
   WHERE platform = OLD.platform AND family = OLD.family AND import_id = coalesce(OLD.import_id, 0)
     AND month = OLD.month AND period_start = OLD.period_start AND period_end = OLD.period_end
     AND currency = OLD.currency AND is_final = OLD.is_final;
  DELETE FROM sales_rollup
   WHERE platform = OLD.platform AND family = OLD.family AND import_id = coalesce(OLD.import_id, 0)
     AND month = OLD.month AND period_start = OLD.period_start AND period_end = OLD.period_end
     AND currency = OLD.currency AND is_final = OLD.is_final AND events = 0;
END;

CREATE TRIGGER sales_rollup_update_new AFTER UPDATE OF platform, family, import_id, month,
    period_start, period_end, currency, is_final, units, kenp_pages, royalty_micros
    ON sales_events
    WHEN NEW.import_id IS NULL OR (SELECT state FROM imports WHERE id = NEW.import_id) = 'live' BEGIN
  INSERT INTO sales_rollup (platform, family, import_id, month, period_start, period_end,
                            currency, is_final, events, units, kenp_pages, royalty_micros)
  VALUES (NEW.platform, NEW.family, coalesce(NEW.import_id, 0), NEW.month, NEW.period_start,
          NEW.period_end, NEW.currency, NEW.is_final, 1, NEW.units, NEW.kenp_pages,
          NEW.royalty_micros)
  ON CONFLICT (platform, family, import_id, month, period_start, period_end, currency, is_final)
  DO UPDATE SET events = events + 1, units = units + excluded.units,
                kenp_pages = kenp_pages + excluded.kenp_pages,
                royalty_micros = royalty_micros + excluded.royalty_micros;
END;

CREATE VIEW live_sales AS
  SELECT * FROM sales_events
   WHERE +import_id IS NULL OR +import_id IN (SELECT id FROM imports WHERE state = 'live');

CREATE VIEW effective_sales AS
  SELECT * FROM live_sales
   WHERE NOT (family = 'kdp_estimate'
              AND month IN (SELECT month FROM live_rollup WHERE family = 'kdp_final'));
