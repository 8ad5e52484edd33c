"""``python -m labdeck`` / ``labdeck``: the GUI without a verb, a CLI verb otherwise."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):  # answered before the verbs are imported: fast
        from labdeck import __version__

        print(f"labdeck {__version__}")
        return 0
    from labdeck.cli import build_parser, run_cli, verbs

    named = [a for a in argv if a in verbs()]
    if named and named[0] != "gui":
        return run_cli(argv)
    if not named and any(a in ("-h", "--help") for a in argv):
        build_parser().print_help()
        return 0
    args = build_parser().parse_args(argv if named else ["gui", *argv])
    from labdeck.ui.app import run_app

    return run_app(index=args.index, project_dirs=args.dirs)


if __name__ == "__main__":
    sys.exit(main())
