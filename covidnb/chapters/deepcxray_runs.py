"""The deepcxray chapter's runs: collected (the phantom reference store first), one row per run
with its per-finding AUCs, the loss comparison of Tables 1–2 and the loss curves of Fig. 4.

The shared view layer reads single-label metrics; a DeepCXray run records the multi-label
metrics of :func:`covidnb.metrics.multilabel_auc` (``macro.auc``, ``per_label.<finding>.auc``),
and a W-CEL run may have *failed* on an infinite weight — it is kept, with its reason, rather
than dropped. Phantom runs are labelled synthetic in every frame and figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from covidnb.chapters.deepcxray import PHANTOM_STORE, SPEC, describe

PHANTOM_PANEL = ("*** SYNTHETIC PHANTOM *** labels drawn from the real ChestX-ray14 label matrix, images "
                 "generated; these AUCs say how the losses behave on that phantom, not how they do on "
                 "chest X-rays, and are not comparable with the paper's Tables 1-2.")


def collect(configs: Iterable[dict], store="runs", *, train: bool = True, keep_checkpoints: bool = True,
            log: Callable[[str], None] = print) -> list:
    """The run of each configuration (failed ones included): the committed phantom store
    (``results/deepcxray/phantom/``) first, then a finished or failed record in ``store``;
    trained into ``store`` when neither has it and ``train`` (never while the book is built
    read-only). ``None`` where missing."""
    from covidnb.chapters.views.stores import read_only, resolve_store
    from covidnb.experiment import find_run, run_experiment
    from covidnb.runs import RunStore

    ref, target = RunStore(PHANTOM_STORE), resolve_store(store)
    train = train and not read_only()
    out, counts = [], {"phantom reference store": 0, "store": 0, "trained": 0, "missing": 0}
    for cfg in configs:
        run = _recorded(find_run(cfg, ref, synthetic=True, finished_only=False))
        if run is not None:
            counts["phantom reference store"] += 1
        else:
            run = (find_run(cfg, target, synthetic=True, finished_only=False)
                   or find_run(cfg, target, synthetic=False, finished_only=False))
            if run is not None and run.status.get("status") in ("done", "failed"):
                counts["store"] += 1  # a failed W-CEL run is kept as the record of its failure
            elif train:
                run = run_experiment(cfg, store=target, raise_on_failure=False, keep_checkpoints=keep_checkpoints)
                counts["trained"] += 1
            else:
                run = None
                counts["missing"] += 1
        out.append(run)
    log(", ".join(f"{k}: {v}" for k, v in counts.items() if v))
    return out


def _recorded(run):
    """``run`` when it finished or failed (a failure is a result here), else ``None``."""
    return run if run is not None and (run.status or {}).get("status") in ("done", "failed") else None


COLUMNS = ("model", "Backbone", "Loss", "AT", "Method", "pretrained", "Table 1 column", "counting",
           "split_seed", "phantom",
           "seed", "profile", "synthetic", "status", "reason", "failed at", "mean AUC", "n_defined",
           "best_epoch", "key")


def run_frame(runs: Sequence) -> pd.DataFrame:
    """One row per run: the paper's labels (``describe``), seed, profile, synthetic, status and
    its reason, mean AUC over the findings whose AUC is defined (``n_defined``), and one
    ``AUC <finding>`` column per finding (NaN when undefined or failed)."""
    rows = []
    for run in runs:
        if run is None:
            continue
        c, m, st = run.config, run.metrics or {}, run.status or {}
        row = {**describe(c), "seed": c["seed"], "profile": c.get("profile"), "synthetic": run.synthetic,
               "status": st.get("status"), "reason": st.get("reason"),
               "failed at": None if st.get("status") == "done" else _where(st.get("detail")),
               "mean AUC": (m.get("macro") or {}).get("auc", math.nan), "n_defined": m.get("n_defined"),
               "best_epoch": (m.get("training") or {}).get("best_epoch"), "key": run.key[:12]}
        per = m.get("per_label") or {}
        row.update({f"AUC {k}": per.get(k, {}).get("auc", math.nan) for k in SPEC.classes})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, *(f"AUC {k}" for k in SPEC.classes)])


def _where(reason) -> str | None:
    if isinstance(reason, dict) and "step" in reason:
        return f"epoch {reason.get('epoch')}, step {reason.get('step')}, loss {reason.get('value')}"
    return None if reason is None else str(reason)[:120]


def _order(index) -> list:
    known = list(SPEC.row_orders["Method"])
    return sorted(index, key=lambda v: known.index(v) if v in known else len(known))


def loss_comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean AUC per method: mean ± std over seeds, runs done / failed (the phantom panel of
    Tables 1–2)."""
    if frame.empty:
        return pd.DataFrame()
    g = frame.groupby("Method")
    out = pd.DataFrame({"runs": g.size(), "failed": g["status"].apply(lambda s: int((s != "done").sum())),
                        "mean AUC": g["mean AUC"].mean(), "std": g["mean AUC"].std(ddof=1),
                        "min": g["mean AUC"].min(), "max": g["mean AUC"].max()})
    return out.loc[_order(out.index)]


