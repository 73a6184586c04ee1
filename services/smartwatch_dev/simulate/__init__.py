"""The watch-fleet simulator: realistic days of readings from N watches, sent to the API.

Each simulated user owns one watch and lives in one of several time zones. Their day follows
local time: asleep from about 23:00 to 07:00 (light, deep and REM phases, heart rate in the
50s), awake the rest of the day with walks (steps) and a higher heart rate. Runs with the same
seed produce the same readings. The ground-truth file holds, per user and local day, what the
aggregates must say: steps, heart-rate sums and counts, sleep heart-rate sums and counts.

The fleet model is in `fleet`, the HTTP side in `send` (which imports httpx).
"""

from smartwatch_dev.simulate.fleet import (
    DEFAULT_ZONES,
    SHAPES,
    Fleet,
    GroundTruth,
    Reading,
    User,
    last_dst_change,
    make_users,
    readings,
    write_events,
)
from smartwatch_dev.simulate.send import (
    Sender,
    SendError,
    batches_asap,
    batches_real_time,
    device_of,
    issue_tokens,
    load_replay,
    register,
    replay,
    send_all,
    send_fleet,
)

__all__ = ["DEFAULT_ZONES", "SHAPES", "Fleet", "GroundTruth", "Reading", "SendError", "Sender", "User",
           "batches_asap", "batches_real_time", "device_of", "issue_tokens", "last_dst_change",
           "load_replay", "make_users", "readings", "register", "replay", "send_all", "send_fleet",
           "write_events"]
