-- salesingest schema, version 7: a KDP file replaces only what it carries (issue #16).
-- Append-only: never edit a released migration; add a new file.
--
-- Until now every KDP event was in one of two replace-by-coverage families, `kdp_estimate` and
-- `kdp_final`, so a CSV copy of the eBook Royalty sheet replaced the paperback, hardcover and
-- KENP events of the months it covered, and a final report of any one kind shadowed every
-- estimate of its month. The family now names the kind too: `kdp_estimate.ebook`,
-- `.paperback`, `.hardcover`, `.kenp`, `.kenp_royalty` (the KENP royalty KDP's Summary sheet
-- adds, issue #16 item 3) and `kdp_final.ebook`, `.paperback`, `.hardcover`, `.kenp`. Coverage
-- is recorded per family as before, so each sheet replaces its own kind within its periods.
--
-- Two rules are added to the views (DESIGN §5):
-- * Finals shadow estimates per kind: an estimate of a month and kind for which a live final
--   KDP report exists is kept but not counted. The months come from the finals' coverage, which
--   a Prior Months' sheet records even when it has no rows (its month is in row 1): a final
--   with an empty Hardcover sheet still says "no hardcover sales". The KENP royalty estimate is
--   shadowed by a final KENP report.
-- * Month totals and days are never added: `import_coverage.month_totals` says that an import
--   gives whole-month figures of a KDP estimate family over its range (a lifetime download).
--   Within those months, events of that family with a shorter period (a Dashboard's days) are
--   kept but not counted, and the store never lets such days replace the month totals.
--
-- Existing databases are converted without changing any total: every KDP event gets the
-- family of its format (the update triggers move its rollup row; a staged import's rollup is
-- summed again when it turns live), a final import's coverage is recorded for all four kinds
-- (so that it shadows the estimates of its months exactly as before: for every month holding
-- its events; a final import of several months with a month without events between them would
-- now shadow that month too, which no KDP report does), an estimate import's coverage per kind
-- from its own events, and no existing coverage is month totals (its days keep counting).
ALTER TABLE import_coverage ADD COLUMN month_totals INTEGER NOT NULL DEFAULT 0;

-- The rollup rows of the two old families are rebuilt: the update triggers add each live event
-- under its new family; staged imports are summed again from their rows when published.
DELETE FROM sales_rollup WHERE family = 'kdp_estimate' OR family = 'kdp_final';
UPDATE imports SET rollup_staged = 0 WHERE state = 'staging' AND platform = 'amazon_kdp';
UPDATE sales_events SET family = family || '.' || format
 WHERE family = 'kdp_estimate' OR family = 'kdp_final';

INSERT INTO import_coverage (import_id, family, period_start, period_end, month_totals)
  SELECT ic.import_id, 'kdp_final.' || k.kind, ic.period_start, ic.period_end, 0
    FROM import_coverage ic,
         (SELECT 'ebook' AS kind UNION ALL SELECT 'paperback' UNION ALL SELECT 'hardcover'
          UNION ALL SELECT 'kenp') k
   WHERE ic.family = 'kdp_final';
INSERT INTO import_coverage (import_id, family, period_start, period_end, month_totals)
  SELECT e.import_id, e.family, min(e.period_start), max(e.period_end), 0
    FROM import_coverage ic JOIN sales_events e ON e.import_id = ic.import_id
   WHERE ic.family = 'kdp_estimate' AND e.family GLOB 'kdp_estimate.*'
   GROUP BY e.import_id, e.family;
DELETE FROM import_coverage WHERE family = 'kdp_estimate' OR family = 'kdp_final';

-- (kind, month) of every month a live final KDP report covers, one row per month of each
-- coverage range. Small: a few rows per final import.
CREATE VIEW kdp_final_months AS
  WITH RECURSIVE m(kind, month, last) AS (
    SELECT substr(ic.family, 11), substr(ic.period_start, 1, 7), substr(ic.period_end, 1, 7)
      FROM import_coverage ic JOIN imports i ON i.id = ic.import_id
     WHERE i.state = 'live' AND ic.family GLOB 'kdp_final.*'
    UNION ALL
    SELECT kind, strftime('%Y-%m', month || '-01', '+1 month'), last FROM m WHERE month < last
  )
  SELECT kind, month FROM m;

-- (family, month) of every month a live import gives month totals for.
CREATE VIEW month_total_months AS
  WITH RECURSIVE m(family, month, last) AS (
    SELECT ic.family, substr(ic.period_start, 1, 7), substr(ic.period_end, 1, 7)
      FROM import_coverage ic JOIN imports i ON i.id = ic.import_id
     WHERE i.state = 'live' AND ic.month_totals
    UNION ALL
    SELECT family, strftime('%Y-%m', month || '-01', '+1 month'), last FROM m WHERE month < last
  )
  SELECT family, month FROM m;

-- What reports count, with the same two rules for the rollup and for the events. Only KDP
-- estimates are ever hidden (finals have no shorter periods, other platforms no month totals:
-- the store records month totals for KDP estimate families only), so every other row costs one
-- GLOB. The lists are read once per query (non-correlated `IN`) into small in-memory indexes;
-- a single-column test (the month, the family) comes before each two-column one, so that most
-- KDP rows are settled by one lookup. `sales summary` on 1,000,000 events costs what it did.
DROP VIEW effective_rollup;
CREATE VIEW effective_rollup AS
  SELECT * FROM live_rollup
   WHERE NOT (family GLOB 'kdp_estimate.*'
              AND ((month IN (SELECT month FROM kdp_final_months)
                    AND (CASE family WHEN 'kdp_estimate.kenp_royalty' THEN 'kenp'
                                     ELSE substr(family, 14) END, month)
                        IN (SELECT kind, month FROM kdp_final_months))
                OR (family IN (SELECT family FROM month_total_months)
                    AND (family, month) IN (SELECT family, month FROM month_total_months)
                    AND NOT (period_start = month || '-01'
                             AND period_end = date(period_start, '+1 month', '-1 day')))));

DROP VIEW effective_sales;
CREATE VIEW effective_sales AS
  SELECT * FROM live_sales
   WHERE NOT (family GLOB 'kdp_estimate.*'
              AND ((month IN (SELECT month FROM kdp_final_months)
                    AND (CASE family WHEN 'kdp_estimate.kenp_royalty' THEN 'kenp'
                                     ELSE substr(family, 14) END, month)
                        IN (SELECT kind, month FROM kdp_final_months))
                OR (family IN (SELECT family FROM month_total_months)
                    AND (family, month) IN (SELECT family, month FROM month_total_months)
                    AND NOT (period_start = month || '-01'
                             AND period_end = date(period_start, '+1 month', '-1 day')))));
