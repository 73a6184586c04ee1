"""The operator with 1,000 AggregationSchedules on the local kube-apiserver (real spark-operator
CRD installed): every schedule's window falls due at the same instant (in four time zones), and
each SparkApplication's creation time is compared with that instant. The operator runs as
`smartwatch operator` in its own process, whose resident memory is sampled throughout.

Targets: every due window created within 10 s of its due time; operator RSS under 200 MB.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import threading
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from smartwatch import k8s
from smartwatch.settings import Settings
from smartwatch_dev.stack import Stack
from smartwatch_dev.stack.crds import apply_crds, third_party_crd_candidates, third_party_crds
from smartwatch_dev.stack.process import stop
from smartwatch_dev.toolchain import REPO_ROOT, SCHEDULE_CRD

SCHEDULES = int(os.environ.get("BENCH_OPERATOR_SCHEDULES", "1000"))
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
TICK = 1.0
NS = "bench"
GROUP, VERSION, PLURAL = k8s.SCHEDULES.coordinates


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                text = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            kib = int(next(line.split()[1] for line in text.splitlines()
                           if line.startswith("VmRSS")))
            self.peak = max(self.peak, kib)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _schedule(i: int, due: dt.datetime) -> dict:
    zone = ZONES[i % len(ZONES)]
    local = due.astimezone(ZoneInfo(zone))
    return {"apiVersion": k8s.SCHEDULES.api_version, "kind": k8s.SCHEDULES.kind,
            "metadata": {"name": f"s{i:04d}"},
            "spec": {"granularity": "daily", "schedule": f"{local.minute} {local.hour} * * *",
                     "timeZone": zone, "lake": "s3a://lake/events",
                     "postgres": {"secretName": "pg"}}}


def _create_schedules(custom, due: dt.datetime) -> tuple[float, float]:
    """Create the schedules; (seconds to create them, seconds until all have a status)."""
    t0 = time.perf_counter()
    for i in range(SCHEDULES):
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, _schedule(i, due))
    created_in = time.perf_counter() - t0

    def seen() -> int:
        items = custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"]
        return sum(1 for s in items if (s.get("status") or {}).get("nextRunTime"))

    while seen() < SCHEDULES and dt.datetime.now(dt.UTC) < due:
        time.sleep(1)
    return created_in, time.perf_counter() - t0


def _idle_cpu(pid: int, due: dt.datetime) -> float | None:
    """The operator's CPU share until shortly before the due instant (every schedule looked
    at each tick, nothing due); None when too little time is left to measure."""
    idle_wait = (due - dt.datetime.now(dt.UTC)).total_seconds() - 5
    if idle_wait <= 10:
        return None
    c0, w0 = _cpu_seconds(pid), time.perf_counter()
    time.sleep(idle_wait)
    return (_cpu_seconds(pid) - c0) / (time.perf_counter() - w0)


def _runs_after(custom, due: dt.datetime) -> list[dict]:
    """The SparkApplications made for the due windows, waiting up to 60 s past due."""
    deadline = due + dt.timedelta(seconds=60)
    apps: list[dict] = []
    while dt.datetime.now(dt.UTC) < deadline:
        apps = custom.list_namespaced_custom_object(
            *k8s.SPARK_APPLICATIONS.coordinates[:2], NS, k8s.SPARK_APPLICATIONS.plural)["items"]
        if len(apps) >= SCHEDULES:
            break
        time.sleep(1)
    return apps


def _rows(created_in: float, all_seen_in: float, cpu_idle: float | None, apps: list[dict],
          due: dt.datetime, peak_kib: float) -> list[dict[str, object]]:
    late = sorted((dt.datetime.fromisoformat(a["metadata"]["creationTimestamp"]
                                             .replace("Z", "+00:00")) - due).total_seconds()
                  for a in apps)
    fires = {a["metadata"]["annotations"].get(k8s.FIRE_TIME_ANNOTATION) for a in apps}
    return [
        {"case": f"schedules created through the API ({SCHEDULES})",
         "value": round(created_in, 1), "unit": "s"},
        {"case": "all schedules have a status, from the first create",
         "value": round(all_seen_in, 1), "unit": "s"},
        {"case": f"operator CPU while idle ({SCHEDULES} schedules, tick {TICK:g} s)",
         "value": round(100 * cpu_idle, 1) if cpu_idle is not None else "n/a",
         "unit": "% of a core"},
        {"case": "due windows with a SparkApplication within 60 s",
         "value": len(apps), "unit": f"of {SCHEDULES}", "target": f"{SCHEDULES}"},
        {"case": "fire-time annotations equal the due instant",
         "value": str(fires == {due.strftime("%Y-%m-%dT%H:%M:%SZ")}), "unit": ""},
        {"case": "creation after due time, p50 (creationTimestamp has 1 s resolution)",
         "value": statistics.median(late) if late else "n/a", "unit": "s"},
        {"case": "creation after due time, max", "value": max(late) if late else "n/a",
         "unit": "s", "target": "<= 10"},
        {"case": "operator peak RSS", "value": round(peak_kib / 1024, 1), "unit": "MiB",
         "target": "< 200 MB"},
    ]


def run() -> list[dict[str, object]]:
    crds = third_party_crds("spark-operator-2.5.2")
    if crds is None:
        raise RuntimeError("no spark-operator CRDs: looked in "
                           + ", ".join(map(str, third_party_crd_candidates("spark-operator-2.5.2"))))
    from kubernetes import client, config

    state = REPO_ROOT / ".stack" / f"bench-operator-{uuid.uuid4().hex[:8]}"
    stack = Stack(Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None), state)
    operator = None
    try:
        stack.up(only=("kube-apiserver",))
        kubeconfig = Path(stack.status()["kubeconfig"])
        api = config.new_client_from_config(config_file=str(kubeconfig))
        apply_crds(api, [SCHEDULE_CRD, *sorted(crds.glob("*.yaml"))])
        client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
        custom = client.CustomObjectsApi(api)
        with open(state / "operator.log", "w") as log:
            operator = subprocess.Popen(
                [str(REPO_ROOT / ".venv" / "bin" / "smartwatch"), "operator", "--kubeconfig",
                 str(kubeconfig), "--namespace", NS, "--tick", str(TICK), "--liveness-port", "0",
                 "--metrics-port", "0"], stdout=log, stderr=subprocess.STDOUT)
        sampler = RssSampler(operator.pid)
        sampler.start()
        # The due instant: a whole minute far enough ahead for all schedules to be created.
        now = dt.datetime.now(dt.UTC)
        due = (now + dt.timedelta(seconds=60 + SCHEDULES * 0.02)).replace(second=0, microsecond=0) \
            + dt.timedelta(minutes=1)
        created_in, all_seen_in = _create_schedules(custom, due)
        cpu_idle = _idle_cpu(operator.pid, due)
        apps = _runs_after(custom, due)
        time.sleep(2)
        sampler.done.set()
        return _rows(created_in, all_seen_in, cpu_idle, apps, due, sampler.peak)
    finally:
        if operator is not None:
            stop(operator.pid, None)
            operator.wait()
        stack.purge()
