-- Edits and removals of messages already filed (Facebook comments): the text is
-- replaced in place and every earlier text kept here; a removal is recorded, never a
-- delete.
CREATE TABLE message_revisions (
    id            INTEGER PRIMARY KEY,
    complaint_id  BIGINT  NOT NULL REFERENCES complaints (id),
    -- NULL: the complaint's first message.
    message_id    BIGINT  REFERENCES messages (id),
    kind          TEXT    NOT NULL CHECK (kind IN ('edited', 'removed')),
    -- The text before this revision.
    previous_body TEXT    NOT NULL,
    at            BIGINT  NOT NULL,
    channel_name  TEXT    NOT NULL,
    -- The provider's id of the edit or removal event.
    external_id   TEXT    NOT NULL,
    raw_content_type TEXT NOT NULL,
    raw           BLOB    NOT NULL
);
CREATE INDEX message_revisions_complaint ON message_revisions (complaint_id, at, id);

-- A conversation key (a Messenger sender) points at that person's latest complaint;
-- `last_at` is when they last wrote, for the joining window.
ALTER TABLE thread_keys ADD COLUMN last_at BIGINT;
