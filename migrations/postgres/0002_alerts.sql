-- Alert ingestion: received messages, alerts, their groups, maintenance
-- windows created at run time, and change events.

-- One received request, kept as received, for audit and debugging.
CREATE TABLE inbound_messages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at BIGINT  NOT NULL,
    service     TEXT    NOT NULL,
    integration TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    body        TEXT    NOT NULL
);

-- Alerts that escalate together: a storm becomes one group, one page.
CREATE TABLE alert_groups (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service        TEXT    NOT NULL,
    group_key      TEXT,
    status         TEXT    NOT NULL,
    opened_at      BIGINT  NOT NULL,
    last_alert_at  BIGINT  NOT NULL,
    alert_count    BIGINT  NOT NULL,
    in_maintenance BIGINT  NOT NULL,
    resolved_at    BIGINT
);
CREATE INDEX alert_groups_key ON alert_groups (service, group_key, id);

CREATE TABLE alerts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    group_id        BIGINT  NOT NULL REFERENCES alert_groups (id),
    in_maintenance  BIGINT  NOT NULL,
    first_seen_at   BIGINT  NOT NULL,
    last_seen_at    BIGINT  NOT NULL,
    event_count     BIGINT  NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    resolved_at     BIGINT,
    resolved_by     TEXT
);
-- At most one open alert per dedup key and service.
CREATE UNIQUE INDEX alerts_open_key ON alerts (service, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_status ON alerts (status, id);
CREATE INDEX alerts_group ON alerts (group_id);

-- One event about one alert, within a received message.
CREATE TABLE inbound_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  BIGINT  NOT NULL REFERENCES inbound_messages (id),
    alert_id    BIGINT,
    received_at BIGINT  NOT NULL,
    action      TEXT    NOT NULL,
    dedup_key   TEXT    NOT NULL,
    outcome     TEXT    NOT NULL
);
CREATE INDEX inbound_events_alert ON inbound_events (alert_id, id);

CREATE TABLE maintenance_windows (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service      TEXT    NOT NULL,
    starts_at    BIGINT  NOT NULL,
    ends_at      BIGINT  NOT NULL,
    reason       TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    cancelled_at BIGINT
);
CREATE INDEX maintenance_windows_service ON maintenance_windows (service, ends_at);

-- Changes announced by deploy tools (PagerDuty change events); change
-- management builds on them.
CREATE TABLE change_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service     TEXT    NOT NULL,
    integration TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    source      TEXT,
    occurred_at BIGINT  NOT NULL,
    received_at BIGINT  NOT NULL,
    details     TEXT    NOT NULL,
    links       TEXT    NOT NULL
);
CREATE INDEX change_events_service ON change_events (service, occurred_at);
