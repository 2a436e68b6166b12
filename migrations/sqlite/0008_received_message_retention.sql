-- Received messages older than `siaga serve --keep-received-messages` are
-- purged with the received events that came in them: found by message.
CREATE INDEX inbound_events_message ON inbound_events (message_id);
