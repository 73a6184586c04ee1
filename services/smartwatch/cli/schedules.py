"""`smartwatch schedules`: AggregationSchedules for cluster users, through a kubeconfig (what
`kubectl` would use, unless one is given): list them with their last success, next run and
dirty dates; run a window now; backfill a range; suspend and resume. Each action prints what it
changed, and exits 1 naming the reason when the API server refuses it (not found, forbidden,
invalid), 2 for options that cannot be right."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from smartwatch.cli.options import JSON, STACK, add_command, subcommands
from smartwatch_jobs.commands import date  # the one YYYY-MM-DD argument type

COLUMNS = ("NAMESPACE", "NAME", "GRANULARITY", "SCHEDULE", "STATE", "LAST SUCCESS", "NEXT RUN",
           "DIRTY", "FAILING")


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("schedules", help="AggregationSchedules: list, run-now, backfill, "
                                             "suspend",
                           description="AggregationSchedules on a cluster (docs/operator.md), "
                                       "through --kubeconfig, SMARTWATCH_KUBECONFIG, KUBECONFIG "
                                       "or ~/.kube/config, else the local stack's.")
    actions = subcommands(group)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", type=Path, default=None, help="kubeconfig to use")
    common.add_argument("--namespace", "-n", default=None,
                        help="namespace (default: the kubeconfig context's, else default)")
    lst = add_command(actions, "list", help="the schedules with their last success, next run "
                                            "and dirty dates", parents=[common, STACK, JSON],
                      examples=["smartwatch schedules list -A",
                                "smartwatch schedules list -n smartwatch --json"])
    lst.add_argument("--all-namespaces", "-A", action="store_true", help="every namespace")
    lst.set_defaults(func=cmd_list)
    one = argparse.ArgumentParser(add_help=False, parents=[common, STACK])
    one.add_argument("name", help="the schedule's name")
    now = add_command(actions, "run-now", help="run one window now (its run-now annotation)",
                      parents=[one], examples=["smartwatch schedules run-now daily --date "
                                               "2026-03-28", "smartwatch schedules run-now daily"])
    now.add_argument("--date", default="latest", metavar="DATE|latest",
                     help="a local date in the window to run, or latest (default): the window "
                          "of the last fire time")
    now.set_defaults(func=cmd_run_now)
    back = add_command(actions, "backfill", help="run every window of a date range once",
                       parents=[one], examples=["smartwatch schedules backfill daily --from "
                                                "2026-01-01 --to 2026-01-31"])
    back.add_argument("--from", dest="start", type=date, required=True, metavar="DATE")
    back.add_argument("--to", dest="end", type=date, required=True, metavar="DATE")
    back.add_argument("--max-concurrent", type=int, default=2, metavar="N",
                      help="backfill runs at a time (default: %(default)s)")
    back.set_defaults(func=cmd_backfill)
    for name, value in (("suspend", True), ("resume", False)):
        act = add_command(actions, name, help=("hold new runs" if value else "start scheduling "
                                               "again, catching up within the deadlines"),
                          parents=[one], examples=[f"smartwatch schedules {name} daily"])
        act.set_defaults(func=cmd_suspend, suspend=value)


class Refused(Exception):
    """The API server refused the action; the message says why."""


class Schedules:
    """The AggregationSchedule API through a kubeconfig."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kubernetes import client, config

        from smartwatch import k8s

        path = _kubeconfig(args)
        if path is None:
            raise Refused("no kubeconfig: give --kubeconfig, set KUBECONFIG or "
                          "SMARTWATCH_KUBECONFIG, or start the local stack")
        self.api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(path)))
        self.errors = client.ApiException
        self.coordinates = k8s.SCHEDULES.coordinates
        namespace = args.namespace
        if namespace is None:
            _, context = config.list_kube_config_contexts(config_file=str(path))
            namespace = (context or {}).get("context", {}).get("namespace") or "default"
        self.namespace = namespace

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self.errors as exc:
            detail = exc.reason
            with contextlib.suppress(ValueError):  # the API server's Status, when it sent one
                detail = json.loads(exc.body or "{}").get("message") or detail
            raise Refused(f"{what}: {detail} (HTTP {exc.status})") from None

    def list(self, everywhere: bool) -> list[dict[str, Any]]:
        group, version, plural = self.coordinates
        if everywhere:
            found = self._call("list", self.api.list_cluster_custom_object, group, version, plural)
        else:
            found = self._call("list", self.api.list_namespaced_custom_object, group, version,
                               self.namespace, plural)
        return list(found.get("items", []))

    def get(self, name: str) -> dict[str, Any]:
        group, version, plural = self.coordinates
        return dict(self._call(f"schedule {self.namespace}/{name}",
                               self.api.get_namespaced_custom_object, group, version,
                               self.namespace, plural, name))

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        group, version, plural = self.coordinates
        return dict(self._call(f"schedule {self.namespace}/{name}",
                               self.api.patch_namespaced_custom_object, group, version,
                               self.namespace, plural, name, body))


