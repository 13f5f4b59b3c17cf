"""The paper-profile runs one GPU should re-run in minutes, with their speed.

    python benchmarks/gpu_paper.py --out $OUT                        # on the GPU machine
    python benchmarks/gpu_paper.py --profile smoke --max-steps 1 --limit 2 --out /tmp/x   # CPU check

Runs, through ``run_experiment`` into a scratch run store: Hu et al. Table 8 (VGG-16-BN,
ResNet-50, DenseNet-169 with CE, and DSN-SAAL; seed 0), Hu Table 6 (baseline and DSN-SAAL at
every kept fraction of COVID-19 images; seed 0) and the thesis' Table 5.1 (seven models, seed 0),
in that order, at the ``paper`` profile. Each configuration's ``train`` gets the GPU speed
settings of :mod:`covidnb.train.speed` (bf16 autocast, channels-last, cuDNN autotuning, decoded
samples in memory; ``--plain`` leaves them out); they are part of the recorded configuration,
so these records say how they were trained (and key differently from the plan's configurations).

Writes ``OUT/paper_runs.tar.gz`` (the run store's records, without checkpoints) and ``OUT/summary.json``, and
prints one line per run: its state, accuracy and AUC, training images per second (images the
optimiser saw over the epochs' wall time, validation passes included) and the model FLOP
utilisation (MFU: 3 × the forward FLOPs of one image, counted by ``torch.utils.flop_counter``,
times images per second, over the GPU's peak dense bf16 FLOP/s: ``--peak-tflops`` or the table
below by device name; none on a CPU). ``--budget-s`` stops starting new runs once that much time
has passed, so the archive always comes back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import time
from pathlib import Path

# Peak dense bf16 tensor FLOP/s (vendor datasheets, without sparsity).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
SPEED = {"amp_dtype": "bfloat16", "channels_last": True, "cudnn_benchmark": True,
         "memory_cache": True}


def plan(profile: str, **overrides) -> list[tuple[str, dict]]:
    """``(table, config)`` in the order they run."""
    from covidnb.chapters import dresunet, dsn_saal

    p = dsn_saal.settings(profile)
    table8 = [b for b in ("vgg16_bn", "resnet50", "densenet169") if b in p["backbones"]]
    out = [("Hu Table 8", c) for c in dsn_saal.backbone_grid(profile, backbones=table8,
                                                             dsn_backbones=[], seeds=[0],
                                                             **overrides)]
    seen = {json.dumps(c, sort_keys=True) for _, c in out}
    for c in dsn_saal.imbalance_grid(profile, seeds=[0], **overrides):
        if json.dumps(c, sort_keys=True) not in seen:
            out.append(("Hu Table 6", c))
    out += [("Thesis Table 5.1", c) for c in dresunet.grid(profile, seeds=[0], **overrides)]
    return out


def with_speed(cfg: dict, max_steps: int | None, epochs: int | None, workers: int,
               plain: bool) -> dict:
    cfg = json.loads(json.dumps(cfg))
    train = cfg.setdefault("train", {})
    if not plain:
        train.update(SPEED)
    if workers:
        train["num_workers"] = workers
    if max_steps:
        train["max_steps_per_epoch"] = max_steps
    if epochs:
        train["epochs"] = epochs
    return cfg


def forward_flops(cfg: dict) -> float | None:
    """FLOPs of one forward pass of one image (or volume) of ``cfg``'s model, on the CPU."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from covidnb.models import build_model

    kw = {k: v for k, v in cfg.get("model_kwargs", {}).items() if k != "pretrained"}
    kw.setdefault("num_classes", 2)
    try:
        model = build_model(cfg["model"], in_channels=cfg["channels"], **kw).eval()
        x = torch.zeros(1, cfg["channels"], cfg["image_size"], cfg["image_size"])
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
        return float(counter.get_total_flops())
    except Exception as exc:  # noqa: BLE001 — a model FLOPs cannot be counted for: say so, go on
        print(f"  (FLOPs of {cfg['model']} not counted: {type(exc).__name__}: {exc})")
        return None


def peak_flops(arg: float | None) -> tuple[float | None, str]:
    import torch

    if not torch.cuda.is_available():
        return (arg * 1e12 if arg else None), "cpu"
    name = torch.cuda.get_device_name()
    if arg:
        return arg * 1e12, name
    for key, tf in PEAK_TFLOPS.items():
        if key in name:
            return tf * 1e12, name
    return None, name


def measure(run, cfg: dict) -> dict:
    """Images the optimiser saw, the epochs' wall seconds, and the run's test metrics."""
    import pandas as pd

    hist = pd.read_csv(run.path / "history.csv") if (run.path / "history.csv").exists() else None
    prov = json.loads((run.path / "config.json").read_text()).get("provenance", {})
    n_train = int(prov.get("datasets", {}).get("train", {}).get("n", 0))
    t = cfg["train"]
    per_epoch = n_train
    if t.get("max_steps_per_epoch"):
        per_epoch = min(n_train, t["max_steps_per_epoch"] * t.get("batch_size", 32))
    epochs = len(hist) if hist is not None else 0
    seconds = float(hist["seconds"].sum()) if hist is not None and epochs else float("nan")
    m = run.metrics if run.done else {}
    return {"images": per_epoch * epochs, "epoch_seconds": seconds,
            "accuracy": m.get("accuracy"), "auc": m.get("auc")}


