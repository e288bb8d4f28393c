-- The floor of `lethe export --summary`, timed by bench.sh: the GROUP BY a DBA would write over
-- the same audit rows, per rule and overall (purged, on time, late and the largest lateness).
SELECT coalesce(rule, 'all') AS rule, count(*) AS purged, count(*) FILTER (WHERE on_time) AS on_time,
       count(*) FILTER (WHERE NOT on_time) AS late,
       max(purged_at - deadline_at) FILTER (WHERE NOT on_time) AS largest_lateness
  FROM lethe.audit WHERE kind = 'item_purged'
 GROUP BY ROLLUP (rule) ORDER BY 1;
