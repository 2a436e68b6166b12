-- Ingestion reserves the ids of messages, groups and alerts for a whole
-- batch before writing it (store::IdSequence). On SQLite that advances
-- the AUTOINCREMENT counters in sqlite_sequence, which needs no change to
-- the tables; this migration keeps the two folders in step.
SELECT 1;
