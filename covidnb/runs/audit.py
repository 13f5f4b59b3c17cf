"""Did a recorded run learn? One row per run of the checks a reviewer makes before trusting it.

A re-run says something about a paper only if its model learned. For each finished binary run
of a store this reads, from the record alone (no model is loaded):

* ``kept_epoch`` of ``epochs_run`` and the selection rule — keeping epoch 1 or 2 of 20 usually
  means validation picked near-untrained weights;
* ``val_at_kept`` (the selection score at the kept epoch; the validation AUC when the last epoch
  is kept) beside the test AUC — the optimism of choosing and estimating on the same 118
  validation images;
* ``train_loss_drop`` — first minus last epoch's training loss;
* ``one_class_share`` at the paper's 0.5 and at the recorded validation threshold — 1.0 means
  every test image got the same call (a collapsed operating point);
* ``score_spread`` — the standard deviation of the positive-class test scores; below 0.01 the
  model gives every image in effect the same score (DResUNet kept at epoch 1: 0.002–0.004);
* ``dirty`` — the record was made from a checkout with uncommitted changes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from covidnb.metrics.operating import most_called_share, one_class_share

COLLAPSE = 0.9  # a run calling at least this share of the test images one class has collapsed
CONSTANT = 0.01  # a std of the positive-class test scores below this is a constant output


def audit_run(run) -> dict:
    """The learn-at-all checks of one finished single-label run (see the module docstring).

    A multi-class run's paper rule is the argmax: the share of its most frequent called class
    stands in "at 0.5"; its operating point chosen on validation is a set of class offsets
    (``val_offsets``, :func:`covidnb.metrics.operating.class_offsets`), whose share is read from
    the confusion matrix recorded with them; its spread is the largest std of any class's
    probability (constant only if every class's is)."""
    m, cfg = run.metrics, run.config
    train = m.get("training", {})
    pred = run.predictions
    hist = run.history
    kept = train.get("best_epoch")
    select = train.get("select")
    val_at_kept = math.nan
    # "last" is no score: read the validation AUC the kept epoch had, as for val_auc selection
    score_col = "val_auc" if select == "last" else select
    if kept is not None and score_col in hist and len(hist):
        row = hist[hist["epoch"] == kept]
        val_at_kept = float(row[score_col].iloc[0]) if len(row) else math.nan
    if m.get("task") == "multiclass":
        probs = pred[[f"p_{c}" for c in m["classes"]]].to_numpy(dtype=float)
        called = probs.argmax(1)
        at_rule = float(np.bincount(called).max() / called.size) if called.size else math.nan
        thr = math.nan
        at_thr = most_called_share((m.get("val_offsets") or {}).get("confusion_matrix"))
        spread = float(probs.std(axis=0).max()) if called.size else math.nan
        test_auc = (m.get("macro") or {}).get("auc")
    else:
        score = pred[f"p_{m['positive']}"].to_numpy(dtype=float)
        thr = float((m.get("val_threshold") or {}).get("threshold", math.nan))
        at_rule = one_class_share(score, float(m.get("threshold", 0.5)))
        at_thr = one_class_share(score, thr)
        spread = float(score.std()) if score.size else math.nan
        test_auc = m.get("auc")
    return {
        "key": run.path.name,
        "model": cfg.get("model"),
        "loss": cfg.get("loss"),
        "subsample": cfg.get("subsample"),
        "seed": cfg.get("seed"),
        "kept_epoch": kept,
        "epochs_run": train.get("epochs_run"),
        "select": select,
        "val_at_kept": val_at_kept,
        "test_auc": test_auc,
        "train_loss_drop": (float(hist["train_loss"].iloc[0] - hist["train_loss"].iloc[-1])
                            if "train_loss" in hist and len(hist) else math.nan),
        "one_class_share_at_0.5": at_rule,
        "val_threshold": thr,
        "one_class_share_at_val_threshold": at_thr,
        "score_spread": spread,
        "dirty": bool(run.provenance.get("git", {}).get("dirty")),
        "commit": (run.provenance.get("git", {}).get("commit") or "")[:12],
    }


def audit_store(store, **filters) -> pd.DataFrame:
    """:func:`audit_run` over every finished single-label run (binary or multi-class) of
    ``store`` matching ``filters``."""
    rows = [audit_run(r) for r in store.runs(status="done", **filters)
            if r.metrics.get("task") in ("binary", "multiclass")]
    return pd.DataFrame(rows)


def audit_summary(frame: pd.DataFrame) -> dict:
    """The counts a reviewer asks for first: runs, collapsed ones (at the recorded threshold —
    the validation one where the record has it, else the paper's), constant outputs, early kept
    epochs (1 or 2) and dirty records."""
    if frame.empty:
        return {"runs": 0}
    at_recorded = frame["one_class_share_at_val_threshold"].fillna(frame["one_class_share_at_0.5"])
    return {
        "runs": len(frame),
        "collapsed at 0.5": int((frame["one_class_share_at_0.5"] >= COLLAPSE).sum()),
        "collapsed at the recorded threshold": int((at_recorded >= COLLAPSE).sum()),
        "constant outputs": int((frame["score_spread"] < CONSTANT).sum()),
        "kept epoch 1 or 2": int(frame["kept_epoch"].isin([1, 2]).sum()),
        "dirty records": int(frame["dirty"].sum()),
    }
