-- On-call overrides taken at run time, and the secret tokens of calendar feeds.

CREATE TABLE schedule_overrides (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule   TEXT    NOT NULL,
    person     TEXT    NOT NULL,
    starts_at  BIGINT  NOT NULL,
    ends_at    BIGINT  NOT NULL,
    reason     TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX schedule_overrides_range ON schedule_overrides (schedule, ends_at);

-- Unguessable tokens in calendar feed URLs, one per schedule or person.
CREATE TABLE feed_tokens (
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    token      TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (kind, name)
);
