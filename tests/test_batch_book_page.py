"""book/run_on_slurm.md works as written: every ``covidnb run`` and reference-runner command on
the page parses with today's options and maps to the submitit parameters the page's table
names; its grid expands to the sets it says; the page is in the book's table of contents."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from covidnb.batch import SubmitOptions, executor_parameters
from covidnb.paths import REPO_ROOT

PAGE = REPO_ROOT / "book" / "run_on_slurm.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def _commands(prefix: str) -> list[list[str]]:
    out = []
    for block in _blocks("bash"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(prefix):
                out.append(shlex.split(line.replace("$USER", "someone"))[len(shlex.split(prefix)):])
    return out


def test_covidnb_run_commands_parse_and_map():
    from covidnb.cli import build_parser
    from covidnb.cli.run import _submit_options

    cmds = _commands("covidnb run")
    assert len(cmds) >= 3
    slurm = None
    for argv in cmds:
        args = build_parser().parse_args(["run", *argv])
        assert Path(REPO_ROOT / args.notebook).exists(), args.notebook
        opts = _submit_options(args)
        if opts is not None and opts.cluster == "slurm":
            slurm = opts
    assert slurm is not None
    assert executor_parameters(slurm) == {
        "nodes": 1, "tasks_per_node": 1, "timeout_min": 240, "gpus_per_node": 1,
        "slurm_partition": "gpu", "slurm_array_parallelism": 4}


def test_the_grid_on_the_page_is_three_seeds_of_known_parameters():
    from covidnb.runner import check_parameters, expand_grid

    grid = yaml.safe_load(next(b for b in _blocks("yaml") if "grid.yaml" in b))
    sets = expand_grid(grid)
    assert sets == [{"profile": "paper", "seeds": [s]} for s in range(3)]
    check_parameters(REPO_ROOT / "nbs/dresunet/03-training.ipynb", sets)


def test_reference_commands_parse(monkeypatch):
    from covidnb.chapters import reference

    seen = []
    monkeypatch.setattr(reference, "run_reference_submitit",
                        lambda chapter, profile, opts, **kw: seen.append((chapter, opts)) or 0)
    monkeypatch.setattr(reference, "plan_status", lambda *a, **k: [])
    cmds = _commands("python -m covidnb.chapters.reference")
    assert len(cmds) == 2
    for argv in cmds:
        assert reference.main(argv) == 0
    assert seen and seen[0][1] == SubmitOptions(cluster="slurm", partition="gpu", time="2:00:00",
                                                gpus_per_job=1, array_parallelism=8)


def test_page_is_in_the_contributing_part_of_the_book():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    part = next(p for p in toc["parts"] if p.get("caption") == "Contributing")
    assert {"file": "book/run_on_slurm"} in part["chapters"]


@pytest.mark.parametrize("flag", ["--cluster", "--partition", "--time", "--gpus-per-job",
                                  "--array-parallelism", "--cpus-per-job", "--mem-gb", "--slurm"])
def test_every_option_the_page_lists_exists(flag):
    from covidnb.cli import build_parser

    assert f"`{flag}" in PAGE.read_text()
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert flag in help_text
