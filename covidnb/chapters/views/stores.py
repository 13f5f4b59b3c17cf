"""Run-store helpers every chapter's notebooks share: a notebook's session set-up, resolve a
store by name, read a configuration's finished run (from the committed reference store first),
train what is missing into a scratch store — never into ``results/`` — a run with its
checkpoint for Grad-CAM, and the synthetic banner."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from covidnb.chapters import RESULTS_ROOT
from covidnb.chapters.registry import get_chapter
from covidnb.paths import REPO_ROOT, runs_root

# Set by ``covidnb book`` (its default, reference mode): the book shows the committed reference
# records and trains nothing; a configuration without a record is shown as "not re-run yet".
READ_ONLY_ENV = "COVIDNB_READ_ONLY"


class NotReRun(RuntimeError):
    """A run the page needs is not among the committed records (read-only book build)."""


def read_only() -> bool:
    """True while the book is built from the committed records (``COVIDNB_READ_ONLY=1``)."""
    import os

    return os.environ.get(READ_ONLY_ENV, "") not in ("", "0", "false", "no")


def rerun_command(config: dict) -> str:
    """The command that produces ``config``'s reference record: the chapter's reference runner at
    the configuration's plan position; for a configuration outside the plan, the book command
    that executes this page (``COVIDNB_PAGE``, set by ``covidnb book``) at that profile."""
    import os

    from covidnb.chapters.registry import get_chapter
    from covidnb.experiment import normalise_config
    from covidnb.runs.keys import config_key

    def key(cfg: dict) -> str:
        norm = normalise_config({k: v for k, v in cfg.items() if k not in ("synthetic", "root")})
        norm.pop("root", None)
        norm.pop("synthetic", None)
        return config_key(norm)

    slug, profile = config.get("chapter"), config.get("profile")
    try:
        plan = get_chapter(slug).reference_plan(profile)
        want = key(config)
        for i, cfg in enumerate(plan, 1):
            if key(cfg) == want:
                return f"python -m covidnb.chapters.reference {slug} --profile {profile} --items {i}"
    except Exception:  # noqa: BLE001, S110 — no plan: the page's own command below still re-runs it
        pass
    page = os.environ.get("COVIDNB_PAGE", f"nbs/{slug}")
    return f"covidnb book --profile {profile} --only {page} (not in the reference plan; trains into runs/)"


def not_rerun_note(configs: Iterable[dict]) -> str:
    """Markdown naming each configuration without a committed record and the command for it."""
    lines = [f"- **not re-run yet:** {c['model']} seed {c['seed']}"
             + (f" ({c['loss']})" if c.get("loss") else "") + f" — `{rerun_command(c)}`"
             for c in configs]
    return ("" if not lines else
            f"**{len(lines)} configuration(s) of this page are not among the committed records:**\n\n"
            + "\n".join(lines))


# -- session ------------------------------------------------------------------------------------
def setup(chapter, profile: str, progress: bool | None = None) -> dict[str, Any]:
    """Display options for a notebook; returns the profile's settings.

    For ``smoke`` the models are so small that a second intra-op thread costs more in
    synchronisation than it saves (measured 3–6× slower on a busy 2-core machine, a smoke VGG
    and a width-4 DResUNet), so torch gets one thread; progress bars are off for ``smoke``
    (``progress=None``) to keep CI logs short.
    """
    import os

    import pandas as pd
    import torch

    pd.set_option("display.max_colwidth", 120)
    pd.set_option("display.width", 160)
    if profile == "smoke":
        torch.set_num_threads(1)
    if progress is False or (progress is None and profile == "smoke"):
        os.environ["COVIDNB_PROGRESS"] = "0"
    return get_chapter(chapter).settings(profile)


# -- stores and runs ----------------------------------------------------------------------------
def resolve_store(store: Any = "runs"):
    """A :class:`~covidnb.runs.RunStore` from a name: ``"runs"`` (``COVIDNB_RUNS`` or
    ``<repo>/runs``), ``"results"`` (the reference re-run), a path (relative: to the repository
    root), or a store itself."""
    from covidnb.runs import RunStore

    if isinstance(store, RunStore):
        return store
    if store is None or store == "runs":
        return RunStore(runs_root())
    if store == "results":
        return RunStore(RESULTS_ROOT)
    path = Path(store).expanduser()
    return RunStore(path if path.is_absolute() else REPO_ROOT / path)


def is_reference(store) -> bool:
    """True for the committed reference store (``results/``), which notebooks never write."""
    return resolve_store(store).root.resolve() == RESULTS_ROOT.resolve()


def stored_run(config: dict, store, synthetic: bool = False):
    """The *finished* run of ``config`` in ``store`` (a store or a name, see ``resolve_store``)."""
    from covidnb.experiment import find_run

    return find_run(config, resolve_store(store), synthetic)


def collect_runs(configs: Iterable[dict], store: Any = "runs", *, train: bool = True,
                 reference: Any = "results", keep_checkpoints: bool = True,
                 drop_missing: bool = True, log: Callable[[str], None] = print) -> list:
    """The runs of ``configs``, in order: done in the reference store → read from there; else
    trained into ``store`` (or reused when done there) when ``train`` — never into the reference
    store; else read from ``store`` if done there; else missing: named in the log and left out
    (``drop_missing=False`` keeps ``None`` in its place, so the list stays aligned with
    ``configs``)."""
    from covidnb.experiment import run_experiment

    if read_only():  # the book: the committed records only, nothing trained, nothing local
        store, reference, train = "results", None, False
    target = resolve_store(store)
    ref = resolve_store(reference) if reference is not None else None
    use_ref = ref is not None and ref.root.resolve() != target.root.resolve()
    writable = train and not is_reference(target)
    missing: list[dict] = []
    runs, counts = [], {"reused": 0, "read from the reference store": 0, "trained": 0, "missing": 0}
    for cfg in configs:
        # The reference store first: it is keyed like any store, so a finished run there is
        # the very run this configuration would produce, and reading it costs nothing.
        run = stored_run(cfg, ref) if use_ref else None
        if run is not None:
            counts["read from the reference store"] += 1
        elif writable:
            existed = stored_run(cfg, target) or stored_run(cfg, target, synthetic=True)
            run = run_experiment(cfg, store=target, keep_checkpoints=keep_checkpoints)
            counts["reused" if existed is not None and existed.path == run.path else "trained"] += 1
        else:
            run = stored_run(cfg, target) or stored_run(cfg, target, synthetic=True)
            counts["reused" if run is not None else "missing"] += 1
        if run is None:
            missing.append(cfg)
            if not read_only():
                log(f"missing (not trained here): {cfg['model']} seed {cfg['seed']} "
                    f"[{cfg['profile']}] in {_shown(target.root)}")
            if drop_missing:
                continue
        runs.append(run)
    if read_only():
        counts = {"read from the committed records": counts["reused"], "not re-run yet": counts["missing"]}
    log(f"{sum(counts.values())} configurations: "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if v))
    if missing and read_only():
        from IPython.display import Markdown, display

        display(Markdown(not_rerun_note(missing)))
    return runs


def _shown(path) -> str:
    """A store's folder as a page may print it: relative to the repository, never a machine path."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT.resolve()))
    except ValueError:
        return "$COVIDNB_RUNS" if str(path) == str(runs_root()) else Path(path).name


