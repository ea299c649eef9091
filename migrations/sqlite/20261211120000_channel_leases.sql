-- Who polls each pull channel when several instances share the database: one row per
-- channel, held by one instance until `expires_at` unless renewed. `generation` grows
-- with every take-over; an ingest transaction that commits a channel's batch checks
-- it, so an instance that lost the lease cannot commit or move a cursor. Times are
-- microseconds on the database's clock, so the instances' clocks do not matter.
CREATE TABLE channel_leases (
    channel_name  TEXT    PRIMARY KEY,
    holder        TEXT    NOT NULL,
    generation    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    acquired_at   BIGINT  NOT NULL,
    renewed_at    BIGINT  NOT NULL
);
