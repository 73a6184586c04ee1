-- Users, their devices, and device tokens (hashes only).
CREATE TABLE users (
    user_id     text PRIMARY KEY,
    time_zone   text NOT NULL DEFAULT 'UTC',
    email       text,            -- personal data: never logged, never copied to the lake
    gender      text,
    age         integer CHECK (age IS NULL OR age BETWEEN 0 AND 150),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    device_id      text PRIMARY KEY,
    user_id        text REFERENCES users (user_id) ON DELETE SET NULL,
    owner_since    timestamptz,  -- when user_id was last set: its dates are then recomputed
    registered_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_user_id ON devices (user_id);

CREATE TABLE device_tokens (
    token_sha256  bytea PRIMARY KEY,
    device_id     text NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX device_tokens_device ON device_tokens (device_id);
