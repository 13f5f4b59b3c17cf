"""Where every chapter stands, read from the chapter registry and the committed records
(``results/<slug>/``): the book's results page, the header of each chapter and the status lines
(issue 13, item 2). Nothing is trained; a chapter added to the registry appears here by itself,
and one without committed runs says so.

For each chapter: its data (and how they differ from the paper's), the profile of its reference
re-run, how many of the planned configurations are done, per re-run table the gap to the paper
per metric, how many of the paper's comparisons the re-run points the same way, and how many
consistency flags its printed tables raise.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from covidnb.chapters import RESULTS_ROOT

DEFAULT_PROFILE = "cpu"


def reference_profile(slug: str, root=RESULTS_ROOT) -> str:
    """The profile of a chapter's committed records (the most common one), else ``cpu``."""
    seen: Counter = Counter()
    for p in (root / slug).glob("*/config.json"):
        try:
            seen[json.loads(p.read_text())["config"].get("profile")] += 1
        except (OSError, ValueError, KeyError, TypeError):
            continue
    seen.pop(None, None)
    return seen.most_common(1)[0][0] if seen else DEFAULT_PROFILE


@dataclass
class TableStatus:
    name: str
    rows_rerun: int
    rows: int
    gaps: list[str] = field(default_factory=list)


@dataclass
class ChapterStatus:
    slug: str
    title: str
    built: bool
    data: str = ""
    profile: str = DEFAULT_PROFILE
    planned: int = 0
    done: int = 0
    synthetic: int = 0
    tables: list[TableStatus] = field(default_factory=list)
    claims_same: int = 0
    claims_total: int = 0
    flags: int = 0
    notes: int = 0
    problem: str = ""
    no_plan_note: str = ""

    @property
    def command(self) -> str:
        return f"python -m covidnb.chapters.reference {self.slug} --profile {self.profile}"

    @property
    def state(self) -> str:
        if not self.built:
            return "reported tables only: no re-run yet"
        if self.planned == 0:  # suggesting the reference command here would train nothing
            return (f"no real-data run is planned at profile `{self.profile}`"
                    + (f"; {self.no_plan_note}" if self.no_plan_note else ""))
        if self.done == 0:
            return f"no committed run yet (`{self.command}` produces them)"
        return f"{self.done} of {self.planned} planned runs done"


def chapter_status(slug: str, root=RESULTS_ROOT) -> ChapterStatus:
    """One chapter's standing (module docstring); a step that fails is named in ``problem``
    rather than hiding the chapter."""
    from covidnb import report
    from covidnb.chapters.registry import get_chapter

    ch = get_chapter(slug)
    st = ChapterStatus(slug=slug, title=ch.title, built=ch.has_experiments,
                       data=ch.substitution, profile=reference_profile(slug, root),
                       no_plan_note=ch.no_plan_note)
    try:
        findings = report.check(slug)
        st.flags = int((findings.status == "flag").sum())
        st.notes = int((findings.status == "note").sum())
    except Exception as exc:  # noqa: BLE001 — a chapter whose tables do not load still shows
        st.problem = f"consistency checks did not run: {type(exc).__name__}: {exc}"
    if not st.built:
        return st
    try:
        _rerun_status(ch, st, root)
    except Exception as exc:  # noqa: BLE001
        st.problem = (st.problem + "; " if st.problem else "") + f"{type(exc).__name__}: {exc}"
    return st


def _rerun_status(ch, st: ChapterStatus, root) -> None:
    from covidnb.chapters import views
    from covidnb.chapters.reference import plan_status

    plan = plan_status(ch.slug, st.profile, root=root)
    st.planned = len(plan)
    st.done = sum(r["state"] == "done" for r in plan)
    st.synthetic = sum("synthetic" in r["state"] for r in plan)
    runs = views.finished_runs(ch, st.profile, store=views.resolve_store(root), reference=None)
    runs = [r for r in runs if not r.synthetic]  # never beside a paper number
    if not runs:
        return
    frame = views.runs_frame(ch, runs)
    results = views.compare_all(ch, frame, st.profile)
    for name, res in results.items():
        have = res[res["n_runs"] > 0] if len(res) else res
        st.tables.append(TableStatus(name=name, rows_rerun=have.iloc[:, 0].nunique() if len(have) else 0,
                                     rows=res.iloc[:, 0].nunique() if len(res) else 0,
                                     gaps=views.gap_summary(ch, res)))
    claims = views.claims(ch, frame, results)
    signs = claims["same sign"].dropna() if len(claims) else claims
    st.claims_total = len(signs)
    st.claims_same = int(signs.sum()) if len(signs) else 0


