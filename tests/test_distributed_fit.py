"""``fit`` under ``torchrun`` with 2 ``gloo`` processes on CPU matches one process with the
whole batch (covidnb.train.distributed): same history within TOL, same final weights within
WEIGHT_TOL, checkpoints written once and resumable across process counts."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from covidnb.train.distributed import ShardSampler

# float32 sums over 2 processes are added in another order than over one batch: the losses and
# weights agree to ~1e-7 after a few Adam steps; a wrong data split or an unaveraged gradient
# moves them by 1e-2 or more.
TOL = 1e-5
WEIGHT_TOL = 1e-4

SCRIPT = r'''
import json, sys
import torch
from torch import nn
sys.path.insert(0, sys.argv[3])
from toydata import ToyDataset
from covidnb.train import TrainConfig, fit

out, epochs = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(1)
train = ToyDataset(40, size=8, seed=0)
val = ToyDataset(13, size=8, seed=1, split="val")   # 13: the 2 shares differ in size
model_seed = torch.Generator().manual_seed(0)
torch.manual_seed(0)
# no batch norm: on CPU each process would normalise with its own half of the batch
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 2))
cfg = TrainConfig(epochs=epochs, batch_size=8, lr=1e-2, seed=3, device="cpu", progress=False,
                  select="val_auc", restore_best=False)
res = fit(model, nn.CrossEntropyLoss(), train, val, cfg, checkpoint_dir=out + "/ckpt")
rank = int(__import__("os").environ.get("RANK", "0"))
json.dump({"history": res.history.to_dict("list"), "resumed_from": res.resumed_from,
           "best_epoch": res.best_epoch,
           "weights": [p.detach().double().ravel().tolist() for p in model.parameters()]},
          open(f"{out}/rank{rank}.json", "w"))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp: Path, out: Path, epochs: int, procs: int) -> dict:
    out.mkdir(exist_ok=True)
    script = tmp / "train.py"
    script.write_text(SCRIPT)
    tests = str(Path(__file__).parent)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", COVIDNB_PROGRESS="0")
    args = [str(script), str(out), str(epochs), tests]
    if procs == 1:
        cmd = [sys.executable, *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
               "--nproc_per_node", str(procs), "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {r: json.loads((out / f"rank{r}.json").read_text()) for r in range(procs)}


def _close(a: dict, b: dict) -> None:
    for k in ("train_loss", "val_loss", "val_auc", "val_accuracy"):
        np.testing.assert_allclose(a["history"][k], b["history"][k], rtol=0, atol=TOL, err_msg=k)
    for wa, wb in zip(a["weights"], b["weights"]):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=WEIGHT_TOL)


def test_shard_sampler_splits_the_single_process_order():
    base = [5, 1, 4, 0, 3, 2, 6]
    shares = [list(ShardSampler(range(7), base, 2, r)) for r in range(2)]
    assert shares == [[5, 4, 3, 6], [1, 0, 2, 5]]  # padded with the first index
    assert [len(ShardSampler(range(7), base, 2, r)) for r in range(2)] == [4, 4]
    evals = [list(ShardSampler(range(7), None, 2, r, pad=False)) for r in range(2)]
    assert evals == [[0, 2, 4, 6], [1, 3, 5]]


def test_two_gloo_processes_match_one_process_with_the_whole_batch(tmp_path):
    one = _run(tmp_path, tmp_path / "one", epochs=2, procs=1)[0]
    two = _run(tmp_path, tmp_path / "two", epochs=2, procs=2)
    # both processes hold the same gathered history and the same weights
    _close(two[0], two[1])
    _close(one, two[0])
    assert len(one["history"]["train_loss"]) == 2
    # the test can fail: the first epoch's loss moved, so a run that only half trained would show
    assert abs(one["history"]["train_loss"][0] - one["history"]["train_loss"][1]) > 10 * TOL
    # written once, from the unwrapped model: a one-process run resumes the 2-process checkpoint
    state = torch.load(tmp_path / "two" / "ckpt" / "last.pt", weights_only=False)
    assert not any(k.startswith("module.") for k in state["model"])
    resumed_one = _run(tmp_path, tmp_path / "two", epochs=3, procs=1)[0]
    assert resumed_one["resumed_from"] == 2
    # and a 2-process run resumes a one-process checkpoint: both reach the 3-epoch result
    resumed_two = _run(tmp_path, tmp_path / "one", epochs=3, procs=2)
    assert resumed_two[0]["resumed_from"] == 2
    _close(resumed_one, resumed_two[0])
