-- What providers report of the messages the daemon sent (WhatsApp statuses: sent,
-- delivered, read, failed), by the provider's id of the message (outbox.external_id).
-- Kept beside the outbox rather than in it: a report may arrive before the dispatcher
-- recorded the id it was given, and is applied when the id is recorded.
CREATE TABLE delivery_reports (
    channel_name  TEXT    NOT NULL,
    external_id   TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    detail        TEXT,
    at            BIGINT  NOT NULL,
    PRIMARY KEY (channel_name, external_id, status)
);
-- A failure report finds its delivery by the provider's id.
CREATE INDEX outbox_external ON outbox (channel_name, external_id);
