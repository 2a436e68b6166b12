-- Times are Unix milliseconds (INTEGER), the same representation as on
-- PostgreSQL, so the store's SQL text is shared by both backends.

-- The organisation from the config file. One row per object, keyed by kind
-- and name, so ids stay stable across reloads; removed objects are archived.
CREATE TABLE config_objects (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    spec        TEXT    NOT NULL,
    archived_at BIGINT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (kind, name)
);

CREATE TABLE config_revisions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source     TEXT    NOT NULL,
    file_name  TEXT    NOT NULL,
    digest     TEXT    NOT NULL,
    applied_by TEXT    NOT NULL,
    applied_at BIGINT  NOT NULL
);

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    password_hash TEXT,
    created_at    BIGINT  NOT NULL,
    disabled_at   BIGINT
);

CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL UNIQUE,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE sessions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash TEXT    NOT NULL UNIQUE,
    user_id     BIGINT  NOT NULL REFERENCES users (id),
    csrf_token  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The append-only event log. Nothing updates or deletes rows here.
CREATE TABLE events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT  NOT NULL,
    actor_kind   TEXT    NOT NULL,
    actor_name   TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    subject_kind TEXT    NOT NULL,
    subject_id   TEXT    NOT NULL,
    before_state TEXT,
    after_state  TEXT
);
CREATE INDEX events_subject ON events (subject_kind, subject_id, id);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TABLE jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    run_at       BIGINT  NOT NULL,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    max_attempts BIGINT  NOT NULL,
    locked_by    TEXT,
    locked_until BIGINT,
    last_error   TEXT,
    unique_key   TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE UNIQUE INDEX jobs_unique_live ON jobs (unique_key) WHERE state IN ('pending', 'running');
