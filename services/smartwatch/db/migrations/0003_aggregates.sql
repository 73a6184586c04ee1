-- Per-user figures. Daily rows keep counts, sums, min and max, so coarser figures are exact;
-- weekly and monthly rows carry the same measures. Range-partitioned by the period's first
-- day, one partition a year (created ahead by the aggregation job).
CREATE TABLE daily_aggregates (
    user_id           text        NOT NULL,
    local_date        date        NOT NULL,
    total_steps       bigint      NOT NULL,
    hr_samples        bigint      NOT NULL,
    hr_sum            double precision NOT NULL,
    avg_hr            double precision,
    min_hr            double precision,
    max_hr            double precision,
    sleep_hr_samples  bigint      NOT NULL,
    sleep_hr_sum      double precision NOT NULL,
    avg_sleep_hr      double precision,
    readings          bigint      NOT NULL,
    first_at          timestamptz NOT NULL,
    last_at           timestamptz NOT NULL,
    computed_at       timestamptz NOT NULL,
    run               text        NOT NULL,
    PRIMARY KEY (user_id, local_date)
) PARTITION BY RANGE (local_date);

CREATE TABLE weekly_aggregates (
    user_id           text        NOT NULL,
    iso_year          integer     NOT NULL,
    iso_week          integer     NOT NULL,
    week_start        date        NOT NULL,   -- the Monday
    total_steps       bigint      NOT NULL,
    hr_samples        bigint      NOT NULL,
    hr_sum            double precision NOT NULL,
    avg_hr            double precision,
    min_hr            double precision,
    max_hr            double precision,
    sleep_hr_samples  bigint      NOT NULL,
    sleep_hr_sum      double precision NOT NULL,
    avg_sleep_hr      double precision,
    readings          bigint      NOT NULL,
    first_at          timestamptz NOT NULL,
    last_at           timestamptz NOT NULL,
    computed_at       timestamptz NOT NULL,
    run               text        NOT NULL,
    PRIMARY KEY (user_id, week_start)
) PARTITION BY RANGE (week_start);

CREATE TABLE monthly_aggregates (
    user_id           text        NOT NULL,
    year              integer     NOT NULL,
    month             integer     NOT NULL,
    month_start       date        NOT NULL,
    total_steps       bigint      NOT NULL,
    hr_samples        bigint      NOT NULL,
    hr_sum            double precision NOT NULL,
    avg_hr            double precision,
    min_hr            double precision,
    max_hr            double precision,
    sleep_hr_samples  bigint      NOT NULL,
    sleep_hr_sum      double precision NOT NULL,
    avg_sleep_hr      double precision,
    readings          bigint      NOT NULL,
    first_at          timestamptz NOT NULL,
    last_at           timestamptz NOT NULL,
    computed_at       timestamptz NOT NULL,
    run               text        NOT NULL,
    PRIMARY KEY (user_id, month_start)
) PARTITION BY RANGE (month_start);

CREATE TABLE aggregation_runs (
    run                    text        PRIMARY KEY,
    granularity            text        NOT NULL CHECK (granularity IN ('daily', 'weekly', 'monthly')),
    window_from            date        NOT NULL,
    window_to              date        NOT NULL,
    started_at             timestamptz NOT NULL,
    finished_at            timestamptz,
    rows_written           bigint,
    events_without_owner   bigint,
    status                 text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    error                  text
);

-- When each UTC date was last aggregated, per granularity: a date is dirty for a granularity
-- when dirty_dates.last_dirtied_at is newer.
CREATE TABLE aggregation_clean (
    granularity  text        NOT NULL,
    event_date   date        NOT NULL,
    clean_as_of  timestamptz NOT NULL,
    PRIMARY KEY (granularity, event_date)
);