def finished_runs(chapter, profile: str, store: Any = "runs", reference: Any = "results") -> list:
    """Every finished run of the chapter at ``profile``: the reference store's first, then the
    ones of ``store`` not already there (same key)."""
    out, seen = [], set()
    if read_only():  # the book shows the committed records only
        store, reference = "results", None
    for s in ([reference] if reference is not None else []) + [store]:
        for run in resolve_store(s).runs(status="done", chapter=get_chapter(chapter).slug, profile=profile):
            if run.key not in seen:
                seen.add(run.key)
                out.append(run)
    return out


def run_with_checkpoint(run_or_config, store: Any = "runs"):
    """The run of a configuration (or of a run) with its ``best.pt``, for Grad-CAM: reused when
    ``store`` holds it with checkpoints, else trained there again with checkpoints kept (the
    reference records keep none, and the reference store is never written)."""
    from covidnb.experiment import run_experiment

    config = getattr(run_or_config, "config", run_or_config)
    config = {k: v for k, v in config.items() if k != "synthetic"}
    if read_only():
        raise NotReRun("the committed records keep no checkpoint and the book trains nothing; "
                       f"`{rerun_command(config)}` re-runs it (its stored CAMs, where the chapter "
                       "stores them, are read instead)")
    target = resolve_store(store)
    if is_reference(target):
        raise ValueError("checkpoints are never written to the reference store; use store='runs'")
    run = stored_run(config, target) or stored_run(config, target, synthetic=True)
    force = run is not None and not (run.checkpoint_dir / "best.pt").exists()
    return run_experiment(config, store=target, force=force, keep_checkpoints=True)


def trained_model(run_or_config, store: Any = "runs", which: str = "best"):
    """``(model, run)``: the model of :func:`run_with_checkpoint`'s run, from its checkpoint."""
    from covidnb.experiment import load_model

    try:  # a run that kept its checkpoints needs no store at all
        return load_model(run_or_config, which), run_or_config
    except (FileNotFoundError, AttributeError, TypeError):
        run = run_with_checkpoint(run_or_config, store)
        return load_model(run, which), run


def synthetic_banner(runs_or_datasets: Iterable) -> str:
    """The library's synthetic-data banner when any run or dataset used a phantom, else ``""``."""
    from covidnb.data import SYNTHETIC_BANNER

    return SYNTHETIC_BANNER if any(bool(getattr(r, "synthetic", False)) for r in runs_or_datasets) else ""
