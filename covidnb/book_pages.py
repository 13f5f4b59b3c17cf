"""What ``covidnb book`` adds to the pages it builds (issue 13, items 2, 3 and 6).

- :func:`finish_notebook`: after papermill, every notebook page gets a **provenance box** under
  its title (profile, real or synthetic data and the records' split checksums, commit, date,
  duration, the command that re-runs the page); papermill's injected-parameters cell is removed
  and the parameters cell is folded under a label; machine paths (the repository, the data
  roots, temporary folders, the home folder) are replaced by names in every output.
- :func:`write_generated_pages`: in the staged sources, the results page (``book/results.md``)
  and the execution-status page (``book/status.md``) are written from the chapter registry, the
  committed records and the execution log, each registered chapter's page gets the box of
  :func:`covidnb.report.overview.header_markdown` under its title, and the landing page's
  ``<!-- covidnb:results-summary -->`` marker becomes the summary table.

Pages are data-driven: a chapter added to the registry, or a new record in ``results/``, shows up
on the next build without an edit here.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from covidnb.paths import REPO_ROOT

PROVENANCE_CLASS = "covidnb-provenance"
SUMMARY_MARKER = "<!-- covidnb:results-summary -->"
SYNTHETIC_MARKERS = ("*** SYNTHETIC DATA ***", "SYNTHETIC phantom", "SYNTHETIC phantom data")
READ_ONLY_MODE = "reference"


# -- machine paths ------------------------------------------------------------------------------
def _path_replacements() -> list[tuple[str, str]]:
    """(machine path, what a page shows instead), longest first so nested paths go first."""
    pairs = [(str(REPO_ROOT.resolve()), "<repo>"), (str(REPO_ROOT), "<repo>")]
    for root in filter(None, os.environ.get("COVIDNB_DATA", "").split(os.pathsep)):
        pairs += [(str(Path(root).resolve()), "$COVIDNB_DATA"), (root.rstrip("/"), "$COVIDNB_DATA")]
    shared = REPO_ROOT.resolve().parent / "shared" / "data"
    pairs.append((str(shared), "$COVIDNB_DATA"))
    home = str(Path.home())
    if home not in ("/", ""):
        pairs.append((home, "~"))
    return sorted({p for p in pairs if p[0] and p[0] != "/"}, key=lambda p: -len(p[0]))


_TMP = re.compile(r"(?:/private)?" + re.escape(tempfile.gettempdir().rstrip("/")) + r"/[^\s'\"<>)\],]*")


def scrub(text: str, pairs: list[tuple[str, str]] | None = None) -> str:
    """``text`` with machine paths replaced (module docstring)."""
    for old, new in pairs or _path_replacements():
        text = text.replace(old, new)
    return _TMP.sub("<tmp>", text)


def _scrub_outputs(nb: dict) -> None:
    pairs = _path_replacements()

    def fix(value):
        if isinstance(value, str):
            return scrub(value, pairs)
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    for cell in nb["cells"]:
        for out in cell.get("outputs", []) or []:
            if "text" in out:
                out["text"] = fix(out["text"])
            for mime, value in (out.get("data") or {}).items():
                if mime.startswith("text/") or mime == "application/json":
                    out["data"][mime] = fix(value)
            if "traceback" in out:
                out["traceback"] = fix(out["traceback"])


def _drop_widgets(nb: dict) -> None:
    """Progress-bar widgets would make the page load require.js and the widget manager from a
    CDN; their text form is kept (the book is read offline)."""
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) or []:
            (out.get("data") or {}).pop("application/vnd.jupyter.widget-view+json", None)


# -- provenance box -----------------------------------------------------------------------------
def git_commit() -> str:
    """Short commit of the checkout, ``+ uncommitted changes`` when its tracked files differ."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               text=True, capture_output=True, check=False).stdout.strip()
        return sha + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _outputs_text(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) or []:
            t = out.get("text")
            parts.append("".join(t) if isinstance(t, list) else (t or ""))
            for mime in ("text/plain", "text/markdown", "text/html"):
                v = (out.get("data") or {}).get(mime)
                parts.append("".join(v) if isinstance(v, list) else (v or ""))
    return "\n".join(parts)


