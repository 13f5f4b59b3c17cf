"""The ChestX-ray14 label matrix, analysed: what the 112,120 label vectors say about DeepCXray.

Input everywhere is a frame with one 0/1 column per finding (``read_label_lists``), optionally
``patient_id`` and ``split``. The DeepCXray-specific question (Xu et al., IEEE Access 2018,
§III-B, Eq. 1–3) is how often W-CEL's weights are infinite in a batch of 16:

- β_P = (|P| + |N|)/|P| is infinite when |P| = 0. Read as Eq. 2–3 are written, |P| counts the
  ones of the whole batch label matrix (16 × 14), so β_P is infinite only when all 16 images are
  "No Finding" (:func:`wcel_infinite_probability`, ``reading="batch"``).
- Read per finding (|P_c| of column c, as "the weights of the positive and negative examples"
  suggest and as per-class implementations do), β_P^c is infinite whenever one finding has no
  positive in the batch (``reading="finding"``), which for rare findings is almost every batch.

Batches are modelled as DataLoader batches: 16 images drawn without replacement from the
training split. Exact values are hypergeometric; :func:`epoch_batch_shares` counts the same
events on real shuffled epochs of the label matrix, as a check of the formula.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln

from covidnb.data.nih import NIH_LABELS

BATCH = 16  # §IV: mini-batches of 16
PAPER_STEPS = {"pretrained (9,000 steps)": 9000, "from scratch (23,000 steps)": 23000}


def _matrix(frame: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    missing = [c for c in labels if c not in frame.columns]
    if missing:
        raise ValueError(f"label frame lacks finding column(s) {missing}")
    return frame[list(labels)].to_numpy(dtype=np.int64)


def prevalence(frame: pd.DataFrame, labels: Sequence[str] = NIH_LABELS, by: str | None = "split") -> pd.DataFrame:
    """Positives and prevalence per finding (rows), overall and per ``by`` group; the last row
    is "No Finding" (images with all 14 zero)."""
    def one(f: pd.DataFrame) -> pd.DataFrame:
        y = _matrix(f, labels)
        pos = np.append(y.sum(axis=0), int((y.sum(axis=1) == 0).sum()))
        return pd.DataFrame({"positives": pos, "prevalence": pos / max(len(f), 1)},
                            index=[*labels, "No Finding"])
    parts = {"all": one(frame)}
    if by is not None and by in frame.columns:
        parts.update({str(k): one(g) for k, g in frame.groupby(by, sort=False)})
    return pd.concat(parts, axis=1)


def cooccurrence(frame: pd.DataFrame, labels: Sequence[str] = NIH_LABELS, conditional: bool = False) -> pd.DataFrame:
    """Images with both findings i and j (diagonal: with i). ``conditional=True``: row i holds
    P(j | i), the share of i's images that also carry j."""
    y = _matrix(frame, labels)
    c = y.T @ y
    if conditional:
        c = c / np.maximum(np.diag(c)[:, None], 1)
    return pd.DataFrame(c, index=list(labels), columns=list(labels))


def labels_per_image(frame: pd.DataFrame, labels: Sequence[str] = NIH_LABELS) -> pd.Series:
    """How many images carry 0, 1, 2, … findings."""
    k = _matrix(frame, labels).sum(axis=1)
    return pd.Series(np.bincount(k), name="images").rename_axis("findings per image")


def images_per_patient(frame: pd.DataFrame) -> pd.Series:
    """Summary of the number of images per patient (count, mean, median, max, share of images
    belonging to patients with more than one image)."""
    if "patient_id" not in frame.columns:
        raise ValueError("label frame has no patient_id column")
    per = frame.groupby("patient_id").size()
    return pd.Series({"patients": len(per), "images": int(per.sum()), "mean": float(per.mean()),
                      "median": float(per.median()), "max": int(per.max()),
                      "patients with 1 image": int((per == 1).sum()),
                      "share of images from multi-image patients": float(per[per > 1].sum() / per.sum())})


def _log_comb(n, k):
    return gammaln(np.asarray(n, float) + 1) - gammaln(np.asarray(k, float) + 1) - gammaln(np.asarray(n, float) - k + 1)


