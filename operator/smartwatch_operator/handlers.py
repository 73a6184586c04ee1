"""The kopf side of the operator: an index of the schedules' SparkApplications, one of their
failed drivers' termination messages, and one daemon a schedule that carries out
`reconcile.plan()`.

Everything is registered on a registry built by `build_registry(config)`, so the settings are
read once at start-up, and tests run the operator in-process (kopf's KopfRunner) with their
own clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kopf

from smartwatch import k8s
from smartwatch.k8s import RUN_NOW_ANNOTATION
from smartwatch.periods import Window
from smartwatch_operator import sparkapp
from smartwatch_operator.dirty import DirtyCounter
from smartwatch_operator.metrics import Metrics
from smartwatch_operator.policy import RunPolicy
from smartwatch_operator.reconcile import Plan, RunObserved, parse_time, plan

GROUP, VERSION, PLURAL = k8s.SCHEDULES.coordinates
SPARK_GROUP, SPARK_VERSION, SPARK_PLURAL = k8s.SPARK_APPLICATIONS.coordinates
MANAGED = {"app.kubernetes.io/managed-by": sparkapp.MANAGED_BY}
#: What holds every run back while the cluster serves no SparkApplication resource.
SPARK_MISSING = ("SparkOperatorMissing",
                 f"the cluster serves no {k8s.SPARK_APPLICATIONS.kind} resource "
                 f"({k8s.SPARK_APPLICATIONS.api_version}): install spark-operator; the due "
                 "windows wait")


class SparkOperatorMissing(Exception):
    """Creating a run found no SparkApplication resource on the cluster."""
WORKER_LIMIT, POSTING_LIMIT = 50, 8

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class OperatorConfig:
    """Settings read once at start-up. `clock` gives "now" to the scheduler (tests inject
    their own); `tick` is how often each schedule is looked at, in seconds."""

    kubeconfig: Path | None = None
    tick: float = 1.0
    clock: Callable[[], dt.datetime] = utc_now
    metrics: Metrics | None = None  # counted when given (the operator's /metrics)
    dirty: DirtyCounter | None = None  # status.dirtyDates of dirty schedules, when given
    spark_check_seconds: float = 30.0  # how long "is spark-operator's resource served?" holds
    policy: RunPolicy = dataclasses.field(default_factory=RunPolicy)  # none: anything runs


class KubeApi:
    """The few calls the operator makes itself, on the official client, off the event loop.
    Runs are created and deleted on their own threads, so when many windows fall due at once
    their creation does not queue behind status writes."""

    RUN_THREADS, STATUS_THREADS = 8, 2

    def __init__(self, kubeconfig: Path | None, spark_check_seconds: float = 30.0) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from kubernetes import client, config

        cfg = client.Configuration()
        if kubeconfig is None:
            config.load_incluster_config(client_configuration=cfg)
        else:
            config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = self.RUN_THREADS + self.STATUS_THREADS
        self.api_client = client.ApiClient(cfg)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.errors = client.ApiException
        self._runs = ThreadPoolExecutor(self.RUN_THREADS, thread_name_prefix="runs")
        self._spark_served: tuple[float, bool] | None = None  # (when checked, the answer)
        self._spark_check_seconds = spark_check_seconds
        self._status = ThreadPoolExecutor(self.STATUS_THREADS, thread_name_prefix="status")

    async def _call(self, pool: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            pool, functools.partial(fn, *args, **kwargs))

    async def create_run(self, body: dict[str, Any]) -> bool:
        """Create a SparkApplication; False when it exists already (it is then the same run).
        SparkOperatorMissing when the cluster serves no such resource."""
        try:
            await self._call(self._runs, self.custom.create_namespaced_custom_object,
                             SPARK_GROUP, SPARK_VERSION, body["metadata"]["namespace"],
                             SPARK_PLURAL, body)
            return True
        except self.errors as exc:
            if exc.status == 409:
                return False
            if exc.status == 404 and not self._discover_spark():
                self._spark_served = (time.monotonic(), False)
                raise SparkOperatorMissing(SPARK_MISSING[1]) from None
            raise

    async def spark_served(self) -> bool:
        """Whether the cluster serves spark-operator's SparkApplication resource (API
        discovery, which every authenticated client may read), checked at most every
        spark_check_seconds for all schedules."""
        now = time.monotonic()
        if self._spark_served is None or now - self._spark_served[0] >= self._spark_check_seconds:
            self._spark_served = (now, await self._call(self._status, self._discover_spark))
        return self._spark_served[1]

    def _discover_spark(self) -> bool:
        try:
            found = self.custom.get_api_resources(SPARK_GROUP, SPARK_VERSION)
        except self.errors as exc:
            if exc.status == 404:
                return False
            raise
        return any(r.name == SPARK_PLURAL for r in found.resources or [])

    async def delete_run(self, namespace: str, name: str) -> None:
        try:
            await self._call(self._runs, self.custom.delete_namespaced_custom_object,
                             SPARK_GROUP, SPARK_VERSION, namespace, SPARK_PLURAL, name,
                             propagation_policy="Background")
        except self.errors as exc:
            if exc.status != 404:
                raise

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._call(self._status, self.custom.patch_namespaced_custom_object_status,
                         GROUP, VERSION, namespace, PLURAL, name, {"status": status})

    async def remove_annotation(self, namespace: str, name: str, key: str) -> None:
        await self._call(self._status, self.custom.patch_namespaced_custom_object, GROUP,
                         VERSION, namespace, PLURAL, name,
                         {"metadata": {"annotations": {key: None}}})

    def connection(self) -> kopf.ConnectionInfo:
        cfg = self.api_client.configuration
        # The client keeps a token as "authorization": "<scheme> <token>".
        scheme, _, token = (cfg.api_key.get("authorization") or "").partition(" ")
        return kopf.ConnectionInfo(
            server=cfg.host, ca_path=cfg.ssl_ca_cert, insecure=not cfg.verify_ssl,
            certificate_path=cfg.cert_file, private_key_path=cfg.key_file,
            scheme=scheme or None, token=token or None)


#: The label spark-operator gives a SparkApplication's driver pod: the application's name.
DRIVERS = {**MANAGED, "spark-role": "driver"}


def driver_message(pod: dict[str, Any]) -> str:
    """The termination message of a pod's failed Spark driver container ("" if none): the
    job's error line (smartwatch_jobs.submit)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == sparkapp.DRIVER_CONTAINER:
            terminated = (status.get("state") or {}).get("terminated") or {}
            if terminated.get("exitCode"):
                return str(terminated.get("message") or "").strip()
    return ""


