"""A job's manifest as recorded in its run: a typed record whose JSON keeps the keys every
manifest has had, and that reads back older, partial and foreign ones."""

from __future__ import annotations

from labdeck.db.job_spec import Resources
from labdeck.launch import manifest
from labdeck.launch.gpus import GpuInfo, InventorySnapshot
from labdeck.db.run_manifest import ClusterRecord, Manifest

KEYS = {"version", "command", "code", "cwd", "env", "python", "packages", "machine", "gpus", "seed",
        "determinism", "datasets", "reproduces", "notes"}


def _built(cluster: ClusterRecord | None = None) -> Manifest:
    gpus = (GpuInfo(0, "GPU-a", "H100", 81_559, 10), GpuInfo(1, "GPU-b", "H100", 81_559, 10))
    snap = InventorySnapshot(gpus, driver="560.35", cuda="12.6")
    interpreter = {"python": "3.11.7", "implementation": "CPython", "executable": "/venv/bin/python",
                   "packages": [{"name": "numpy", "version": "2.1.0", "source": "pypi"}]}
    return manifest.build(
        command=["python", "train.py"], code={"repo": "/r", "commit": "abc", "cwd": "src"}, env_kind="locked",
        lock=["numpy==2.1.0"], interpreter=interpreter,
        job_env={"PYTHONHASHSEED": "7", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "x"}, gpus=snap,
        assigned=["GPU-b"], seed=7, datasets=[{"name": "ds", "version": 2, "digest": "d"}], reproduces="run1",
        notes=["a note"], cluster=cluster,
    )


def test_a_built_manifest_round_trips_with_the_keys_manifests_always_had():
    man = _built()
    data = man.to_json()
    assert set(data) == KEYS  # no "cluster" for a local job
    assert Manifest.from_json(data) == man
    assert data["cwd"] == "src" and data["env"] == {"kind": "locked", "lock": ["numpy==2.1.0"],
                                                     "variables": {"PYTHONHASHSEED": "7"}}  # no secrets, no paths
    assert [g["uuid"] for g in data["gpus"]["assigned"]] == ["GPU-b"] and data["gpus"]["cuda"] == "12.6"
    assert data["python"] == {"python": "3.11.7", "implementation": "CPython", "executable": "/venv/bin/python"}
    prov = man.provenance(argv=["python", "train.py"], cwd="/r/src", cuda_visible="GPU-b")
    assert prov["manifest"] == data and prov["packages"] == {"numpy": "2.1.0"}
    assert prov["gpus"][0]["memory_mib"] == 81_559 and prov["gpus"][0]["driver"] == "560.35"
    assert prov["git"] == {"commit": "abc", "branch": None, "root": "/r", "dirty": False}


def test_a_cluster_jobs_record_keeps_the_engines_own_names():
    identity = {"job_id": "42", "cluster": "lab", "nodes": "node1", "partition": "gpu"}
    record = ClusterRecord("lab-slurm", "slurm", identity, ({"name": "H100", "uuid": "GPU-b"},), "560.35",
                           Resources(4, 16.0))
    data = _built(record).to_json()
    assert data["cluster"] == {"executor": "lab-slurm", "kind": "slurm", **identity,
                               "gpus_seen": [{"name": "H100", "uuid": "GPU-b"}], "driver": "560.35",
                               "resources": {"cpus": 4, "mem_gb": 16.0}}
    back = Manifest.from_json(data)
    assert back is not None and back.cluster == record and back.cluster.nodes == "node1"


def test_older_partial_and_foreign_manifests_read_back_without_failing():
    assert Manifest.from_json(None) is None and Manifest.from_json({}) is None
    assert Manifest.from_json("not a manifest") is None
    # Written by hand, or by an older labdeck: wrong types become defaults, never a crash.
    odd = Manifest.from_json({"command": "python train.py", "seed": "7", "gpus": [], "env": None,
                              "packages": [{"name": "torch", "version": "2.5"}, "junk"], "cluster": {}})
    assert odd is not None
    assert odd.command == () and odd.seed is None and odd.gpus.assigned == () and odd.env.kind == ""
    assert odd.package_versions == {"torch": "2.5"} and odd.cluster is None and odd.cwd == "."
