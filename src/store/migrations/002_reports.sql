-- salesingest schema, version 2: a rollup of sales events for fast reports (`sales summary`,
-- `sales chart`, `status`). Append-only: never edit a released migration; add a new file.
--
-- One row per (platform, family, import, month, period, currency, finality) with the event
-- count and sums. Triggers keep it equal to `sales_events` in the same transaction as every
-- insert, update and delete, so reports read tens of thousands of rollup rows instead of a
-- million events. `import_id` is 0 for API events (no import) so that the key is unique.

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
   GROUP BY platform, family, coalesce(import_id, 0), month, period_start, period_end, currency,
            is_final;

CREATE TRIGGER sales_rollup_insert AFTER INSERT ON sales_events BEGIN
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

CREATE TRIGGER sales_rollup_delete AFTER DELETE ON sales_events BEGIN
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

CREATE TRIGGER sales_rollup_update AFTER UPDATE OF platform, family, import_id, month,
    period_start, period_end, currency, is_final, units, kenp_pages, royalty_micros
    ON sales_events BEGIN
  UPDATE sales_rollup SET events = events - 1, units = units - OLD.units,
         kenp_pages = kenp_pages - OLD.kenp_pages, royalty_micros = royalty_micros - OLD.royalty_micros
   WHERE platform = OLD.platform AND family = OLD.family AND import_id = coalesce(OLD.import_id, 0)
     AND month = OLD.month AND period_start = OLD.period_start AND period_end = OLD.period_end
     AND currency = OLD.currency AND is_final = OLD.is_final;
  DELETE FROM sales_rollup
   WHERE platform = OLD.platform AND family = OLD.family AND import_id = coalesce(OLD.import_id, 0)
     AND month = OLD.month AND period_start = OLD.period_start AND period_end = OLD.period_end
     AND currency = OLD.currency AND is_final = OLD.is_final AND events = 0;
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

-- The rollup rows that count, with exactly the rules of `live_sales` / `effective_sales`:
-- staged imports are invisible; KDP estimates of a month with a live KDP final are shadowed.
CREATE VIEW live_rollup AS
  SELECT * FROM sales_rollup
   WHERE import_id = 0 OR import_id IN (SELECT id FROM imports WHERE state = 'live');

CREATE VIEW effective_rollup AS
  SELECT * FROM live_rollup
   WHERE NOT (family = 'kdp_estimate'
              AND month IN (SELECT month FROM live_rollup WHERE family = 'kdp_final'));
