"""The book's chapters. Each chapter module (``dresunet``, ``dsn_saal``) turns its profile
(``nbs/<chapter>/profiles.yaml``) into the ``run_experiment`` configurations its notebooks and its
reference re-run share — so a notebook, a batch run and the committed reference results key to
the same run records — and ends with its declaration (:mod:`.contract`). :mod:`.registry` lists
every chapter; :mod:`.views` is the view layer they share; :mod:`.reference` runs a chapter's
reference plan. ``book/add_a_chapter.md`` says how to add one."""

from pathlib import Path

from covidnb.paths import REPO_ROOT

RESULTS_ROOT: Path = REPO_ROOT / "results"


def base_config(chapter: str, p: dict, model: str, seed: int, train_keys, **fields) -> dict:
    """The ``run_experiment`` keys every chapter fills the same way from its profile settings
    ``p``; ``fields`` adds or replaces the chapter's own (subsample, model_kwargs, loss, …)."""
    cfg = {
        "chapter": chapter,
        "profile": p["profile"],
        "dataset": p["dataset"],
        "image_size": int(p["image_size"]),
        "channels": int(p["channels"]),
        "model": model,
        "augment": p.get("augment"),
        "seed": int(seed),
        "train": {k: p[k] for k in train_keys if k in p},
    }
    cfg.update(fields)
    return cfg


def reference_store():
    """The run store of the committed reference results (``results/<chapter>/``)."""
    from covidnb.runs import RunStore

    return RunStore(RESULTS_ROOT)
