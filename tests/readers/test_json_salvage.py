"""The salvage of a damaged trainer_state.json costs the entries the damage touched, no more."""

from __future__ import annotations

import json

from labdeck.runs.readers._json_salvage import salvage_state


def _state(n: int) -> bytes:
    history = [{"epoch": i / 10, "loss": 1.0 / (i + 1), "step": i} for i in range(n)]
    return json.dumps({"global_step": n, "log_history": history}, indent=2, sort_keys=True).encode()


def test_an_entry_that_lost_its_closing_brace_costs_only_itself():
    raw = _state(6)
    closing = [i for i, b in enumerate(raw) if b == ord("}")]
    third_entry_end = closing[2]
    for replacement in (b'"', b"x", b"\xff", b","):
        damaged = raw[:third_entry_end] + replacement + raw[third_entry_end + 1:]
        state, lost = salvage_state(damaged)
        assert [e["step"] for e in state["log_history"]] == [0, 1, 3, 4, 5], replacement
        assert lost == 1 and state["global_step"] == 6


def test_garbage_inside_an_entry_costs_what_it_touched():
    raw = _state(5)
    at = raw.index(b'"loss"', raw.index(b'"step": 2'))  # inside the fourth entry, after its epoch
    state, lost = salvage_state(raw[:at] + b"\x00garbage{" + raw[at:])
    # The fourth entry's fields after the damage still parse (a stray brace re-synchronises);
    # its epoch, before the damage, is lost with the broken object.
    assert [e["step"] for e in state["log_history"]] == [0, 1, 2, 3, 4] and lost == 1
    assert "epoch" not in state["log_history"][3] and state["log_history"][4] == {"epoch": 0.4, "loss": 0.2, "step": 4}
