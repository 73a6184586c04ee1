"""`smartwatch demo` (make demo): the whole pipeline on the local stack, as a cluster runs it.

1. The local stack (Kafka, Postgres, etcd and kube-apiserver, the API), the operator and the
   local SparkApplication runner (smartwatch_dev.stack.sparkrunner), all in the state folder.
2. Users registered in several zones (one with a DST change in the simulated range), their
   zone written `time_zone`, `timezone` or `tz` in turn, as profile files have it.
3. Their watches simulated for some days at one reading a minute, sent through the API in
   the three JSON shapes; some batches resent, some held back as late readings.
4. Landing in available-now mode; then AggregationSchedules (dirty mode, every minute) on the
   kube-apiserver: the operator creates SparkApplications and the runner runs them. The late
   readings are sent and landed next, and the next dirty runs pick them up. (`direct`: the
   aggregation commands run one after another instead.)
5. The reconciliation line (each count measured where it lives, every aggregate row compared
   with the ground truth worked out from the readings), a per-user table, and the HTML report.
6. Everything started is stopped again, also on Ctrl-C, unless `keep_running`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smartwatch import k8s
from smartwatch.settings import Settings
from smartwatch_dev.demo import report as rep
from smartwatch_dev.demo import truth
from smartwatch_dev.simulate.fleet import Fleet, Reading
from smartwatch_dev.stack import Stack
from smartwatch_dev.stack.postgres import masked
from smartwatch_dev.stack.process import spawn, stop
from smartwatch_dev.toolchain import REPO_ROOT

NAMESPACE = "smartwatch"
SECRET = "smartwatch-postgres"
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney")
#: The spellings of the zone key in the demo's profile import, in turn.
ZONE_KEYS = ("time_zone", "timezone", "tz")
SHAPES = ("canonical", "legacy-a", "legacy-b")
BATCH = 500
RESEND_EVERY, LATE_EVERY = 10, 13  # every 10th batch is sent twice, every 13th late
SPARK = k8s.SPARK_APPLICATIONS.coordinates
#: The runner's runs at a time: a fire's three runs together, their JVM start-ups overlapping.
RUNNER_CONCURRENCY = 3
SCHEDULES = k8s.SCHEDULES.coordinates


@dataclasses.dataclass(frozen=True)
class Options:
    users: int = 20
    days: int = 7
    cadence: float = 60.0
    direct: bool = False
    keep_running: bool = False
    show_password: bool = False
    state_dir: Path = REPO_ROOT / ".stack" / "demo"
    report: Path | None = None  # default: <state>/report.html
    timeout: float = 900.0  # for each wait on the pipeline
    seed: int = 1


class Demo:
    def __init__(self, options: Options, out: Callable[[str], None] | None = None) -> None:
        self.o = options
        self.out = out or _print  # each line at once, also into a pipe
        self.state = Path(options.state_dir).resolve()
        self.stack = Stack(Settings(), self.state)
        self.t0 = time.monotonic()
        self.helpers: dict[str, subprocess.Popen[bytes]] = {}
        self.runs: list[rep.RunRow] = []
        self.status: dict[str, Any] = {}

    # -- output ----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        _stop_if_interrupted()
        self.out(f"[{time.monotonic() - self.t0:6.1f}s] {text}")

    # -- the whole demo ----------------------------------------------------------------------
    def run(self) -> int:
        interrupted = False
        # Ctrl-C (SIGINT) and SIGTERM both stop the demo, also where SIGINT came in ignored
        # (a process started in the background by a shell, where Python leaves it ignored).
        previous = {sig: signal.signal(sig, _raise_interrupt)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            code = self.pipeline()
            if self.o.keep_running:
                self.explain_keep_running()
            return code
        except KeyboardInterrupt:
            interrupted = True
            _INTERRUPTED.clear()  # stopping is what the interrupt asked for
            self.out("\ninterrupted: stopping everything the demo started")
            return 130
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if interrupted or not self.o.keep_running:
                self.stop_all()

    def start(self) -> None:
        self.stack.purge()  # a fresh demo each time
        self.stack.up()
        self.status = self.stack.status()
        self.say(f"local stack up in {self.state}: Kafka, Postgres, kube-apiserver, ingest API")
        if not self.o.direct:
            self.start_cluster_side()

    def stop_all(self) -> None:
        for name, proc in reversed(list(self.helpers.items())):
            stop(proc.pid, None, grace=30)
            proc.wait()
            self.helpers.pop(name)
        self.stack.down()
        self.say("stopped everything the demo started")

    # -- the cluster side on one machine ---------------------------------------------------
    @functools.cached_property
    def _kube_client(self) -> Any:
        """One client of the stack's kube-apiserver for the whole demo (its waits poll)."""
        from kubernetes import config

        return config.new_client_from_config(self.status["kubeconfig"])

    def _kube(self) -> Any:
        return self._kube_client

    def start_cluster_side(self) -> None:
        from kubernetes import client

        from smartwatch_dev import toolchain
        from smartwatch_dev.stack.crds import apply_crds

        api = self._kube()
        apply_crds(api, [toolchain.SCHEDULE_CRD, toolchain.spark_application_crd()])
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        core.create_namespaced_secret(NAMESPACE, client.V1Secret(
            metadata=client.V1ObjectMeta(name=SECRET),
            string_data={"dsn": self.status["postgres_dsn"]}))
        state = str(self.state)
        env = {**os.environ, "SMARTWATCH_STATE_DIR": state}
        self.helpers["operator"] = spawn(
            [sys.executable, "-m", "smartwatch", "operator", "--state-dir", state,
             "--namespace", NAMESPACE, "--liveness-port", "0", "--metrics-port", "0"],
            self.state / "operator" / "operator.log", env=env)
        self.helpers["spark-runner"] = spawn(
            [sys.executable, "-m", "smartwatch", "spark-runner", "--state-dir", state,
             "--concurrency", str(RUNNER_CONCURRENCY)],
            self.state / "spark-runner" / "runner.log", env=env)
        self.say("operator and local SparkApplication runner started "
                 f"(logs in {self.state / 'operator'} and {self.state / 'spark-runner'})")

    def check_helpers(self) -> None:
        for name, proc in self.helpers.items():
            if proc.poll() is not None:
                log = self.state / name / ("operator.log" if name == "operator" else "runner.log")
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"the {name} exited with code {proc.returncode}; {log}:\n{tail}")

    # -- the pipeline ----------------------------------------------------------------------
    def pipeline(self) -> int:
        fleet = Fleet(devices=self.o.users, days=self.o.days, cadence=self.o.cadence,
                      zones=ZONES, dst=True, seed=self.o.seed, prefix="demo")
        start = fleet.first_instant()
        users, stream = fleet.stream(start)
        readings = list(stream)
        end = start + dt.timedelta(days=self.o.days)
        self.say(f"{len(users)} users in {len(set(u.time_zone for u in users))} zones, "
                 f"{self.o.days} days from {start:%Y-%m-%d} to {end - dt.timedelta(seconds=1):%Y-%m-%d} "
                 f"UTC (around {_dst_note(users, start, end)}), one reading every "
                 f"{self.o.cadence:g} s: {len(readings)} readings")
        tokens = self.register(users)
        on_time, late = self.batches(readings, users)
        sent = self.send(on_time, tokens, "on time")
        landed_at = self.land(1)
        self.aggregate(1, landed_at)
        sent_late = self.send(late, tokens, "late")
        landed_at = self.land(2)
        self.aggregate(2, landed_at)
        counts, diffs = self.reconcile(readings, sent, sent_late)
        audited = self.audit(start.date() - dt.timedelta(days=1), end.date() + dt.timedelta(days=1))
        self.save_check(readings, counts)
        self.print_table(users)
        line = truth.line(counts, diffs, audited)
        matched = not diffs and _chain_equal(counts) and audited["ok"]
        path = self.write_report(line, matched, start, end)
        self.out("")
        self.out(f"report: {path}")
        self.out(line)
        return 0 if matched else 1

    def register(self, users: list[Any]) -> dict[str, str]:
        import httpx

        from smartwatch_dev.simulate.send import issue_tokens

        url = self.status["api_url"]
        token = Path(self.status["api_admin_token_file"]).read_text().strip()
        profiles = [{"user_id": u.user_id, "device_id": u.device_id,
                     ZONE_KEYS[i % len(ZONE_KEYS)]: u.time_zone,
                     "user_email": f"{u.user_id}@example.invalid"} for i, u in enumerate(users)]
        r = httpx.post(f"{url}/v1/admin/users/import", json=profiles, timeout=60,
                       headers={"authorization": f"Bearer {token}"})
        if r.status_code != 200:
            raise RuntimeError(f"registering the users failed: HTTP {r.status_code}: {r.text[:300]}")
        answer = r.json()
        if answer.get("ignored_keys"):
            raise RuntimeError(f"the profile import ignored keys: {answer['ignored_keys']}")
        self.say(f"registered {len(users)} users (zone keys {', '.join(ZONE_KEYS)} in turn)")
        return asyncio.run(issue_tokens(url, token, [u.device_id for u in users]))

    def batches(self, readings: list[Reading], users: list[Any]
                ) -> tuple[list[tuple[str, list[dict], bool]], list[tuple[str, list[dict], bool]]]:
        """The readings as per-device batches in time order, each device in one shape: those
        sent on time and the late ones; a batch's flag says it is sent twice."""
        shape = {u.device_id: SHAPES[i % len(SHAPES)] for i, u in enumerate(users)}
        buffers: dict[str, list[dict]] = {}
        all_batches: list[tuple[str, list[dict]]] = []
        for r in readings:
            buf = buffers.setdefault(r.user.device_id, [])
            buf.append(r.as_shape(shape[r.user.device_id]))
            if len(buf) >= BATCH:
                all_batches.append((r.user.device_id, buf))
                buffers[r.user.device_id] = []
        all_batches += [(d, b) for d, b in buffers.items() if b]
        on_time: list[tuple[str, list[dict], bool]] = []
        late: list[tuple[str, list[dict], bool]] = []
        for i, (device, events) in enumerate(all_batches):
            item = (device, events, i % RESEND_EVERY == 3)
            (late if i % LATE_EVERY == 5 else on_time).append(item)
        return on_time, late

    def send(self, batches: list[tuple[str, list[dict], bool]], tokens: dict[str, str],
             what: str) -> dict[str, int]:
        from smartwatch_dev.simulate.send import Sender, send_all

        url = self.status["api_url"]
        first = Sender(url, tokens, concurrency=4, quiet=True)
        again = Sender(url, tokens, concurrency=4, quiet=True)
        t = time.monotonic()

        async def go() -> None:
            await send_all(first, ((d, e) for d, e, _ in batches))
            await send_all(again, ((d, e) for d, e, twice in batches if twice))
        asyncio.run(go())
        events = sum(len(e) for _, e, _ in batches)
        copies = sum(len(e) for _, e, twice in batches if twice)
        if first.rejected or again.rejected:
            raise RuntimeError(f"the API rejected {first.rejected + again.rejected} readings: "
                               f"{(first.errors + again.errors)[:3]}")
        seconds = time.monotonic() - t
        self.say(f"sent {events} readings {what} ({copies} of them twice) through the API in "
                 f"{seconds:.1f} s ({(events + copies) / max(seconds, 1e-9):,.0f}/s): "
                 f"{first.sent} + {again.sent} accepted")
        return {"sent": events, "resent": copies, "accepted": first.sent}

    def land(self, round_: int) -> dt.datetime:
        log = self.state / "demo" / f"land-{round_}.log"
        started = dt.datetime.now(dt.UTC)
        self._command(["land", "--available-now"], log, f"landing (round {round_})")
        finished = dt.datetime.now(dt.UTC)
        self.runs.append(rep.RunRow(f"land-{round_}", "landing", "--available-now",
                                    "COMPLETED", started, finished))
        self.say(f"landed Kafka into the lake (available-now) in "
                 f"{(finished - started).total_seconds():.1f} s")
        return finished

    def audit(self, first: dt.date, last: dt.date) -> dict[str, Any]:
        """`smartwatch audit --json` of the demo's local dates: its report (exit 1 is a
        report too: days that differ; anything else without a report is a failure)."""
        log = self.state / "demo" / "audit.log"
        t = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "smartwatch", "audit", "--from", str(first),
                               "--to", str(last), "--json", "--state-dir", str(self.state)],
                              capture_output=True, text=True, check=False)
        _stop_if_interrupted()
        log.write_text(proc.stdout + proc.stderr)
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            raise RuntimeError(f"the audit failed (exit {proc.returncode}); {log}:\n"
                               f"{proc.stderr[-2000:]}") from None
        self.say(f"audited {first}..{last} in {time.monotonic() - t:.1f} s: "
                 f"{report['user_days']} user-days, "
                 + ("ok" if report["ok"] else f"{len(report['differences'])} differ"))
        return report

    def _command(self, args: list[str], log: Path, what: str) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            proc = subprocess.run([sys.executable, "-m", "smartwatch", *args,
                                   "--state-dir", str(self.state)], stdout=out,
                                  stderr=subprocess.STDOUT, check=False)
        _stop_if_interrupted()
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} failed (exit {proc.returncode}); {log}:\n{tail}")

    # -- aggregation -----------------------------------------------------------------------
    def aggregate(self, round_: int, landed_at: dt.datetime) -> None:
        t = time.monotonic()
        if self.o.direct:
            for g in truth.GRANULARITIES:
                started = dt.datetime.now(dt.UTC)
                self._command(["aggregate", "--granularity", g, "--dirty"],
                              self.state / "demo" / f"aggregate-{g}-{round_}.log",
                              f"the {g} aggregation")
                self.runs.append(rep.RunRow(f"aggregate-{g}-{round_}", f"{g} aggregation",
                                            "--dirty", "COMPLETED", started,
                                            dt.datetime.now(dt.UTC)))
            self.say(f"aggregated the dirty dates directly in {time.monotonic() - t:.1f} s")
            return
        if round_ == 1:
            self.apply_schedules()
        self.say("waiting for the schedules' next runs (they fire at every minute)")
        self.wait_clean(landed_at)
        self.say(f"the operator's runs aggregated the dirty dates in {time.monotonic() - t:.1f} s"
                 f" after the landing")

    def apply_schedules(self) -> None:
        from kubernetes import client

        custom = client.CustomObjectsApi(self._kube())
        group, version, plural = SCHEDULES
        for g in truth.GRANULARITIES:
            custom.create_namespaced_custom_object(group, version, NAMESPACE, plural, {
                "apiVersion": f"{group}/{version}", "kind": "AggregationSchedule",
                "metadata": {"name": g},
                "spec": {"granularity": g, "schedule": "* * * * *", "timeZone": "UTC",
                         "mode": "dirty", "concurrencyPolicy": "Forbid",
                         "lake": self.status["lake_uri"],
                         "postgres": {"secretName": SECRET}}})
        self.say("applied the daily, weekly and monthly AggregationSchedules (dirty mode, "
                 "every minute)")

    def _apps(self) -> list[dict[str, Any]]:
        from kubernetes import client

        group, version, plural = SPARK
        found: Any = client.CustomObjectsApi(self._kube()).list_namespaced_custom_object(
            group, version, NAMESPACE, plural)
        return found["items"]

    def wait_clean(self, landed_at: dt.datetime) -> None:
        """Until every granularity has a completed run created after the landing and no date
        is dirty; a failed run ends the wait with its error."""
        deadline = time.monotonic() + self.o.timeout
        since = landed_at.replace(microsecond=0)
        while True:
            _stop_if_interrupted()
            self.check_helpers()
            apps = self._apps()
            failed = [a for a in apps if _state(a) in ("FAILED", "SUBMISSION_FAILED")]
            if failed:
                app = failed[0]
                raise RuntimeError(f"run {app['metadata']['name']} failed: "
                                   f"{_app_state(app).get('errorMessage', '')}")
            done = {a["metadata"]["labels"].get(k8s.GRANULARITY_LABEL) for a in apps
                    if _state(a) == "COMPLETED" and _created(a) >= since}
            active = [a for a in apps if _state(a) not in ("COMPLETED",)]
            if done >= set(truth.GRANULARITIES) and not active and not self.dirty():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the aggregation runs did not finish in {self.o.timeout:g} s "
                                   f"(see {self.state / 'operator'} and "
                                   f"{self.state / 'spark-runner'})")
            time.sleep(1)

    def dirty(self) -> list[tuple[str, dt.date]]:
        """(granularity, UTC date) pairs landed since that granularity last aggregated them."""
        import psycopg2

        with psycopg2.connect(self.status["postgres_dsn"]) as conn, conn.cursor() as cur:
            cur.execute("""
                SELECT g, d.event_date FROM dirty_dates d
                CROSS JOIN unnest(%s::text[]) AS g
                LEFT JOIN aggregation_clean c ON c.granularity = g AND c.event_date = d.event_date
                WHERE c.clean_as_of IS NULL OR c.clean_as_of < d.last_dirtied_at""",
                        (list(truth.GRANULARITIES),))
            return cur.fetchall()

    # -- the reconciliation ----------------------------------------------------------------
    def reconcile(self, readings: list[Reading], sent: dict[str, int],
                  sent_late: dict[str, int]) -> tuple[truth.Counts, list[str]]:
        counts, got = measure(self.status, sent["sent"] + sent_late["sent"],
                              sent["resent"] + sent_late["resent"], sent_late["sent"],
                              sent["accepted"] + sent_late["accepted"])
        return counts, truth.differences(truth.expected(readings), got)

    def save_check(self, readings: list[Reading], counts: truth.Counts) -> None:
        """What `smartwatch demo check` needs to reconcile again later: the send counts, and
        the expected rows."""
        want = truth.expected(readings)
        doc = {"sent": counts.sent, "resent": counts.resent, "late": counts.late,
               "accepted": counts.accepted,
               "expected": {g: [[k[0], k[1].isoformat(), _jsonable(v)] for k, v in rows.items()]
                            for g, rows in want.items()}}
        (self.state / "demo").mkdir(parents=True, exist_ok=True)
        (self.state / "demo" / "sent.json").write_text(json.dumps(doc))

    # -- what is shown ---------------------------------------------------------------------
    def print_table(self, users: list[Any]) -> None:
        """Each user's last whole local day (the first and last local dates are cut short by
        the simulated range, which is in UTC days), and their mean steps over whole days."""
        import psycopg2

        with psycopg2.connect(self.status["postgres_dsn"]) as conn, conn.cursor() as cur:
            # A whole day: readings from local midnight to its last minute.
            cur.execute("""
                WITH whole AS (
                  SELECT a.* FROM daily_aggregates a JOIN users u USING (user_id)
                  WHERE (a.first_at AT TIME ZONE u.time_zone)::time < '00:01'
                    AND (a.last_at AT TIME ZONE u.time_zone)::time >= '23:59')
                SELECT user_id, local_date, total_steps, avg_hr, avg_sleep_hr, mean_steps FROM (
                  SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY local_date DESC) n,
                         avg(total_steps) OVER (PARTITION BY user_id) AS mean_steps
                  FROM whole) t
                WHERE n = 1 ORDER BY user_id""")
            rows = cur.fetchall()
        zone = {u.user_id: u.time_zone for u in users}
        self.out("")
        self.out("each user's last whole local day:")
        self.out(f"{'user':<16} {'zone':<18} {'day':<10} {'steps':>7} {'avg HR':>6} "
                 f"{'sleep HR':>8} {'steps/day':>9}")
        for user, day, steps, hr, sleep, mean in rows:
            self.out(f"{user:<16} {zone.get(user, '?'):<18} {day.isoformat():<10} {steps:>7,} "
                     f"{_round(hr):>6} {_round(sleep):>8} {float(mean):>9,.0f}")

    def write_report(self, line: str, matched: bool, start: dt.datetime,
                     end: dt.datetime) -> Path:
        import psycopg2

        with psycopg2.connect(self.status["postgres_dsn"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT user_id, local_date, total_steps, avg_hr, avg_sleep_hr "
                        "FROM daily_aggregates ORDER BY user_id, local_date")
            daily = [rep.DailyPoint(u, d, int(s), h, sl) for u, d, s, h, sl in cur.fetchall()]
        runs, schedules = list(self.runs), []
        if not self.o.direct:
            runs += [_run_row(a) for a in self._apps()]
            schedules = self._schedules()
        runs.sort(key=lambda r: (r.started or dt.datetime.max.replace(tzinfo=dt.UTC), r.name))
        notes = [f"{self.o.users} users, {self.o.days} days of readings from {start:%Y-%m-%d} "
                 f"to {end - dt.timedelta(seconds=1):%Y-%m-%d} UTC, one every {self.o.cadence:g} s",
                 "aggregation: " + ("the aggregate commands, run directly" if self.o.direct else
                                    "AggregationSchedules, the operator and the local "
                                    "SparkApplication runner"),
                 f"state folder: {self.state}"]
        path = self.o.report or self.state / "report.html"
        return rep.write(rep.Report("smartwatch demo", dt.datetime.now(dt.UTC), line, matched,
                                    daily, runs, schedules, notes), path)

    def _schedules(self) -> list[rep.ScheduleRow]:
        from kubernetes import client

        group, version, plural = SCHEDULES
        found: Any = client.CustomObjectsApi(self._kube()).list_namespaced_custom_object(
            group, version, NAMESPACE, plural)
        items = found["items"]
        apps = self._apps()
        out = []
        for s in items:
            name, spec, status = s["metadata"]["name"], s["spec"], s.get("status") or {}
            mine = [a for a in apps if a["metadata"]["labels"].get(k8s.SCHEDULE_LABEL) == name]
            conditions = "; ".join(
                f"{c['type']}" + (f": {c.get('message')}" if c.get("message") else "")
                for c in status.get("conditions") or [] if c.get("status") == "True")
            out.append(rep.ScheduleRow(
                name, spec["granularity"], spec["schedule"], spec.get("timeZone", "UTC"),
                spec.get("mode", ""), sum(_state(a) == "COMPLETED" for a in mine),
                sum(_state(a) in ("FAILED", "SUBMISSION_FAILED") for a in mine),
                status.get("lastSuccessfulWindow"), conditions or "-"))
        return out

    def explain_keep_running(self) -> None:
        s = self.status
        self.out("")
        self.out("still running (--keep-running); stop it all with: "
                 f"smartwatch stack down --state-dir {self.state}")
        self.out(f"  API docs:   {s['api_url']}/docs (admin token in {s['api_admin_token_file']})")
        self.out(f"  Postgres:   {masked(s['postgres_dsn'], self.o.show_password)}"
                 + ("" if self.o.show_password else "  (--show-password shows it)"))
        if not self.o.direct:
            self.out(f"  kubeconfig: {s['kubeconfig']}  (kubectl get aggregationschedules,"
                     f"sparkapplications -n {NAMESPACE})")
        self.out(f"  check again: smartwatch demo check --state-dir {self.state}")


def measure(status: dict[str, Any], sent: int, resent: int, late: int, accepted: int
            ) -> tuple[truth.Counts, dict[str, dict[tuple[str, dt.date], dict[str, Any]]]]:
    """The counts measured in the lake (DuckDB over its Parquet files) and Postgres, and the
    aggregate rows as Postgres holds them."""
    import duckdb
    import psycopg2

    lake = status["lake_uri"].removeprefix("file://")
    landed = duckdb.connect().execute(
        f"SELECT count(DISTINCT (device_id, event_id)) FROM read_parquet('{lake}/**/*.parquet',"
        " hive_partitioning = true)").fetchone()
    got: dict[str, dict[tuple[str, dt.date], dict[str, Any]]] = {}
    with psycopg2.connect(status["postgres_dsn"]) as conn, conn.cursor() as cur:
        for g in truth.GRANULARITIES:
            period = truth.PERIOD_COLUMN[g]
            cur.execute(f"SELECT user_id, {period}, {', '.join(truth.COLUMNS)} "
                        f"FROM {g}_aggregates")
            got[g] = {(row[0], row[1]): dict(zip(truth.COLUMNS, row[2:], strict=True))
                      for row in cur.fetchall()}
    counted = sum(int(r["readings"]) for r in got["daily"].values())
    counts = truth.Counts(sent=sent, resent=resent, late=late, accepted=accepted,
                          landed=int(landed[0]) if landed else 0, counted=counted,
                          rows={g: len(rows) for g, rows in got.items()})
    return counts, got


def check(state_dir: Path) -> tuple[str, bool]:
    """The reconciliation line of a demo left running, measured again now."""
    saved = json.loads((state_dir / "demo" / "sent.json").read_text())
    status = Stack(Settings(), state_dir).status()
    counts, got = measure(status, saved["sent"], saved["resent"], saved["late"],
                          saved["accepted"])
    want = {g: {(u, dt.date.fromisoformat(d)): _from_json(v) for u, d, v in rows}
            for g, rows in saved["expected"].items()}
    diffs = truth.differences(want, got)
    return truth.line(counts, diffs), not diffs and _chain_equal(counts)


def _chain_equal(c: truth.Counts) -> bool:
    return c.sent == c.accepted == c.landed == c.counted


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in row.items()}


