-- The dispatcher's poll: deliveries due, or whose sending lease ran out. The old index
-- led with `status`, which is 'sent' for nearly every row of a running daemon's outbox;
-- once SQLite's ANALYZE had counted that, its planner judged the index useless for
-- `status = 'sending'` and scanned the whole outbox on every poll (a write, holding the
-- one writer's lock). This index holds only the open rows, in the poll's order, so the
-- poll costs the same with a million sent receipts whatever the statistics say.
DROP INDEX outbox_due;
CREATE INDEX outbox_open ON outbox (next_attempt_at, id) WHERE status IN ('pending', 'sending');
