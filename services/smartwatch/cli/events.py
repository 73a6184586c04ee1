"""`smartwatch events docs|schema`: the canonical event model."""

from __future__ import annotations

import argparse
import json

from smartwatch.cli.options import add_command, subcommands


def register(sub: argparse._SubParsersAction) -> None:
    group = add_command(sub, "events", help="the canonical event model",
                        examples=["smartwatch events docs > docs/events.md"])
    actions = subcommands(group)
    add_command(actions, "docs", help="print docs/events.md (Markdown)",
                examples=["smartwatch events docs > docs/events.md"]).set_defaults(func=cmd_docs)
    add_command(actions, "schema", help="print the JSON Schema of a canonical event",
                examples=["smartwatch events schema > event.schema.json"],
                ).set_defaults(func=cmd_schema)


def cmd_docs(args: argparse.Namespace) -> int:
    from smartwatch.eventdocs import markdown_docs

    print(markdown_docs(), end="")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from smartwatch.events import CanonicalEvent

    print(json.dumps(CanonicalEvent.model_json_schema(), indent=2))
    return 0
