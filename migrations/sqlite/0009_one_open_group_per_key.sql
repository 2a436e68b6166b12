-- PostgreSQL's 0009 makes a group key unique among a service's open groups,
-- because replicas writing at once could each open one. SQLite has a single
-- writer, which reads the open groups and writes in one transaction, so it
-- leaves the index out (it would cost every new group an index insert).
SELECT 1;