def with_causes(runs: Any, causes: Any, namespace: str) -> dict[str, RunObserved]:
    """The runs by name, a failed one's message followed by its driver's termination message
    (what the job said went wrong), when that is known."""
    out = {}
    for run in runs:
        cause = next(iter(causes.get((namespace, run.name), [])), "")
        if cause and cause not in run.message:
            run = dataclasses.replace(run, message=f"{run.message}: {cause}" if run.message
                                      else cause)
        out[run.name] = run
    return out


def _observed(body: kopf.Body) -> RunObserved:
    status = body.get("status") or {}
    app = status.get("applicationState") or {}
    return RunObserved(name=body["metadata"]["name"], state=app.get("state", "") or "",
                       message=app.get("errorMessage", "") or "",
                       created=body["metadata"].get("creationTimestamp"),
                       finished=status.get("terminationTime"))


def build_registry(config: OperatorConfig) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    state: dict[str, KubeApi] = {}

    def kube() -> KubeApi:
        if "kube" not in state:
            state["kube"] = KubeApi(config.kubeconfig, config.spark_check_seconds)
        return state["kube"]

    @kopf.on.startup(registry=registry, id="configure")
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        _configure(settings)

    @kopf.on.login(registry=registry, id="login")
    def login(**_: Any) -> kopf.ConnectionInfo:
        if config.kubeconfig is None:
            return kopf.login_with_service_account(**_)  # type: ignore[return-value]
        return kube().connection()

    @kopf.index(SPARK_GROUP, SPARK_VERSION, SPARK_PLURAL, labels=MANAGED, registry=registry,
                id="schedule_runs")
    def schedule_runs(*, body: kopf.Body, namespace: str | None,
                      **_: Any) -> dict[tuple[str | None, str], RunObserved]:
        owners = [o["name"] for o in body["metadata"].get("ownerReferences") or []
                  if o.get("kind") == k8s.SCHEDULES.kind]
        return {(namespace, owner): _observed(body) for owner in owners}

    @kopf.index("", "v1", "pods", labels=DRIVERS, registry=registry, id="run_causes")
    def run_causes(*, body: kopf.Body, namespace: str | None,
                   **_: Any) -> dict[tuple[str | None, str], str]:
        app = (body["metadata"].get("labels") or {}).get(k8s.APP_NAME_LABEL)
        message = driver_message(dict(body))
        return {(namespace, app): message} if app and message else {}

    @kopf.daemon(GROUP, VERSION, PLURAL, registry=registry, id="schedule",
                 cancellation_timeout=10)
    async def schedule(*, body: kopf.Body, name: str, namespace: str | None,
                       stopped: kopf.DaemonStopped, **kwargs: Any) -> None:
        """One loop a schedule (_schedule_loop); kopf hands the index by its id."""
        assert namespace is not None  # AggregationSchedules are namespaced
        await _schedule_loop(kube(), config, body, name, namespace, stopped,
                             kwargs["schedule_runs"], kwargs["run_causes"])

    return registry


