"""The bundle's executable: ``labdeck`` exactly as pip installs it.

labdeck starts helpers as ``sys.executable -P -m MODULE ARGS`` (the job runner, the indexer).
In a bundle ``sys.executable`` is this program, not a Python, so ``-m`` is honoured here.
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    # "-P" (labdeck.helpers: no current folder on sys.path) means nothing to a bundle, whose
    # sys.path holds its own modules only.
    args = sys.argv[2:] if sys.argv[1:2] == ["-P"] else sys.argv[1:]
    if len(args) > 1 and args[0] == "-m":
        module = args[1]
        sys.argv = [sys.argv[0], *args[2:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        from labdeck.__main__ import main

        sys.exit(main())
