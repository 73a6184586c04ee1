"""The chart installed on the checkout's kind cluster (dev tooling): `smartwatch cluster
install` builds or takes the images from the cache, loads them into the node and runs
`helm upgrade --install` with charts/smartwatch/ci/kind.yaml and the images' references."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from smartwatch_dev import toolchain
from smartwatch_dev.stack import images
from smartwatch_dev.stack.cluster import Cluster

CHART = toolchain.REPO_ROOT / "charts" / "smartwatch"
KIND_VALUES = CHART / "ci" / "kind.yaml"

#: Where each image's reference goes in the chart's values.
IMAGE_VALUES = {"smartwatch": "image", "smartwatch-spark": "sparkImage",
                "smartwatch-kafka": "kafka.embedded.image",
                "smartwatch-postgres": "postgres.embedded.image",
                "smartwatch-objectstore": "objectStore.embedded.image"}


@dataclass
class Release:
    """A release of the chart on a cluster: helm with the cluster's kubeconfig."""

    cluster: Cluster
    name: str = "smartwatch"
    namespace: str = "smartwatch"

    def helm(self, *args: str, timeout: float = 1200, check: bool = True
             ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        done = subprocess.run([str(toolchain.helm_bin()), "--namespace", self.namespace, *args],
                              env=env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"helm {' '.join(args[:2])} failed ({done.returncode}): "
                               f"{(done.stdout + done.stderr).strip()[-3000:]}")
        return done

    def image_values(self, refs: dict[str, str]) -> list[str]:
        """`--set` arguments putting each image's reference in its values."""
        sets: list[str] = []
        for name, ref in refs.items():
            repository, tag = ref.rsplit(":", 1)
            path = IMAGE_VALUES[name]
            sets += ["--set", f"{path}.repository={repository}", "--set", f"{path}.tag={tag}",
                     "--set", f"{path}.pullPolicy=Never"]
        return sets

    def install(self, refs: dict[str, str], *, values: Sequence[Path] = (KIND_VALUES,),
                sets: Sequence[str] = (), timeout: int = 900) -> tuple[str, float]:
        """`helm upgrade --install ... --wait`: what helm printed (NOTES.txt) and the seconds
        until every workload was Ready."""
        start = time.monotonic()
        args = ["upgrade", "--install", self.name, str(CHART), "--create-namespace", "--wait",
                "--wait-for-jobs", "--timeout", f"{timeout}s"]
        for path in values:
            args += ["--values", str(path)]
        for item in sets:
            args += ["--set", item]
        done = self.helm(*args, *self.image_values(refs), timeout=timeout + 120)
        return done.stdout, time.monotonic() - start

    def uninstall(self, timeout: int = 300) -> None:
        self.helm("uninstall", self.name, "--wait", "--timeout", f"{timeout}s",
                  timeout=timeout + 60)


def install(cluster: Cluster, *, release: str = "smartwatch", namespace: str = "smartwatch",
            values: Sequence[Path] = (KIND_VALUES,), sets: Sequence[str] = (),
            timeout: int = 900, report=lambda line: None) -> tuple[Release, str, float]:
    """The cluster up (made if it is not), every image built or taken from the cache and
    loaded, the chart installed and Ready: the release, helm's notes and the install's
    seconds."""
    if cluster.status()["health"] != "ok":
        cluster.up(report=report)
    refs = images.build_all(cluster, report=report)
    target = Release(cluster, release, namespace)
    notes, seconds = target.install(refs, values=values, sets=sets, timeout=timeout)
    return target, notes, seconds
