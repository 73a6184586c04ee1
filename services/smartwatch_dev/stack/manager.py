"""Brings the local stack up and down and reports on it.

The state folder holds one subfolder per component (data, config, log) and stack.json, which
records what runs (pid, ports, addresses). Each start is recorded as soon as it happens, so a
`down` from another shell stops whatever an interrupted `up` left behind.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from smartwatch.settings import Settings
from smartwatch_dev.stack.api import Api
from smartwatch_dev.stack.kafka import Kafka
from smartwatch_dev.stack.kube import Etcd, KubeApiserver
from smartwatch_dev.stack.postgres import Postgres
from smartwatch_dev.stack.process import alive, leftovers, load_record, save_record, stop
from smartwatch_dev.toolchain import REPO_ROOT

COMPONENTS = ("postgres", "kafka", "etcd", "kube-apiserver", "api")
# Components another one needs, started first when it is asked for.
NEEDS = {"kube-apiserver": ("etcd",), "api": ("postgres", "kafka")}
# How each component prefers to be asked to stop.
STOP_SIGNAL = {"postgres": signal.SIGINT}  # Postgres: fast shutdown


def default_state_dir() -> Path:
    """The local stack's state folder: SMARTWATCH_STATE_DIR, else `.stack/dev` in the checkout.
    A setting of the dev tooling only: nothing that runs in a pod has a state folder."""
    return Path(os.environ.get("SMARTWATCH_STATE_DIR") or REPO_ROOT / ".stack" / "dev")


class Stack:
    def __init__(self, settings: Settings, state_dir: str | Path | None = None) -> None:
        self.settings = settings
        self.state = Path(state_dir or default_state_dir()).resolve()
        self.file = self.state / "stack.json"
        self._components: dict[str, Any] = {
            "postgres": Postgres(self.state),
            "kafka": Kafka(self.state, {settings.events_topic: settings.topic_partitions,
                                        settings.dead_letter_topic: settings.topic_partitions}),
            "etcd": Etcd(self.state),
            "kube-apiserver": KubeApiserver(self.state),
            "api": Api(self.state),
        }

    # -- records ---------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        return load_record(self.file)

    def _save(self, records: dict[str, Any]) -> None:
        save_record(self.file, records)

    def _running(self, record: dict[str, Any] | None) -> bool:
        return record is not None and alive(int(record.get("pid", 0)), str(self.state))

    def external(self) -> dict[str, str]:
        """Components the settings point elsewhere, so the stack does not start them."""
        out = {}
        if self.settings.kafka_bootstrap:
            out["kafka"] = self.settings.kafka_bootstrap
        if self.settings.postgres_dsn:
            out["postgres"] = self.settings.postgres_dsn
        if self.settings.kubeconfig:
            out["etcd"] = out["kube-apiserver"] = str(self.settings.kubeconfig)
        return out

    # -- up / down -------------------------------------------------------------------------
    def up(self, only: tuple[str, ...] = COMPONENTS, report=lambda line: None) -> None:
        """Start the requested components (in dependency order) that are not running yet.
        Any failure or interrupt stops what this call started, then re-raises."""
        wanted = [c for c in COMPONENTS
                  if c in only or any(c in NEEDS.get(o, ()) for o in only)]
        started: list[str] = []
        try:
            for name in wanted:
                if name in self.external():
                    report(f"{name}: external ({self.external()[name]})")
                    continue
                records = self._load()
                previous = records.get(name)
                if previous is not None and self._running(previous):
                    report(f"{name}: already running (pid {previous['pid']})")
                    continue
                component = self._components[name]
                if name == "kube-apiserver":
                    record = component.start(previous, records["etcd"])
                elif name == "api":
                    record = component.start(previous, self.kafka_bootstrap(records),
                                             self.postgres_dsn(records), self.settings.api_auth,
                                             self.settings.api_workers)
                else:
                    record = component.start(previous)
                started.append(name)
                records = self._load()
                records[name] = record
                self._save(records)
                report(f"{name}: up at {record['address']} (pid {record['pid']})")
        except BaseException:
            self.down(only=tuple(started), everything_else_too=False)
            raise

    def down(self, only: tuple[str, ...] = COMPONENTS, everything_else_too: bool = True,
             report=lambda line: None) -> None:
        """Stop components in reverse order; with `everything_else_too`, also any process
        that still mentions the state folder (what a killed `up` may have left)."""
        records = self._load()
        for name in reversed(COMPONENTS):
            if name not in only or name not in records:
                continue
            record = records[name]
            if self._running(record):
                stop(int(record["pid"]), str(self.state), sig=STOP_SIGNAL.get(name, signal.SIGTERM))
                report(f"{name}: stopped (pid {record['pid']})")
            records.pop(name)
            self._save(records)
        if everything_else_too:
            for pid, line in leftovers(str(self.state)):
                stop(pid, str(self.state))
                report(f"stopped stray process {pid}: {line[:80]}")

    def kafka_bootstrap(self, records: dict[str, Any] | None = None) -> str | None:
        records = self._load() if records is None else records
        return self.settings.kafka_bootstrap or (records.get("kafka") or {}).get("bootstrap")

    def postgres_dsn(self, records: dict[str, Any] | None = None) -> str | None:
        records = self._load() if records is None else records
        return self.settings.postgres_dsn or (records.get("postgres") or {}).get("dsn")

    def locations(self) -> dict[str, str]:
        """Where the landing job writes: the settings' URIs, else folders of this stack."""
        s = self.settings
        # file:// and the plain path (Hadoop does not decode %-escapes of Path.as_uri()).
        return {"lake": s.lake_uri or f"file://{self.state / 'lake'}",
                "quarantine": s.quarantine_uri or f"file://{self.state / 'quarantine'}",
                "checkpoint": s.checkpoint_uri or f"file://{self.state / 'checkpoints' / 'landing'}"}

    def purge(self, report=lambda line: None) -> None:
        """Stop everything (the state folder's kind cluster and its engine too) and delete the
        state folder, with the Postgres folder placed outside it when the checkout was out of
        the postgres user's reach."""
        import shutil

        from smartwatch_dev.stack.cluster import Cluster

        self.down(report=report)
        Cluster(self.state).down(report=report)
        moved = self.state / "postgres" / "server-dir"
        if moved.exists():
            shutil.rmtree(moved.read_text().strip(), ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)
        report(f"deleted {self.state}")

    # -- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        records = self._load()
        rows = []
        for name in COMPONENTS:
            if name in self.external():
                rows.append({"component": name, "address": self.external()[name], "pid": None,
                             "health": "external", "log": None})
                continue
            record = records.get(name)
            if not self._running(record):
                rows.append({"component": name, "address": None, "pid": None,
                             "health": "stopped", "log": None})
                continue
            assert record is not None
            ok = self._components[name].healthy(record)
            rows.append({"component": name, "address": record["address"], "pid": record["pid"],
                         "health": "ok" if ok else "unhealthy", "log": record["log"]})
        return {
            "state_dir": str(self.state),
            "components": rows,
            "kafka_bootstrap": self.kafka_bootstrap(records),
            "postgres_dsn": self.postgres_dsn(records),
            "kubeconfig": str(self.settings.kubeconfig) if self.settings.kubeconfig
            else (records.get("kube-apiserver") or {}).get("kubeconfig"),
            "topics": {"events": self.settings.events_topic,
                       "dead_letter": self.settings.dead_letter_topic},
            "api_url": (records.get("api") or {}).get("url") if self._running(records.get("api"))
            else None,
            "api_admin_token_file": (records.get("api") or {}).get("admin_token_file"),
            "api_auth": (records.get("api") or {}).get("auth"),
            **{f"{k}_uri": v for k, v in self.locations().items()},
        }

    def leftovers(self) -> list[tuple[int, str]]:
        return leftovers(str(self.state))
