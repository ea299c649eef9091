-- A thread key a complaint only named (a reference its first message carried to a
-- message not filed yet) rather than made known: claimed so that a writer filing the
-- original at the same moment sees it (the unique key makes it wait, then look again),
-- and so that the original filed after its reply joins it. A named key leads only its
-- reporter's messages; it never makes another complaint refer to this one.
ALTER TABLE thread_keys ADD COLUMN named BOOLEAN NOT NULL DEFAULT FALSE;
