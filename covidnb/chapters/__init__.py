"""Per-chapter glue: turn a chapter's profile (``nbs/<chapter>/profiles.yaml``) into the
``run_experiment`` configurations its notebooks and its reference re-run share, so that a
notebook, a batch run and the committed reference results key to the same run records."""

from pathlib import Path

from covidnb.paths import REPO_ROOT

RESULTS_ROOT: Path = REPO_ROOT / "results"


def reference_store():
    """The run store of the committed reference results (``results/<chapter>/``)."""
    from covidnb.runs import RunStore

    return RunStore(RESULTS_ROOT)
