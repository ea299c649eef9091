-- Messages that came with an anonymous complaint merged into another (its citizen's
-- follow-ups, our replies to them): their provider ids lead back to that reporter, so
-- they are never shown, whoever reads the thread they joined.
ALTER TABLE messages ADD COLUMN anonymous INTEGER NOT NULL DEFAULT 0;
