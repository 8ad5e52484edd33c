"""Opening the index when the app starts. An index written by an older labdeck is upgraded to
this version's schema first: seconds on a big index (0015 rebuilt the runs table: 3.3 s for
100,000 runs), which used to pass with nothing on screen. The upgrade now runs on a worker
while a small window says what is happening. It has no Cancel: stopped halfway, the index
would be left at a schema this labdeck cannot read, and each step is its own transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QProgressDialog

from labdeck.db.engine import upgrade_ahead
from labdeck.paths import default_index_path
from labdeck.ui import ops
from labdeck.workspace import Workspace

MESSAGE = ("Upgrading the index {path} for this version of labdeck…\n"
           "This happens once; every run and point in it is kept.")


def open_workspace(index: str | None) -> Workspace:
    """The workspace over ``index`` (the default index: None); raises what ``Workspace`` raises."""
    path = Path(index) if index else default_index_path()
    if not upgrade_ahead(path):
        return Workspace(path)
    dialog = QProgressDialog(MESSAGE.format(path=path), "", 0, 0)  # 0..0: a busy bar (no steps known)
    dialog.setCancelButton(None)
    dialog.setWindowTitle("labdeck")
    dialog.setMinimumDuration(0)
    dialog.show()
    loop = QEventLoop()
    outcome: list[Any] = []

    def done(result: Any) -> None:
        outcome.append(result)
        loop.quit()

    runner = ops.OpRunner(dialog, "open-index")
    runner.run(lambda _task: Workspace(path), done)
    if not outcome:  # not finished already (the callback may come before exec)
        loop.exec()
    runner.shutdown()
    dialog.close()
    dialog.deleteLater()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]
