"""Every chapter of the book, by slug: ``get_chapter("dsn_saal")``, ``chapters()``.

The reference runner, the report, the book builder and the notebooks find a chapter here and
read it through its :class:`~covidnb.chapters.contract.Chapter` declaration; nothing outside a
chapter's own modules names a chapter's module. A chapter may be registered with its reported
tables only (``status=REPORTED_ONLY``: no profiles, grids or reference re-run); the contract test
(``tests/test_chapter_contract.py``) checks each chapter for what it declares.
"""

from __future__ import annotations

from covidnb.chapters import deepcxray, dresunet, dsn_saal, dual_sampling, pepx_resnet
from covidnb.chapters.contract import Chapter

# In the order of ../shared/papers/README.md (the book's order is _toc.yml's).
_CHAPTERS: dict[str, Chapter] = {c.slug: c for c in (
    dsn_saal.SPEC,
    dual_sampling.SPEC,
    deepcxray.SPEC,
    dresunet.SPEC,
    pepx_resnet.SPEC,
)}


def chapters(built_only: bool = False) -> list[Chapter]:
    """Every registered chapter (``built_only``: those with experiments)."""
    return [c for c in _CHAPTERS.values() if c.has_experiments or not built_only]


def slugs() -> tuple[str, ...]:
    return tuple(_CHAPTERS)


def get_chapter(slug: str | Chapter) -> Chapter:
    """The chapter registered as ``slug`` (a :class:`Chapter` passes through)."""
    if isinstance(slug, Chapter):
        return slug
    try:
        return _CHAPTERS[slug]
    except KeyError:
        raise KeyError(f"no chapter {slug!r}; registered: {', '.join(_CHAPTERS)}") from None


def register(chapter: Chapter) -> Chapter:
    """Add (or replace) a chapter; the tests register toy chapters this way."""
    _CHAPTERS[chapter.slug] = chapter
    return chapter
