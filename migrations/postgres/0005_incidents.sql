-- Incidents. The whole incident (roles, checklists, updates, milestones)
-- is one JSON document changed under the row's write lock; the columns
-- beside it are what lists filter and sort by. `version` grows with every
-- change.
CREATE TABLE incidents (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    declared_at BIGINT  NOT NULL,
    resolved_at BIGINT,
    next_update_due_at BIGINT,
    merged_into BIGINT,
    version     BIGINT  NOT NULL,
    state       TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX incidents_status ON incidents (status, declared_at);

-- Which alerts an incident links and which services it names as impacted,
-- for the reverse lookups: an alert's incidents, a service's incidents.
CREATE TABLE incident_alerts (
    incident_id BIGINT  NOT NULL REFERENCES incidents (id),
    alert_id    BIGINT  NOT NULL,
    PRIMARY KEY (incident_id, alert_id)
);
CREATE INDEX incident_alerts_alert ON incident_alerts (alert_id);

CREATE TABLE incident_services (
    incident_id BIGINT  NOT NULL REFERENCES incidents (id),
    service     TEXT    NOT NULL,
    PRIMARY KEY (incident_id, service)
);
CREATE INDEX incident_services_service ON incident_services (service);
