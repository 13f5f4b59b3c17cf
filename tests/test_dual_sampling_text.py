"""The paper's text numbers about its method, and their checks against its own tables."""

from __future__ import annotations

import math

from covidnb.chapters.dual_sampling_text import check_method_numbers, method_numbers


def test_transcribed_numbers():
    n = method_numbers()
    assert n.loc["alpha", "value"] == 100 and n.loc["beta", "value"] == 0.4
    assert n.loc["w_outside", "value"] == 0.35 and n.loc["w_inside", "value"] == 0.96
    assert n.loc["inference_s", "value"] == 4.6


def test_checks():
    c = check_method_numbers().set_index("id")
    # 625 / (151 + 318) from Table III's TV counts
    assert math.isclose(c.loc["w_covid_small", "recomputed"], 625 / 469)
    assert c.loc[["window_low", "window_high"], "recomputed"].tolist() == [-1350, 150]
    # the §IV-E sentence "sensitivity ... from 0.965 to 0.955" quotes Table III's accuracy cells
    assert not c.loc["text_sens_large_us", "agrees"]
    assert "Accuracy" in c.loc["text_sens_large_us", "from"]
    assert c.loc["text_sens_small_ss", "agrees"] and c.loc["alpha", "agrees"]