def p_none_in_batch(n_total: int, n_with: np.ndarray | int, batch: int = BATCH) -> np.ndarray:
    """P(a batch of ``batch`` images drawn without replacement from ``n_total`` holds none of the
    ``n_with`` marked ones) = C(n_total − n_with, batch) / C(n_total, batch) (hypergeometric)."""
    n_with = np.asarray(n_with, dtype=float)
    free = n_total - n_with
    out = np.where(free >= batch, np.exp(_log_comb(free, np.minimum(batch, free)) - _log_comb(n_total, batch)), 0.0)
    return out


def no_positive_table(frame: pd.DataFrame, labels: Sequence[str] = NIH_LABELS, batch: int = BATCH) -> pd.DataFrame:
    """Per finding: prevalence, P(no positive in a batch) exactly and as (1 − p)^batch. This is
    also P(β_P^c = ∞) of W-CEL under the per-finding reading."""
    y = _matrix(frame, labels)
    n = len(y)
    pos = y.sum(axis=0)
    return pd.DataFrame({"positives": pos, "prevalence": pos / n,
                         "P(no positive)": p_none_in_batch(n, pos, batch),
                         "(1-p)^B": (1 - pos / n) ** batch}, index=list(labels))


def wcel_infinite_probability(frame: pd.DataFrame, labels: Sequence[str] = NIH_LABELS, batch: int = BATCH,
                              reading: str = "batch", include_normal: bool = False) -> float:
    """P(some W-CEL weight is infinite in one batch).

    ``reading="batch"``: |P| over the whole batch label matrix — infinite only when all images
    are "No Finding"; the value is exact (hypergeometric). ``reading="finding"``: |P_c| per
    finding — infinite when any column has no positive; the value is the share of such batches
    in five shuffled epochs (:func:`epoch_batch_shares`), as the exact union of 14 dependent
    events is not needed to see that it is close to 1. ``include_normal=True`` counts DeepCXray's
    auxiliary "normal" output as a 15th column: every image then has a one, so the batch
    reading can never be infinite (0.0), and the per-finding reading adds the normal column.
    """
    y = _matrix(frame, labels)
    n = len(y)
    normal = int((y.sum(axis=1) == 0).sum())
    if reading == "batch":
        return 0.0 if include_normal else float(p_none_in_batch(n, n - normal, batch))
    if reading == "finding":
        return float(epoch_batch_shares(frame, labels, batch, epochs=5, include_normal=include_normal)["any finding"])
    raise ValueError(f"reading must be 'batch' or 'finding', got {reading!r}")


def epoch_batch_shares(frame: pd.DataFrame, labels: Sequence[str] = NIH_LABELS, batch: int = BATCH,
                       epochs: int = 5, seed: int = 0, include_normal: bool = False) -> pd.Series:
    """Shares of the batches of ``epochs`` shuffled epochs (last incomplete batch dropped) in
    which: each finding has no positive; any finding has none (per-finding W-CEL infinite); the
    whole label matrix has no one (batch-wide W-CEL infinite). Also ``batches`` counted."""
    y = _matrix(frame, labels)
    if include_normal:
        y = np.hstack([y, (y.sum(axis=1, keepdims=True) == 0)])
    rng = np.random.default_rng(seed)
    m = len(y) // batch
    none_c = np.zeros(y.shape[1])
    any_c = all_zero = 0
    for _ in range(epochs):
        pos = y[rng.permutation(len(y))[: m * batch]].reshape(m, batch, -1).sum(axis=1)
        empty = pos == 0
        none_c += empty.sum(axis=0)
        any_c += int(empty.any(axis=1).sum())
        all_zero += int((pos.sum(axis=1) == 0).sum())
    total = m * epochs
    names = list(labels) + (["normal (auxiliary)"] if include_normal else [])
    return pd.Series({**dict(zip(names, none_c / total)), "any finding": any_c / total,
                      "whole batch": all_zero / total, "batches": total})


def steps_to_failure(p_step: float, steps: dict[str, int] = PAPER_STEPS) -> pd.Series:
    """P(at least one infinite-weight step in a run) = 1 − (1 − p)^steps, for the paper's step
    counts (§IV-C: 9,000 pretrained, 23,000 from scratch), treating steps as independent draws."""
    return pd.Series({k: float(-np.expm1(s * np.log1p(-p_step))) if p_step < 1 else 1.0 for k, s in steps.items()})
