"""The file spark-submit runs in the Spark image (the SparkApplications' mainApplicationFile,
`local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py`): its arguments are those of the
`smartwatch` command, e.g.

    spark-submit local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py \\
        aggregate --granularity daily --from 2026-01-01 --to 2026-01-31 --run-name NAME

and it exits with that command's code. Settings come from the environment
(SMARTWATCH_POSTGRES_DSN, SMARTWATCH_LAKE_URI, ...); with all of them given, the local stack
is never consulted. Under spark-submit, master and jars are spark-submit's
(smartwatch_jobs.spark.session). The CLI imports a command's dependencies only when that
command runs, so this driver loads the jobs and pyspark, never kopf or httpx.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    _paths()
    from smartwatch.cli import main as smartwatch

    return smartwatch(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
