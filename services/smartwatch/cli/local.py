"""Stack discovery: the local CLI's one convenience, kept in this module.

A command names the settings it needs. Those the environment gives (SMARTWATCH_*) are used as
given. Only when one is missing is the local stack in `--state-dir` asked for it, and one line
on stderr says which settings came from there. So a command whose needed settings are all in
the environment (a pod) never looks at the local stack, whose folder need not even exist.
`db migrate` (the chart's init container) asks nothing of the stack.

The Spark commands also get the jars, the Java and its ahead-of-time cache from the set-up
cache (`smartwatch_dev.toolchain`) where the settings name none, unless spark-submit runs them or
SPARK_HOME names the Spark to use (the image's: its jars and Java apply then).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smartwatch.settings import Settings, get_settings

#: The settings the local stack can fill, and the key of `Stack.status()` that holds each.
FROM_STACK = {"kafka_bootstrap": "kafka_bootstrap", "postgres_dsn": "postgres_dsn",
              "admin_token_file": "api_admin_token_file", "lake_uri": "lake_uri",
              "quarantine_uri": "quarantine_uri", "checkpoint_uri": "checkpoint_uri"}


def env_name(setting: str) -> str:
    return f"SMARTWATCH_{setting.upper()}"


def _given(settings: Settings, name: str) -> bool:
    if name == "admin_token_file":  # the admin token, either way it can be given
        return settings.admin_token is not None or settings.admin_token_file is not None
    return bool(getattr(settings, name))


def stack_status(settings: Settings, state_dir: str | None) -> dict[str, Any]:
    """The local stack's status; nothing but its folder where no stack was ever started there
    (no record): then no setting is taken from it, and the command names what is missing."""
    try:
        from smartwatch_dev.stack import Stack
    except ModuleNotFoundError:  # the runtime alone (an image): there is no local stack to ask
        return {"state_dir": state_dir or "(no local stack: the dev tooling is not installed)"}
    stack = Stack(settings, state_dir)
    if not stack.file.exists():
        return {"state_dir": str(stack.state)}
    return stack.status()


def report(taken: Sequence[str], state: str) -> None:
    """The one line that says what the local stack gave."""
    if taken:
        print(f"smartwatch: from the local stack in {state}: {', '.join(taken)}",
              file=sys.stderr)


def settings_for(needs: Sequence[str], state_dir: str | None,
                 settings: Settings | None = None) -> Settings:
    """`settings` (default: the environment's) with those of `needs` it lacks filled from the
    local stack, where the stack has them. The stack is not asked when nothing is missing."""
    settings = get_settings() if settings is None else settings
    missing = [name for name in needs if not _given(settings, name)]
    if not missing:
        return settings
    status = stack_status(settings, state_dir)
    update: dict[str, Any] = {name: status[FROM_STACK[name]] for name in missing
                              if status.get(FROM_STACK[name])}
    if "admin_token_file" in update:
        update["admin_token_file"] = Path(update["admin_token_file"])
    report([env_name(name) for name in update], status["state_dir"])
    return settings.model_copy(update=update)


def need_dsn(settings: Settings) -> str:
    if not settings.postgres_dsn:
        raise RuntimeError("no Postgres: set SMARTWATCH_POSTGRES_DSN or run `smartwatch stack up`")
    return settings.postgres_dsn


def spark_settings(settings: Settings) -> Settings:
    """The set-up cache's connector jars, Java and ahead-of-time cache for a local Spark
    session, each where the settings name none; under spark-submit, or where SPARK_HOME names
    a Spark installation (the smartwatch-spark image: its jars/ hold the connectors, JAVA_HOME
    its Java), the settings as they are: the set-up cache is not consulted."""
    import os

    from smartwatch_jobs.spark import submitted

    if submitted() or os.environ.get("SPARK_HOME"):
        return settings
    from smartwatch_dev import toolchain

    update: dict[str, Any] = {}
    if not settings.spark_jars:
        update["spark_jars"] = toolchain.spark_jars()
    java_home = settings.spark_java_home
    if java_home is None:
        java_home = update["spark_java_home"] = toolchain.spark_java_home()
    if settings.spark_aot_cache is None:
        update["spark_aot_cache"] = toolchain.spark_aot_cache(java_home)
    return settings.model_copy(update=update)


def api_target(state_dir: str | None, url: str | None, admin_token: str | None,
               need_token: bool) -> tuple[str | None, str | None]:
    """The API to send to and the admin token: as given (options, then the environment's
    settings), else the local stack's API and its token."""
    settings = get_settings()
    token = admin_token or settings.admin_secret()
    if url and (token or not need_token):
        return url, token
    status = stack_status(settings, state_dir)
    taken = []
    if not url and status.get("api_url"):
        url = status["api_url"]
        taken.append("the API URL")
    if need_token and not token and status.get("api_admin_token_file"):
        token = settings.model_copy(
            update={"admin_token_file": Path(status["api_admin_token_file"])}).admin_secret()
        taken.append("the admin token")
    report(taken, status["state_dir"])
    return url, token


def kubeconfig(given: Path | None, state_dir: str | None) -> Path | None:
    """The kubeconfig given (option, then SMARTWATCH_KUBECONFIG), else the local stack's."""
    settings = get_settings()
    if given or settings.kubeconfig:
        return given or settings.kubeconfig
    status = stack_status(settings, state_dir)
    if not status.get("kubeconfig"):
        return None
    report([env_name("kubeconfig")], status["state_dir"])
    return Path(status["kubeconfig"])
