"""`smartwatch spark-runner`: the local SparkApplication runner (dev tooling,
`smartwatch_dev.stack.sparkrunner`), spark-operator's part on one machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartwatch.cli.options import STACK, add_command


def register(sub: argparse._SubParsersAction) -> None:
    runner = add_command(
        sub, "spark-runner", help="run SparkApplications with local Spark, as spark-operator",
        parents=[STACK],
        description="Plays spark-operator on the local stack's kube-apiserver: runs each\n"
                    "SparkApplication's main file and arguments with local Spark and writes its\n"
                    "status as spark-operator does (docs/operator.md, \"Without a cluster\").\n"
                    "Runs until stopped (SIGTERM or Ctrl-C), stopping its drivers.",
        examples=["smartwatch spark-runner",
                  "smartwatch spark-runner --kubeconfig kubeconfig.yaml --concurrency 2"])
    runner.add_argument("--kubeconfig", type=Path, default=None, metavar="FILE",
                        help="the cluster to watch (default: SMARTWATCH_KUBECONFIG, else the "
                             "local stack's)")
    runner.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="runs at a time (default: %(default)s)")
    runner.set_defaults(func=cmd_spark_runner)


def cmd_spark_runner(args: argparse.Namespace) -> int:
    from kubernetes import config

    from smartwatch.cli.local import kubeconfig
    from smartwatch.settings import Settings
    from smartwatch_dev.stack import Stack
    from smartwatch_dev.stack.sparkrunner import Runner

    found = kubeconfig(args.kubeconfig, args.state_dir)
    if found is None:
        print("smartwatch spark-runner: no kubeconfig: give --kubeconfig, set "
              "SMARTWATCH_KUBECONFIG, or start the local stack (smartwatch stack up)",
              file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("smartwatch spark-runner: --concurrency must be at least 1", file=sys.stderr)
        return 2
    state = Stack(Settings(), args.state_dir).state
    Runner(config.new_client_from_config(str(found)), state,
           concurrency=args.concurrency).run()
    return 0
