-- A complaint's deliveries, read each time an admin opens it: without this index the
-- lookup scanned the whole outbox, which holds a receipt for nearly every complaint.
CREATE INDEX outbox_complaint ON outbox (complaint_id, id);
