"""What the command groups share: options declared once (as parent parsers), argument types,
and `add_command`, which gives every command its example and the same help layout."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator, Sequence
from typing import Any


def _parent(*flags: str, **kwargs: Any) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(*flags, **kwargs)
    return parser


#: The state folder of `stack` and `cluster`: the one they run in.
STATE_DIR = _parent("--state-dir", default=None, metavar="DIR",
                    help="state folder (default: SMARTWATCH_STATE_DIR, else .stack/dev in the "
                         "checkout)")
#: The state folder of the other local commands: where missing settings are looked up.
STACK = _parent("--state-dir", default=None, metavar="DIR",
                help="local stack whose servers fill settings the environment does not give "
                     "(default: SMARTWATCH_STATE_DIR, else .stack/dev in the checkout)")
JSON = _parent("--json", action="store_true", help="print JSON, for scripts")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples printed as written (wrapped by hand). Also counts the indent
    of sub-command names when aligning their help, which argparse leaves out (so a name as
    long as `aggregate` would sit on a line of its own)."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS and isinstance(action, argparse._SubParsersAction):
            longest = max((len(name) for name in action.choices), default=0)
            self._action_max_length = max(self._action_max_length,
                                          longest + self._current_indent + self._indent_increment)


def add_command(sub: argparse._SubParsersAction, name: str, *, help: str,
                examples: Sequence[str], description: str | None = None,
                parents: Sequence[argparse.ArgumentParser] = (),
                **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command whose --help ends with its examples (and whose description is printed as
    written: wrap it by hand)."""
    return sub.add_parser(name, help=help, description=description or f"{help[:1].upper()}{help[1:]}.",
                          epilog=epilog(examples), parents=list(parents),
                          formatter_class=Formatter, **kwargs)


def epilog(examples: Sequence[str]) -> str:
    return "example" + ("s" if len(examples) > 1 else "") + ":\n" + "\n".join(
        f"  {e}" for e in examples)


def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def components(text: str) -> tuple[str, ...]:
    """A comma-separated list of the local stack's components (checked against the stack's
    own list, read only when the option is given)."""
    from smartwatch_dev.stack import COMPONENTS

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown component {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}")
    return names


class Lazy(Sequence[str]):
    """Names kept by a module that is slow to import (`Lazy("smartwatch_dev.simulate.fleet",
    "SHAPES")`), read when argparse first looks at them: as choices, to check a given value or
    print the help; as a default, to print the help (`str()` joins them: "a, b"). So
    building the parser imports nothing."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _items(self) -> Sequence[str]:
        return tuple(getattr(importlib.import_module(self.module), self.name))

    def __getitem__(self, index: Any) -> Any:
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __contains__(self, value: object) -> bool:
        return value in self._items()

    def __str__(self) -> str:
        return ", ".join(self._items())
