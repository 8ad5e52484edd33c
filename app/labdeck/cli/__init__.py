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
from labdeck.runs.query_error import QueryError
from labdeck.workspace import Workspace

__all__ = ["CliError", "build_parser", "run_cli", "verbs"]


# Which module adds each verb. Running a verb imports only its module (each capability pulls in
# its own libraries: pandas, the registry clients, Qt); a test checks this against what the
# modules register.
VERB_MODULES = {
    **dict.fromkeys(["gui", "add", "remove", "projects", "index", "watch", "runs", "show", "warnings",
                     "hide", "unhide", "config", "registered", "demo"], "runs"),
    "card": "cards",
    "dataset": "datasets", "gc": "datasets",
    "executor": "executors",
    "launch": "launch", "jobs": "launch", "reproduce": "launch",
    "model": "models", "registry": "models",
    "screenshot": "screenshot",
}


@cache
def _verb_modules(names: tuple[str, ...] | None = None) -> tuple:
    """The verb modules named (all of the package's when None), the run verbs first: they are
    what `labdeck --help` should show at the top."""
    if names is None:
        names = tuple(info.name for info in pkgutil.iter_modules(__path__)
                      if info.name != "common" and not info.name.startswith("_"))
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]  # each has register()
    modules.sort(key=lambda m: (m.__name__ != f"{__name__}.runs", m.__name__))
    return tuple(modules)


def _verb_of(argv: list[str]) -> str | None:
    """The verb word of a command line (the first word that is not an option or --index's value)."""
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--index":
            rest = rest[1:]
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser with every verb, or with only ``verb``'s module when it is a known verb."""
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

    for module in _verb_modules((VERB_MODULES[verb],) if verb in VERB_MODULES else None):
        module.register(add_verb)
    return parser


def verbs() -> set[str]:
    return set(VERB_MODULES)


def run_cli(argv: list[str]) -> int:
    parser = build_parser(_verb_of(argv))
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