def _sig(x: float | None, digits: int = 4) -> float | None:
    return float(f"{x:.{digits}g}") if x else None


def _synthetic(run) -> bool:
    prov = json.loads((run.path / "config.json").read_text()).get("provenance", {})
    return any(d.get("synthetic") for d in prov.get("datasets", {}).values() if d)


def covid_ct_present() -> bool:
    return any((Path(r) / "covid-ct" / "SHA256SUMS").exists()
               for r in os.environ.get("COVIDNB_DATA", "").split(os.pathsep) if r)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="where the archive and summary go")
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--store", default=None, help="run store (default OUT/store)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N configurations")
    ap.add_argument("--items", default=None, help="only these plan positions, e.g. 1,13")
    ap.add_argument("--max-steps", type=int, default=None, help="cap steps per epoch (CPU checks)")
    ap.add_argument("--epochs", type=int, default=None, help="override epochs (CPU checks)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    ap.add_argument("--plain", action="store_true", help="without the GPU speed settings")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--budget-s", type=float, default=None,
                    help="start no new run after this many seconds")
    ap.add_argument("--list", action="store_true", help="print the plan and exit")
    ap.add_argument("--allow-synthetic", action="store_true",
                    help="run on the phantom fallback when COVID-CT is absent (checks only)")
    args = ap.parse_args(argv)

    os.environ.setdefault("COVIDNB_PROGRESS", "0")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = plan(args.profile)
    if args.items:
        runs = [runs[int(i) - 1] for i in args.items.split(",")]
    runs = runs[: args.limit]
    if args.list:
        for i, (table, c) in enumerate(runs, 1):
            print(f"{i:3d}  {table:17s} {c['model']:14s} {c.get('loss', ''):6s} "
                  f"{c['image_size']} px  subsample {c.get('subsample')}")
        return 0

    import torch

    from covidnb.experiment import run_experiment
    from covidnb.runs import RunStore

    if not covid_ct_present() and not args.allow_synthetic:
        print("COVIDNB_DATA holds no covid-ct/: these runs would train on phantoms; give the data "
              "(benchmarks/gpu_bundle.py) or --allow-synthetic for a check", file=sys.stderr)
        return 2
    peak, device = peak_flops(args.peak_tflops)
    store = RunStore(args.store or out / "store")
    print(f"device: {device}; peak {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s; "
          f"{len(runs)} runs; torch {torch.__version__}", flush=True)
    t_start, rows, failed = time.time(), [], 0
    for i, (table, cfg0) in enumerate(runs, 1):
        if args.budget_s and time.time() - t_start > args.budget_s:
            print(f"budget of {args.budget_s:.0f} s spent: {len(runs) - i + 1} runs not started")
            break
        cfg = with_speed(cfg0, args.max_steps, args.epochs, args.workers, args.plain)
        t0 = time.time()
        try:
            run = run_experiment(cfg, store=store, raise_on_failure=False,
                                 keep_checkpoints=False)
            row = {"table": table, "model": cfg["model"], "loss": cfg.get("loss"),
                   "subsample": cfg.get("subsample"), "status": run.status.get("status"),
                   "key": run.path.name, "synthetic": _synthetic(run), **measure(run, cfg)}
        except Exception as exc:  # noqa: BLE001 — one failed run must not lose the others
            row = {"table": table, "model": cfg["model"], "loss": cfg.get("loss"),
                   "status": f"error: {type(exc).__name__}: {exc}"[:300]}
        row["wall_s"] = round(time.time() - t0, 1)
        ips = row.get("images", 0) / row["epoch_seconds"] if row.get("epoch_seconds") else None
        fwd = forward_flops(cfg)
        row["images_per_s"] = _sig(ips)
        row["forward_gflops"] = _sig(fwd / 1e9) if fwd else None
        row["mfu"] = _sig(3 * fwd * ips / peak) if (fwd and ips and peak) else None
        failed += row["status"] != "done"
        rows.append(row)
        print(f"{i:3d}/{len(runs)} {table:17s} {row['model']:14s} {row.get('loss')!s:6s} "
              f"{row['status']:6s}{' SYNTHETIC' if row.get('synthetic') else ''} acc {row.get('accuracy')} auc {row.get('auc')} "
              f"{row['images_per_s']} img/s MFU {row['mfu']} ({row['wall_s']} s)", flush=True)
    summary = {"device": device, "profile": args.profile, "peak_flops": peak,
               "speed": None if args.plain else SPEED, "seconds": round(time.time() - t_start, 1),
               "runs": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    def records_only(info: tarfile.TarInfo):  # a failed run keeps its checkpoints: not these
        return None if "checkpoints" in Path(info.name).parts or info.name.endswith(".lock") \
            else info

    with tarfile.open(out / "paper_runs.tar.gz", "w:gz") as tar:
        tar.add(store.root, arcname="store", filter=records_only)
    print(f"{len(rows)} run(s), {failed} not done; records in {out / 'paper_runs.tar.gz'}")
    return 1 if failed or len(rows) < len(runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
