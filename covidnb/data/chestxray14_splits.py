"""Random 70 / 10 / 20 splits of ChestX-ray14 and the patient leakage they cause.

DeepCXray (Xu et al., IEEE Access 2018, §IV-A) splits the 112,120 images "70 % training, 20 %
testing, 10 % validation" at random, six times, without saying whether the draw is over images
or over patients. ChestX-ray14 holds 30,805 patients, many with dozens of follow-up images, so
an image-level draw puts most test images beside a training image of the same patient. This
module draws both kinds of split and counts that overlap, so the chapter can measure it against
the patient-level splits that exist (NIH's official list, the CheXNet reproduction's lists).

The patient id of an image is the first 8 characters of its name (``00000013_005.png`` →
``00000013``), as in ``Data_Entry_2017.csv``'s ``Patient ID`` column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")
PAPER_FRACTIONS = (0.7, 0.1, 0.2)  # §IV-A: 70 % train, 10 % validation, 20 % test
LEVELS = ("image", "patient")


def patient_of(names: Sequence[str]) -> np.ndarray:
    """The patient id of each image name (its first 8 characters)."""
    out = np.array([str(n)[:8] for n in names], dtype=object)
    bad = [n for n in names if len(str(n)) < 12 or not str(n)[:8].isdigit()]
    if bad:
        raise ValueError(f"image name(s) {bad[:3]} do not start with an 8-digit patient id "
                         "(expected NNNNNNNN_NNN.png)")
    return out


def _cuts(n: int, fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    return np.round(np.cumsum(f)[:2] * n).astype(int)


def random_split(names: Sequence[str], *, level: str = "image", seed: int = 0,
                 fractions: Sequence[float] = PAPER_FRACTIONS) -> np.ndarray:
    """The split (``"train"``/``"val"``/``"test"``) of each image in one random draw.

    ``level="image"`` shuffles the images and cuts at 70 % / 80 % (the reading of §IV-A that
    ignores patients); ``level="patient"`` shuffles the patients and gives each one's images to
    one split, cutting the shuffled patients where the running image count passes 70 % / 80 %,
    so image shares stay close to the fractions.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    names = list(names)
    n = len(names)
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=object)
    a, b = _cuts(n, fractions)
    if level == "image":
        order = rng.permutation(n)
        out[order[:a]], out[order[a:b]], out[order[b:]] = SPLITS
        return out
    patients = patient_of(names)
    uniq, inverse, counts = np.unique(patients, return_inverse=True, return_counts=True)
    order = rng.permutation(len(uniq))
    running = np.cumsum(counts[order])
    split_of_patient = np.empty(len(uniq), dtype=object)
    split_of_patient[order] = np.where(running <= a, "train", np.where(running <= b, "val", "test"))
    return split_of_patient[inverse]


def leakage_counts(names: Sequence[str], split: Sequence[str], *, held_out: str = "test",
                   train: Sequence[str] = ("train",)) -> dict[str, int | float]:
    """How many ``held_out`` images (and patients) share a patient with the ``train`` splits.

    Returns ``n_test_images``, ``leaked_images`` (test images whose patient has an image in
    training), ``leaked_share``, ``n_test_patients``, ``leaked_patients``.
    """
    frame = pd.DataFrame({"patient": patient_of(names), "split": np.asarray(split, dtype=object)})
    train_patients = set(frame.loc[frame["split"].isin(list(train)), "patient"])
    test = frame[frame["split"] == held_out]
    leaked = test["patient"].isin(train_patients)
    n = len(test)
    return {
        "n_test_images": int(n),
        "leaked_images": int(leaked.sum()),
        "leaked_share": float(leaked.mean()) if n else float("nan"),
        "n_test_patients": int(test["patient"].nunique()),
        "leaked_patients": int(test.loc[leaked, "patient"].nunique()),
    }


def leakage_table(names: Sequence[str], splits: dict[str, Sequence[str]], *, held_out: str = "test",
                  train: Sequence[str] = ("train",)) -> pd.DataFrame:
    """One row of :func:`leakage_counts` per named split assignment (index: the split's name)."""
    rows = {k: leakage_counts(names, s, held_out=held_out, train=train) for k, s in splits.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def random_split_leakage(names: Sequence[str], *, seeds: Sequence[int] = range(6), level: str = "image",
                         fractions: Sequence[float] = PAPER_FRACTIONS) -> pd.DataFrame:
    """:func:`leakage_counts` of ``len(seeds)`` random draws (six: the paper's repeats), one row
    per seed; ``train`` counts the training split only (validation patients are not scored)."""
    rows = []
    for s in seeds:
        split = random_split(names, level=level, seed=int(s), fractions=fractions)
        rows.append({"seed": int(s), "level": level, **leakage_counts(names, split)})
    return pd.DataFrame(rows)


def official_assignment(names: Sequence[str], train_val_names: Sequence[str]) -> np.ndarray:
    """NIH's official split of ``names``: ``"train"`` for the images of ``train_val_list.txt``,
    ``"test"`` for the others (the official lists partition the release, so the others are
    ``test_list.txt``). Names of the train_val list that are not in ``names`` raise
    ``ValueError``: the two would not describe the same release."""
    listed = set(train_val_names)
    stray = listed - set(names)
    if stray:
        raise ValueError(f"{len(stray)} train_val image(s) are not among the {len(names)} names, "
                         f"first {min(stray)}")
    return np.array(["train" if n in listed else "test" for n in names], dtype=object)
