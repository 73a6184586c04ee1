-- How far the landing has come in each Kafka partition: the offset of the first record it has
-- not landed yet (Kafka's "committed offset"), written in the same transaction as the batch's
-- rows in landing_batches, after the batch's files are in the lake. The topic's end offset
-- minus next_offset is the landing's lag (smartwatch.lag, `smartwatch audit`).
CREATE TABLE landing_progress (
    landing_id       text        NOT NULL,   -- identity of the landing job's checkpoint
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    next_offset      bigint      NOT NULL,
    batch_id         bigint      NOT NULL,
    landed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (landing_id, topic, kafka_partition)
);
