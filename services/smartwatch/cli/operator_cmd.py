"""`smartwatch operator`: the AggregationSchedule operator (kopf).

Its options are the operator's own (`smartwatch_operator.main.add_arguments`, beside the `run`
that reads them), and that module imports kopf: so the command is registered here without
options, and its handler builds the full parser, parses the rest of the command line (--help
too) and runs the operator. (Not named `operator.py`: the standard library has that name.)
"""

from __future__ import annotations

import argparse
import sys

from smartwatch.cli.options import STACK, Formatter, add_command, epilog

HELP = "the AggregationSchedule operator (kopf)"
DESCRIPTION = ("Turns each due window of every AggregationSchedule into one SparkApplication\n"
               "(docs/operator.md). Run locally, it takes the local stack's kubeconfig when\n"
               "none is given.")
EXAMPLES = ["smartwatch operator --namespace default",
            "smartwatch operator --in-cluster --all-namespaces --peering smartwatch"]


def register(sub: argparse._SubParsersAction) -> None:
    add_command(sub, "operator", help=HELP, description=DESCRIPTION, examples=EXAMPLES,
                add_help=False).set_defaults(func=cmd_operator, takes_rest=True)


def _parser() -> argparse.ArgumentParser:
    from smartwatch_operator.main import add_arguments

    parser = argparse.ArgumentParser(
        prog="smartwatch operator", description=DESCRIPTION, parents=[STACK],
        epilog=epilog(EXAMPLES),
        formatter_class=Formatter)
    add_arguments(parser)
    return parser


def cmd_operator(args: argparse.Namespace) -> int:
    from smartwatch.cli.local import kubeconfig
    from smartwatch_operator.main import run

    args = _parser().parse_args(args.rest, namespace=args)
    found = None if args.in_cluster else kubeconfig(args.kubeconfig, args.state_dir)
    if found is None and not args.in_cluster:
        print("smartwatch operator: no kubeconfig: give --kubeconfig, set SMARTWATCH_KUBECONFIG, "
              "or start the local stack (smartwatch stack up)", file=sys.stderr)
        return 2
    return run(args, found)