def records_data_line(slug: str | None, profile: str) -> str | None:
    """The dataset and split checksums of a chapter's committed records at ``profile``."""
    from covidnb.chapters import RESULTS_ROOT

    if not slug:
        return None
    for p in sorted((RESULTS_ROOT / slug).glob("*/config.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("config", {}).get("profile") != profile:
            continue
        ds = (rec.get("provenance") or {}).get("datasets") or {}
        if not ds or any(v.get("synthetic") for v in ds.values()):
            continue
        name = next(iter(ds.values())).get("name", "?")
        sums = ", ".join(f"{split} `{(v.get('checksum') or '?')[:12]}…`" for split, v in ds.items())
        return f"{name}, real files; split checksums (sha256) of the committed records: {sums}"
    return None


def provenance_markdown(*, page: str, profile: str, mode: str, slug: str | None, seconds: float,
                        synthetic: bool, commit: str, when: str, records: int | None) -> str:
    """The box under a page's title (issue 13, item 3)."""
    if synthetic:
        data = ("**SYNTHETIC phantom data**: the real files were not found, so no number on this "
                "page says anything about the paper")
    else:
        data = records_data_line(slug, profile) if mode == READ_ONLY_MODE else None
        data = data or "real files wherever this page opens data (no synthetic fallback was used)"
    if mode == READ_ONLY_MODE:
        src = (f"the committed reference records, `results/{slug}/` ({records} finished at this profile); "
               "nothing was trained for this page" if slug and records else
               "no committed record is read by this page; nothing was trained for it")
        how = f"`covidnb book --only {page}` (reads the records)"
        if slug and records is not None:
            how += f"; to re-train them: `python -m covidnb.chapters.reference {slug} --profile {profile}`"
    else:
        src = "runs made or reused while building" + (
            " — **smoke profile: a pipeline check, the numbers are not results**" if profile == "smoke" else "")
        how = f"`covidnb book --profile {profile} --only {page}`"
    lines = [f"- **Profile:** `{profile}` — {src}.", f"- **Data:** {data}.",
             f"- **Commit:** `{commit}`; **executed** {when} in {seconds:.0f} s.",
             (f"- **Re-run this page:** {how}. The download button at the top of the page gives "
             "this notebook as executed (`.ipynb`).")]
    return (f":::{{admonition}} Provenance of this page\n:class: note {PROVENANCE_CLASS}\n"
            + "\n".join(lines) + "\n:::\n")


# Titles every chapter's page of that kind shares: the book names the chapter after them.
GENERIC_TITLES = ("Reported tables and their checks", "Reported vs re-run")


def unique_title(heading: str, slug: str | None) -> str:
    """``# Reported tables and their checks`` → ``… — Xu 2021 (BSc thesis)``: one title per page."""
    if not slug:
        return heading
    text = heading.lstrip("#").strip()
    if text not in GENERIC_TITLES:
        return heading
    from covidnb.chapters.registry import get_chapter

    return f"# {text} — {get_chapter(slug).title.split(':')[0].strip()}"


def _md_cell(text: str, tags=()) -> dict:
    import hashlib

    return {"cell_type": "markdown", "id": "covidnb-" + hashlib.sha1(text.encode()).hexdigest()[:8],
            "metadata": {"tags": list(tags)}, "source": text}


def finish_notebook(path: Path, *, page: str, profile: str, mode: str, slug: str | None,
                    seconds: float, commit: str | None = None) -> None:
    """Rewrite an executed notebook in place (module docstring)."""
    from covidnb.chapters import RESULTS_ROOT

    nb = json.loads(path.read_text())
    _scrub_outputs(nb)
    _drop_widgets(nb)
    synthetic = any(m in _outputs_text(nb) for m in SYNTHETIC_MARKERS)
    cells = []
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags:
            tags.append("remove-cell")  # its values are in the provenance box
        elif slug and cell["cell_type"] == "code" and "hide-input" not in tags and "parameters" not in tags:
            tags.append("hide-input")  # a chapter page reads as results; its code is one click away
        if "parameters" in tags and "injected-parameters" not in tags:
            cells.append(_md_cell("*The notebook's parameters (its defaults; the values this page "
                                  "ran with are in the provenance box above). Open to read them.*",
                                  ["covidnb-parameters-label"]))
            if "hide-input" not in tags:
                tags.append("hide-input")
        cells.append(cell)
    records = None
    if slug and (RESULTS_ROOT / slug).is_dir():
        records = 0
        for p in (RESULTS_ROOT / slug).glob("*/config.json"):
            try:
                cfg = json.loads(p.read_text()).get("config", {})
                status = json.loads((p.parent / "status.json").read_text()).get("status")
            except (OSError, ValueError):
                continue
            records += cfg.get("profile") == profile and status == "done"
    box = provenance_markdown(page=page, profile=profile, mode=mode, slug=slug, seconds=seconds,
                              synthetic=synthetic, commit=commit or git_commit(),
                              when=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                              records=records)
    first_md = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                     and "".join(c["source"]).lstrip().startswith("# ")), None)
    title = cells[first_md] if first_md is not None else None
    if title is not None:  # the box sits right under the title, inside the title's cell
        src = "".join(title["source"])
        head, _, rest = src.partition("\n")
        head = unique_title(head, slug)
        title["source"] = head + "\n\n" + box + "\n" + rest
    else:
        cells.insert(0, _md_cell(box))
    nb["cells"] = cells
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False))


