import json
import os
import sys

import nbformat
import pytest

from covidnb import runner
from covidnb.cli import main


def _notebook(path, tagged=True):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nfail = False")
    if tagged:
        params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import os\nif fail:\n    raise ValueError(f'asked to fail at x={x}')"
        ),
        nbformat.v4.new_code_cell(
            "open(f'out_{x}.txt', 'w').write(f\"{x * 2} {os.environ['COVIDNB_PROGRESS']}\")"
        ),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def test_grid_expansion_and_slugs(tmp_path):
    sets = runner.expand_grid({"lr": [0.1, 0.01], "seed": [0, 1, 2], "profile": "smoke"})
    assert len(sets) == 6 and sets[0] == {"lr": 0.1, "seed": 0, "profile": "smoke"}
    assert runner.expand_grid([{"a": 1}, {"a": 2, "b": 3}]) == [{"a": 1}, {"a": 2, "b": 3}]
    assert runner.param_slug({"a": 1, "b": "x y"}) == runner.param_slug({"b": "x y", "a": 1})
    assert runner.param_slug({"a": 1}) != runner.param_slug({"a": "1"})
    bad = tmp_path / "g.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(runner.BatchInputError, match="g.yaml.*not mappings"):
        runner.load_grid(bad)
    with pytest.raises(runner.BatchInputError, match="empty list"):
        runner.expand_grid({"a": []})


def test_untagged_notebook_refused(tmp_path, capsys):
    nb = _notebook(tmp_path / "plain.ipynb", tagged=False)
    with pytest.raises(runner.BatchInputError, match="plain.ipynb: no cell is tagged 'parameters'"):
        runner.run_batch(nb, [{}], tmp_path / "out")
    assert main(["run", str(nb)]) == 2
    assert "plain.ipynb" in capsys.readouterr().err
    with pytest.raises(runner.BatchInputError, match="no Jupyter kernel named 'nope'"):
        runner.require_kernel("nope")


def test_grid_run_ledger_skip_and_failure(tmp_path, capsys):
    nb = _notebook(tmp_path / "nb.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    grid = tmp_path / "grid.yaml"
    grid.write_text("- {x: 2}\n- {x: 3}\n- {x: 4, fail: true}\n")
    out = tmp_path / "out"
    args = [
        "run",
        str(nb),
        "--grid",
        str(grid),
        "--out",
        str(out),
        "--cwd",
        str(work),
        "--kernel",
        "python3",
    ]
    assert main(args + ["--dry-run"]) == 0
    assert "3 parameter set(s)" in capsys.readouterr().out
    assert main(args) == 1  # one set failed, the others ran
    text = capsys.readouterr().out
    assert "2 ok, 1 failed" in text and "ValueError: asked to fail at x=4" in text
    assert (work / "out_2.txt").read_text() == "4 0" and (work / "out_3.txt").read_text() == "6 0"
    ledger = json.loads((out / "ledger.json").read_text())
    assert sorted(e["status"] for e in ledger.values()) == ["done", "done", "failed"]
    failed = next(e for e in ledger.values() if e["status"] == "failed")
    assert failed["params"] == {"x": 4, "fail": True} and "asked to fail" in failed["error"]
    executed = nbformat.read(next(out.glob("nb__x-2*.ipynb")), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    # second pass: done sets are skipped, the failed one is retried (here in a subprocess, --jobs 2)
    (work / "out_2.txt").unlink()
    assert main(args + ["--jobs", "2"]) == 1
    text = capsys.readouterr().out
    assert text.count("[skipped]") == 2 and "asked to fail at x=4" in text
    assert not (work / "out_2.txt").exists()


def test_submitit_missing_is_clear(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    nb = _notebook(tmp_path / "nb.ipynb")
    with pytest.raises(runner.BatchInputError, match="pip install 'covidnb\\[batch\\]'"):
        runner.run_batch(nb, [{"x": 5}], tmp_path / "out", executor="submitit")


def test_executed_notebooks_keep_their_figures_under_a_headless_backend(tmp_path, monkeypatch):
    # CI exports MPLBACKEND=Agg; a kernel inheriting it would draw every figure and show none.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, x]);")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "fig.ipynb")
    res = runner.execute_notebook(str(tmp_path / "fig.ipynb"), str(tmp_path / "out.ipynb"), {"x": 2},
                                  "python3", str(tmp_path))
    assert res.status == "done", res
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert any("image/png" in o.get("data", {}) for o in out.cells[-1].outputs)
    assert os.environ["MPLBACKEND"] == "Agg"  # restored for this process