def _from_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: dt.datetime.fromisoformat(v) if k in ("first_at", "last_at") else v
            for k, v in row.items()}


def _app_state(app: dict[str, Any]) -> dict[str, Any]:
    return (app.get("status") or {}).get("applicationState") or {}


def _state(app: dict[str, Any]) -> str:
    return _app_state(app).get("state") or ""


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _created(app: dict[str, Any]) -> dt.datetime:
    created = _time(app["metadata"].get("creationTimestamp"))
    assert created is not None
    return created


def _run_row(app: dict[str, Any]) -> rep.RunRow:
    labels = app["metadata"].get("labels") or {}
    state = _state(app)
    args = [str(a) for a in app["spec"].get("arguments") or []]
    detail = " ".join(a for a in args if a.startswith("--") and a != "--run-name"
                      and a != "--granularity")
    if state in ("FAILED", "SUBMISSION_FAILED"):
        detail = _app_state(app).get("errorMessage", "")
    status = app.get("status") or {}
    return rep.RunRow(app["metadata"]["name"], f"{labels.get(k8s.GRANULARITY_LABEL, '')} "
                      "aggregation", detail or " ".join(args[2:4]), state or "PENDING",
                      _time(status.get("lastSubmissionAttemptTime")),
                      _time(status.get("terminationTime")))


def _round(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _dst_note(users: list[Any], start: dt.datetime, end: dt.datetime) -> str:
    from zoneinfo import ZoneInfo

    for zone in sorted({u.time_zone for u in users}):
        tz = ZoneInfo(zone)
        t = start
        while t < end:
            if (t + dt.timedelta(hours=1)).astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset():
                return f"{zone}'s DST change on {(t + dt.timedelta(hours=1)):%Y-%m-%d}"
            t += dt.timedelta(hours=1)
    return "no DST change"


def _print(line: str) -> None:
    print(line, flush=True)


#: Set by the first Ctrl-C or SIGTERM. The handler raises KeyboardInterrupt at once; where
#: that lands in code that swallows it (a finalizer run by the garbage collector), the next
#: step or wait of the demo raises it again (_stop_if_interrupted).
_INTERRUPTED = threading.Event()


def _raise_interrupt(*_: Any) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def _stop_if_interrupted() -> None:
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt
