"""The file spark-submit runs in the Spark image (the SparkApplications' mainApplicationFile,
`local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py`): its arguments are a job's command
line (`smartwatch_jobs.commands`, the same as the `smartwatch` CLI's), e.g.

    spark-submit local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py \\
        aggregate --granularity daily --from 2026-01-01 --to 2026-01-31 --run-name NAME

and it exits with that command's code. When it fails, its error line (the last line it wrote
to stderr that names the command, else the exception) is the container's termination message
(`/dev/termination-log`, where Kubernetes looks by default), which the operator reports as
the failed run's reason. Settings come from the environment alone (SMARTWATCH_POSTGRES_DSN,
SMARTWATCH_LAKE_URI, ...): a job refuses to start, naming each one it needs and lacks. Under
spark-submit, master and jars are spark-submit's (smartwatch_jobs.spark.session). It loads
the jobs and pyspark, never the `smartwatch` CLI, the local stack, kopf or httpx.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the checkout (/opt/smartwatch in the image)


def _paths() -> None:
    """Run as a script, Python puts this folder first on sys.path, where aggregate.py,
    spark.py, main.py... would shadow other modules: drop it, and put the checkout's package
    folders first, so the command is the one shipped beside this file."""
    roots = [str(ROOT / name) for name in ("services", "jobs", "operator")
             if (ROOT / name).is_dir()]
    sys.path[:] = roots + [p for p in sys.path
                           if p not in roots and Path(p or ".").resolve() != HERE]


#: Kubernetes' default terminationMessagePath; SMARTWATCH_TERMINATION_LOG names another file
#: (the local SparkApplication runner's).
TERMINATION_LOG = Path("/dev/termination-log")


class _Remembering:
    """sys.stderr, remembering the last line that names the command (`smartwatch ...: `)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.last = ""
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.startswith("smartwatch "):
                self.last = line
        return self.inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def terminate(message: str) -> None:
    """Leave `message` as the container's termination message, where there is one."""
    path = Path(os.environ.get("SMARTWATCH_TERMINATION_LOG") or TERMINATION_LOG)
    if path.exists():
        with contextlib.suppress(OSError):
            path.write_text(message[:2000])


def main(argv: list[str] | None = None) -> int:
    _paths()
    from smartwatch_jobs.commands import main as job

    stderr = sys.stderr
    remembered = sys.stderr = _Remembering(stderr)
    try:
        code = job(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse's usage errors
        if exc.code not in (0, None):
            terminate(remembered.last or f"exit code {exc.code}")
        raise
    except BaseException as exc:
        terminate(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        sys.stderr = stderr
    if code:
        terminate(remembered.last or f"exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
