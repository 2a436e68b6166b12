-- One open group per service and key. Two replicas (or two parts of one
-- large batch) that each found no group for a key would otherwise open one
-- each, and page twice; now the second insert fails, and its batch is
-- planned again and joins the first's group. SQLite has one writer, so it
-- needs no such index (see its 0009).
--
-- Groups such a race already doubled keep escalating under a key of their
-- own, and new alerts join the newest.
UPDATE alert_groups AS older
SET group_key = older.group_key || ' (group ' || older.id || ', before ' || newest.id || ')'
FROM (
    SELECT service, group_key, MAX(id) AS id FROM alert_groups
    WHERE status <> 'resolved' AND group_key IS NOT NULL
    GROUP BY service, group_key HAVING COUNT(*) > 1
) AS newest
WHERE older.service = newest.service AND older.group_key = newest.group_key
  AND older.status <> 'resolved' AND older.id < newest.id;

CREATE UNIQUE INDEX alert_groups_open_key ON alert_groups (service, group_key)
    WHERE status <> 'resolved';
