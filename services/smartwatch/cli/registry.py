"""`smartwatch users import|zones` and `smartwatch devices token|owners`: the user and device
registry, with its history of owners and zones."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from smartwatch.cli.options import STACK, add_command, subcommands


def register(sub: argparse._SubParsersAction) -> None:
    users = add_command(sub, "users", help="the user registry",
                        examples=["smartwatch users import user_profiles.json"])
    users_sub = subcommands(users)
    imp = add_command(users_sub, "import", parents=[STACK],
                      help="add or update users and their devices' owners, all or nothing",
                      description="Imports a JSON array in the shape of the prototype's "
                                  "user_profiles.json\n(user_id, device_id, user_email, gender, "
                                  "age; time_zone optional; since optional: the RFC 3339 instant\n"
                                  "a handover or move takes effect, default now).\n"
                                  "Emails are never logged.",
                      examples=["smartwatch users import user_profiles.json"])
    imp.add_argument("file", type=Path, help="the JSON file")
    imp.set_defaults(func=cmd_import)
    zones = add_command(users_sub, "zones", parents=[STACK],
                        help="print a user's time zones over time",
                        examples=["smartwatch users zones user-7"])
    zones.add_argument("user", help="user id")
    zones.set_defaults(func=cmd_zones)

    devices = add_command(sub, "devices", help="device tokens",
                          examples=["smartwatch devices token watch-17"])
    devices_sub = subcommands(devices)
    token = add_command(devices_sub, "token", parents=[STACK],
                        help="print a new token of a device once, revoking its older ones",
                        examples=["smartwatch devices token watch-17"])
    token.add_argument("device", help="device id (registered without owner if unknown)")
    token.set_defaults(func=cmd_token)
    owners = add_command(devices_sub, "owners", parents=[STACK],
                         help="print a device's owners over time",
                         examples=["smartwatch devices owners watch-17"])
    owners.add_argument("device", help="device id")
    owners.set_defaults(func=cmd_owners)


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
    print(f"imported {counts['users']} user(s), {counts['devices']} device owner(s); "
          f"{counts['handovers']} handover(s) and {counts['moves']} move(s) added")
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


def _history(args: argparse.Namespace, load: str, key: str, what: str, missing: str,
             first_note: str) -> int:
    """Prints one line an entry of a history (registry.owners_of or zones_of): since (UTC;
    the first entry holds the time before it too), the value, and when it was recorded."""
    registry = _registry(args)
    try:
        rows = getattr(registry, load)(key)
    finally:
        registry.close()
    if not rows:
        print(missing, file=sys.stderr)
        return 1
    for i, row in enumerate(rows):
        since = "(from the start)" if i == 0 else row["since"].astimezone(dt.UTC).isoformat()
        note = f"  ({first_note} {rows[0]['since'].isoformat()})" if i == 0 else ""
        print(f"{since:<32} {row[what]:<24} recorded {row['recorded_at'].isoformat()}{note}")
    return 0


def cmd_owners(args: argparse.Namespace) -> int:
    return _history(args, "owners_of", args.device, "user_id", f"device {args.device} has no owner",
                    "registered at")


def cmd_zones(args: argparse.Namespace) -> int:
    return _history(args, "zones_of", args.user, "time_zone", f"user {args.user} is not registered",
                    "recorded as of")
