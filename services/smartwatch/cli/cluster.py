"""`smartwatch cluster up|down|status|leftovers`: the checkout's kind cluster (dev tooling)."""

from __future__ import annotations

import argparse
import json
import sys

from smartwatch.cli.options import JSON, STATE_DIR, add_command, subcommands
from smartwatch.cli.stack import report_leftovers, sigterm_as_interrupt


def register(sub: argparse._SubParsersAction) -> None:
    group = add_command(
        sub, "cluster", help="run the checkout's kind cluster (dev tooling)",
        description="A kind cluster of the state folder, on a private Docker engine where none\n"
                    "answers (docs/kind.md).",
        examples=["smartwatch cluster up", "smartwatch cluster status --json",
                  "smartwatch cluster down"])
    actions = subcommands(group)
    add_command(actions, "up", parents=[STATE_DIR],
                help="create the cluster (and a private Docker engine where none answers), "
                     "then print its KUBECONFIG",
                examples=["smartwatch cluster up"]).set_defaults(func=cmd_up)
    add_command(actions, "down", parents=[STATE_DIR],
                help="delete the cluster and stop the engine it started",
                examples=["smartwatch cluster down"]).set_defaults(func=cmd_down)
    add_command(actions, "status", parents=[JSON, STATE_DIR],
                help="report the cluster's nodes and health (exit 1 unless it is up)",
                examples=["smartwatch cluster status --json"]).set_defaults(func=cmd_status)
    add_command(actions, "leftovers", parents=[STATE_DIR],
                help="list containers, networks, engine processes and mounts still there "
                     "(exit 1 if any)",
                examples=["smartwatch cluster leftovers"]).set_defaults(func=cmd_leftovers)


def _cluster(args: argparse.Namespace):
    from smartwatch.stack.cluster import Cluster
    from smartwatch.stack.manager import default_state_dir

    return Cluster(args.state_dir or default_state_dir())


def cmd_status(args: argparse.Namespace) -> int:
    status = _cluster(args).status()
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


def cmd_down(args: argparse.Namespace) -> int:
    _cluster(args).down(report=print)
    return 0


def cmd_leftovers(args: argparse.Namespace) -> int:
    return report_leftovers(_cluster(args).leftovers())


def cmd_up(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    sigterm_as_interrupt()  # an interrupted up removes what it made
    try:
        cluster.up(report=print)
    except KeyboardInterrupt:
        print("\ninterrupted: the cluster and its engine are removed", file=sys.stderr)
        return 130
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0
