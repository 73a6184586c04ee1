"""`smartwatch operator`: run the operator against a kubeconfig (the local stack's by default)
or, in a cluster, with the pod's service account."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import kopf
from prometheus_client import start_http_server

from smartwatch.settings import Settings
from smartwatch_operator.dirty import DirtyCounter, parse_secret, postgres_query
from smartwatch_operator.handlers import OperatorConfig, build_registry
from smartwatch_operator.metrics import Metrics
from smartwatch_operator.policy import RunPolicy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", type=Path, default=None,
                        help="kubeconfig to use (default: the local stack's; in a pod, "
                             "--in-cluster)")
    parser.add_argument("--in-cluster", action="store_true",
                        help="use the pod's service account")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", default=[],
                       help="namespace to watch (repeat for more; globs allowed)")
    scope.add_argument("--all-namespaces", "-A", action="store_true",
                       help="watch every namespace")
    parser.add_argument("--peering", default=None,
                        help="ClusterKopfPeering / KopfPeering name shared by the replicas "
                             "(default: run standalone, one replica)")
    parser.add_argument("--tick", type=float, default=OperatorConfig.tick,
                        help=f"seconds between two looks at each schedule "
                             f"(default {OperatorConfig.tick:g})")
    parser.add_argument("--liveness-port", type=int, default=8080,
                        help="port of /healthz (0: none)")
    parser.add_argument("--metrics-port", type=int, default=9090,
                        help="port of the Prometheus /metrics (0: none)")
    parser.add_argument("--log-format", choices=["full", "json"], default="full")
    parser.add_argument("--postgres-secret", default=None, metavar="NAMESPACE/NAME[:KEY]",
                        help="count, into status.dirtyDates, the dirty dates waiting for the "
                             "`mode: dirty` schedules that name this Secret (key: dsn by "
                             "default), in the Postgres of SMARTWATCH_POSTGRES_DSN, the DSN it "
                             "holds (default: no count)")
    policy = parser.add_argument_group(
        "policy", "what schedules may run (fnmatch patterns, each option repeatable; none "
                  "given: anything). A schedule outside it is not run, and its Ready condition "
                  "names the field (docs/operator.md)")
    policy.add_argument("--allow-image", action="append", default=[], metavar="PATTERN",
                        help="an image runs may use (spec.spark.image)")
    policy.add_argument("--allow-service-account", action="append", default=[],
                        metavar="PATTERN", help="a service account runs may use")
    policy.add_argument("--allow-secret", action="append", default=[], metavar="PATTERN",
                        help="a Secret runs may read (spec.postgres, spec.spark.env)")


def dirty_counter(secret: str | None, dsn: str | None) -> DirtyCounter | None:
    """The counter of --postgres-secret; ValueError naming what is missing or malformed."""
    if secret is None:
        return None
    if not dsn:
        raise ValueError("--postgres-secret needs SMARTWATCH_POSTGRES_DSN, the DSN that Secret "
                         "holds")
    return DirtyCounter(postgres_query(dsn), parse_secret(secret))


def run(args: argparse.Namespace, kubeconfig: Path | None) -> int:
    try:
        dirty = dirty_counter(args.postgres_secret, Settings().postgres_dsn)
    except ValueError as exc:
        print(f"smartwatch operator: {exc}", file=sys.stderr)
        return 2
    kopf.configure(log_format=kopf.LogFormat.JSON if args.log_format == "json"
                   else kopf.LogFormat.FULL)
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    metrics = Metrics()
    if args.metrics_port:
        start_http_server(args.metrics_port, registry=metrics.registry)
    config = OperatorConfig(kubeconfig=None if args.in_cluster else kubeconfig, tick=args.tick,
                            metrics=metrics, dirty=dirty,
                            policy=RunPolicy(tuple(args.allow_image),
                                             tuple(args.allow_service_account),
                                             tuple(args.allow_secret)))
    kopf.run(registry=build_registry(config),
             standalone=args.peering is None, peering_name=args.peering,
             clusterwide=args.all_namespaces or not args.namespace,
             namespaces=args.namespace,
             liveness_endpoint=(f"http://0.0.0.0:{args.liveness_port}/healthz"
                                if args.liveness_port else None))
    return 0
