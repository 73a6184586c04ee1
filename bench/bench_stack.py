"""How long the local stack takes to come up from nothing and to go down (state kept between
the two runs, as a developer's stack is), per component."""

from __future__ import annotations

import time
import uuid

from smartwatch.settings import Settings
from smartwatch_dev.stack import COMPONENTS, Stack
from smartwatch_dev.toolchain import REPO_ROOT


def run() -> list[dict[str, object]]:
    state = REPO_ROOT / ".stack" / f"bench-{uuid.uuid4().hex[:8]}"
    stack = Stack(Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None), state)
    rows: list[dict[str, object]] = []
    try:
        for run_name in ("first start (init)", "restart (state kept)"):
            for name in COMPONENTS:
                t0 = time.perf_counter()
                stack.up(only=(name,))
                rows.append({"case": f"{name} {run_name}",
                             "value": round(time.perf_counter() - t0, 2), "unit": "s"})
            t0 = time.perf_counter()
            stack.down()
            rows.append({"case": f"stack down after {run_name}",
                         "value": round(time.perf_counter() - t0, 2), "unit": "s"})
    finally:
        stack.purge()
    return rows
