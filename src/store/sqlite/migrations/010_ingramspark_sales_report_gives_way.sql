-- salesingest schema, version 10: an IngramSpark Sales Report never adds its units to a month
-- the compensation report already gives (issue #15). Append-only: never edit a released one.
--
-- The Sales Report (`ingramspark_sales:<kind>`) carries units only; the compensation report
-- (`ingramspark_compensation:<kind>:<currency>:<market>:<category>`) carries the same sales with
-- their money. Imported both for one month, the units were counted twice. Now, as a final KDP
-- report shadows the estimates of its month (migration 7), a Sales Report's events of a month
-- and kind that a live compensation report covers are kept but not counted.

-- (kind, month) of every month a live IngramSpark compensation report covers.
CREATE VIEW ingram_compensation_months AS
  WITH RECURSIVE m(kind, month, last) AS (
    SELECT substr(ic.family, 26, instr(substr(ic.family, 26), ':') - 1),
           substr(ic.period_start, 1, 7), substr(ic.period_end, 1, 7)
      FROM import_coverage ic JOIN imports i ON i.id = ic.import_id
     WHERE i.state = 'live' AND ic.family GLOB 'ingramspark_compensation:*'
    UNION
    SELECT kind, strftime('%Y-%m', month || '-01', '+1 month'), last FROM m WHERE month < last
  )
  SELECT kind, month FROM m;

-- Migration 7's rules, and the Sales Report's.
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
                             AND period_end = date(period_start, '+1 month', '-1 day')))))
     AND NOT (family GLOB 'ingramspark_sales:*'
              AND (substr(family, 19), month) IN (SELECT kind, month FROM ingram_compensation_months));

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
                             AND period_end = date(period_start, '+1 month', '-1 day')))))
     AND NOT (family GLOB 'ingramspark_sales:*'
              AND (substr(family, 19), month) IN (SELECT kind, month FROM ingram_compensation_months));
