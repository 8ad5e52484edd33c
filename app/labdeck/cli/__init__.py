"""The ``labdeck`` command-line verbs. Every GUI action has one here, for SSH and scripts.

Each module of this package adds the verbs of one capability: it defines
``register(add_verb)``, where ``add_verb(name, help, func)`` returns the verb's argparse
parser and ``func(workspace, args) -> int`` runs it. Modules are found by listing the package.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from functools import cache

from labdeck.cli.common import USER_ERRORS, CliError
from labdeck.db.engine import IndexOpenError
from labdeck.runs.query import QueryError
from labdeck.workspace import Workspace

__all__ = ["CliError", "build_parser", "run_cli", "verbs"]


@cache
def _verb_modules() -> tuple:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in ("common",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    # The run verbs first: they are what `labdeck --help` should show at the top.
    modules.sort(key=lambda m: (m.__name__ != f"{__name__}.runs", m.__name__))
    return tuple(modules)


def build_parser() -> argparse.ArgumentParser:
    index_help = "the index file (default: $LABDECK_INDEX or the user data dir)"
    parser = argparse.ArgumentParser(prog="labdeck", description="Local-first experiment management.")
    parser.add_argument("--index", metavar="PATH", help=index_help)
    # Verbs accept --index too; SUPPRESS keeps a value given before the verb from being reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", metavar="PATH", default=argparse.SUPPRESS, help=index_help)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def add_verb(name: str, help_: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    for module in _verb_modules():
        module.register(add_verb)
    return parser


def verbs() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return set(sub.choices)


def run_cli(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None or args.func is None:
        parser.print_help()
        return 2
    try:
        ws = Workspace(args.index)
    except IndexOpenError as exc:
        print(f"labdeck: {exc}", file=sys.stderr)
        return 2
    try:
        return args.func(ws, args)
    except QueryError as exc:
        print(f"labdeck: bad query: {exc.pretty()}", file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        message = exc.args[0] if exc.args else str(exc)
        print(f"labdeck: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    finally:
        ws.close()
