-- What the landing job wrote: rows a UTC date a micro-batch (idempotent by checkpoint and
-- batch: a replayed batch is recorded once), and the dates aggregation must recompute.
CREATE TABLE landing_batches (
    landing_id  text        NOT NULL,   -- identity of the landing job's checkpoint
    batch_id    bigint      NOT NULL,
    event_date  date        NOT NULL,   -- UTC date of measured_at
    rows        bigint      NOT NULL,
    landed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (landing_id, batch_id, event_date)
);

CREATE TABLE dirty_dates (
    event_date        date        PRIMARY KEY,
    rows              bigint      NOT NULL,   -- rows landed since the date was last clean
    first_dirtied_at  timestamptz NOT NULL DEFAULT now(),
    last_dirtied_at   timestamptz NOT NULL DEFAULT now()
);
