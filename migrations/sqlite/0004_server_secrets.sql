-- Secrets the server makes for itself on first use (e.g. the key that
-- signs outgoing webhooks), shared by every replica.
CREATE TABLE server_secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
