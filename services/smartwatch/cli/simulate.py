"""`smartwatch simulate`: the watch-fleet simulator (dev tooling, `smartwatch_dev.simulate`)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from smartwatch.cli.options import STACK, Lazy, add_command


def _utc_start(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def register(sub: argparse._SubParsersAction) -> None:
    sim = add_command(
        sub, "simulate", help="the watch-fleet simulator", parents=[STACK],
        description="Simulates N watches for D days and sends their readings to the API (the\n"
                    "local stack's by default), or writes them to a file, or replays a\n"
                    "prototype data.json file (docs/api.md).",
        examples=["smartwatch simulate --devices 50 --days 3 --dst --ground-truth truth.ndjson",
                  "smartwatch simulate --replay data.json"])
    fleet = sim.add_argument_group("the fleet")
    fleet.add_argument("--devices", type=int, default=10, metavar="N",
                       help="watches, one user each (default: %(default)s)")
    fleet.add_argument("--days", type=int, default=1, metavar="N",
                       help="days of readings (default: %(default)s)")
    fleet.add_argument("--start", type=_utc_start, default=None, metavar="DATE",
                       help="first UTC day, YYYY-MM-DD (default: --days days ago)")
    fleet.add_argument("--cadence", type=float, default=60.0, metavar="SECONDS",
                       help="seconds between readings (default: %(default)g)")
    fleet.add_argument("--zones", default=Lazy("smartwatch_dev.simulate.fleet", "DEFAULT_ZONES"),
                       help="owners' IANA zones, comma-separated (default: %(default)s)")
    fleet.add_argument("--dst", action="store_true",
                       help="place the range around the last DST change of the zones")
    fleet.add_argument("--seed", type=int, default=1, metavar="N",
                       help="the same seed gives the same readings (default: %(default)s)")
    fleet.add_argument("--prefix", default="sim", metavar="TEXT",
                       help="prefix of user and device ids (default: %(default)s)")
    fleet.add_argument("--shape", choices=Lazy("smartwatch_dev.simulate.fleet", "SHAPES"),
                       default="canonical",
                       help="the events' JSON shape (default: %(default)s)")
    out = sim.add_argument_group("where the events go")
    out.add_argument("--url", default=None, help="API URL (default: the local stack's)")
    out.add_argument("--admin-token", default=None, metavar="TOKEN",
                     help="registers the users and issues device tokens (default: "
                          "SMARTWATCH_ADMIN_TOKEN(_FILE), else the local stack's)")
    out.add_argument("--no-auth", action="store_true", help="send without device tokens")
    out.add_argument("--speed", type=float, default=None, metavar="FACTOR",
                     help="real time, this many times as fast (default: as fast as possible)")
    out.add_argument("--batch", type=int, default=500, metavar="N",
                     help="events a request (default: %(default)s)")
    out.add_argument("--concurrency", type=int, default=4, metavar="N",
                     help="requests in flight (default: %(default)s)")
    out.add_argument("--output", type=Path, default=None, metavar="FILE",
                     help="write the events here (NDJSON) instead of sending them")
    out.add_argument("--ground-truth", type=Path, default=None, metavar="FILE",
                     help="write expected per-user local-day figures here (NDJSON)")
    out.add_argument("--replay", type=Path, default=None, metavar="FILE",
                     help="send the events of a JSON file in the prototype's data.json shape")
    sim.set_defaults(func=cmd_simulate)


def _api(args: argparse.Namespace, no_token: str) -> tuple[str, str | None]:
    """The API and, unless --no-auth, the admin token; `no_token` says what to give."""
    from smartwatch.cli.local import api_target

    url, token = api_target(args.state_dir, args.url, args.admin_token,
                            need_token=not args.no_auth)
    if not url:
        raise RuntimeError("no API to send to: give --url, or start the local stack "
                           "(smartwatch stack up)")
    if args.no_auth:
        return url, None
    if not token:
        raise RuntimeError(no_token)
    return url, token


def _replay(args: argparse.Namespace) -> int:
    from smartwatch_dev import simulate

    url, token = _api(args, "--replay with auth needs the admin token (--admin-token)")
    sender, events, devices = simulate.replay(args.replay, url, token, batch=args.batch,
                                              concurrency=args.concurrency)
    print(f"replayed {events} events of {devices} devices: {sender.sent} accepted, "
          f"{sender.rejected} rejected")
    return 0 if sender.rejected == 0 else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    from smartwatch_dev import simulate

    if args.replay:
        return _replay(args)
    fleet = simulate.Fleet(
        devices=args.devices, days=args.days, start=args.start, cadence=args.cadence,
        zones=tuple(z.strip() for z in str(args.zones).split(",") if z.strip()), dst=args.dst,
        seed=args.seed, prefix=args.prefix)
    start = fleet.first_instant()
    print(f"simulating {fleet.devices} watches for {fleet.days} day(s) from {start.isoformat()}, "
          f"one reading every {fleet.cadence:g}s ({fleet.total} readings), shape {args.shape}",
          file=sys.stderr)
    truth = simulate.GroundTruth()
    if args.output:
        count = simulate.write_events(fleet, start, args.shape, args.output, truth)
        print(f"wrote {count} events to {args.output}")
    else:
        url, token = _api(args, "auth needs device tokens: give --admin-token (or --no-auth)")
        sender = simulate.send_fleet(fleet, start, args.shape, url, token, batch=args.batch,
                                     concurrency=args.concurrency, speed=args.speed,
                                     truth=truth)
        print(f"sent {sender.sent} events ({sender.rejected} rejected, {sender.retried} retries)")
        for err in sender.errors[:5] if sender.rejected else []:
            print(f"  rejected: {err}", file=sys.stderr)
    if args.ground_truth:
        truth.write(args.ground_truth)
        print(f"ground truth of {len(truth.rows)} user-days in {args.ground_truth}")
    return 0
