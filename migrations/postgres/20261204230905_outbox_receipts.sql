-- The hourly cap on receipts counts one channel's acknowledgements of the last hour on
-- every new complaint that would get one; without this index that count would read
-- every message the channel ever sent.
CREATE INDEX outbox_receipts ON outbox (channel_name, created_at) WHERE kind = 'acknowledgement';
