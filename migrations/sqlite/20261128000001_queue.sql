-- The admin queue: units and people, the workflow's columns, answers, claims, the
-- working-day calendar, categories, scheduled-job runs and full-text search. SQLite.

CREATE TABLE units (
    code        TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    email         TEXT,
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'coordinator', 'unit_admin', 'liaison')),
    unit          TEXT    REFERENCES units (code),
    -- argon2id PHC string; NULL: API tokens only.
    password_hash TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL
);

-- Bearer tokens: 256 random bits, stored as their SHA-256 (a fast hash is right for
-- random secrets; passwords use argon2).
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    token_hash    TEXT    NOT NULL UNIQUE,
    label         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

ALTER TABLE complaints ADD COLUMN merged_into INTEGER REFERENCES complaints (id);
ALTER TABLE complaints ADD COLUMN held_from TEXT;
ALTER TABLE complaints ADD COLUMN claimed_by INTEGER REFERENCES users (id);
ALTER TABLE complaints ADD COLUMN claim_until INTEGER;
-- The deadline of the current step (verify+forward, the unit's answer, auto-close);
-- NULL until the SLA job has computed it.
ALTER TABLE complaints ADD COLUMN due_at INTEGER;
ALTER TABLE complaints ADD COLUMN overdue_at INTEGER;
ALTER TABLE complaints ADD COLUMN status_changed_at INTEGER;
CREATE INDEX complaints_unit_queue ON complaints (unit, status, received_at, id);
-- The queue without a status filter, everything and per unit, oldest first.
CREATE INDEX complaints_received ON complaints (received_at, id);
CREATE INDEX complaints_unit_received ON complaints (unit, received_at, id);
-- Claim-next reads only unclaimed rows: claimed ones never have to be walked past (a
-- job releases expired claims).
CREATE INDEX complaints_unclaimed ON complaints (status, received_at, id) WHERE claimed_by IS NULL;
CREATE INDEX complaints_unit_unclaimed ON complaints (unit, status, received_at, id) WHERE claimed_by IS NULL;
CREATE INDEX complaints_claims ON complaints (claim_until) WHERE claimed_by IS NOT NULL;
CREATE INDEX complaints_due ON complaints (status, due_at);
CREATE INDEX complaints_merged ON complaints (merged_into);

CREATE TABLE answers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id  INTEGER NOT NULL REFERENCES complaints (id),
    unit          TEXT,
    body          TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('submitted', 'approved', 'returned')),
    author_id     INTEGER NOT NULL REFERENCES users (id),
    approver_id   INTEGER REFERENCES users (id),
    reason        TEXT,
    created_at    INTEGER NOT NULL,
    decided_at    INTEGER
);
CREATE INDEX answers_complaint ON answers (complaint_id, id);

CREATE TABLE holidays (
    day   TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    kind  TEXT NOT NULL CHECK (kind IN ('libur', 'cuti_bersama'))
);

CREATE TABLE categories (
    code    TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    parent  TEXT REFERENCES categories (code)
);

-- A scheduled job's run for one period: the first daemon to insert it does the work.
CREATE TABLE job_runs (
    job      TEXT    NOT NULL,
    run_key  TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (job, run_key)
);

-- Full-text search over title and body; unicode61 folds case and diacritics and does
-- not stem, which suits Indonesian (no English stemmer mangling its affixes).
CREATE VIRTUAL TABLE complaints_fts USING fts5(
    title, body, content = 'complaints', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO complaints_fts (complaints_fts) VALUES ('rebuild');
CREATE TRIGGER complaints_fts_ai AFTER INSERT ON complaints BEGIN
    INSERT INTO complaints_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER complaints_fts_ad AFTER DELETE ON complaints BEGIN
    INSERT INTO complaints_fts (complaints_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER complaints_fts_au AFTER UPDATE OF title, body ON complaints BEGIN
    INSERT INTO complaints_fts (complaints_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO complaints_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;

-- Browser sessions of the console: the cookie's SHA-256, and the CSRF token every
-- state-changing request must echo in X-CSRF-Token.
CREATE TABLE sessions (
    id_hash     TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    csrf_token  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
