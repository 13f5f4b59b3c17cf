"""covidnb's ``fit`` against a bare PyTorch loop: same model, data, batch size and epochs.

Both run in this process on CPU, in alternating order, several times; the data are tensors in
memory (served through the same ``DataLoader`` settings), so the ratio measures what ``fit`` adds
per step (seeding, autocast/GradScaler no-ops, the finite-loss check, bookkeeping).

    python benchmarks/bench_loop.py [--model tinycnn|resnet18] [--size 64] [--repeats 3]
    python benchmarks/bench_loop.py --paper dsn_saal:vgg16_bn --size 32 --n 64 --repeats 5

``--paper CHAPTER:MODEL`` builds the model exactly as that chapter's ``paper`` profile does
(its ``model_kwargs``, channels, optimiser, learning rate, batch size; ImageNet weights are not
loaded: speed does not depend on them), at ``--size`` instead of the paper's resolution, which a
CPU cannot train at in a benchmark's time. The bare loop then uses the same optimiser and loss.

Prints the best-of-N throughput of each, the ratio fit / bare (the goal is ≥ 0.95), and the ratio
of the medians (alternating runs in this one process; on a shared machine the medians are the
fairer figure, and both move with the load of other processes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class TensorSamples(Dataset):
    """Pre-made images and labels as contract sample dicts."""

    classes = ("neg", "pos")
    multilabel = False

    def __init__(self, n: int, size: int, channels: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, channels, size, size, generator=g)
        self.y = torch.randint(0, 2, (n,), generator=g)
        self.ids = [f"s/{i}" for i in range(n)]

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {
            "image": self.x[i],
            "label": self.y[i],
            "sample_id": self.ids[i],
            "patient_id": "",
            "source": "bench",
        }


def paper_setup(spec: str) -> dict:
    """``CHAPTER:MODEL`` → the paper profile's model kwargs, channels and training settings."""
    import importlib

    chapter, _, model = spec.partition(":")
    mod = importlib.import_module(f"covidnb.chapters.{chapter}")
    if chapter == "dsn_saal":
        cfg = mod.experiment_config("paper", model, "ce", 0)
    else:
        cfg = next(c for c in mod.grid("paper") if c["model"] == model)
    kwargs = {k: v for k, v in cfg["model_kwargs"].items() if k != "pretrained"}
    kwargs.setdefault("num_classes", 2)
    return {"model": cfg["model"], "channels": cfg["channels"], "kwargs": kwargs,
            "train": cfg["train"], "loss": cfg["loss"]}


def build(name: str, channels: int, kwargs: dict | None = None) -> nn.Module:
    if kwargs is not None:
        from covidnb.models import build_model

        return build_model(name, in_channels=channels, **kwargs)
    if name == "resnet18":
        import torchvision

        m = torchvision.models.resnet18(num_classes=2)
        m.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
        return m
    from covidnb.models import build_model

    return build_model("tinycnn", in_channels=channels, num_classes=2, width=16)


def _loss(setup: dict | None) -> nn.Module:
    if setup is not None and setup["kwargs"].get("num_classes") == 1:
        return _BCE()
    return nn.CrossEntropyLoss()


class _BCE(nn.Module):
    """Binary cross-entropy on one logit (DResUNet's head)."""

    def forward(self, out, y):
        return nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y.float())


def _optimizer(params, setup: dict | None, lr: float):
    t = (setup or {}).get("train", {})
    if t.get("optimizer") == "sgd":
        return torch.optim.SGD(params, lr=t["lr"], momentum=t.get("momentum", 0.9),
                               weight_decay=t.get("weight_decay", 0.0))
    return torch.optim.Adam(params, lr=t.get("lr", lr), betas=(t.get("momentum", 0.9), 0.999),
                            weight_decay=t.get("weight_decay", 0.0))


SETUP: dict | None = None  # the --paper setup, shared by both loops


def bare_loop(model, ds, epochs, batch_size, lr, seed) -> float:
    torch.manual_seed(seed)
    opt = _optimizer(model.parameters(), SETUP, lr)
    loss_fn = _loss(SETUP)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        loader = DataLoader(
            ds, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
        )
        total = 0.0
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch["image"]), batch["label"])
            loss.backward()
            opt.step()
            total += loss.item()
    return time.perf_counter() - t0


def covidnb_fit(model, ds, epochs, batch_size, lr, seed) -> float:
    from covidnb.train import TrainConfig, fit

    t = (SETUP or {}).get("train", {})
    opt = {"lr": lr, **{k: t[k] for k in ("optimizer", "lr", "momentum", "weight_decay") if k in t}}
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, progress=False,
                      device="cpu", **opt)
    t0 = time.perf_counter()
    fit(model, _loss(SETUP), ds, None, cfg)
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tinycnn", choices=["tinycnn", "resnet18"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--paper", default=None, metavar="CHAPTER:MODEL",
                    help="the model and optimiser of a chapter's paper profile, e.g. dsn_saal:vgg16_bn")
    args = ap.parse_args(argv)
    global SETUP
    torch.set_num_threads(args.threads)
    channels, kwargs = 1, None
    if args.paper:
        SETUP = paper_setup(args.paper)
        args.model, channels, kwargs = SETUP["model"], SETUP["channels"], SETUP["kwargs"]
    ds = TensorSamples(args.n, args.size, channels)
    samples = args.n * args.epochs
    times = {"bare": [], "fit": []}
    # warm-up: first-call costs (imports, allocator) belong to neither
    covidnb_fit(build(args.model, channels, kwargs), ds, 1, args.batch_size, 1e-3, 0)
    bare_loop(build(args.model, channels, kwargs), ds, 1, args.batch_size, 1e-3, 0)
    for r in range(args.repeats):
        order = ("bare", "fit") if r % 2 == 0 else ("fit", "bare")
        for which in order:
            torch.manual_seed(r)
            model = build(args.model, channels, kwargs)
            fn = bare_loop if which == "bare" else covidnb_fit
            times[which].append(fn(model, ds, args.epochs, args.batch_size, 1e-3, r))
    # best-of-N is the primary figure (as timeit does): on a shared machine, interference only
    # ever slows a repeat down; the median is reported beside it
    thr = {k: samples / min(v) for k, v in times.items()}
    med = {k: samples / statistics.median(v) for k, v in times.items()}
    result = {
        "model": args.model,
        "paper": args.paper,
        "size": args.size,
        "n": args.n,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "threads": args.threads,
        "bare_samples_per_s": round(thr["bare"], 1),
        "fit_samples_per_s": round(thr["fit"], 1),
        "ratio_fit_over_bare": round(thr["fit"] / thr["bare"], 3),
        "ratio_of_medians": round(med["fit"] / med["bare"], 3),
        "times_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
