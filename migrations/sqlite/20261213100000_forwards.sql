-- Forwarding to other systems (`[[forwarders]]`): signed webhooks and Open311 filing.
--
-- forward_events: what happened that another system may be told (a complaint filed,
-- its status changed, its answer approved), written in the transaction that makes it,
-- so an event is never lost and never told for what was rolled back. The forwarding
-- pump turns each into one delivery per forwarder that wants it, and deletes it, in
-- one transaction.
CREATE TABLE forward_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL
                          CHECK (kind IN ('complaint.filed', 'complaint.status_changed', 'answer.approved')),
    complaint_id  INTEGER  NOT NULL REFERENCES complaints (id),
    status_from   TEXT,
    status_to     TEXT,
    at            BIGINT  NOT NULL
);

-- forwards: one event for one forwarder, delivered as the outbox delivers replies (a
-- lease, retries with backoff, a visible failed state). external_id keeps what the
-- other system calls it (an Open311 service_request_id).
CREATE TABLE forwards (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    forwarder        TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    complaint_id     INTEGER  NOT NULL REFERENCES complaints (id),
    status_from      TEXT,
    status_to        TEXT,
    occurred_at      BIGINT  NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    lease_until      BIGINT,
    last_error       TEXT,
    external_id      TEXT,
    created_at       BIGINT  NOT NULL,
    sent_at          BIGINT,
    UNIQUE (forwarder, event_id)
);
CREATE INDEX forwards_open ON forwards (next_attempt_at, id) WHERE status IN ('pending', 'sending');
CREATE INDEX forwards_complaint ON forwards (complaint_id, id);
CREATE INDEX forwards_status ON forwards (status, id);
