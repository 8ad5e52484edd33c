"""The bundle's executable: ``labdeck`` exactly as pip installs it.

labdeck starts helpers as ``sys.executable -m MODULE ARGS`` (the job runner, for one). In a
bundle ``sys.executable`` is this program, not a Python, so ``-m`` is honoured here.
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        from labdeck.__main__ import main

        sys.exit(main())
