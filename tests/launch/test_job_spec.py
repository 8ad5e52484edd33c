"""The job spec as stored: a typed record whose JSON keeps the keys stored specs always had."""

from __future__ import annotations

from labdeck.db.job_spec import EnvSpec, JobSpec, Launcher, Resources


def test_a_spec_round_trips_through_its_json():
    spec = JobSpec(
        code={"repo": "/r", "commit": "abc"}, env=EnvSpec("locked", "3.11.7", ("numpy==2.1.0",)),
        gpus={"count": 1}, seed=7, datasets=({"name": "ds", "version": 2, "digest": "d"},),
        reproduces="run1", notes=("a note",), name="n", experiment="e", resources=Resources(2, 0.5),
        index_project="/p", launcher=Launcher(123, "host"), cluster={"id": "42", "kind": "slurm"},
    )
    data = spec.to_json()
    assert JobSpec.from_json(data) == spec
    assert data["env"] == {"kind": "locked", "python": "3.11.7", "lock": ["numpy==2.1.0"]}
    assert data["resources"] == {"cpus": 2, "mem_gb": 0.5} and data["launcher"] == {"pid": 123, "host": "host"}


def test_specs_stored_before_the_record_read_back():
    old = {"code": {"repo": "/r"}, "env": {"kind": "current", "python": "3.11.7"}, "gpus": None, "seed": None,
           "datasets": [], "reproduces": None, "notes": [], "name": None, "experiment": None, "resources": {}}
    spec = JobSpec.from_json(old)
    assert spec.env == EnvSpec("current", "3.11.7") and spec.resources == Resources()
    assert spec.launcher is None and spec.cluster is None and spec.index_project is None
    assert spec.to_json() == old  # the same keys, written the same way
    assert JobSpec.from_json({"launcher": {"pid": 5, "host": "h"}}).launcher == Launcher(5, "h")
    assert JobSpec.from_json(None) == JobSpec()  # a row with no spec at all
