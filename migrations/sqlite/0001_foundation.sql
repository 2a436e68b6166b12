-- Times are Unix milliseconds (INTEGER), the same representation as on
-- PostgreSQL, so the store's SQL text is shared by both backends.

-- The organisation from the config file. One row per object, keyed by kind
-- and name, so ids stay stable across reloads; removed objects are archived.
CREATE TABLE config_objects (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    spec        TEXT    NOT NULL,
    archived_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (kind, name)
);

CREATE TABLE config_revisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    source     TEXT    NOT NULL,
    file_name  TEXT    NOT NULL,
    digest     TEXT    NOT NULL,
    applied_by TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    secret_hash TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    csrf_token  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The append-only event log. Nothing updates or deletes rows here.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor_kind   TEXT    NOT NULL,
    actor_name   TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    subject_kind TEXT    NOT NULL,
    subject_id   TEXT    NOT NULL,
    before_state TEXT,
    after_state  TEXT
);
CREATE INDEX events_subject ON events (subject_kind, subject_id, id);

CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    run_at       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    locked_by    TEXT,
    locked_until INTEGER,
    last_error   TEXT,
    unique_key   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);
-- One live job per unique key; finished jobs release the key.
CREATE UNIQUE INDEX jobs_unique_live ON jobs (unique_key) WHERE state IN ('pending', 'running');
