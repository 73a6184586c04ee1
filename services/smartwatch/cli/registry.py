"""`smartwatch users import` and `smartwatch devices token`: the user and device registry."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smartwatch.cli.options import STACK, add_command, subcommands


def register(sub: argparse._SubParsersAction) -> None:
    users = add_command(sub, "users", help="the user registry",
                        examples=["smartwatch users import user_profiles.json"])
    imp = add_command(subcommands(users), "import", parents=[STACK],
                      help="add or update users and their devices' owners, all or nothing",
                      description="Imports a JSON array in the shape of the prototype's "
                                  "user_profiles.json\n(user_id, device_id, user_email, gender, "
                                  "age; time_zone optional).\nEmails are never logged.",
                      examples=["smartwatch users import user_profiles.json"])
    imp.add_argument("file", type=Path, help="the JSON file")
    imp.set_defaults(func=cmd_import)

    devices = add_command(sub, "devices", help="device tokens",
                          examples=["smartwatch devices token watch-17"])
    token = add_command(subcommands(devices), "token", parents=[STACK],
                        help="print a new token of a device once, revoking its older ones",
                        examples=["smartwatch devices token watch-17"])
    token.add_argument("device", help="device id (registered without owner if unknown)")
    token.set_defaults(func=cmd_token)


def _registry(args: argparse.Namespace):
    from smartwatch.cli.local import need_dsn, settings_for
    from smartwatch.db import migrate
    from smartwatch.registry import Registry

    dsn = need_dsn(settings_for(("postgres_dsn",), args.state_dir))
    migrate(dsn)
    return Registry(dsn, max_connections=1)


def cmd_import(args: argparse.Namespace) -> int:
    from smartwatch.registry import ProfileImportError

    try:
        entries = json.loads(args.file.read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read {args.file}: {exc}") from None
    if isinstance(entries, dict):
        entries = [entries]
    registry = _registry(args)
    try:
        counts = registry.import_profiles(entries)
    except ProfileImportError as exc:
        for p in exc.problems:
            print(f"entry {p['index']}: {p['field']}: {p['reason']}", file=sys.stderr)
        print("nothing imported", file=sys.stderr)
        return 1
    finally:
        registry.close()
    print(f"imported {counts['users']} user(s), {counts['devices']} device owner(s)")
    for key, entries in counts["ignored_keys"].items():
        print(f"ignored key {key!r} (not a profile field) in {entries} entr"
              f"{'y' if entries == 1 else 'ies'}", file=sys.stderr)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        print(registry.issue_token(args.device))
    finally:
        registry.close()
    return 0