def finish_unexecuted(path: Path, *, page: str, slug: str | None) -> None:
    """A notebook the build did not execute (``--no-execute``, or one added since): its page
    says so in the same box, with the command that executes it."""
    nb = json.loads(path.read_text())
    box = (f":::{{admonition}} Provenance of this page\n:class: note {PROVENANCE_CLASS}\n"
           "- **Not executed in this build:** the notebook as committed, without outputs.\n"
           f"- **Commit:** `{git_commit()}`.\n"
           f"- **Run this page:** `covidnb book --only {page}` (reads the committed records"
           + (f" of `results/{slug}/`" if slug else "") + ").\n:::\n")
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and "".join(cell["source"]).lstrip().startswith("# "):
            head, _, rest = "".join(cell["source"]).partition("\n")
            cell["source"] = unique_title(head, slug) + "\n\n" + box + "\n" + rest
            break
    else:
        nb["cells"].insert(0, _md_cell(box))
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False))


# -- generated pages ----------------------------------------------------------------------------
def status_markdown(log: dict) -> str:
    """The execution-status page: per notebook, its profile, mode, duration and status."""
    out = ["# Execution status", "",
           ("How each notebook page of this build was produced. *reference*: the page reads the "
            "committed records and trains nothing; a profile name: the page ran (and trained what it "
            "needed) at that profile. *cached*: the notebook, the library, the parameters and the "
            "records had not changed since the run shown."), ""]
    if not log:
        out.append("The notebooks were not executed for this build (`covidnb book --no-execute`): "
                   "the pages show the notebooks as committed, without outputs.")
        return "\n".join(out) + "\n"
    out += ["| notebook | mode | profile | status | duration | executed |", "|---|---|---|---|---|---|"]
    for page, e in log.items():
        dur = f"{e.get('seconds', 0):.0f} s"
        out.append(f"| [{page}](../{page}.ipynb) | {e.get('mode', '?')} | `{e.get('profile', '?')}` | "
                   f"{e.get('status', '?')} | {dur} | {e.get('when', '?')} |")
    failed = [p for p, e in log.items() if e.get("status") == "failed"]
    if failed:
        out += ["", f"**{len(failed)} notebook(s) failed**; their pages show the notebook as far as it ran:", ""]
        out += [f"- `{p}`: {error_line(log[p].get('error', ''))}" for p in failed]
    return "\n".join(out) + "\n"


def error_line(error: str) -> str:
    """The line of a papermill error that names the exception (``KeyError: 'Model'``), as one
    line of plain text (a multi-line traceback would turn into headings on the page)."""
    import re

    lines = [ln.strip() for ln in scrub(error).splitlines() if ln.strip()]
    named = [ln for ln in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b", ln)
             and not ln.startswith("PapermillExecutionError")]
    text = (named or lines or ["(no message)"])[-1]
    return "`" + re.sub(r"[`|]", " ", text)[:200] + "`"  # a code span: nothing in it is markup


def _insert_after_title(text: str, block: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# "):
            return "\n".join(lines[: i + 1] + ["", block] + lines[i + 1:]) + "\n"
    return block + "\n" + text


def write_generated_pages(stage: Path, log: dict | None = None) -> None:
    """Write the results and status pages, the chapter headers and the landing page's summary
    into the staged sources (module docstring)."""
    from covidnb.report import overview

    sts = overview.statuses()
    book = stage / "book"
    links = {st.slug: f"{st.slug}.md" for st in sts if (book / f"{st.slug}.md").exists()}
    (book / "results.md").write_text(overview.results_markdown(sts, links))
    (book / "status.md").write_text(status_markdown(log or {}))
    for st in sts:
        page = book / f"{st.slug}.md"
        if page.exists():
            page.write_text(_insert_after_title(page.read_text(),
                                                overview.header_markdown(st, link_results="results.md")))
    intro = book / "intro.md"
    if intro.exists() and SUMMARY_MARKER in intro.read_text():
        table = overview.results_markdown(sts, links).split("\n\n")
        summary = next(t for t in table if t.startswith("| chapter"))
        intro.write_text(intro.read_text().replace(SUMMARY_MARKER, summary))
