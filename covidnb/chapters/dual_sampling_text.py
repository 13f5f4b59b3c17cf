"""The numbers Ouyang et al. 2020 state in their text about the method's parameters
(``nbs/dual_sampling/reported/method_numbers.csv``, transcribed as printed), and the checks of
those that the paper's own tables or arithmetic let one recompute.

Checks (each row: the printed value, what it is recomputed from, the recomputed value, agree?):

- ``W_small^covid = N_large^covid / N_small^covid`` from Table III's TV counts (the text says
  "approximately 1.5"); ``W_large^cap`` needs the CAP count at ≤ 0.001, which no table gives:
  the text's 1.5 implies ~60 % of CAP at ≤ 0.001, which must not exceed Table III's share
  below 0.005 (a consistency bound, not a recomputation).
- The window bounds from level and width: ``level ∓ width / 2``.
- The §IV-E sentences comparing Attention RN34 + US and + SS by group against Table III.
- Each profile setting of the ``paper`` profile that has a printed value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from covidnb.chapters.contract import Chapter
from covidnb.paths import chapter_dir

__all__ = ["check_method_numbers", "method_numbers"]

TEXT_TO_TABLE3 = {  # method_numbers id → (Table III metric, model, column)
    "text_sens_small_us": ("Sensitivity", "Attention RN34 + US", "Test set < 0.005"),
    "text_sens_small_ss": ("Sensitivity", "Attention RN34 + SS", "Test set < 0.005"),
    "text_spec_large_us": ("Specificity", "Attention RN34 + US", "Test set > 0.030"),
    "text_spec_large_ss": ("Specificity", "Attention RN34 + SS", "Test set > 0.030"),
    "text_sens_large_us": ("Sensitivity", "Attention RN34 + US", "Test set > 0.030"),
    "text_sens_large_ss": ("Sensitivity", "Attention RN34 + SS", "Test set > 0.030"),
    "text_spec_small_us": ("Specificity", "Attention RN34 + US", "Test set < 0.005"),
    "text_spec_small_ss": ("Specificity", "Attention RN34 + SS", "Test set < 0.005"),
}
PROFILE_KEYS = {"alpha": "alpha", "beta": "beta", "lambda": "lam", "lr": "lr",
                "weight_decay": "weight_decay", "momentum": "momentum", "batch": "batch_size",
                "epochs": "epochs", "folds": "n_folds", "threshold": "threshold",
                "w_outside": "ensemble_w_outside", "w_inside": "ensemble_w_inside"}


def _folder(chapter: str | Chapter = "dual_sampling"):
    slug = chapter.slug if isinstance(chapter, Chapter) else chapter
    return chapter_dir(slug) / "reported"


def method_numbers(chapter: str | Chapter = "dual_sampling") -> pd.DataFrame:
    """The transcribed text numbers, indexed by ``id``."""
    path = _folder(chapter) / "method_numbers.csv"
    df = pd.read_csv(path, dtype={"value": float})
    if df["id"].duplicated().any():
        raise ValueError(f"{path}: duplicate ids {df.loc[df['id'].duplicated(), 'id'].tolist()}")
    return df.set_index("id")


def _cell(table: pd.DataFrame, metric: str, model: str, column: str) -> float:
    row = table[(table["Results"] == metric) & (table["Model"] == model)]
    if len(row) != 1:
        raise KeyError(f"Table III has no single row {metric} / {model}")
    return float(row[column].iloc[0])


def check_method_numbers(chapter: str | Chapter = "dual_sampling", tol: float = 0.0015) -> pd.DataFrame:
    """One row per check: ``id, quantity, printed, recomputed, from, agrees`` (``agrees`` is
    NaN where only a bound can be checked, with the reason in ``from``)."""
    from covidnb.profiles import load_profile

    nums = method_numbers(chapter)
    folder = _folder(chapter)
    t3 = pd.read_csv(folder / "table3.csv")
    counts = pd.read_csv(folder / "table3_counts.csv").set_index("Class")
    rows = []

    def add(i, recomputed, source, agrees=None):
        printed = float(nums.loc[i, "value"])
        ok = (abs(printed - recomputed) <= tol) if agrees is None else agrees
        rows.append({"id": i, "quantity": nums.loc[i, "quantity"], "printed": printed,
                     "recomputed": recomputed, "from": source, "agrees": ok})

    cov = counts.loc["COVID-19"]
    n_small = cov["TV set < 0.005"] + cov["TV set 0.005 - 0.030"]
    w_covid = cov["TV set > 0.030"] / n_small
    add("w_covid_small", float(w_covid), f"Table III TV counts: {cov['TV set > 0.030']} / "
        f"({cov['TV set < 0.005']} + {cov['TV set 0.005 - 0.030']}); the text says 'approximately'",
        agrees=bool(abs(w_covid - 1.5) <= 0.25))
    cap = counts.loc["CAP"]
    n_cap = cap[["TV set < 0.005", "TV set 0.005 - 0.030", "TV set > 0.030"]].sum()
    implied = 1.5 / 2.5 * n_cap  # N_small / N_large = 1.5 → N_small = 0.6 N
    add("w_cap_large", np.nan,
        f"no table splits CAP at 0.001; W = 1.5 implies {implied:.0f} of {n_cap} TV CAP scans at "
        f"≤ 0.001, within Table III's {cap['TV set < 0.005']} below 0.005",
        agrees=bool(implied <= cap["TV set < 0.005"]))
    lvl, wid = float(nums.loc["window_level", "value"]), float(nums.loc["window_width", "value"])
    add("window_low", lvl - wid / 2, "level − width / 2")
    add("window_high", lvl + wid / 2, "level + width / 2")
    for i, (metric, model, col) in TEXT_TO_TABLE3.items():
        value = _cell(t3, metric, model, col)
        source = f"Table III: {metric}, {model}, {col}"
        if abs(value - float(nums.loc[i, "value"])) > tol:  # which cell does the text quote?
            same = t3[(t3["Model"] == model) & ((t3[col] - float(nums.loc[i, "value"])).abs() <= tol)]
            if len(same):
                source += f" (the printed value is that row's {', '.join(same['Results'])})"
        add(i, value, source)
    paper = load_profile("dual_sampling", "paper")
    for i, key in PROFILE_KEYS.items():
        add(i, float(paper[key]), f"profiles.yaml paper: {key}")
    add("band_low", float(paper["ensemble_band"][0]), "profiles.yaml paper: ensemble_band[0]")
    add("band_high", float(paper["ensemble_band"][1]), "profiles.yaml paper: ensemble_band[1]")
    add("size_z", float(paper["volume_size"][0]), "profiles.yaml paper: volume_size[0]")
    add("size_xy", float(paper["volume_size"][1]), "profiles.yaml paper: volume_size[1]")
    return pd.DataFrame(rows)
