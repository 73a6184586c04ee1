-- Ownership and zones have history. A reading belongs to the user who held the device when it
-- was measured, and is placed on the local day of the zone that user lived in then. The
-- device's first owner also holds its readings from before that owner's `since` (a watch that
-- syncs its history after pairing), and a user's first zone applies before its `since`.
-- devices.user_id and users.time_zone stay: the owner and zone in effect now.
CREATE TABLE device_owners (
    device_id    text        NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    user_id      text        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    since        timestamptz NOT NULL,   -- the handover's effective instant
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, since)
);
CREATE INDEX device_owners_user ON device_owners (user_id);

CREATE TABLE user_zones (
    user_id      text        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    time_zone    text        NOT NULL,
    since        timestamptz NOT NULL,   -- the move's effective instant
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, since)
);

-- What a handover or a move changes, from when: the aggregation's dirty runs recompute the
-- dates of `device_id` (or of every device `user_id` has held) from `effective_from` on.
CREATE TABLE registry_changes (
    id              bigserial   PRIMARY KEY,
    device_id       text,
    user_id         text,
    effective_from  timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((device_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX registry_changes_recorded ON registry_changes (recorded_at);

-- Today's registry carried into the history with no loss: each owned device's owner since it
-- was set, each user's zone since the user was created, and each owned device's pending
-- recompute (what devices.owner_since meant to the dirty runs) as a change of all its dates.
INSERT INTO device_owners (device_id, user_id, since, recorded_at)
    SELECT device_id, user_id, coalesce(owner_since, registered_at),
           coalesce(owner_since, registered_at)
    FROM devices WHERE user_id IS NOT NULL;
INSERT INTO user_zones (user_id, time_zone, since, recorded_at)
    SELECT user_id, time_zone, created_at, created_at FROM users;
INSERT INTO registry_changes (device_id, effective_from, recorded_at)
    SELECT device_id, '-infinity', coalesce(owner_since, registered_at)
    FROM devices WHERE user_id IS NOT NULL;
