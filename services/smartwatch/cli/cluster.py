"""`smartwatch cluster up|down|status|leftovers|env|images|image|install|uninstall`: the checkout's kind
cluster and the chart on it (dev tooling)."""

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
        examples=["smartwatch cluster up", "smartwatch cluster install",
                  "smartwatch cluster status --json", "smartwatch cluster down"])
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
    add_command(actions, "env", parents=[STATE_DIR],
                help="print the environment of tools that drive the cluster themselves "
                     "(KUBECONFIG, DOCKER_HOST, a PATH with kind, helm, kubectl and skaffold)",
                examples=['eval "$(smartwatch cluster env)" && skaffold run -p kind']
                ).set_defaults(func=cmd_env)
    add_command(actions, "images", parents=[STATE_DIR],
                help="build the project's images (or take them from the cache) and load them "
                     "into the cluster",
                examples=["smartwatch cluster images"]).set_defaults(func=cmd_images)
    image = add_command(
        actions, "image", parents=[STATE_DIR],
        help="build one of the project's images with the cluster's engine and tag it (the "
             "build command of skaffold.yaml's artifacts); nothing is loaded into the node",
        examples=["smartwatch cluster image smartwatch --tag smartwatch:dev",
                  "smartwatch cluster image smartwatch-spark --tag registry.example/spark:1 "
                  "--push"])
    image.add_argument("name", help="one of the chart's images: smartwatch, smartwatch-spark, "
                                    "smartwatch-kafka, smartwatch-postgres, "
                                    "smartwatch-objectstore")
    image.add_argument("--tag", required=True, metavar="REF",
                       help="the reference to give it (skaffold passes $IMAGE)")
    image.add_argument("--push", action="store_true", help="push REF afterwards")
    image.set_defaults(func=cmd_image)
    install = add_command(
        actions, "install", parents=[STATE_DIR],
        help="bring the cluster up if needed, load the images, install the chart with "
             "charts/smartwatch/ci/kind.yaml and wait until it is Ready",
        examples=["smartwatch cluster install",
                  "smartwatch cluster install --set api.replicas=1"])
    install.add_argument("--release", default="smartwatch", help="release name (smartwatch)")
    install.add_argument("--namespace", default="smartwatch", help="namespace (smartwatch)")
    install.add_argument("--values", action="append", default=[], metavar="FILE",
                         help="further values files, after ci/kind.yaml")
    install.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="further values, as helm's --set")
    install.add_argument("--timeout", type=int, default=900, help="seconds to wait (900)")
    install.set_defaults(func=cmd_install)
    uninstall = add_command(actions, "uninstall", parents=[STATE_DIR],
                            help="uninstall the chart's release (its volumes and kept Secrets "
                                 "stay; docs/deploy.md)",
                            examples=["smartwatch cluster uninstall"])
    uninstall.add_argument("--release", default="smartwatch", help="release name (smartwatch)")
    uninstall.add_argument("--namespace", default="smartwatch", help="namespace (smartwatch)")
    uninstall.set_defaults(func=cmd_uninstall)


def _cluster(args: argparse.Namespace):
    from smartwatch_dev.stack.cluster import Cluster
    from smartwatch_dev.stack.manager import default_state_dir

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


def cmd_env(args: argparse.Namespace) -> int:
    import shlex

    cluster = _cluster(args)
    if not cluster.running():
        print("smartwatch cluster env: the cluster is not up (smartwatch cluster up)",
              file=sys.stderr)
        return 1
    for key, value in cluster.tool_env().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    from smartwatch_dev.stack import images

    cluster = _cluster(args)
    if cluster.status()["health"] != "ok":
        print("smartwatch cluster images: the cluster is not up (smartwatch cluster up)",
              file=sys.stderr)
        return 1
    for name, ref in images.build_all(cluster, report=print).items():
        print(f"{name}: {ref}")
    return 0


def _image_names() -> list[str]:
    from smartwatch_dev.stack.images import IMAGES

    return [name for name, image in IMAGES.items() if image.chart]


def cmd_image(args: argparse.Namespace) -> int:
    from smartwatch_dev.stack import images

    if args.name not in _image_names():
        print(f"smartwatch cluster image: no image {args.name!r} (one of "
              f"{', '.join(_image_names())})", file=sys.stderr)
        return 2
    cluster = _cluster(args)
    if not cluster.running():
        print("smartwatch cluster image: the cluster is not up (smartwatch cluster up)",
              file=sys.stderr)
        return 1
    ref = images.build(cluster, args.name, report=print, load=False)
    cluster.docker("tag", ref, args.tag)
    if args.push:
        cluster.docker("push", args.tag, timeout=3600)
    print(f"{args.name}: {args.tag} (built as {ref})")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    from pathlib import Path

    from smartwatch_dev.stack import release

    cluster = _cluster(args)
    sigterm_as_interrupt()
    try:
        target, notes, seconds = release.install(
            cluster, release=args.release, namespace=args.namespace,
            values=[release.KIND_VALUES, *map(Path, args.values)], sets=args.set,
            timeout=args.timeout, report=print)
    except KeyboardInterrupt:
        print("\ninterrupted: the cluster stays up (smartwatch cluster down removes it)",
              file=sys.stderr)
        return 130
    print(notes.rstrip())
    print(f"\nrelease {target.name} in namespace {target.namespace}: Ready in {seconds:.0f} s")
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from smartwatch_dev.stack.release import Release

    Release(_cluster(args), args.release, args.namespace).uninstall()
    print(f"release {args.release} uninstalled from namespace {args.namespace}")
    return 0
