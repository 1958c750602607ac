-- salesingest schema, version 9: the report rollup is kept by one mechanism (issue #13).
-- Append-only: never edit a released migration; add a new file.
--
-- Until now four things kept `sales_rollup` equal to the live events: sums kept in memory while
-- a file was staged, a helper for API sales inserted live, triggers for updates and deletes
-- (migration 2), and a fallback that summed an import's rows at publication when the staged
-- sums could not be used. Now the store writes, in the transaction that writes or deletes
-- events, the rollup delta of exactly those events, on both backends (PostgreSQL has no
-- trigger either): each staged chunk adds its sums under its import, an upsert moves a sale's
-- amounts from its old key to its new one, replace-by-coverage deletes the rollup rows of the
-- same import, family and periods as the events it deletes, and a discarded import takes its
-- rollup rows with it.
--
-- The triggers go. An import still staging from an older version may lack its rollup rows
-- (older versions wrote them with the last chunk, or summed at publication): they are summed
-- here once from its staged rows, and every staging import is marked as carrying its rollup.
DROP TRIGGER IF EXISTS sales_rollup_delete;
DROP TRIGGER IF EXISTS sales_rollup_update_old;
DROP TRIGGER IF EXISTS sales_rollup_update_new;

DELETE FROM sales_rollup
 WHERE import_id IN (SELECT id FROM imports WHERE state = 'staging' AND rollup_staged = 0);
INSERT INTO sales_rollup
  SELECT platform, family, import_id, month, period_start, period_end, currency, is_final,
         count(*), sum(units), sum(kenp_pages), sum(royalty_micros)
    FROM sales_events
   WHERE import_id IN (SELECT id FROM imports WHERE state = 'staging' AND rollup_staged = 0)
   GROUP BY platform, family, import_id, month, period_start, period_end, currency, is_final;
UPDATE imports SET rollup_staged = 1 WHERE state = 'staging';
