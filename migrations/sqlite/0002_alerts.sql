-- Alert ingestion: received messages, alerts, their groups, maintenance
-- windows created at run time, and change events.

-- One received request, kept as received, for audit and debugging.
CREATE TABLE inbound_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    service     TEXT    NOT NULL,
    integration TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    body        TEXT    NOT NULL
);

-- Alerts that escalate together: a storm becomes one group, one page.
CREATE TABLE alert_groups (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    service        TEXT    NOT NULL,
    group_key      TEXT,
    status         TEXT    NOT NULL,
    opened_at      INTEGER NOT NULL,
    last_alert_at  INTEGER NOT NULL,
    alert_count    INTEGER NOT NULL,
    in_maintenance INTEGER NOT NULL,
    resolved_at    INTEGER
);
CREATE INDEX alert_groups_key ON alert_groups (service, group_key, id);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    service         TEXT    NOT NULL,
    integration     TEXT,
    dedup_key       TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    urgency         TEXT    NOT NULL,
    summary         TEXT    NOT NULL,
    source          TEXT,
    component       TEXT,
    alert_group     TEXT,
    alert_class     TEXT,
    labels          TEXT    NOT NULL,
    details         TEXT    NOT NULL,
    links           TEXT    NOT NULL,
    group_id        INTEGER NOT NULL REFERENCES alert_groups (id),
    in_maintenance  INTEGER NOT NULL,
    first_seen_at   INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    event_count     INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT
);
-- At most one open alert per dedup key and service.
CREATE UNIQUE INDEX alerts_open_key ON alerts (service, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_status ON alerts (status, id);
CREATE INDEX alerts_group ON alerts (group_id);

-- One event about one alert, within a received message.
CREATE TABLE inbound_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  INTEGER NOT NULL REFERENCES inbound_messages (id),
    alert_id    INTEGER,
    received_at INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    dedup_key   TEXT    NOT NULL,
    outcome     TEXT    NOT NULL
);
CREATE INDEX inbound_events_alert ON inbound_events (alert_id, id);

CREATE TABLE maintenance_windows (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    service      TEXT    NOT NULL,
    starts_at    INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    cancelled_at INTEGER
);
CREATE INDEX maintenance_windows_service ON maintenance_windows (service, ends_at);

-- Changes announced by deploy tools (PagerDuty change events); change
-- management builds on them.
CREATE TABLE change_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service     TEXT    NOT NULL,
    integration TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    source      TEXT,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    details     TEXT    NOT NULL,
    links       TEXT    NOT NULL
);
CREATE INDEX change_events_service ON change_events (service, occurred_at);