def per_finding(frame: pd.DataFrame, by: str = "Method") -> pd.DataFrame:
    """Per-finding AUC (rows) of each method (columns, the ``by`` column's labels), mean over
    seeds: Tables 1–2's layout."""
    cols = [f"AUC {k}" for k in SPEC.classes]
    t = frame.groupby(by)[cols].mean().T
    t.index = list(SPEC.classes)
    t.loc["AUC(Mean)"] = frame.groupby(by)["mean AUC"].mean()
    return t[_order(t.columns)]


def loss_curves(runs: Sequence, by: str = "Method", ax=None):
    """Training (solid) and validation (dashed) loss per epoch, one colour per ``by`` value,
    seeds averaged (Fig. 4's curves; the paper plots steps, smoothed)."""
    import matplotlib.pyplot as plt

    parts = []
    for run in runs:
        if run is None:
            continue
        h = run.history
        if h is None or not len(h):
            continue
        parts.append(h.assign(**{by: describe(run.config)[by]}))
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    if not parts:
        ax.set_title("no training history")
        return ax
    hist = pd.concat(parts, ignore_index=True)
    for j, name in enumerate(_order(list(hist[by].unique()))):
        h = hist[hist[by] == name]
        mean = h.groupby("epoch")[["train_loss", "val_loss"]].mean()
        ax.plot(mean.index, mean["train_loss"], color=f"C{j}", label=str(name))
        ax.plot(mean.index, mean["val_loss"], color=f"C{j}", ls="--")
    ax.set(xlabel="epoch", ylabel="loss (log scale)", yscale="log", title="training (solid) and validation (dashed) loss")
    ax.legend(fontsize=7, ncol=2)
    return ax


def batch_loss_spread(losses: dict[str, tuple[str, dict]], label_matrix: np.ndarray, batches: int = 2000,
                      batch: int = 16, seed: int = 0) -> pd.DataFrame:
    """The value of each loss (label → (registry name, keywords)) over ``batches`` random batches
    of the label matrix, for a network that has learnt the base rates only: every image gets the
    logits log(p_c/(1 − p_c)) of the findings' prevalences. All variation then comes from the
    labels of the batch — the oscillation §III-B attributes to W-CEL. (At f = 1/2 the batch-wide
    W-CEL would be constant: Σ weights = 2 (|P| + |N|) whatever the labels.) Non-finite values
    are counted, not averaged."""
    import torch

    from covidnb.losses import build_loss

    y_all = torch.from_numpy(np.array(label_matrix, dtype=np.float32))
    rng = np.random.default_rng(seed)
    idx = [rng.choice(len(y_all), size=batch, replace=False) for _ in range(batches)]
    p = y_all.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    base = torch.log(p / (1 - p)).expand(batch, -1)
    rows = {}
    for label, (name, kw) in losses.items():
        fn = build_loss(name, **kw)
        vals = np.array([float(fn(base, y_all[i])) for i in idx])
        ok = vals[np.isfinite(vals)]
        stats = ({"mean": ok.mean(), "std": ok.std(), "std / mean": ok.std() / ok.mean(), "min": ok.min(),
                  "max": ok.max()} if len(ok) else dict.fromkeys(("mean", "std", "std / mean", "min", "max"), math.nan))
        rows[label] = {"batches": batches, "non-finite": int(len(vals) - len(ok)), **stats}
    return pd.DataFrame.from_dict(rows, orient="index")
