"""The `smartwatch` command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smartwatch.settings import Settings, get_settings
from smartwatch.stack import COMPONENTS, Stack
from smartwatch.toolchain import ToolMissing


def _components(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown component {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}")
    return names


def _print_status(status: dict) -> None:
    rows = [("COMPONENT", "ADDRESS", "PID", "HEALTH")]
    for c in status["components"]:
        rows.append((c["component"], c["address"] or "-", str(c["pid"] or "-"), c["health"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    for key in ("kafka_bootstrap", "postgres_dsn", "kubeconfig", "api_url"):
        if status.get(key):
            print(f"{key}: {status[key]}")
    print(f"state: {status['state_dir']}")


def _report_leftovers(found: list[str]) -> int:
    for line in found:
        print(line)
    return 1 if found else 0


def _sigterm_as_interrupt() -> None:
    def _interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _interrupt)


def cmd_stack(args: argparse.Namespace) -> int:
    stack = Stack(get_settings(), args.state_dir)
    if args.action == "status":
        status = stack.status()
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            _print_status(status)
        return 0 if all(c["health"] in ("ok", "external") for c in status["components"]
                        if c["component"] in args.only) else 1
    if args.action == "down":
        stack.down(only=args.only, report=print)
        return 0
    if args.action == "purge":
        stack.purge(report=print)
        return 0
    if args.action == "leftovers":
        from smartwatch.stack.cluster import Cluster

        return _report_leftovers([f"{pid} {line}" for pid, line in stack.leftovers()]
                                 + Cluster(stack.state).leftovers())

    _sigterm_as_interrupt()  # so SIGTERM, like Ctrl-C, stops what up started
    try:
        stack.up(only=args.only, report=print)
        _print_status(stack.status())
        if args.detach:
            print("stack is up; stop it with: smartwatch stack down")
            return 0
        print("stack is up; press Ctrl-C to stop it")
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping the stack", file=sys.stderr)
        stack.down(only=args.only, report=print)
        return 130
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from smartwatch.stack.cluster import Cluster

    cluster = Cluster(args.state_dir or get_settings().state_dir)
    if args.action == "status":
        status = cluster.status()
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            print(f"cluster {status['name']}: {status['health']}")
            for node in status["nodes"]:
                print(f"  node {node['name']}: Ready={node['ready']} {node['version']}")
            for key in ("kubeconfig", "context", "engine", "docker_host", "node_image", "subnet"):
                if status.get(key):
                    print(f"{key}: {status[key]}")
        return 0 if status["health"] == "ok" else 1
    if args.action == "down":
        cluster.down(report=print)
        return 0
    if args.action == "leftovers":
        return _report_leftovers(cluster.leftovers())

    _sigterm_as_interrupt()  # an interrupted up removes what it made
    try:
        cluster.up(report=print)
    except KeyboardInterrupt:
        print("\ninterrupted: the cluster and its engine are removed", file=sys.stderr)
        return 130
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def connected_settings(state_dir: str | None = None,
                       needs: Sequence[str] | None = None) -> Settings:
    """Settings, with Kafka, Postgres and the API filled in from the local stack where the
    environment names none. When the environment gives every setting in `needs` (a Spark
    driver in a cluster: SMARTWATCH_POSTGRES_DSN and SMARTWATCH_LAKE_URI), no local stack is
    consulted at all: its state folder need not exist or be readable."""
    settings = get_settings()
    if needs is not None and all(getattr(settings, name) for name in needs):
        return settings
    stack = Stack(settings, state_dir)
    status = stack.status()
    update: dict[str, Any] = {}
    if not settings.kafka_bootstrap and status["kafka_bootstrap"]:
        update["kafka_bootstrap"] = status["kafka_bootstrap"]
    if not settings.postgres_dsn and status["postgres_dsn"]:
        update["postgres_dsn"] = status["postgres_dsn"]
    if settings.admin_secret() is None and status.get("api_admin_token_file"):
        update["admin_token_file"] = Path(status["api_admin_token_file"])
    for key in ("lake", "quarantine", "checkpoint"):
        if getattr(settings, f"{key}_uri") is None:
            update[f"{key}_uri"] = status[f"{key}_uri"]
    return settings.model_copy(update=update)


def _need_dsn(settings: Settings) -> str:
    if not settings.postgres_dsn:
        raise RuntimeError("no Postgres: set SMARTWATCH_POSTGRES_DSN or run `smartwatch stack up`")
    return settings.postgres_dsn


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from smartwatch.api import create_app

    settings = connected_settings(args.state_dir)
    if args.admin_token_file:
        settings = settings.model_copy(update={"admin_token_file": Path(args.admin_token_file)})
    workers = args.workers or settings.api_workers
    options: dict[str, Any] = {
        "host": args.host or settings.api_host, "port": args.port or settings.api_port,
        "log_level": "warning", "access_log": False, "loop": "uvloop", "http": "httptools"}
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return 0
    # Worker processes build their app from the environment: hand the resolved settings on.
    for name, value in (("KAFKA_BOOTSTRAP", settings.kafka_bootstrap),
                        ("POSTGRES_DSN", settings.postgres_dsn),
                        ("ADMIN_TOKEN_FILE", settings.admin_token_file)):
        if value:
            os.environ[f"SMARTWATCH_{name}"] = str(value)
    uvicorn.run("smartwatch.api.main:app_from_environment", factory=True, workers=workers,
                **options)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from smartwatch.db import migrate

    applied = migrate(_need_dsn(connected_settings(args.state_dir)))
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied
          else "schema is up to date")
    return 0


def _registry(args: argparse.Namespace):
    from smartwatch.db import migrate
    from smartwatch.registry import Registry

    dsn = _need_dsn(connected_settings(args.state_dir))
    migrate(dsn)
    return Registry(dsn, max_connections=1)


def cmd_users(args: argparse.Namespace) -> int:
    from smartwatch.registry import ProfileImportError

    try:
        entries = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read {args.file}: {exc}") from None
    if isinstance(entries, dict):
        entries = [entries]
    registry = _registry(args)
    try:
        counts = registry.import_profiles(entries)
    except ProfileImportError as exc:
        for p in exc.problems:
            print(f"entry {p['index']}: {p['field']}: {p['reason']}", file=sys.stderr)
        print("nothing imported", file=sys.stderr)
        return 1
    finally:
        registry.close()
    print(f"imported {counts['users']} user(s), {counts['devices']} device owner(s)")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        print(registry.issue_token(args.device))
    finally:
        registry.close()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import asyncio
    import datetime as dt
    import random

    import httpx

    from smartwatch import simulate as sim

    settings = connected_settings(args.state_dir)
    status = Stack(settings, args.state_dir).status()
    url = args.url or status.get("api_url")
    if not url:
        raise RuntimeError("no API to send to: give --url, or start the local stack "
                           "(smartwatch stack up)")
    admin_token = args.admin_token or settings.admin_secret()
    rng = random.Random(args.seed)

    if args.replay:
        events = sim.load_replay(Path(args.replay))
        devices = sorted({sim.device_of(e) for e in events})
        tokens = None
        if not args.no_auth:
            if not admin_token:
                raise RuntimeError("--replay with auth needs the admin token (--admin-token)")
            tokens = asyncio.run(_tokens_for(url, admin_token, devices))
        by_device: dict[str, list[dict]] = {}
        for e in events:
            by_device.setdefault(sim.device_of(e), []).append(e)
        batches = [(d, evs[i:i + args.batch]) for d, evs in by_device.items()
                   for i in range(0, len(evs), args.batch)]
        sender = sim.Sender(url, tokens, concurrency=args.concurrency, progress_total=len(events))
        asyncio.run(sim.send_all(sender, batches))
        print(f"replayed {len(events)} events of {len(devices)} devices: {sender.sent} accepted, "
              f"{sender.rejected} rejected")
        return 0 if sender.rejected == 0 else 1

    zones = [z.strip() for z in args.zones.split(",") if z.strip()]
    users = sim.make_users(args.devices, zones, rng, prefix=args.prefix)
    if args.start:
        start = dt.datetime.fromisoformat(args.start).replace(tzinfo=dt.UTC)
    else:
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - dt.timedelta(days=args.days)
    if args.dst:
        changes = [c for z in zones if (c := sim.last_dst_change(z, start + dt.timedelta(
            days=args.days)))]
        if not changes:
            raise RuntimeError(f"none of the zones {zones} changed offset in the last year")
        start = (max(changes) - dt.timedelta(days=max(1, args.days // 2))).replace(
            hour=0, minute=0, second=0, microsecond=0)
    cadence = dt.timedelta(seconds=args.cadence)
    stream = sim.readings(users, start, args.days, cadence, rng)
    total = len(users) * int(args.days * 86400 // args.cadence)
    truth = sim.GroundTruth()
    print(f"simulating {len(users)} watches for {args.days} day(s) from {start.isoformat()}, "
          f"one reading every {args.cadence:g}s ({total} readings), shape {args.shape}",
          file=sys.stderr)
    if args.output:
        with open(args.output, "w") as out:
            for r in stream:
                truth.add(r)
                out.write(json.dumps(r.as_shape(args.shape)) + "\n")
        print(f"wrote {total} events to {args.output}")
    else:
        if not url:
            raise RuntimeError("no API: give --url or run `smartwatch stack up`")
        tokens = None
        if not args.no_auth:
            if not admin_token:
                raise RuntimeError("auth needs device tokens: give --admin-token (or --no-auth)")
            tokens = asyncio.run(sim.register(url, admin_token, users))
        sender = sim.Sender(url, tokens, concurrency=args.concurrency, progress_total=total)
        if args.speed:
            async def real_time() -> None:
                async with httpx.AsyncClient(timeout=60) as client:
                    await sim.batches_real_time(stream, args.shape, args.batch, args.speed,
                                                truth, sender, client)
            asyncio.run(real_time())
        else:
            asyncio.run(sim.send_all(sender, sim.batches_asap(stream, args.shape, args.batch,
                                                              truth)))
        print(f"sent {sender.sent} events ({sender.rejected} rejected, {sender.retried} retries)")
        if sender.rejected:
            for err in sender.errors[:5]:
                print(f"  rejected: {err}", file=sys.stderr)
    if args.ground_truth:
        truth.write(Path(args.ground_truth))
        print(f"ground truth of {len(truth.rows)} user-days in {args.ground_truth}")
    return 0


async def _tokens_for(url: str, admin_token: str, devices: list[str]) -> dict[str, str]:
    import httpx

    tokens = {}
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 headers={"authorization": f"Bearer {admin_token}"}) as client:
        for device in devices:
            r = await client.post(f"/v1/admin/devices/{device}/token")
            r.raise_for_status()
            tokens[device] = r.json()["token"]
    return tokens


def cmd_land(args: argparse.Namespace) -> int:
    from smartwatch_jobs.main import land

    settings = connected_settings(args.state_dir, needs=("kafka_bootstrap", "postgres_dsn",
                                                         "lake_uri", "quarantine_uri",
                                                         "checkpoint_uri"))
    return land(settings, available_now=args.available_now)


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cmd_aggregate(args: argparse.Namespace) -> int:
    from smartwatch_jobs.main import aggregate

    if not args.dirty and (args.start is None or args.end is None):
        print("smartwatch aggregate: give --from and --to, or --dirty", file=sys.stderr)
        return 2
    settings = connected_settings(args.state_dir, needs=("postgres_dsn", "lake_uri"))
    return aggregate(settings, args.granularity, args.start, args.end, args.dirty, args.run_name)


def cmd_operator(args: argparse.Namespace) -> int:
    from smartwatch_operator.main import run

    kubeconfig = args.kubeconfig or get_settings().kubeconfig
    if kubeconfig is None and not args.in_cluster:
        found = Stack(get_settings(), args.state_dir).status().get("kubeconfig")
        if not found:
            print("smartwatch operator: no kubeconfig: give --kubeconfig, set "
                  "SMARTWATCH_KUBECONFIG, or start the local stack (smartwatch stack up)",
                  file=sys.stderr)
            return 2
        kubeconfig = Path(found)
    return run(args, kubeconfig)


def cmd_query(args: argparse.Namespace) -> int:
    from smartwatch.aggregates import query

    rows = query(_need_dsn(connected_settings(args.state_dir)), args.user, args.granularity,
                 args.start, args.end)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"no {args.granularity} rows for {args.user} in that range")
        return 0
    cols = list(rows[0])
    print("\t".join(cols))
    for r in rows:
        print("\t".join("" if r[c] is None else str(r[c]) for c in cols))
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from smartwatch_jobs.main import compact

    return compact(connected_settings(args.state_dir), args.start, args.end, args.target_mib)


def cmd_events(args: argparse.Namespace) -> int:
    from smartwatch.events import CanonicalEvent, markdown_docs

    if args.action == "docs":
        print(markdown_docs(), end="")
    else:
        print(json.dumps(CanonicalEvent.model_json_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    stack = sub.add_parser("stack", help="run the local stack (Kafka, Postgres, kube-apiserver)")
    stack.add_argument("action", choices=["up", "down", "status", "leftovers", "purge"],
                       help="up: start (and stay until Ctrl-C unless --detach); down: stop; "
                            "status: report; leftovers: list processes still running from it; "
                            "purge: stop and delete all its data")
    stack.add_argument("--only", type=_components, default=COMPONENTS,
                       help=f"comma-separated subset of {','.join(COMPONENTS)}")
    stack.add_argument("--detach", action="store_true", help="up: return once everything is up")
    stack.add_argument("--json", action="store_true", help="status: print JSON for scripts")
    stack.add_argument("--state-dir", default=None,
                       help="state folder (default: SMARTWATCH_STATE_DIR or .stack/dev in the checkout)")
    stack.set_defaults(func=cmd_stack)

    clu = sub.add_parser("cluster", help="run the checkout's kind cluster (dev tooling)")
    clu.add_argument("action", choices=["up", "down", "status", "leftovers"],
                     help="up: create (and a private Docker engine where none answers); down: "
                          "delete it and stop that engine; status: report; leftovers: list "
                          "containers, networks, engine processes and mounts still there")
    clu.add_argument("--json", action="store_true", help="status: print JSON for scripts")
    clu.add_argument("--state-dir", default=None,
                     help="state folder (default: SMARTWATCH_STATE_DIR or .stack/dev in the checkout)")
    clu.set_defaults(func=cmd_cluster)

    state_help = "local stack whose servers to use when the environment names none"
    api = sub.add_parser("api", help="run the ingest API (uvicorn)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.add_argument("--admin-token-file", default=None, help="file holding the admin token")
    api.add_argument("--workers", type=int, default=None,
                     help="worker processes (default: SMARTWATCH_API_WORKERS, 1)")
    api.add_argument("--state-dir", default=None, help=state_help)
    api.set_defaults(func=cmd_api)

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["migrate"])
    db.add_argument("--state-dir", default=None, help=state_help)
    db.set_defaults(func=cmd_db)

    users = sub.add_parser("users", help="the user registry")
    users.add_argument("action", choices=["import"])
    users.add_argument("file", help="JSON array in the shape of the prototype's user_profiles.json"
                                    " (user_id, device_id, user_email, gender, age; time_zone optional)")
    users.add_argument("--state-dir", default=None, help=state_help)
    users.set_defaults(func=cmd_users)

    devices = sub.add_parser("devices", help="device tokens")
    devices.add_argument("action", choices=["token"])
    devices.add_argument("device", help="device id; prints a new token once, revoking older ones")
    devices.add_argument("--state-dir", default=None, help=state_help)
    devices.set_defaults(func=cmd_devices)

    land = sub.add_parser("land", help="the landing job: Kafka to the Parquet lake (Spark)",
                          description="Reads the events topic, writes valid events to the lake "
                                      "(Parquet by UTC date), the rest to quarantine, and records "
                                      "dirty dates in Postgres. Locations and limits come from "
                                      "SMARTWATCH_* settings (docs/landing.md).")
    land.add_argument("--available-now", action="store_true",
                      help="drain what is in Kafka now, then exit (default: run continuously)")
    land.add_argument("--state-dir", default=None, help=state_help)
    land.set_defaults(func=cmd_land)

    aggp = sub.add_parser("aggregate", help="per-user daily, weekly or monthly figures (Spark)",
                          description="Computes one window of whole periods (or every dirty "
                                      "window) from the lake and replaces its rows in Postgres "
                                      "in one transaction.")
    aggp.add_argument("--granularity", required=True, choices=["daily", "weekly", "monthly"])
    aggp.add_argument("--from", dest="start", type=_date, help="first local date of the window")
    aggp.add_argument("--to", dest="end", type=_date, help="last local date of the window")
    aggp.add_argument("--dirty", action="store_true",
                      help="recompute only windows with new data, then mark them clean")
    aggp.add_argument("--run-name", default=None, metavar="NAME",
                      help="record the run in aggregation_runs under NAME (1 to 200 printable "
                           "characters, no whitespace; default: a generated unique name). With "
                           "--dirty each window's run is NAME-<window's first day as YYYYMMDD>. "
                           "A name whose run succeeded is refused (exit 1, nothing written); "
                           "one whose run failed or never finished is taken over by this run")
    aggp.add_argument("--state-dir", default=None, help=state_help)
    aggp.set_defaults(func=cmd_aggregate)

    queryp = sub.add_parser("query", help="a user's stored figures")
    queryp.add_argument("user")
    queryp.add_argument("--granularity", default="daily", choices=["daily", "weekly", "monthly"])
    queryp.add_argument("--from", dest="start", type=_date, default=None)
    queryp.add_argument("--to", dest="end", type=_date, default=None)
    queryp.add_argument("--json", action="store_true")
    queryp.add_argument("--state-dir", default=None, help=state_help)
    queryp.set_defaults(func=cmd_query)

    comp = sub.add_parser("compact", help="rewrite a date range of the lake into few large files",
                          description="Atomically for readers: each date's folder is rebuilt "
                                      "beside the live one and the two are exchanged.")
    comp.add_argument("--from", dest="start", type=_date, required=True, help="first UTC date")
    comp.add_argument("--to", dest="end", type=_date, required=True, help="last UTC date")
    comp.add_argument("--target-mib", type=int, default=128, help="size of a compacted file")
    comp.add_argument("--state-dir", default=None, help=state_help)
    comp.set_defaults(func=cmd_compact)

    from smartwatch_operator.main import add_arguments as operator_arguments

    opp = sub.add_parser("operator", help="the AggregationSchedule operator (kopf)",
                         description="Turns each due window of every AggregationSchedule into "
                                     "one SparkApplication (docs/operator.md).")
    operator_arguments(opp)
    opp.add_argument("--state-dir", default=None, help=state_help)
    opp.set_defaults(func=cmd_operator)

    events = sub.add_parser("events", help="the canonical event model")
    events.add_argument("action", choices=["docs", "schema"],
                        help="docs: docs/events.md as Markdown; schema: JSON Schema")
    events.set_defaults(func=cmd_events)

    from smartwatch.simulate import DEFAULT_ZONES, SHAPES

    simp = sub.add_parser("simulate", help="the watch-fleet simulator",
                          description="Simulate N watches for D days and send their readings to "
                                      "the API, or replay a prototype data.json file.")
    simp.add_argument("--devices", type=int, default=10, help="watches (one user each)")
    simp.add_argument("--days", type=int, default=1)
    simp.add_argument("--start", default=None, help="first UTC day, YYYY-MM-DD (default: --days "
                                                    "days ago)")
    simp.add_argument("--cadence", type=float, default=60.0, help="seconds between readings")
    simp.add_argument("--zones", default=",".join(DEFAULT_ZONES), help="owners' IANA zones")
    simp.add_argument("--dst", action="store_true",
                      help="place the range around the last DST change of the zones")
    simp.add_argument("--seed", type=int, default=1)
    simp.add_argument("--shape", choices=SHAPES, default="canonical")
    simp.add_argument("--speed", type=float, default=None,
                      help="real time, this many times as fast (default: as fast as possible)")
    simp.add_argument("--batch", type=int, default=500, help="events a request")
    simp.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    simp.add_argument("--prefix", default="sim", help="prefix of user and device ids")
    simp.add_argument("--url", default=None, help="API URL (default: the local stack's)")
    simp.add_argument("--admin-token", default=None,
                      help="registers the users and issues device tokens (default: the local "
                           "stack's)")
    simp.add_argument("--no-auth", action="store_true", help="send without device tokens")
    simp.add_argument("--ground-truth", default=None,
                      help="write expected per-user local-day figures here (NDJSON)")
    simp.add_argument("--output", default=None, help="write the events here instead of sending")
    simp.add_argument("--replay", default=None,
                      help="send the events of a JSON file in the prototype's data.json shape")
    simp.add_argument("--state-dir", default=None, help=state_help)
    simp.set_defaults(func=cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ToolMissing as exc:
        print(f"smartwatch: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError) as exc:
        print(f"smartwatch: {exc}", file=sys.stderr)
        return 1