def statuses(root=RESULTS_ROOT) -> list[ChapterStatus]:
    """Every registered chapter's standing, in the registry's order."""
    from covidnb.chapters.registry import chapters

    return [chapter_status(c.slug, root) for c in chapters()]


# -- markdown -----------------------------------------------------------------------------------
def header_markdown(st: ChapterStatus, link_results: str | None = None) -> str:
    """The box at the top of a chapter's page: what was re-run, on which data, how far it lands."""
    lines = [f"- **Re-run:** {st.state}" + (f", profile `{st.profile}`" if st.built and st.done else "")
             + (f" ({st.synthetic} on synthetic data, never compared)" if st.synthetic else "") + "."]
    if st.data:
        lines.append(f"- **Data:** {st.data}.")
    for t in st.tables:
        gap = "; ".join(t.gaps) if t.gaps else "no row with both a paper value and a re-run yet"
        lines.append(f"- **{t.name}** ({t.rows_rerun} of {t.rows} reported rows re-run): re-run − paper {gap}.")
    if st.claims_total:
        lines.append(f"- **The paper's comparisons:** the re-run points the same way in {st.claims_same} "
                     f"of {st.claims_total} (claim × metric, paired by seed).")
    lines.append(f"- **Consistency of the printed tables:** {st.flags} flag(s), {st.notes} note(s).")
    if st.problem:
        lines.append(f"- **Not available:** {st.problem}")
    more = f"\n\nEvery chapter side by side: [Results]({link_results})." if link_results else ""
    return (":::{admonition} Where this chapter stands (committed records)\n:class: tip covidnb-status\n"
            + "\n".join(lines) + more + "\n:::\n")


def headline(st: ChapterStatus) -> str:
    """The first re-run table's gap in its first metric: ``Table 5.1, Accuracy %: -32.0 to -10.2 points``."""
    for t in st.tables:
        if t.gaps:
            return f"{t.name}, {t.gaps[0].rsplit(' over ', 1)[0]}"
    return "—"


def results_markdown(sts: list[ChapterStatus], chapter_links: dict[str, str] | None = None) -> str:
    """The results page: one summary table of every chapter, then each chapter's tables."""
    links = chapter_links or {}
    out = ["# Results at a glance", "",
           ("Read from the committed reference records (`results/<chapter>/`) and the papers' printed "
            "tables when the book was built; nothing here was trained for the page. A gap is the "
            "re-run's mean minus the paper's value, in the paper's unit (points for %). Smoke and "
            "synthetic runs never appear here."), "",
           "| chapter | re-run | profile | runs done | headline gap, re-run − paper | paper's comparisons, same direction | flags in the printed tables |",
           "|---|---|---|---|---|---|---|"]
    for st in sts:
        name = f"[{st.slug}]({links[st.slug]})" if st.slug in links else st.slug
        runs = f"{st.done} of {st.planned}" if st.built else "—"
        claims = f"{st.claims_same} of {st.claims_total}" if st.claims_total else "—"
        rerun = ("yes" if st.done else "not yet") if st.built else "reported tables only"
        out.append(f"| {name} | {rerun} | {'`' + st.profile + '`' if st.built else '—'} | {runs} | "
                   f"{headline(st)} | {claims} | {st.flags} flag(s), {st.notes} note(s) |")
    for st in sts:
        name = f"[{st.slug}]({links[st.slug]})" if st.slug in links else st.slug
        out += ["", f"## {st.slug}: {st.title}", "", f"- **Chapter:** {name}.",
                f"- **Re-run:** {st.state}" + (f", profile `{st.profile}`" if st.built and st.done else "")
                + (f" ({st.synthetic} on synthetic data, never compared)" if st.synthetic else "") + "."]
        if st.data:
            out.append(f"- **Data:** {st.data}.")
        if st.claims_total:
            out.append(f"- **The paper's comparisons:** the re-run points the same way in {st.claims_same} "
                       f"of {st.claims_total} (claim × metric, paired by seed).")
        out.append(f"- **Consistency of the printed tables:** {st.flags} flag(s), {st.notes} note(s).")
        if st.problem:
            out.append(f"- **Not available:** {st.problem}")
        if st.tables:
            out += ["", "| table | reported rows re-run | re-run − paper, per metric (range over the rows) |",
                    "|---|---|---|"]
            for t in st.tables:
                gaps = "; ".join(t.gaps) if t.gaps else "no row with both a paper value and a re-run yet"
                out.append(f"| {t.name} | {t.rows_rerun} of {t.rows} | {gaps} |")
        elif st.built and not st.done:
            out += ["", f"No committed run yet: `{st.command}` produces the reference re-run."]
    return "\n".join(out) + "\n"
