-- aduan schema, SQLite. Times are microseconds since the Unix epoch (UTC).

CREATE TABLE complaints (
    id               INTEGER PRIMARY KEY,
    tracking_id      TEXT    NOT NULL UNIQUE,
    channel          TEXT    NOT NULL,
    channel_name     TEXT    NOT NULL,
    external_id      TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'new',
    title            TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    category         TEXT,
    classification   TEXT,
    unit             TEXT,
    reporter_name    TEXT,
    reporter_handle  TEXT,
    reporter_email   TEXT,
    reporter_phone   TEXT,
    reporter_user_id TEXT,
    anonymous        INTEGER NOT NULL DEFAULT 0,
    confidential     INTEGER NOT NULL DEFAULT 0,
    received_at      BIGINT  NOT NULL,
    occurred_on      TEXT,
    location_text    TEXT,
    location_lat     DOUBLE PRECISION,
    location_lon     DOUBLE PRECISION,
    -- The citizen's first message is the complaint itself (title, body, received_at and
    -- the raw original here); `messages` holds what follows: follow-ups and answers.
    raw_content_type TEXT    NOT NULL,
    raw              BLOB    NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    UNIQUE (channel_name, external_id)
);
CREATE INDEX complaints_queue ON complaints (status, received_at, id);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    complaint_id  BIGINT  NOT NULL REFERENCES complaints (id),
    direction     TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    channel       TEXT    NOT NULL,
    channel_name  TEXT    NOT NULL,
    external_id   TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    at            BIGINT  NOT NULL,
    -- The message exactly as the provider sent it (inbound only).
    raw_content_type TEXT,
    raw           BLOB,
    public        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (channel_name, direction, external_id)
);
CREATE INDEX messages_thread ON messages (complaint_id, at, id);

CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY,
    complaint_id  BIGINT  NOT NULL REFERENCES complaints (id),
    -- NULL: the complaint's first message.
    message_id    BIGINT  REFERENCES messages (id),
    filename      TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    size          BIGINT  NOT NULL,
    sha256        TEXT    NOT NULL
);
CREATE INDEX attachments_complaint ON attachments (complaint_id, id);
CREATE INDEX attachments_sha256 ON attachments (sha256);

-- Messages that are not complaints: quarantined (could not be understood) or ignored
-- (auto-replies, echoes, bounces), each with its reason and raw original.
CREATE TABLE intake_rejects (
    id            INTEGER PRIMARY KEY,
    channel       TEXT    NOT NULL,
    channel_name  TEXT    NOT NULL,
    external_id   TEXT    NOT NULL,
    disposition   TEXT    NOT NULL CHECK (disposition IN ('quarantined', 'ignored')),
    reason        TEXT    NOT NULL,
    raw_content_type TEXT  NOT NULL,
    raw           BLOB    NOT NULL,
    received_at   BIGINT  NOT NULL,
    UNIQUE (channel_name, external_id)
);
CREATE INDEX intake_rejects_recent ON intake_rejects (received_at, id);

-- The idempotency ledger: one row per (channel instance, external id) ever accepted.
-- Its first insert serializes concurrent writers of the same message.
CREATE TABLE inbound_keys (
    channel_name  TEXT    NOT NULL,
    external_id   TEXT    NOT NULL,
    at            BIGINT  NOT NULL,
    PRIMARY KEY (channel_name, external_id)
);

-- Keys that let a later message join a complaint (Message-IDs, tweet ids, thread ids).
CREATE TABLE thread_keys (
    channel_name  TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    complaint_id  BIGINT  NOT NULL REFERENCES complaints (id),
    PRIMARY KEY (channel_name, key)
);
CREATE INDEX thread_keys_complaint ON thread_keys (complaint_id);

CREATE TABLE cursors (
    channel_name  TEXT    NOT NULL,
    stream        TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (channel_name, stream)
);

CREATE TABLE audit_events (
    id            INTEGER PRIMARY KEY,
    complaint_id  BIGINT  REFERENCES complaints (id),
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    reason        TEXT,
    before_state  TEXT,
    after_state   TEXT,
    public        INTEGER NOT NULL DEFAULT 0,
    at            BIGINT  NOT NULL
);
CREATE INDEX audit_events_complaint ON audit_events (complaint_id, at, id);

CREATE TABLE outbox (
    id                 INTEGER PRIMARY KEY,
    complaint_id       BIGINT  NOT NULL REFERENCES complaints (id),
    channel_name       TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    idempotency_key    TEXT    NOT NULL UNIQUE,
    recipient_address  TEXT    NOT NULL,
    recipient_name     TEXT,
    subject            TEXT,
    body               TEXT    NOT NULL,
    in_reply_to        TEXT,
    refs               TEXT    NOT NULL DEFAULT '[]',
    status             TEXT    NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts           BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT  NOT NULL,
    lease_until        BIGINT,
    last_error         TEXT,
    external_id        TEXT,
    created_at         BIGINT  NOT NULL,
    sent_at            BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);
CREATE INDEX outbox_recipient ON outbox (channel_name, recipient_address, created_at);
