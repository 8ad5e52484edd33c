"""``python -m labdeck`` / ``labdeck``: the GUI without a verb, a CLI verb otherwise."""

from __future__ import annotations

import argparse
import os
import sys


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labdeck gui", description="Open the desktop app.")
    parser.add_argument("--index", metavar="PATH", help="the index file (default: $LABDECK_INDEX or the user data dir)")
    parser.add_argument("dirs", nargs="*", help="project folders to add and show")
    return parser


def _is_gui_call(argv: list[str], *, bare_words_are_folders: bool) -> bool:
    """No verb: nothing but --index and existing folders.

    The first check runs before the CLI's verb modules are imported (they pull in pandas
    and friends: about half a second of start-up), so it trusts only folders written as
    paths ("./runs", "~/p", "/data/x"); a bare word may be a verb, like `labdeck runs`
    next to a TensorBoard `runs/` folder, and is decided once the verbs are known.
    """
    if argv[:1] == ["gui"]:
        return True
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--index" and rest:
            rest.pop(0)
        elif arg.startswith("--index="):
            continue
        elif not os.path.isdir(arg) or not (bare_words_are_folders or os.sep in arg or arg in (".", "..")):
            return False
    return True


def _verb_first(argv: list[str]) -> list[str]:
    """``--index X gui DIR`` as ``gui --index X DIR``: the global option may come before the
    verb, as with every other verb (it printed the usage and opened nothing)."""
    i = 0
    while i < len(argv) and (argv[i] == "--index" or argv[i].startswith("--index=")):
        i += 2 if argv[i] == "--index" else 1
    if argv[i:i + 1] == ["gui"]:
        return ["gui", *argv[:i], *argv[i + 1:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = _verb_first(list(sys.argv[1:] if argv is None else argv))
    if argv[:1] in (["--version"], ["-V"]):  # answered before the verbs are imported: fast
        from labdeck import __version__

        print(f"labdeck {__version__}")
        return 0
    if not _is_gui_call(argv, bare_words_are_folders=False):
        from labdeck.cli import run_cli, verbs

        if any(a in verbs() for a in argv) or not _is_gui_call(argv, bare_words_are_folders=True):
            return run_cli(argv)
    args = _gui_parser().parse_args(argv[1:] if argv[:1] == ["gui"] else argv)
    from labdeck.ui.app import run_app

    return run_app(index=args.index, project_dirs=args.dirs)


if __name__ == "__main__":
    sys.exit(main())
