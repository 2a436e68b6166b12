-- A merged duplicate now has the terminal status `merged`. Duplicates merged
-- before kept the status they had, so lists of active incidents showed them.
UPDATE incidents
SET status = 'merged', state = json_set(state, '$.status', 'merged')
WHERE merged_into IS NOT NULL;
