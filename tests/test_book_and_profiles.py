"""The book builder (covidnb.book), chapter profiles (covidnb.profiles) and data overview tables."""

import json
from pathlib import Path

import pytest

from covidnb import book, profiles
from covidnb.paths import REPO_ROOT


def test_every_toc_entry_exists_and_every_notebook_is_listed():
    files = book.toc_files()
    for f in files:
        candidates = [REPO_ROOT / (f + ext) for ext in ("", ".md", ".ipynb")]
        assert any(p.is_file() for p in candidates), f"_toc.yml names {f}, which does not exist"
    listed = {REPO_ROOT / (f + ".ipynb") for f in files}
    on_disk = set(REPO_ROOT.glob("nbs/*/*.ipynb"))
    assert on_disk - listed == set(), "notebooks missing from _toc.yml"


def test_committed_notebooks_have_no_outputs_and_a_parameters_cell():
    for nb_path in REPO_ROOT.glob("nbs/*/*.ipynb"):
        nb = json.loads(nb_path.read_text())
        assert not any(c.get("outputs") for c in nb["cells"]), f"{nb_path} has outputs"
        assert book._has_parameters_cell(nb_path), f"{nb_path} has no cell tagged 'parameters'"


def test_papermill_reads_every_parameter_of_every_notebook():
    """papermill's parameter parser gives up on some comments (a parenthesis after ``==``, …)
    and then drops the parameter from ``papermill --help-notebook``: every assigned name must
    come back."""
    import ast

    import papermill

    for nb_path in REPO_ROOT.glob("nbs/*/*.ipynb"):
        nb = json.loads(nb_path.read_text())
        cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
        names = {t.id for node in ast.parse("".join(cell["source"])).body
                 if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
        assert set(papermill.inspect_notebook(str(nb_path))) == names, nb_path


def _notebook(path: Path, source: str) -> Path:
    nb = {"cells": [{"cell_type": "code", "source": source, "metadata": {"tags": ["parameters"]},
                     "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def test_execution_key_follows_source_parameters_and_library(tmp_path):
    nb = _notebook(tmp_path / "a.ipynb", "profile = 'smoke'")
    k = book.execution_key(nb, {"profile": "smoke"}, "lib1")
    assert k == book.execution_key(nb, {"profile": "smoke"}, "lib1")
    assert k != book.execution_key(nb, {"profile": "cpu"}, "lib1")
    assert k != book.execution_key(nb, {"profile": "smoke"}, "lib2")  # a library change re-executes
    _notebook(nb, "profile = 'cpu'")
    assert k != book.execution_key(nb, {"profile": "smoke"}, "lib1")


def test_library_digest_is_stable():
    assert book.library_digest() == book.library_digest()


def test_load_profile_merges_defaults_and_names_bad_input():
    smoke = profiles.load_profile("dresunet", "smoke")
    assert smoke["profile"] == "smoke" and smoke["dataset"] == "covid-ct"
    assert smoke["image_size"] < profiles.load_profile("dresunet", "paper")["image_size"]
    with pytest.raises(KeyError, match="unknown profile 'gpu'"):
        profiles.load_profile("dresunet", "gpu")
    with pytest.raises(FileNotFoundError, match="no profiles.yaml"):
        profiles.load_profile("no_such_chapter", "smoke")


def test_profile_table_shows_every_profile_side_by_side():
    table = profiles.profile_table("dresunet")
    assert list(table.columns[:3]) == ["smoke", "cpu", "paper"]
    assert table.loc["lr", "paper"] == 1e-4


def test_file_table_finds_the_jpeg_bytes_named_png():
    from covidnb.data import open_dataset, overview

    ds = open_dataset("covid-ct", "test", image_size=32, fallback="error")
    files = overview.file_table(ds)
    assert len(files) == 203
    misnamed = files[files.misnamed]
    assert set(misnamed.named_as) == {"PNG"} and set(misnamed.format) == {"JPEG"}
    assert overview.split_counts({"test": ds}).loc["total", "test"] == 203
