"""A checkout's kind cluster: `smartwatch cluster up|down|status`, the way `stack` runs the
local processes. Dev tooling: the kind test tier and the Kubernetes issues use it.

- The cluster is named after its state folder (`smartwatch-<hash>`), and its kubeconfig, its
  record (cluster.json) and a private engine's data live in `<state>/cluster/`.
- The engine: the one the environment reaches (DOCKER_HOST or the default socket), or else a
  private dockerd (smartwatch_dev.stack.engine), started by `up` and stopped by `down`.
- The node image: SMARTWATCH_KIND_NODE_IMAGE, `local` (built by `make setup` from build/kind/,
  loaded from the cache's archives), `public` (KIND_NODE_IMAGE of versions.env) or any image
  reference. By default the public image where an engine already answers, the local one with a
  private engine.
- Where the engine cannot grant `--privileged` (this process lacks CAP_SYS_RESOURCE), kind runs
  with a `docker` shim first on its PATH that replaces only that flag: in `docker run` by every
  capability but CAP_SYS_RESOURCE, unconfined system paths and access to every device, and in
  `docker exec` by nothing (the process gets the container's capabilities). On a normal Docker
  host no shim is used.
- The cluster's Docker network is made before kind runs, on a subnet no host route uses, with
  a bridge named after the cluster, so that `down` and `leftovers` can find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from smartwatch_dev import toolchain
from smartwatch_dev.stack.engine import PrivateEngine, answers, docker_env, host_lacks_sys_resource
from smartwatch_dev.stack.process import load_record, save_record

NODE_IMAGE_SETTING = "SMARTWATCH_KIND_NODE_IMAGE"
KIND_LABEL = "io.x-k8s.kind.cluster"


def wants_local_images() -> bool:
    """Whether the kind tier here uses the node image built from build/kind/ (so that
    `make setup` builds it)."""
    return Cluster.node_image(private=not answers(None))[1]


def missing() -> str | None:
    """Why no kind cluster can run here (None: one can)."""
    try:
        toolchain.kind_bin()
        toolchain.kube_bin("kubectl")
    except toolchain.ToolMissing as exc:
        return str(exc)
    if shutil.which("docker") is None:
        return "no docker command: run `make setup` (as root it installs Debian's docker.io)"
    engine_answers = answers(None)
    if not engine_answers and (os.geteuid() != 0 or shutil.which("dockerd") is None):
        return "no Docker engine answers, and a private one needs root and dockerd"
    _, local = Cluster.node_image(private=not engine_answers)
    if local and not Path(toolchain.kind_images()["node_archive"]).exists():
        return ("the local kind node image is not built: run `make setup`"
                + ("" if engine_answers else " as root"))
    return None


def mounts_under(prefix: str) -> list[str]:
    """Mount points whose path starts with `prefix` (a state folder and its siblings that
    share its name as a prefix, as `stack leftovers` matches processes)."""
    with contextlib.suppress(OSError):
        return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith(prefix)]
    return []


def free_subnet(taken: list[str]) -> str:
    """A /24 in 172.28.0.0/14 that overlaps none of `taken` (host routes and networks)."""
    used = [ipaddress.ip_network(t, strict=False) for t in taken]
    for candidate in ipaddress.ip_network("172.28.0.0/14").subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise RuntimeError("no free /24 in 172.28.0.0/14 for the cluster's network")


SHIM = """#!/bin/bash
# kind's docker, for an engine that cannot grant --privileged (CAP_SYS_RESOURCE is missing
# here): `docker run --privileged` becomes every capability but CAP_SYS_RESOURCE, unconfined
# system paths and access to every device; `docker exec --privileged` drops the flag (the
# process gets the container's capabilities). Everything else goes to docker unchanged.
args=()
for a in "$@"; do
  if [[ "$a" == --privileged && "${{args[0]:-}}" == run ]]; then
    args+=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt systempaths=unconfined
           --security-opt label=disable "--device-cgroup-rule=a *:* rwm")
  elif [[ "$a" == --privileged && "${{args[0]:-}}" == exec ]]; then
    continue
  else
    args+=("$a")
  fi
