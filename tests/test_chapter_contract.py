"""The chapter contract, checked over every registered chapter.

Each chapter is a :class:`~covidnb.chapters.contract.Chapter` declaration in
:mod:`covidnb.chapters.registry`; these tests hold every one of them to what it declares, so a
new chapter (``book/add_a_chapter.md``) is checked the day it is registered.
"""

from __future__ import annotations

import json

import pytest
import yaml

from covidnb import book, report
from covidnb.chapters import RESULTS_ROOT
from covidnb.chapters.contract import BUILT, REPORTED_ONLY, Chapter
from covidnb.chapters.registry import chapters, get_chapter, slugs
from covidnb.experiment import normalise_config
from covidnb.paths import REPO_ROOT
from covidnb.profiles import PROFILES
from covidnb.runs import RunStore
from covidnb.runs.store import canonical_json

ALL = [c.slug for c in chapters()]
BUILT_CHAPTERS = [c.slug for c in chapters(built_only=True)]


def _configs(chapter: Chapter, profile: str) -> list[dict]:
    """Every configuration of every declared grid (a grid may list ``(label, config)`` pairs)."""
    out = []
    for name in chapter.grids:
        for item in chapter.grid(profile, name):
            out.append(item[1] if isinstance(item, tuple) else item)
    return out


def _record_key(config: dict, synthetic: bool = False) -> str:
    """The key ``run_experiment`` files a configuration under (``find_run``'s normalisation)."""
    cfg = normalise_config(config)
    cfg.pop("root", None)
    cfg["synthetic"] = synthetic
    return RunStore(RESULTS_ROOT).key(cfg)


def test_the_registry_lists_the_five_chapters_and_the_report_reads_it():
    assert set(slugs()) == {"dsn_saal", "dual_sampling", "deepcxray", "dresunet", "pepx_resnet"}
    assert tuple(report.CHAPTERS) == slugs()
    assert get_chapter("dresunet") is get_chapter(get_chapter("dresunet"))
    with pytest.raises(KeyError, match="registered"):
        get_chapter("no_such_chapter")


@pytest.mark.parametrize("slug", ALL)
def test_status_is_honest(slug):
    """A chapter with reported tables only declares no profiles, grids or reference re-run, and
    has none on disk; a built one declares them all."""
    ch = get_chapter(slug)
    assert ch.status in (BUILT, REPORTED_ONLY) and ch.title
    if ch.has_experiments:
        assert ch.profiles_path.is_file(), f"{slug}: built, but no {ch.profiles_path}"
        assert "all" in ch.grids and ch.experiment_config and ch.describe
        assert ch.positive in ch.classes and ch.metrics
    else:
        assert not ch.profiles_path.exists(), f"{slug} has profiles.yaml: register it as built"
        assert not ch.grids and ch.reference_grid is None and not ch.comparisons
        assert not (RESULTS_ROOT / slug).exists(), f"{slug} has reference records but no experiments"
        with pytest.raises(NotImplementedError, match=REPORTED_ONLY):
            ch.reference_plan("cpu")


@pytest.mark.parametrize("slug", BUILT_CHAPTERS)
def test_profile_table_has_smoke_cpu_and_paper(slug):
    data = yaml.safe_load(get_chapter(slug).profiles_path.read_text())
    assert set(PROFILES) <= set(data.get("profiles") or {}), f"{slug}: profiles {list(data['profiles'])}"
    for p in PROFILES:
        assert get_chapter(slug).settings(p)["profile"] == p


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("slug", BUILT_CHAPTERS)
def test_every_grid_configuration_normalises(slug, profile):
    """Each configuration passes ``run_experiment``'s normalisation (unknown keys and bad types
    raise there), belongs to its chapter and profile, and reads in the paper (``describe``)."""
    ch = get_chapter(slug)
    configs = _configs(ch, profile)
    assert configs, f"{slug}/{profile}: no configuration"
    for cfg in configs:
        norm = normalise_config(cfg)
        assert norm["chapter"] == slug and norm["profile"] == profile
        assert canonical_json(normalise_config(norm)) == canonical_json(norm)  # a fixed point
        assert set(ch.describe(cfg)) >= {"model"}


@pytest.mark.parametrize("slug", ALL)
def test_notebooks_are_in_the_toc(slug):
    listed = {REPO_ROOT / (f + ".ipynb") for f in book.toc_files()}
    nbs = get_chapter(slug).notebooks
    assert nbs, f"{slug}: no notebook in {get_chapter(slug).folder}"
    missing = [p.name for p in nbs if p not in listed]
    assert not missing, f"{slug}: notebooks not in _toc.yml: {missing}"


@pytest.mark.parametrize("slug", ALL)
def test_reported_tables_load_and_the_declared_comparisons_name_them(slug):
    ch = get_chapter(slug)
    loaded = report.load_chapter(slug)
    assert loaded.tables, f"{slug}: no reported table"
    assert ch.paper == loaded.spec.paper
    for cmp in ch.comparisons:
        table = report.reported_table(slug, cmp.table)
        key_source = list(cmp.key_columns) or [cmp.on[0]]
        assert set(key_source) <= set(table.columns), (slug, cmp.name, key_source)
        assert set(cmp.metrics) <= set(table.columns), (slug, cmp.name, sorted(cmp.metrics))
    for claim in ch.claims:
        assert {claim.comparison, claim.comparison_b or claim.comparison} <= {c.name for c in ch.comparisons}


@pytest.mark.parametrize("slug", BUILT_CHAPTERS)
def test_reference_records_resolve_to_their_stored_keys(slug):
    """Every committed reference record is a configuration of the chapter's reference plan at
    the profile it was recorded with, and the key recomputed from that plan configuration is
    the record's folder and the key stored in its ``config.json``."""
    folder = RESULTS_ROOT / slug
    records = {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob("*/config.json"))}
    if not records:
        pytest.skip(f"{slug}: no committed reference record")
    ch = get_chapter(slug)
    profiles = {r["config"]["profile"] for r in records.values()}
    planned = {}  # a phantom chapter's records say synthetic: true, and that is in their key
    for profile in profiles:
        for cfg in ch.reference_plan(profile):
            for synthetic in (False, True):
                key = _record_key(cfg, synthetic)
                planned[key[: len(next(iter(records)))]] = key, synthetic
    for name, record in records.items():
        assert record["key"].startswith(name), f"{slug}/{name}: stored key {record['key'][:12]}"
        assert name in planned, f"{slug}/{name}: no configuration of the reference plan keys to it"
        key, synthetic = planned[name]
        assert key == record["key"], f"{slug}/{name}: plan key {key[:12]}"
        assert record["config"].get("synthetic", False) == synthetic, f"{slug}/{name}: synthetic flag"
