"""A killed ``labdeck dataset add`` loses nothing: SIGKILL a real add at random moments, then
the next add records a version that verifies and checks out byte for byte, on a sound index.

``LABDECK_SOAK_TRIALS`` sets the number of kills (default 6, well under a minute);
``LABDECK_SOAK_SEED`` the kill moments.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import dataset_kill as dk  # noqa: E402

TRIALS = int(os.environ.get("LABDECK_SOAK_TRIALS", "6"))


def test_dataset_add_killed_at_random_moments_loses_nothing(tmp_path):
    folder = dk.make_folder(tmp_path / "data", files=400)
    span = dk.work_time(tmp_path, folder)  # kill moments are drawn across one whole add
    rng = random.Random(int(os.environ.get("LABDECK_SOAK_SEED", "13")))
    trials = [dk.run_trial(tmp_path, folder, span, rng, n) for n in range(TRIALS)]
    failed = [t for t in trials if t.problem]
    killed = sum(t.killed for t in trials)
    print(f"dataset add kill trials: {len(trials)} ({killed} killed mid-add), {len(failed)} failed")
    assert not failed, "\n".join(f"kill after {t.delay:.3f} s: {t.problem}" for t in failed)
