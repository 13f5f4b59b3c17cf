"""What ``covidnb book`` adds to its pages (issue 13): the read-only reference mode, the
provenance box, the parameters cell, machine paths, unique titles, the generated results page,
and the reviewer-table views."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from covidnb import book, book_pages
from covidnb.chapters import views
from covidnb.chapters.registry import chapters, get_chapter
from covidnb.chapters.views import present
from covidnb.paths import REPO_ROOT
from covidnb.report import overview


# -- machine paths --------------------------------------------------------------------------------
def test_scrub_replaces_repository_data_root_and_temporary_paths(monkeypatch):
    monkeypatch.setenv("COVIDNB_DATA", "/data/roots/here")
    text = f"real data under /data/roots/here/covid-ct; run {REPO_ROOT}/runs/ab12; scratch /tmp/tmpx1y2/run"
    out = book_pages.scrub(text)
    assert "/data/roots/here" not in out and str(REPO_ROOT) not in out and "/tmp/" not in out
    assert "$COVIDNB_DATA/covid-ct" in out and "<repo>/runs/ab12" in out and "<tmp>" in out


# -- the executed notebook ------------------------------------------------------------------------
def _executed(tmp_path: Path, title: str = "# Reported tables and their checks") -> Path:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": title + "\n\nSome words."},
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [], "execution_count": 1,
         "source": 'profile = "smoke"'},
        {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "outputs": [],
         "execution_count": 2, "source": 'profile = "cpu"'},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": "print(root)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": f"files in {REPO_ROOT}/nbs\n"}]},
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_finish_notebook_adds_the_box_hides_the_injected_cell_and_labels_the_parameters(tmp_path):
    path = _executed(tmp_path)
    book_pages.finish_notebook(path, page="nbs/dresunet/reported_tables", profile="cpu",
                               mode=book.REFERENCE, slug="dresunet", seconds=12.3, commit="abc123")
    nb = json.loads(path.read_text())
    title = "".join(nb["cells"][0]["source"])
    first_line = title.splitlines()[0]
    assert first_line.startswith("# Reported tables and their checks — ")  # one title per chapter
    assert get_chapter("dresunet").title.split(":")[0] in first_line
    assert title.index(book_pages.PROVENANCE_CLASS) < title.index("Some words.")  # under the title
    for needed in ("**Profile:** `cpu`", "`abc123`", "in 12 s", "covidnb book --only nbs/dresunet/reported_tables"):
        assert needed in title, needed
    tags = {i: c["metadata"].get("tags", []) for i, c in enumerate(nb["cells"])}
    injected = next(i for i, t in tags.items() if "injected-parameters" in t)
    params = next(i for i, t in tags.items() if "parameters" in t)
    assert "remove-cell" in tags[injected] and "hide-input" in tags[params]
    assert "parameters" in "".join(nb["cells"][params - 1]["source"])  # the label above it
    printed = "".join(nb["cells"][-1]["outputs"][0]["text"])
    assert str(REPO_ROOT) not in printed and "<repo>/nbs" in printed


def test_a_synthetic_page_says_so_in_its_box(tmp_path):
    path = _executed(tmp_path, "# A page")
    nb = json.loads(path.read_text())
    nb["cells"][-1]["outputs"][0]["text"] = "*** SYNTHETIC DATA *** phantoms\n"
    path.write_text(json.dumps(nb))
    book_pages.finish_notebook(path, page="nbs/x/a", profile="smoke", mode="smoke", slug=None,
                               seconds=1, commit="abc")
    box = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert "SYNTHETIC phantom data" in box and "smoke profile: a pipeline check" in box


def test_reference_mode_reads_records_at_their_profile_and_trains_nothing():
    nb = REPO_ROOT / "nbs" / "dresunet" / "03-training.ipynb"
    params, profile, env = book.notebook_plan(nb, book.REFERENCE)
    assert params == {"profile": profile} and profile == overview.reference_profile("dresunet")
    assert env["COVIDNB_READ_ONLY"] == "1" and env["COVIDNB_PAGE"] == "nbs/dresunet/03-training"
    params, profile, env = book.notebook_plan(nb, "smoke")
    assert params == {"profile": "smoke"} and env["COVIDNB_READ_ONLY"] == "0"
    assert "profile" in book.parameter_names(nb) and "store" in book.parameter_names(nb)


def test_reference_profile_is_the_records_profile(tmp_path):
    for i, prof in enumerate(["paper", "cpu", "cpu"]):
        d = tmp_path / "ch" / f"r{i}"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"config": {"profile": prof}}))
    assert overview.reference_profile("ch", tmp_path) == "cpu"
    assert overview.reference_profile("none", tmp_path) == overview.DEFAULT_PROFILE


# -- read-only stores ------------------------------------------------------------------------------
def test_read_only_never_trains_and_names_the_command(monkeypatch, tmp_path):
    monkeypatch.setenv("COVIDNB_READ_ONLY", "1")
    ch = get_chapter("dresunet")
    cfg = ch.experiment_config("smoke", "simplecnn", 0)  # no smoke record is committed
    lines = []
    runs = views.collect_runs([cfg], tmp_path, log=lines.append)
    assert runs == [] and "not re-run yet" in lines[-1]
    assert views.read_only()
    with pytest.raises(views.NotReRun, match="book trains nothing"):
        views.run_with_checkpoint(cfg, tmp_path)
    plan = ch.reference_plan("cpu")
    assert views.rerun_command(plan[2]).endswith("--profile cpu --items 3")
    note = views.not_rerun_note([cfg])
    assert "simplecnn seed 0" in note and "reference dresunet --profile smoke --items" in note


# -- reviewer tables ------------------------------------------------------------------------------
def test_cells_and_tables_for_a_reviewer():
    assert present.cell_text(math.nan) == "—" and present.cell_text(None) == "—"
    assert present.cell_text(12345) == "12,345" and present.cell_text(0.12345) == "0.123"
    frame = pd.DataFrame({"auc": ["0.812 ± 0.020", "— (n = 0 of 3)"]},
                         index=pd.Index(["a", "b"], name="Model"))
    html = present.table_html(frame)
    assert "<th>Model</th>" in html and html.count("<th>") == 2  # the index is a column, not an index
    assert 'class="nw">0.812 ± 0.020' in html  # mean ± std never wraps


def _result(note: str = "") -> pd.DataFrame:
    res = pd.DataFrame({
        "Model": ["A", "A", "B", "B"], "metric": ["ACC %", "AUC %"] * 2,
        "printed": [85.5, 95.0, 80.0, math.nan], "printed_sd": [math.nan] * 4,
        "rerun_mean": [60.0, 70.0, 70.0, 71.0], "rerun_std": [1.0, 2.0, math.nan, 1.0],
        "n_runs": [3, 3, 1, 3], "difference": [-25.5, -25.0, -10.0, math.nan], "unit": ["%"] * 4,
        "comparable": [True] * 4, "note": [note] * 4})
    res.attrs["runs"] = {"A": 3, "B": 3}
    return res


def test_comparison_cells_gap_summary_and_smoke_without_paper():
    ch = get_chapter("dresunet")
    gaps = present.gap_summary(ch, _result())
    assert gaps == ["ACC %: -25.5 to -10.0 points over 2 row(s)", "AUC %: -25.0 points over 1 row(s)"]
    cells = present.comparison_cells(ch, _result())
    assert list(cells.columns[:2]) == ["Model", "runs"]
    a = cells.set_index("Model").loc["A", "ACC %"]
    assert '"paper">85.50<' in a and '"rerun">60.00 ± 1.00<' in a and "Δ -25.50" in a
    assert "n = 1 of 3" in cells.set_index("Model").loc["B", "ACC %"]
    smoke = present.comparison_cells(ch, _result(views.NOT_COMPARABLE))
    assert not smoke.drop(columns="note").astype(str).apply(lambda c: c.str.contains("paper")).any().any()


def test_findings_show_as_a_list_with_their_meaning():
    from covidnb.report import notebook as rn

    shown = rn.show_findings("dresunet")
    html = shown._repr_html_()
    assert "<ul" in html and "What it means:" in html and "flag(s)" in html
    assert isinstance(shown.head(), pd.DataFrame)  # still a frame for code


# -- generated pages ------------------------------------------------------------------------------
def test_results_page_lists_every_registered_chapter():
    sts = overview.statuses()
    text = overview.results_markdown(sts)
    for ch in chapters():
        assert f"## {ch.slug}:" in text
        if not ch.has_experiments:
            assert "reported tables only" in text
    built = [s for s in sts if s.built and s.done]
    for s in built:
        assert s.done <= s.planned and s.claims_same <= s.claims_total


def test_status_page_and_header_insertion(tmp_path):
    log = {"nbs/a/01": {"mode": "reference (read-only)", "profile": "cpu", "seconds": 3.2,
                        "status": "failed", "when": "now",
                        "error": f"PapermillExecutionError: \n------\nIn [3]:\n---> 1 x\nKeyError: 'Model' in {REPO_ROOT}"}}
    text = book_pages.status_markdown(log)
    assert "| [nbs/a/01](../nbs/a/01.ipynb) |" in text and "1 notebook(s) failed" in text
    assert "- `nbs/a/01`: `KeyError: 'Model' in <repo>`" in text and "------" not in text
    assert str(REPO_ROOT) not in text
    assert "not executed" in book_pages.status_markdown({})
    page = book_pages._insert_after_title("# Title\n\nBody\n", "BOX")
    assert page.index("BOX") < page.index("Body")


def test_a_frame_of_no_runs_has_the_chapters_columns():
    """A chapter without committed runs: its page's code runs on an empty frame with its columns."""
    for ch in chapters(built_only=True):
        frame = views.runs_frame(ch, [])
        assert frame.empty and {"key", "seed", "auc", "synthetic"} <= set(frame.columns)
    assert "Model" in views.runs_frame("dresunet", []).columns
    assert views.results_table("dresunet", views.runs_frame("dresunet", [])).empty


def test_a_profile_without_a_plan_names_no_reference_command():
    # deepcxray plans no real-data run at cpu: suggesting `reference deepcxray` would train nothing
    st = overview.ChapterStatus(slug="deepcxray", title="t", built=True, profile="cpu", planned=0,
                                no_plan_note=get_chapter("deepcxray").no_plan_note)
    assert "covidnb.chapters.reference" not in st.state
    assert "no real-data run is planned" in st.state and "results/deepcxray/phantom/" in st.state
    planned = overview.ChapterStatus(slug="dresunet", title="t", built=True, profile="cpu", planned=21)
    assert "python -m covidnb.chapters.reference dresunet --profile cpu" in planned.state
