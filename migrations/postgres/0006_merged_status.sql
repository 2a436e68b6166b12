-- A merged duplicate now has the terminal status `merged`. Duplicates merged
-- before kept the status they had, so lists of active incidents showed them.
UPDATE incidents
SET status = 'merged', state = jsonb_set(state::jsonb, '{status}', '"merged"')::text
WHERE merged_into IS NOT NULL;
