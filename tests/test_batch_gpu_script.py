"""The prepared GPU run (benchmarks/gpu_paper.py) and its bundle (benchmarks/gpu_bundle.py),
checked on CPU with a tiny step budget: the plan, the speed settings, images per second and
MFU in the summary, the archive of records, and the size check of the bundle."""

import importlib.util
import json
import sys
import tarfile

import pytest

from covidnb.paths import REPO_ROOT


def _load(name):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


gpu_paper = _load("gpu_paper")
gpu_bundle = _load("gpu_bundle")


def test_plan_is_table8_then_table6_then_thesis_table51():
    runs = gpu_paper.plan("paper")
    tables = [t for t, _ in runs]
    assert tables == ["Hu Table 8"] * 4 + ["Hu Table 6"] * 8 + ["Thesis Table 5.1"] * 7
    assert [c["model"] for t, c in runs[:4]] == ["vgg16_bn", "resnet50", "densenet169",
                                                 "dsn_vgg16_bn"]
    assert all(c["seed"] == 0 and c["profile"] == "paper" for _, c in runs)
    assert {c["image_size"] for t, c in runs if t.startswith("Hu")} == {224}
    assert {c["image_size"] for t, c in runs if t.startswith("Thesis")} == {256}


def test_speed_settings_are_added_without_touching_the_plan():
    _, cfg = gpu_paper.plan("paper")[0]
    fast = gpu_paper.with_speed(cfg, max_steps=2, epochs=1, workers=4, plain=False)
    assert {k: fast["train"][k] for k in gpu_paper.SPEED} == gpu_paper.SPEED
    assert fast["train"]["max_steps_per_epoch"] == 2 and fast["train"]["num_workers"] == 4
    assert "amp_dtype" not in cfg["train"]  # the plan's own configuration is unchanged
    from covidnb.train import TrainConfig

    TrainConfig.from_dict(fast["train"])  # every added field is a TrainConfig field
    assert "amp_dtype" not in gpu_paper.with_speed(cfg, None, None, 0, plain=True)["train"]


def test_tiny_cpu_run_writes_summary_and_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rc = gpu_paper.main(["--out", str(tmp_path), "--profile", "smoke", "--max-steps", "1",
                         "--epochs", "1", "--items", "13", "--peak-tflops", "1",
                         "--allow-synthetic"])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    (row,) = summary["runs"]
    assert row["status"] == "done" and row["table"] == "Thesis Table 5.1"
    assert row["images"] > 0 and row["images_per_s"] > 0 and row["forward_gflops"] > 0
    assert 0 < row["mfu"] == pytest.approx(3 * row["forward_gflops"] * 1e9 * row["images_per_s"]
                                           / 1e12, rel=0.05)
    with tarfile.open(tmp_path / "paper_runs.tar.gz") as tar:
        names = tar.getnames()
    assert any(n.endswith("/config.json") for n in names)
    assert any(n.endswith("/predictions.csv") for n in names)
    assert not any("checkpoints" in n for n in names)
    cfg = json.loads(next((tmp_path / "store").rglob("config.json")).read_text())["config"]
    assert cfg["train"]["amp_dtype"] == "bfloat16"  # the record says how it was trained


def test_refuses_to_train_on_phantoms_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COVIDNB_DATA", str(tmp_path))
    assert gpu_paper.main(["--out", str(tmp_path / "o"), "--items", "13"]) == 2
    assert "no covid-ct" in capsys.readouterr().err


def test_bundle_size_check(tmp_path, capsys):
    assert gpu_bundle.travelling_tree_bytes() > 1024 * 1024  # the checkout travels
    assert gpu_bundle.main(["--out", str(tmp_path / "b"), "--no-data"]) == 0
    run_sh = (tmp_path / "b" / "run.sh").read_text()
    assert "benchmarks/gpu_paper.py" in run_sh and f"COVIDNB_DATA={tmp_path}/b/data" in run_sh
    assert gpu_bundle.main(["--out", str(tmp_path / "b"), "--no-data", "--max-mib", "1"]) == 1
    assert "over the limit" in capsys.readouterr().err
