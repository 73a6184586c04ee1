"""Test tiers and the shared local stack.

Tiers are pytest markers, by what a test needs: unit (Python only), spark (pyspark and Java:
a local Spark session on small frames), helm (helm only: the chart's render tests),
integration (real Kafka, Postgres, Spark), k8s (real kube-apiserver and etcd), kind (a kind
cluster, needs Docker). `make test` runs the first three first, stopping at their first
failure, then the others. A tier whose
prerequisites are missing is skipped with the reason, and the summary at the end names every
skipped tier: nothing is skipped silently.

All integration and k8s tests share one stack in `.stack/test-<pid>`, started lazily (only
the components a test asks for) and stopped at the end of the session, after which no process
that mentions its state folder may remain.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartwatch.settings import Settings
from smartwatch_dev import toolchain
from smartwatch_dev.stack import Stack
from tests.figures import FIGURES

TIERS = ("unit", "spark", "helm", "integration", "k8s", "kind")


def _tools_missing(*tools: Callable[[], object]) -> str | None:
    """Why a tier cannot run: the first of its set-up tools that is missing, else None."""
    try:
        for tool in tools:
            tool()
    except toolchain.ToolMissing as exc:
        return str(exc)
    return None


def k8s_missing() -> str | None:
    return _tools_missing(toolchain.etcd_bin, lambda: toolchain.kube_bin("kube-apiserver"),
                          lambda: toolchain.kube_bin("kubectl"))


def _kind_missing() -> str | None:
    from smartwatch_dev.stack.cluster import missing

    return missing()


CHECKS: dict[str, Callable[[], str | None]] = {
    "spark": lambda: _tools_missing(toolchain.java_bin, toolchain.spark_jars),
    "helm": lambda: _tools_missing(toolchain.helm_bin),
    "integration": lambda: _tools_missing(toolchain.java_bin, toolchain.kafka_libs,
                                          toolchain.postgres_bin_dir, toolchain.spark_jars),
    "k8s": k8s_missing, "kind": _kind_missing}
_skipped_tiers: dict[str, str] = {}
_tier_counts: dict[str, int] = dict.fromkeys(TIERS, 0)


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected: count what runs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {}
    for item in items:
        tiers = [t for t in TIERS if item.get_closest_marker(t)]
        _item_tiers[item.nodeid] = tiers
        if not tiers:
            raise pytest.UsageError(f"{item.nodeid} has no tier marker ({', '.join(TIERS)})")
        for tier in tiers:
            _tier_counts[tier] += 1
            if tier in CHECKS and tier not in reasons:
                reasons[tier] = CHECKS[tier]()
            if reasons.get(tier):
                _skipped_tiers[tier] = reasons[tier]
                item.add_marker(pytest.mark.skip(reason=f"{tier} tier: {reasons[tier]}"))


_tier_seconds: dict[str, float] = dict.fromkeys(TIERS, 0.0)
_item_tiers: dict[str, list[str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each tier's time: its tests' setup, call and teardown (module fixtures included)."""
    for tier in _item_tiers.get(report.nodeid, ()):
        _tier_seconds[tier] += report.duration


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s" if seconds >= 60 else f"{seconds:.0f} s"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    terminalreporter.section("test tiers")
    for tier in TIERS:
        count = _tier_counts[tier]
        if tier in _skipped_tiers:
            terminalreporter.write_line(f"{tier}: SKIPPED ({count} tests): {_skipped_tiers[tier]}")
        elif count:
            terminalreporter.write_line(
                f"{tier}: ran ({count} tests, {_minutes(_tier_seconds[tier])})")
        else:
            terminalreporter.write_line(f"{tier}: no tests selected")
    if FIGURES:
        terminalreporter.section("measured")
        terminalreporter.write_line(f"on {_machine()}")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.machine())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB"


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    state = toolchain.REPO_ROOT / ".stack" / f"test-{os.getpid()}"
    # The tests' own stack: never an external Kafka, Postgres or cluster from the environment.
    settings = Settings(kafka_bootstrap=None, postgres_dsn=None, kubeconfig=None)
    st = Stack(settings, state)
    try:
        yield st
    finally:
        st.down()
        left = st.leftovers()
        if request.session.testsfailed == 0:  # keep the logs of a failed run to read
            st.purge()
        assert not left, f"processes left running after the test session: {left}"


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: Stack) -> str:
    stack.up(only=("kafka",))
    return str(stack.status()["kafka_bootstrap"])


@pytest.fixture(scope="session")
def postgres_dsn(stack: Stack) -> str:
    stack.up(only=("postgres",))
    return str(stack.status()["postgres_dsn"])


@pytest.fixture(scope="session")
def kubeconfig(stack: Stack) -> Path:
    stack.up(only=("kube-apiserver",))
    return Path(stack.status()["kubeconfig"])


@pytest.fixture(scope="session")
def spark():
    """One local Spark session, built as the jobs build theirs (connector jars as local files,
    UTC session time zone)."""
    from smartwatch_jobs.spark import quiet, session

    spark_session = quiet(session("smartwatch-tests",
                                  Settings(spark_master="local[2]", **toolchain.spark_settings()), 4))
    try:
        yield spark_session
    finally:
        spark_session.stop()


@pytest.fixture(scope="session")
def api(stack: Stack):
    """The ingest API of the test stack (a real uvicorn process, auth on), with the registry
    it uses and the admin token."""
    stack.up(only=("api",))
    status = stack.status()
    return {"url": status["api_url"],
            "admin_token": Path(status["api_admin_token_file"]).read_text().strip(),
            "bootstrap": status["kafka_bootstrap"], "dsn": status["postgres_dsn"],
            "events_topic": stack.settings.events_topic,
            "dead_letter_topic": stack.settings.dead_letter_topic,
            "state_dir": str(stack.state)}
