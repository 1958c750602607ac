-- salesingest schema, version 2: a rollup of sales events for fast reports (`sales summary`,
-- `sales chart`, `status`). Append-only: never edit a released migration; add a new file.
--
-- One row per (platform, family, import, month, period, currency, finality) with the event
-- count and sums of the events that are live: API events (no import) and events of live imports.
-- Triggers keep it equal to those events in the same transaction as every change: inserts,
-- updates and deletes of live events, and an import turning live (its staged events are added
-- at once, so staging a big file in chunks does not rewrite the rollup at every chunk).
-- Reports then read tens of thousands of rollup rows instead of a million events. `import_id`
-- is 0 for API events so that the key is unique.

CREATE TABLE sales_rollup (
  platform       TEXT    NOT NULL,
  family         TEXT    NOT NULL,
  import_id      INTEGER NOT NULL,                  -- 0: no import (API events)
  month          TEXT    NOT NULL,
  period_start   TEXT    NOT NULL,
  period_end     TEXT    NOT NULL,
  currency       TEXT    NOT NULL,
  is_final       INTEGER NOT NULL,
  events         INTEGER NOT NULL,
  units          INTEGER NOT NULL,
  kenp_pages     INTEGER NOT NULL,
  royalty_micros INTEGER NOT NULL,
  PRIMARY KEY (platform, family, import_id, month, period_start, period_end, currency, is_final)
) WITHOUT ROWID;
CREATE INDEX sales_rollup_family_month ON sales_rollup (family, month);

INSERT INTO sales_rollup
  SELECT platform, family, coalesce(import_id, 0), month, period_start, period_end, currency,
         is_final, count(*), sum(units), sum(kenp_pages), sum(royalty_micros)
    FROM sales_events
   WHERE import_id IS NULL OR import_id IN (SELECT id FROM imports WHERE state = 'live')
   GROUP BY platform, family, coalesce(import_id, 0), month, period_start, period_end, currency,
            is_final;

CREATE TRIGGER sales_rollup_insert AFTER INSERT ON sales_events
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

-- Either order of the two update triggers gives the same rollup: subtract the old values (and
-- drop an emptied row), add the new ones.
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

-- A staged import turning live brings all its events into the rollup at once.
CREATE TRIGGER sales_rollup_publish AFTER UPDATE OF state ON imports
    WHEN OLD.state != 'live' AND NEW.state = 'live' BEGIN
  INSERT INTO sales_rollup
    SELECT platform, family, import_id, month, period_start, period_end, currency, is_final,
           count(*), sum(units), sum(kenp_pages), sum(royalty_micros)
      FROM sales_events
     WHERE import_id = NEW.id
     GROUP BY platform, family, import_id, month, period_start, period_end, currency, is_final;
END;

-- The rollup rows that count, with exactly the rules of `live_sales` / `effective_sales`:
-- staged imports are invisible; KDP estimates of a month with a live KDP final are shadowed.
CREATE VIEW live_rollup AS
  SELECT * FROM sales_rollup
   WHERE import_id = 0 OR import_id IN (SELECT id FROM imports WHERE state = 'live');

CREATE VIEW effective_rollup AS
  SELECT * FROM live_rollup
   WHERE NOT (family = 'kdp_estimate'
              AND month IN (SELECT month FROM live_rollup WHERE family = 'kdp_final'));

-- The same views as in migration 1, with the same meaning; the unary `+` only stops SQLite from
-- answering `import_id IS NULL OR import_id IN (...)` with one index probe per live import
-- ("MULTI-INDEX OR"), which reads the events in import order and then has to sort them. With it,
-- `sales export` walks the table in id order: no sort, constant memory.
DROP VIEW effective_sales;
DROP VIEW live_sales;

CREATE VIEW live_sales AS
  SELECT * FROM sales_events
   WHERE +import_id IS NULL OR +import_id IN (SELECT id FROM imports WHERE state = 'live');

CREATE VIEW effective_sales AS
  SELECT * FROM live_sales
   WHERE NOT (family = 'kdp_estimate'
              AND month IN (SELECT month FROM live_sales WHERE family = 'kdp_final'));
