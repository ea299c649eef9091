-- Attachment content kept in the database (`[attachments] store = "database"`), once
-- per SHA-256 (lowercase hex), written in the transaction of the complaint or message
-- that references it, so every instance on the database can serve it. `stored_at`
-- (microseconds) is refreshed whenever a transaction references the content again, so
-- the collector of unreferenced rows never takes one that is being reused.
CREATE TABLE blobs (
    sha256     TEXT    PRIMARY KEY,
    size       BIGINT  NOT NULL,
    content    BYTEA   NOT NULL,
    stored_at  BIGINT  NOT NULL
);
-- Photos, PDFs and videos are compressed already: store them as they are.
ALTER TABLE blobs ALTER COLUMN content SET STORAGE EXTERNAL;
CREATE INDEX blobs_stored_at ON blobs (stored_at);
