"""``python -m covidnb.chapters.reference --executor submitit``: the plan as one job per
configuration, a failing one listed while the others finish, done ones not submitted again."""

import os
import subprocess
import sys
import types

import pytest

pytest.importorskip("submitit")

from covidnb.chapters import reference, registry
from covidnb.chapters.contract import Chapter


@pytest.fixture
def toy_chapter(monkeypatch):
    """Three tiny runs on an in-memory dataset; the one with seed 1 names no model that exists."""
    from toydata import ToyDataset

    import covidnb.data

    def fake_open(name, split, *, image_size=224, channels=1, seed=0, **kw):
        return ToyDataset({"train": 16, "val": 8, "test": 8}[split], classes=("neg", "pos"),
                          size=image_size, channels=channels, seed=seed, split=split)

    monkeypatch.setattr(covidnb.data, "open_dataset", fake_open)

    def cfg(seed):
        return {"chapter": "toy", "profile": "smoke", "dataset": "toy2", "image_size": 16,
                "channels": 1, "model": "no_such_model" if seed == 1 else "tinycnn",
                "model_kwargs": {"num_classes": 2}, "loss": "ce", "seed": seed,
                "train": {"epochs": 1, "batch_size": 8, "max_steps_per_epoch": 1,
                          "progress": False}}

    mod = types.ModuleType("covidnb.chapters.toy")
    mod.grid = lambda profile: [cfg(s) for s in range(3)]
    monkeypatch.setitem(sys.modules, "covidnb.chapters.toy", mod)
    toy = Chapter(slug="toy", title="a toy chapter", classes=("neg", "pos"), positive="pos",
                  experiment_config=lambda profile, seed: cfg(seed),
                  grids={"all": lambda profile: mod.grid(profile)},
                  describe=lambda c: {"model": c["model"]})
    monkeypatch.setitem(registry._CHAPTERS, "toy", toy)
    return mod


def test_plan_through_submitit_records_a_failure_and_resumes(toy_chapter, tmp_path, capsys):
    # the debug cluster runs each job in this process, where the toy chapter is registered
    args = ["toy", "--profile", "smoke", "--root", str(tmp_path / "store"), "--executor",
            "submitit", "--cluster", "debug", "--jobs-dir", str(tmp_path / "jobs")]
    assert reference.main(args) == 1
    out, err = capsys.readouterr()
    assert "2 of 3 configuration(s) done, 1 not" in out
    assert "not done:   2" in err and "no_such_model" in out + err
    rows = reference.plan_status("toy", "smoke", root=tmp_path / "store")
    assert [r["state"].split()[0] for r in rows][::2] == ["done", "done"]
    # again: the two done ones are not submitted, the failing one is (and fails again)
    assert reference.main(args) == 1
    out, _ = capsys.readouterr()
    assert out.count("done earlier") == 2 and out.count("[submitted]") == 1


def test_submitit_options_need_the_executor(capsys):
    with pytest.raises(SystemExit):
        reference.main(["dsn_saal", "--partition", "gpu"])
    assert "only apply with --executor submitit" in capsys.readouterr().err


def test_plan_as_local_submitit_jobs(tmp_path):
    """Real job processes on submitit's local executor: the first configuration of a built
    chapter's smoke plan, into a scratch store (synthetic data when the real data are absent)."""
    root = tmp_path / "store"
    cmd = [sys.executable, "-m", "covidnb.chapters.reference", "pepx_resnet", "--profile",
           "smoke", "--limit", "1", "--root", str(root), "--executor", "submitit",
           "--cluster", "local", "--jobs-dir", str(tmp_path / "jobs")]
    env = dict(os.environ, OMP_NUM_THREADS="1", COVIDNB_PROGRESS="0")
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600,
                           check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 of 1 configuration(s) done" in first.stdout and "[submitted]" in first.stdout
    assert list((tmp_path / "jobs").glob("*_0_log.out"))  # the job's own folder entries
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600,
                           check=False)
    assert again.returncode == 0 and "done earlier" in again.stdout
    assert "[submitted]" not in again.stdout
