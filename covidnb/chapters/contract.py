"""What a chapter declares: the one shape every chapter of the book has.

A chapter is a paper re-run. Its module (``covidnb/chapters/<slug>.py``) turns the chapter's
profile file (``nbs/<slug>/profiles.yaml``) into ``run_experiment`` configurations and ends with
one :class:`Chapter` declaration; :mod:`covidnb.chapters.registry` lists the declarations of all
five chapters. Everything shared — the reference runner, the book builder, the report, the view
layer (:mod:`covidnb.chapters.views`) and the notebooks — reads a chapter only through this
declaration, so a new chapter is a declaration plus the code specific to its paper
(``book/add_a_chapter.md``).

A chapter whose paper has only been transcribed (its reported tables and their checks) is
declared with ``status=REPORTED_ONLY``: no profiles, no grids, no reference re-run yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covidnb.paths import chapter_dir

BUILT = "built"
REPORTED_ONLY = "reported tables only"
STATUSES = (BUILT, REPORTED_ONLY)


@dataclass(frozen=True)
class Comparison:
    """One reported table placed beside the re-run (:func:`covidnb.report.compare`).

    ``on``: (the reported table's row-label column, the runs-frame column holding the same
    labels — usually a column of the chapter's ``describe``). ``metrics``: reported column →
    ``covidnb.metrics`` name. ``where``: runs-frame column → value, the runs this table re-runs
    (e.g. one method of Table 6). ``key_columns``: reported columns joined by ``" | "`` into
    ``on[0]`` when the paper's rows are keyed by two columns. ``settings``: replaces entries of
    the chapter's ``paper_settings`` for this table (a table on another dataset, say).
    """

    name: str
    table: str
    on: tuple[str, str]
    metrics: Mapping[str, str]
    unit: str | Mapping[str, str] = "fraction"
    where: Mapping[str, Any] = field(default_factory=dict)
    key_columns: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """One comparison the paper makes, checked on the re-run paired by seed: the rows ``a`` of
    the runs frame against its reference rows ``b`` (frame column → value each), read in the
    results of ``comparison`` at the reported rows ``label_a`` / ``label_b``. ``suffix_a`` /
    ``suffix_b`` strip a method suffix from the reported column names (Table 6's ``"ACC D.S."``)."""

    table: str
    claim: str
    comparison: str
    label_a: str
    a: Mapping[str, Any]
    label_b: str
    b: Mapping[str, Any]
    suffix_a: str = ""
    suffix_b: str = ""
    comparison_b: str | None = None  # the reference's comparison when it is another table


@dataclass(frozen=True)
class Chapter:
    """A chapter's declarations. Only ``slug`` and ``title`` are required of every chapter; a
    built chapter (``status=BUILT``) also declares its classes, its configurations and how its
    runs read in the paper's tables."""

    slug: str
    title: str  # short: "Hu et al. 2021, Neurocomputing: deep supervision + SAAL"
    status: str = BUILT
    classes: tuple[str, ...] = ()
    positive: str | None = None  # the class precision / sensitivity / F1 are computed for
    # The paper's names: registry model name → row label, loss name → label, paper column →
    # covidnb.metrics name, and the unit of each paper column ("%" or "fraction").
    model_names: Mapping[str, str] = field(default_factory=dict)
    loss_names: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    digits: Mapping[str, int] = field(default_factory=lambda: {"%": 2, "fraction": 3})
    # How the re-run's data differ from the paper's, named wherever a re-run number is shown.
    substitution: str = ""
    dataset_label: str = "{dataset}"  # the runs frame's "dataset" cell, formatted with the config
    # Configurations: experiment_config(profile, …) → one run_experiment config; grids: name →
    # grid(profile, …) (``"all"``: every configuration of the chapter, each once).
    experiment_config: Callable[..., dict] | None = None
    grids: Mapping[str, Callable[..., list]] = field(default_factory=dict)
    reference_grid: Callable[[str], list[dict]] | None = None  # default: grids["all"]
    reference_cams: Callable[[dict], dict | None] | None = None
    # reference runs whose best weights are committed beside their record (a page draws maps
    # from the trained network in the read-only book); only small networks, a few runs
    reference_weights: Callable[[dict], bool] | None = None
    describe: Callable[[dict], dict] | None = None  # config → the paper's labels for its run
    comparisons: tuple[Comparison, ...] = ()
    claims: tuple[Claim, ...] = ()  # the paper's comparisons, checked paired by seed
    row_orders: Mapping[str, Sequence] = field(default_factory=dict)  # frame column → its order
    # what the status pages say when a profile plans no real-data run (e.g. where the phantom
    # runs of a chapter whose images are not staged live, and the command that makes them)
    no_plan_note: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"chapter {self.slug!r}: status {self.status!r} is not one of {STATUSES}")
        if self.status == BUILT:
            missing = [n for n in ("experiment_config", "describe", "positive") if getattr(self, n) is None]
            missing += ["grids['all']"] if "all" not in self.grids else []
            if missing:
                raise ValueError(f"chapter {self.slug!r} is built but declares no {', '.join(missing)}")
            if self.positive not in self.classes:
                raise ValueError(f"chapter {self.slug!r}: positive class {self.positive!r} "
                                 f"is not one of {self.classes}")

    # -- what follows from the declarations ----------------------------------------------------
    @property
    def has_experiments(self) -> bool:
        """False for a chapter registered with its reported tables only."""
        return self.status == BUILT

    @property
    def folder(self) -> Path:
        return Path(chapter_dir(self.slug))

    @property
    def profiles_path(self) -> Path:
        return self.folder / "profiles.yaml"

    @property
    def notebooks(self) -> list[Path]:
        return sorted(self.folder.glob("*.ipynb"))

    @property
    def paper(self) -> str:
        """The full citation, from the chapter's reported tables (``reported/tables.yaml``)."""
        from covidnb.report import load_chapter

        return load_chapter(self.slug).spec.paper

    def settings(self, profile: str | dict) -> dict[str, Any]:
        """A profile's settings (a dict passes through, copied)."""
        from covidnb.profiles import load_profile

        self._require_experiments("profiles")
        return load_profile(self.slug, profile) if isinstance(profile, str) else dict(profile)

    def grid(self, profile: str | dict, name: str = "all", **kw) -> list:
        self._require_experiments("grids")
        if name not in self.grids:
            raise KeyError(f"chapter {self.slug!r} has no grid {name!r}; known: {list(self.grids)}")
        return self.grids[name](profile, **kw)

    def reference_plan(self, profile: str) -> list[dict]:
        """The reference re-run's configurations, in the order they are trained."""
        self._require_experiments("reference plan")
        return (self.reference_grid or self.grids["all"])(profile)

    def cams(self, config: dict) -> dict | None:
        """:func:`covidnb.cam.save_run_cams` arguments for a reference run whose Grad-CAMs the
        chapter shows, else ``None``."""
        return None if self.reference_cams is None else self.reference_cams(config)

    def keeps_weights(self, config: dict) -> bool:
        """Whether the reference runner commits ``config``'s best weights with its record."""
        return bool(self.reference_weights and self.reference_weights(config))

    def label(self, kind: str, name: str) -> str:
        """The paper's label of a model or loss (``kind``: ``"model"`` / ``"loss"``)."""
        table = {"model": self.model_names, "loss": self.loss_names}[kind]
        return table.get(name, name)

    def unit(self, column: str) -> str:
        return self.units.get(column, "fraction")

    def comparison(self, name: str) -> Comparison:
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(f"chapter {self.slug!r} has no comparison {name!r}")

    def _require_experiments(self, what: str) -> None:
        if not self.has_experiments:
            raise NotImplementedError(f"chapter {self.slug!r} is registered with {REPORTED_ONLY}: it has "
                              f"no {what} yet (book/add_a_chapter.md says what to add)")