done
exec {docker} "${{args[@]}}"
"""


class Cluster:
    def __init__(self, state_dir: str | Path) -> None:
        self.state = Path(state_dir).resolve()
        self.dir = self.state / "cluster"
        digest = hashlib.sha256(str(self.state).encode()).hexdigest()[:6]
        self.name = f"smartwatch-{digest}"
        self.context = f"kind-{self.name}"
        self.network = self.name
        self.bridge = f"sw-{digest}"
        self.kubeconfig = self.dir / "kubeconfig"
        self.file = self.dir / "cluster.json"
        self.private = PrivateEngine(self.dir / "docker")

    # -- records ---------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        return load_record(self.file)

    def _save(self, record: dict[str, Any]) -> None:
        save_record(self.file, record)

    # -- the engine and the node image -------------------------------------------------------
    def docker_host(self, record: dict[str, Any] | None = None) -> str | None:
        """The engine this cluster uses: None for the environment's own."""
        record = self._load() if record is None else record
        return self.private.host if record.get("engine", "private") == "private" else None

    def docker(self, *args: str, check: bool = True, timeout: float = 300,
               **kw: Any) -> subprocess.CompletedProcess[str]:
        """docker on this cluster's engine; with `check`, a failure raises naming the command
        and the end of what docker printed."""
        done = subprocess.run(["docker", *args], env=docker_env(self.docker_host()), text=True,
                              capture_output=True, timeout=timeout, **kw)
        if check and done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:2])} failed ({done.returncode}):\n"
                               f"{(done.stdout + done.stderr)[-3000:]}")
        return done

    @staticmethod
    def node_image(private: bool) -> tuple[str, bool]:
        """(image reference, whether it is the locally built one)."""
        choice = os.environ.get(NODE_IMAGE_SETTING, "").strip() or ("local" if private else "public")
        if choice == "local":
            return str(toolchain.kind_images()["node_image"]), True
        if choice == "public":
            return toolchain.versions()["KIND_NODE_IMAGE"], False
        return choice, False

    def base_image(self) -> str:
        """The Debian base that images for this cluster build on: the local one (loaded into
        the engine) with the local node image, Debian's public image otherwise."""
        if self._load().get("local_images"):
            return str(toolchain.kind_images()["base_image"])
        return f"debian:{toolchain.versions()['DEBIAN_SUITE']}-slim"

    def load_image(self, ref: str) -> None:
        """Put an image of this cluster's engine into the node's containerd (kind load)."""
        self.kind("load", "docker-image", ref, "--name", self.name, timeout=600)

    def _load_local_images(self, report) -> None:
        images = toolchain.kind_images()
        for ref, archive in ((images["base_image"], images["base_archive"]),
                             (images["node_image"], images["node_archive"])):
            if self.docker("image", "inspect", str(ref), check=False).returncode == 0:
                continue
            if not Path(archive).exists():
                raise toolchain.ToolMissing(f"the kind image {ref} is not built ({archive}): "
                                            "run `make setup` (as root where no Docker engine runs)")
            t0 = time.monotonic()
            self.docker("load", "-i", str(archive), timeout=900)
            report(f"image {ref}: loaded in {time.monotonic() - t0:.0f}s")

    def _ensure_network(self) -> str:
        found = self.docker("network", "inspect", self.network, "--format",
                            "{{range .IPAM.Config}}{{.Subnet}}{{end}}", check=False)
        if found.returncode == 0:
            return found.stdout.strip()
        routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
        taken = [line.split()[0] for line in routes.splitlines()
                 if line and line.split()[0][0].isdigit()]
        for net in self.docker("network", "ls", "-q").stdout.split():
            taken += self.docker("network", "inspect", net, "--format",
                                 "{{range .IPAM.Config}}{{.Subnet}} {{end}}").stdout.split()
        subnet = free_subnet([t for t in taken if ":" not in t])
        self.docker("network", "create", "--driver", "bridge", "--subnet", subnet,
                    "-o", f"com.docker.network.bridge.name={self.bridge}",
                    "-o", "com.docker.network.bridge.enable_ip_masquerade=false",
                    "--label", f"{KIND_LABEL}={self.name}", self.network)
        return subnet

    def _kind_config(self, local_image: bool) -> Path:
        cgroup = self.docker("info", "--format", "{{.CgroupVersion}}").stdout.strip()
        lines = ["kind: Cluster", "apiVersion: kind.x-k8s.io/v1alpha4",
                 "nodes:", "  - role: control-plane"]
        if local_image:
            # The node image carries its own CNI configuration (ptp and host-local) and no
            # kindnetd manifest.
            lines += ["networking:", "  disableDefaultCNI: true"]
        if cgroup == "1":
            # The kubelet of 1.35 and later refuses cgroup v1 unless told otherwise.
            lines += ["kubeadmConfigPatches:", "  - |", "    kind: KubeletConfiguration",
                      "    failCgroupV1: false"]
        path = self.dir / "kind-config.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _kind_env(self) -> dict[str, str]:
        env = docker_env(self.docker_host())
        env["KIND_EXPERIMENTAL_DOCKER_NETWORK"] = self.network
        if self._load().get("shim"):
            shim_dir = self.dir / "shim"
            env["PATH"] = f"{shim_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def tool_env(self) -> dict[str, str]:
        """What tools that drive this cluster themselves (skaffold, helm, kubectl, kind) need:
        its kubeconfig, its engine, its state folder (for skaffold's build command,
        `smartwatch cluster image`), and a PATH with the pinned kind, helm, kubectl and
        skaffold that make setup built, after the docker shim where kind needs one."""
        env = {"KUBECONFIG": str(self.kubeconfig), "SMARTWATCH_STATE_DIR": str(self.state)}
        host = self.docker_host()
        if host:
            env["DOCKER_HOST"] = host
        tools = [toolchain.kind_bin(), toolchain.helm_bin(), toolchain.kube_bin("kubectl")]
        with contextlib.suppress(toolchain.ToolMissing):
            tools.append(toolchain.skaffold_bin())
        path = [str(t.parent) for t in tools]
        if self._load().get("shim"):
            path.insert(0, str(self.dir / "shim"))
        env["PATH"] = os.pathsep.join([*dict.fromkeys(path), os.environ.get("PATH", "")])
        return env

    def kind(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kind on this cluster's engine, in a session of its own (a Ctrl-C reaches us, and
        we stop kind and clean up in order)."""
        proc = subprocess.Popen([str(toolchain.kind_bin()), *args], env=self._kind_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        if check and proc.returncode != 0:
            raise RuntimeError(f"kind {' '.join(args[:2])} failed ({proc.returncode}):\n{out[-4000:]}")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")

    # -- up / down -------------------------------------------------------------------------
    def running(self) -> bool:
        if not self._load() or not answers(self.docker_host(), timeout=5):
            return False
        found = self.docker("ps", "-q", "--filter", f"label={KIND_LABEL}={self.name}", check=False)
        return bool(found.stdout.strip())

    def up(self, report=lambda line: None) -> None:
        """Create the cluster (and start a private engine) unless it runs already. A failure or
        an interrupt removes whatever this call made, then re-raises."""
        if self.running():
            report(f"cluster {self.name}: already running")
            return
        t0 = time.monotonic()
        external = answers(None)
        image, local = self.node_image(private=not external)
        record: dict[str, Any] = {"name": self.name, "engine": "external" if external else "private",
                                  "image": image, "local_images": local, "shim": False}
        self._save(record)
        try:
            if not external:
                self.private.start(report)
                if host_lacks_sys_resource():
                    record["shim"] = True
                    shim = self.dir / "shim" / "docker"
                    shim.parent.mkdir(parents=True, exist_ok=True)
                    docker = shutil.which("docker") or "docker"
                    shim.write_text(SHIM.format(docker=docker))
                    shim.chmod(0o755)
            self._save(record)
            if local:
                self._load_local_images(report)
            record["subnet"] = self._ensure_network()
            self._save(record)
            report(f"cluster {self.name}: creating with {image} on network {self.network} "
                   f"({record['subnet']})")
            self.kind("create", "cluster", "--name", self.name, "--image", image,
                      "--kubeconfig", str(self.kubeconfig), "--config", str(self._kind_config(local)),
                      "--wait", "240s", timeout=900)
            self._wait_for_addons()
        except BaseException:
            report(f"cluster {self.name}: removing what was made")
            self.down(report)
            raise
        report(f"cluster {self.name}: up in {time.monotonic() - t0:.0f}s; "
               f"kubeconfig {self.kubeconfig}, context {self.context}")

    def _wait_for_addons(self, timeout: int = 300) -> None:
        """Wait until the cluster's own Deployments (CoreDNS, the storage provisioner) are
        Available: a cluster is up when DNS answers and volumes can be provisioned."""
        kubectl = [str(toolchain.kube_bin("kubectl")), "--kubeconfig", str(self.kubeconfig)]
        got = subprocess.run([*kubectl, "get", "deployments", "--all-namespaces", "-o",
                              "jsonpath={range .items[*]}{.metadata.namespace}{' '}{end}"],
                             capture_output=True, text=True, timeout=60, check=True)
        for namespace in sorted(set(got.stdout.split())):
            done = subprocess.run([*kubectl, "wait", "--namespace", namespace, "--for=condition=Available",
                                   "deployment", "--all", f"--timeout={timeout}s"],
                                  capture_output=True, text=True, timeout=timeout + 30)
            if done.returncode != 0:
                raise RuntimeError(f"the cluster's deployments in {namespace} are not available "
                                   f"after {timeout}s: {done.stderr.strip()}")

    def down(self, report=lambda line: None) -> None:
        record = self._load()
        host = self.docker_host(record)
        if record and answers(host, timeout=5):
            if self.docker("ps", "-aq", "--filter", f"label={KIND_LABEL}={self.name}",
                           check=False).stdout.strip():
                self.kind("delete", "cluster", "--name", self.name, "--kubeconfig",
                          str(self.kubeconfig), timeout=300, check=False)
                report(f"cluster {self.name}: deleted")
            for cid in self.docker("ps", "-aq", "--filter", f"label={KIND_LABEL}={self.name}",
                                   check=False).stdout.split():
                self.docker("rm", "-f", "-v", cid, check=False)
            if self.docker("network", "inspect", self.network, check=False).returncode == 0:
                self.docker("network", "rm", self.network, check=False)
        if record.get("engine", "private") == "private":
            self.private.stop(report)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
        for path in (self.kubeconfig, self.file):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.dir / "shim", ignore_errors=True)

    # -- reports -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        record = self._load()
        host = self.docker_host(record) if record else None
        up = self.running()
        nodes: list[dict[str, str]] = []
        if up and self.kubeconfig.exists():
            got = subprocess.run([str(toolchain.kube_bin("kubectl")), "--kubeconfig", str(self.kubeconfig),
                                  "get", "nodes", "-o", "json"], capture_output=True, text=True, timeout=30)
            if got.returncode == 0:
                for item in json.loads(got.stdout)["items"]:
                    ready = next((c["status"] for c in item["status"].get("conditions", [])
                                  if c["type"] == "Ready"), "Unknown")
                    nodes.append({"name": item["metadata"]["name"], "ready": ready,
                                  "version": item["status"]["nodeInfo"]["kubeletVersion"]})
        return {
            "name": self.name, "running": up,
            "health": "ok" if up and nodes and all(n["ready"] == "True" for n in nodes) else
            ("starting" if up else "down"),
            "kubeconfig": str(self.kubeconfig) if up else None, "context": self.context,
            "engine": record.get("engine"),
            "docker_host": host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            if record else None,
            "node_image": record.get("image"), "network": self.network if record else None,
            "subnet": record.get("subnet"), "nodes": nodes, "state_dir": str(self.dir),
        }

    def leftovers(self) -> list[str]:
        """What of this cluster still exists: processes and mounts of its private engine, and
        on any engine that answers, its containers and its network; its bridge on the host."""
        found = self.private.leftovers()
        found += [f"mount {m}" for m in mounts_under(str(self.state)) if f"mount {m}" not in found]
        for host in {self.private.host if self.private.running() else None, None}:
            if not answers(host, timeout=5):
                continue
            env = docker_env(host)
            ps = subprocess.run(["docker", "ps", "-a", "--filter", f"label={KIND_LABEL}={self.name}",
                                 "--format", "{{.Names}}"], env=env, capture_output=True, text=True)
            found += [f"container {n}" for n in ps.stdout.split()]
            nets = subprocess.run(["docker", "network", "ls", "--filter", f"name=^{self.network}$",
                                   "--format", "{{.Name}}"], env=env, capture_output=True, text=True)
            found += [f"network {n}" for n in nets.stdout.split()]
        if Path(f"/sys/class/net/{self.bridge}").exists():
            found.append(f"bridge {self.bridge}")
        return found
