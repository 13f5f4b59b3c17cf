"""Figures of the learn-at-all checks (:mod:`covidnb.train.diagnose`, :mod:`covidnb.runs.audit`,
:mod:`covidnb.data.shift`): what a reviewer looks at before trusting a re-run."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd


def lr_range_plot(tests: Mapping[str, object], ax=None):
    """Smoothed training loss against the learning rate (log axis), one line per range test,
    each with its suggested rate marked."""
    ax = ax or plt.subplots(figsize=(6, 3.6))[1]
    for name, t in tests.items():
        line, = ax.plot(t.curve["lr"], t.curve["loss"], label=f"{name} (suggested {t.suggested:.1g})")
        ax.axvline(t.suggested, color=line.get_color(), ls=":", lw=1)
    ax.set(xscale="log", xlabel="learning rate", ylabel="smoothed training loss",
           title="Learning-rate range test")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return ax


def overfit_plot(histories: Mapping[str, pd.DataFrame], ax=None):
    """Training loss per full-batch step on a fixed handful of real images, one line per model."""
    ax = ax or plt.subplots(figsize=(6, 3.4))[1]
    for name, h in histories.items():
        ax.plot(h["step"], h["loss"], label=f"{name} (accuracy {h['accuracy'].iloc[-1]:.0%})")
    ax.set(xlabel="step", ylabel="training loss", title="Can it memorise a few real images?")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return ax


def optimism_plot(audit: pd.DataFrame, by: str = "chapter", ax=None):
    """Validation AUC at the kept epoch (the selection score) against test AUC, one point per
    run: points above the diagonal are runs whose validation promised more than test gave."""
    ax = ax or plt.subplots(figsize=(4.6, 4.2))[1]
    for name, g in audit.groupby(by):
        ax.scatter(g["test_auc"], g["val_at_kept"], s=18, label=str(name))
    lo = min(audit["test_auc"].min(), audit["val_at_kept"].min(), 0.4)
    ax.plot([lo, 1], [lo, 1], color="grey", lw=1, ls="--")
    ax.set(xlabel="test AUC", ylabel="validation AUC at the kept epoch",
           title="Selection optimism", aspect="equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return ax


def cue_plot(cues: pd.DataFrame, ax=None):
    """AUC of each trivial image cue for the positive class, grouped by split (0.5 = none)."""
    ax = ax or plt.subplots(figsize=(6.5, 3.2))[1]
    cues.T.plot.bar(ax=ax, rot=0)
    ax.axhline(0.5, color="grey", lw=1, ls="--")
    ax.set(ylabel="AUC of the cue alone", ylim=(0.2, 0.8),
           title="What trivial cues say about the class, per split")
    ax.legend(title="split", loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return ax
