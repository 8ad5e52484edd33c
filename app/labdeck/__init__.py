"""labdeck: local-first experiment management.

Training scripts use ``labdeck.start_run`` (see ``labdeck.sdk``); importing this package
loads only the standard library.
"""

from labdeck.sdk import Run, seed_everything, start_run

__all__ = ["Run", "seed_everything", "start_run"]
__version__ = "0.1.0"
