"""labdeck: local-first experiment management.

Training scripts use ``labdeck.start_run`` (see ``labdeck.sdk``); importing this package
loads only the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Run", "seed_everything", "start_run"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from labdeck.sdk import Run, seed_everything, start_run


def __getattr__(name: str):
    # The SDK is loaded when a training script asks for it, not by every `labdeck` verb
    # (``python -m labdeck`` imports this package first): about 60 ms of the CLI's start.
    if name in __all__:
        from labdeck import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'labdeck' has no attribute {name!r}")