def _kubeconfig(args: argparse.Namespace) -> Path | None:
    """--kubeconfig, SMARTWATCH_KUBECONFIG, then kubectl's (KUBECONFIG, ~/.kube/config), then
    the local stack's."""
    from smartwatch.cli.local import kubeconfig
    from smartwatch.settings import get_settings

    if args.kubeconfig or get_settings().kubeconfig:
        return kubeconfig(args.kubeconfig, args.state_dir)
    for candidate in [*os.environ.get("KUBECONFIG", "").split(os.pathsep),
                      str(Path.home() / ".kube" / "config")]:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return kubeconfig(None, args.state_dir)


def row(schedule: dict[str, Any]) -> dict[str, Any]:
    """What `list` shows of one schedule."""
    spec, status = schedule.get("spec", {}), schedule.get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    ready = conditions.get("Ready", {})
    state = ("Suspended" if spec.get("suspend") else
             "Running" if ready.get("status") == "True" else ready.get("reason") or "Unknown")
    failing = conditions.get("Failing", {})
    return {"namespace": schedule["metadata"].get("namespace", ""),
            "name": schedule["metadata"]["name"], "granularity": spec.get("granularity", ""),
            "schedule": spec.get("schedule", ""), "state": state,
            "lastSuccessfulWindow": status.get("lastSuccessfulWindow"),
            "nextRunTime": status.get("nextRunTime"), "dirtyDates": status.get("dirtyDates"),
            "failing": failing.get("message") if failing.get("status") == "True" else None}


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[str(v) if v is not None else "-" for v in r.values()] for r in rows]
    widths = [max(len(c[i]) for c in [list(COLUMNS), *cells]) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in [list(COLUMNS), *cells])


def _run(args: argparse.Namespace, action: Any) -> int:
    try:
        return int(action(Schedules(args)))
    except Refused as exc:
        print(f"smartwatch schedules {args.action}: {exc}", file=sys.stderr)
        return 1


def cmd_list(args: argparse.Namespace) -> int:
    def action(api: Schedules) -> int:
        rows = [row(s) for s in api.list(args.all_namespaces)]
        rows.sort(key=lambda r: (r["namespace"], r["name"]))
        if args.json:
            print(json.dumps(rows, indent=2))
        elif rows:
            print(table(rows))
        else:
            where = "any namespace" if args.all_namespaces else f"namespace {api.namespace}"
            print(f"no AggregationSchedules in {where}")
        return 0
    return _run(args, action)


def cmd_run_now(args: argparse.Namespace) -> int:
    from smartwatch.k8s import RUN_NOW_ANNOTATION

    if args.date != "latest":
        try:
            dt.date.fromisoformat(args.date)
        except ValueError:
            print(f"smartwatch schedules run-now: --date {args.date!r} is neither a date "
                  "(YYYY-MM-DD) nor latest", file=sys.stderr)
            return 2

    def action(api: Schedules) -> int:
        api.get(args.name)
        api.patch(args.name, {"metadata": {"annotations": {RUN_NOW_ANNOTATION: args.date}}})
        print(f"schedule {api.namespace}/{args.name}: run-now of {args.date} requested "
              f"({RUN_NOW_ANNOTATION}={args.date}); the operator starts it and removes the "
              "annotation")
        return 0
    return _run(args, action)


def cmd_backfill(args: argparse.Namespace) -> int:
    if args.start > args.end:
        print(f"smartwatch schedules backfill: --from {args.start} is after --to {args.end}",
              file=sys.stderr)
        return 2

    def action(api: Schedules) -> int:
        before = (api.get(args.name).get("spec") or {}).get("backfill")
        body = {"from": args.start.isoformat(), "to": args.end.isoformat(),
                "maxConcurrent": args.max_concurrent}
        api.patch(args.name, {"spec": {"backfill": body}})
        was = f" (was {before['from']}..{before['to']})" if before else ""
        print(f"schedule {api.namespace}/{args.name}: backfill {body['from']}..{body['to']}, "
              f"{args.max_concurrent} at a time{was}")
        return 0
    return _run(args, action)


def cmd_suspend(args: argparse.Namespace) -> int:
    def action(api: Schedules) -> int:
        was = bool((api.get(args.name).get("spec") or {}).get("suspend"))
        verb = "suspended" if args.suspend else "resumed"
        if was == args.suspend:
            print(f"schedule {api.namespace}/{args.name}: already {verb}, nothing changed")
            return 0
        api.patch(args.name, {"spec": {"suspend": args.suspend}})
        print(f"schedule {api.namespace}/{args.name}: {verb}")
        return 0
    return _run(args, action)
