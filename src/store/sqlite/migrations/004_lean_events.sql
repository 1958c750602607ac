-- salesingest schema, version 4: leaner `sales_events` so that big imports write less.
-- Append-only: never edit a released migration; add a new file.
--
-- Two secondary indexes cost more than half of a 1,000,000-row import's time (issue #6): every
-- staged row inserted into them at a random place, so SQLite's page cache kept spilling and
-- rewriting index pages. What they served is now served without them:
-- * `sales_coverage (platform, family, period_start)`: replace-by-coverage deletes the older
--   rows through the older imports' own rows (`sales_import`), found with `import_coverage`.
-- * `sales_family_month (family, month)`: the KDP shadowing rule (a month with a live final
--   hides that month's estimates) reads the months from the rollup, which has its own
--   `(family, month)` index and holds exactly the live events' keys.
DROP INDEX sales_coverage;
DROP INDEX sales_family_month;

-- Same meaning as in migrations 1 and 2; the set of months with a live KDP final comes from the
-- rollup (one index range) instead of a pass over every event.
DROP VIEW effective_sales;
CREATE VIEW effective_sales AS
  SELECT * FROM live_sales
   WHERE NOT (family = 'kdp_estimate'
              AND month IN (SELECT month FROM live_rollup WHERE family = 'kdp_final'));

-- An import turning live is added to the rollup by the store (`sales::rollup_import`: one pass
-- over its rows, summed in a hash map) instead of by a trigger whose GROUP BY sorted every row
-- of the import through temporary files (a fifth of a 1,000,000-row import's time).
DROP TRIGGER sales_rollup_publish;

-- Compact `raw` for rows of report files: the header of each CSV file or sheet is stored once
-- here, and such an event's `raw` holds only its cells, as a JSON array in the order of
-- `keys` (a JSON array of the distinct header names, sorted). The source row as a JSON object
-- (header → cell) is rebuilt from the two when it is read (`sales export`). Repeating the
-- header names in every row made `raw` three times the size of the CSV line: two thirds of a
-- 1,000,000-row D2D import's 1 GB database and a third of its time. Rows written before this
-- migration, and API events, keep a whole object in `raw` and a NULL `raw_layout`.
CREATE TABLE raw_layouts (
  id        INTEGER PRIMARY KEY,
  import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
  keys      TEXT    NOT NULL
);
CREATE INDEX raw_layouts_import ON raw_layouts (import_id);
-- No foreign key: it would cost a lookup per staged row; the store writes both together.
ALTER TABLE sales_events ADD COLUMN raw_layout INTEGER;

-- No trigger runs for each inserted event any more: nearly every insert is a staged row of a
-- report file, for which the trigger only found that the import was not live, yet invoking it
-- (and the statement journal it requires) cost as much as the insert itself (a quarter of a
-- 1,000,000-row import). The store adds the few rows it inserts live (API sales) to the rollup
-- in the same transaction (`sales::rollup_add`), and a staged import as it turns live
-- (`sales::rollup_import`). Updates and deletes keep their triggers (replace-by-coverage,
-- refunds in place).
DROP TRIGGER sales_rollup_insert;
