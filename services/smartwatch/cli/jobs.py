"""`smartwatch land`, `aggregate`, `compact` and `audit`: the Spark jobs, as
`smartwatch_jobs.commands` declares them (their arguments and the settings they need), run on
this machine. The settings a job needs and the environment lacks come from the local stack
(`local`), and Spark's jars and Java from the set-up cache."""

from __future__ import annotations

import argparse
import functools

from smartwatch.cli.options import STACK, add_command
from smartwatch_jobs.commands import JOBS, Job


def register(sub: argparse._SubParsersAction) -> None:
    for job in JOBS.values():
        parser = add_command(sub, job.name, help=job.help, description=job.description,
                             examples=job.examples, parents=[STACK])
        job.arguments(parser)
        parser.set_defaults(func=functools.partial(run, job))


def run(job: Job, args: argparse.Namespace) -> int:
    from smartwatch.cli.local import settings_for, spark_settings

    return job.run(spark_settings(settings_for(job.needs, args.state_dir)), args)