def _configure(settings: kopf.OperatorSettings) -> None:
    # Events are posted by the handlers; kopf's own log lines are not.
    settings.posting.level = logging.CRITICAL
    settings.watching.server_timeout = 300
    settings.persistence.finalizer = k8s.FINALIZER
    # kopf opens one TLS connection per concurrent request, without a limit: bound the
    # per-object workers and the Event posters, so that 1,000 schedules created (or due)
    # at once do not mean 1,000 connections and their buffers.
    # A worker keeps its slot while it waits for more of its object's events: not long.
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.queueing.idle_timeout = 0.2
    settings.posting.worker_limit = POSTING_LIMIT
    settings.posting.idle_timeout = 0.1


async def _schedule_loop(api: KubeApi, config: OperatorConfig, body: kopf.Body, name: str,
                         namespace: str, stopped: kopf.DaemonStopped,
                         schedule_runs: kopf.Index, run_causes: kopf.Index) -> None:
    """One loop a schedule. Each tick costs a comparison; the plan is made only when
    something it depends on changed: the spec, the run-now annotation, a run's state, or
    the time reached the next fire or retry."""
    written: dict[str, Any] = {}
    seen: tuple[Any, ...] | None = None
    wake_at: dt.datetime | None = None
    while not stopped:
        now = config.clock()
        store: Any = schedule_runs.get((namespace, name), [])
        annotations = body["metadata"].get("annotations") or {}
        dirty = await config.dirty.count(namespace, body["spec"]) if config.dirty else None
        violation = config.policy.violation(body["spec"])
        blocked = ("PolicyViolation", violation) if violation else \
            None if await api.spark_served() else SPARK_MISSING
        fingerprint = (body["metadata"].get("generation"), annotations.get(RUN_NOW_ANNOTATION),
                       frozenset((r.name, r.state) for r in store), dirty, blocked)
        if fingerprint != seen or wake_at is None or now >= wake_at:
            t0 = time.perf_counter()
            # The status this loop wrote last, when the watch has not delivered it yet.
            status = dict(body.get("status") or {})
            if written.get("revision", 0) > status.get("revision", 0):
                status = written
            result = plan(name, dict(body["spec"]), status,
                          with_causes(store, run_causes, namespace), now,
                          created=parse_time(body["metadata"].get("creationTimestamp")),
                          run_now=annotations.get(RUN_NOW_ANNOTATION),
                          generation=body["metadata"].get("generation"), blocked=blocked)
            if dirty is not None:
                result.status["dirtyDates"] = dirty
            await _carry_out(api, body, result, namespace)
            if _changed(status, result.status):
                result.status["revision"] = status.get("revision", 0) + 1
                await api.patch_status(namespace, name, {
                    k: result.status.get(k) for k in set(status) | set(result.status)})
                written = result.status
            if result.remove_run_now:
                await api.remove_annotation(namespace, name, RUN_NOW_ANNOTATION)
            # After creating runs, plan again at the next tick: a run found there already (a
            # restart after it was created) may have ended, and its state will not change.
            seen, wake_at = (None if result.create else fingerprint), result.wake_at
            if config.metrics is not None:
                config.metrics.observe(body["spec"].get("granularity", ""), result,
                                       time.perf_counter() - t0)
        # A plain sleep, as kopf recommends for async daemons: its `await stopped.wait(t)`
        # rests on asyncio.wait_for, which on Python 3.11 can turn the stop's cancellation into
        # a TimeoutError that fails the operator's shutdown. The loop sees `stopped` each tick.
        await asyncio.sleep(config.tick)


def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return {k: v for k, v in old.items() if k != "revision"} != \
        {k: v for k, v in new.items() if k != "revision"}


async def _carry_out(kube: KubeApi, body: kopf.Body, result: Plan, namespace: str) -> None:
    schedule = {"metadata": {"name": body["metadata"]["name"], "namespace": namespace,
                             "uid": body["metadata"]["uid"]},
                "spec": dict(body["spec"])}
    for request in result.create:
        window: Window = request.window
        app = sparkapp.build(schedule, window, request.kind, request.attempt, request.fire_time)
        try:
            created = await kube.create_run(app)
        except SparkOperatorMissing as exc:  # gone since the last check: the deadline fails it
            log.warning("%s not created: %s", request.name, exc)
            break
        if not created:
            log.info("%s exists already: the window's run was created before", request.name)
    for run in result.delete:
        await kube.delete_run(namespace, run)
    for kind, reason, message in result.events:
        kopf.event(body, type=kind, reason=reason, message=message)
