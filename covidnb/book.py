"""Execute the book's notebooks with papermill and build the HTML book with Jupyter Book 1.x.

Why not Jupyter Book's own execution: its cache is keyed on cell source only, so a change in
``covidnb`` would not re-execute anything, and it cannot inject a profile. Here every notebook
listed in ``_toc.yml`` is executed by papermill (explicit kernel, working directory = the
notebook's folder) into ``_build/executed/``, cached on a key made of the notebook's source, the
library's source, the parameters and the data roots. The book is then built from a staged copy
of the sources in which the executed notebooks replace the stripped ones, so the committed
notebooks never gain outputs.

The default mode, ``--profile reference`` (what ``make book`` runs), shows results rather than a
pipeline check: each chapter's notebooks run at the profile of its committed reference records
(``results/<slug>/``) with ``COVIDNB_READ_ONLY=1``, so every page reads those records and trains
nothing, and a configuration without a record is shown as "not re-run yet" with the command that
produces it. ``--profile smoke|cpu|paper`` runs every notebook at that profile as before (``smoke``
is what CI and nbval run). After execution :mod:`covidnb.book_pages` adds the provenance box,
hides papermill's injected cell and removes machine paths; the staged sources get the generated
results, status and chapter-header pages.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from covidnb.paths import PACKAGE_DIR, REPO_ROOT

BUILD = REPO_ROOT / "_build"
EXECUTED = BUILD / "executed"
STAGE = BUILD / "stage"
STATUS_LOG = EXECUTED / "status.json"
REFERENCE = "reference"  # the book's default mode: committed records, read-only
PROFILES = (REFERENCE, "smoke", "cpu", "paper")
# A cell of a read-only page that runs this long is training something it should read: stop it.
READ_ONLY_CELL_TIMEOUT = 900
# covidnb/chapters: book/add_a_chapter.md shows the smallest chapter's code by literalinclude.
_STAGED_SOURCES = ("_config.yml", "_toc.yml", "book", "nbs", "covidnb/chapters")


def toc_files(toc_path: Path = REPO_ROOT / "_toc.yml") -> list[str]:
    """Every file named in the table of contents, in reading order (without suffix)."""
    toc = yaml.safe_load(toc_path.read_text())
    out: list[str] = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                out.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return out


def toc_notebooks(toc_path: Path = REPO_ROOT / "_toc.yml") -> list[Path]:
    """The notebooks of the table of contents (paths in the checkout)."""
    nbs = []
    for f in toc_files(toc_path):
        p = REPO_ROOT / (f if f.endswith(".ipynb") else f + ".ipynb")
        if p.exists():
            nbs.append(p)
    return nbs


def library_digest() -> str:
    """sha256 over the library's source files: a change in covidnb re-executes the book."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE_DIR.rglob("*")):
        if p.suffix in {".py", ".md", ".yaml", ".yml"} and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(PACKAGE_DIR)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _notebook_source_digest(path: Path) -> str:
    nb = json.loads(path.read_text())
    cells = [(c["cell_type"], "".join(c.get("source", [])), c.get("metadata", {}).get("tags", []))
             for c in nb["cells"]]
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()


def execution_key(path: Path, parameters: dict, lib_digest: str) -> str:
    payload = {
        "notebook": _notebook_source_digest(path),
        "library": lib_digest,
        "parameters": parameters,
        "data_roots": os.environ.get("COVIDNB_DATA", ""),
        "chapter_files": _chapter_data_digest(path.parent),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _chapter_data_digest(folder: Path) -> str:
    """Profiles and reported tables beside a notebook are inputs too, and so are the committed
    reference records of the notebook's chapter (``results/<slug>/``, read by its
    reported-vs-re-run notebook): a new reference run re-executes the chapter."""
    from covidnb.chapters import RESULTS_ROOT
    from covidnb.chapters.registry import slugs

    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in {".yaml", ".yml", ".csv", ".json"}:
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    records = RESULTS_ROOT / folder.name
    if folder.name in slugs() and records.is_dir():
        for p in sorted(records.glob("*/*.json")):  # config, metrics, status of each run
            h.update(str(p.relative_to(records)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@dataclass
class ExecResult:
    notebook: Path
    status: str  # "executed", "cached" or "failed"
    seconds: float = 0.0
    error: str = ""
    extra: dict = field(default_factory=dict)


def _has_parameters_cell(path: Path) -> bool:
    nb = json.loads(path.read_text())
    return any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb["cells"])


def parameter_names(path: Path) -> set[str]:
    """The names the notebook's ``parameters`` cell assigns."""
    import re

    nb = json.loads(path.read_text())
    names: set[str] = set()
    for c in nb["cells"]:
        if "parameters" in c.get("metadata", {}).get("tags", []):
            names |= set(re.findall(r"^([A-Za-z_]\w*)\s*=", "".join(c.get("source", [])), re.MULTILINE))
    return names


def page_of(nb: Path) -> str:
    """``nbs/dresunet/03-training``: how the book and its commands name a notebook."""
    return str(nb.relative_to(REPO_ROOT).with_suffix(""))


def chapter_of(nb: Path) -> str | None:
    """The registered chapter a notebook belongs to (its folder), else ``None``."""
    from covidnb.chapters.registry import slugs

    return nb.parent.name if nb.parent.name in slugs() else None


def notebook_plan(nb: Path, profile: str) -> tuple[dict, str, dict]:
    """(papermill parameters, the profile the page runs at, extra environment) of a notebook in
    the book's mode ``profile`` (module docstring)."""
    from covidnb.report.overview import reference_profile

    names = parameter_names(nb)
    env = {"COVIDNB_PAGE": page_of(nb)}
    if profile == REFERENCE:
        slug = chapter_of(nb)
        actual = reference_profile(slug) if slug else reference_profile("dresunet")
        env["COVIDNB_READ_ONLY"] = "1"
    else:
        actual = profile
        env["COVIDNB_READ_ONLY"] = "0"
    params = {"profile": actual} if "profile" in names else {}
    return params, actual, env


def _read_log() -> dict:
    try:
        return json.loads(STATUS_LOG.read_text())
    except (OSError, ValueError):
        return {}


def execute_notebooks(profile: str = "smoke", kernel: str = "python3", force: bool = False,
                      only: list[str] | None = None, log=print) -> list[ExecResult]:
    import datetime as dt_

    import papermill as pm

    from covidnb.book_pages import finish_notebook, git_commit
    from covidnb.runner import _env, kernel_env

    if profile not in PROFILES:
        raise ValueError(f"book: profile {profile!r} is not one of {PROFILES}")
    lib = library_digest()
    commit = git_commit()
    status_log = _read_log()
    results = []
    for nb in toc_notebooks():
        rel = nb.relative_to(REPO_ROOT)
        if only and not any(s in str(rel) for s in only):
            continue
        params, actual, env = notebook_plan(nb, profile)
        mode = REFERENCE if profile == REFERENCE else "profile"
        key = execution_key(nb, {**params, "_mode": mode}, lib)
        out = EXECUTED / rel
        stamp = out.with_suffix(".key")
        page = page_of(nb)
        if not force and out.exists() and stamp.exists() and stamp.read_text() == key:
            results.append(ExecResult(nb, "cached"))
            if page in status_log:
                status_log[page]["status"] = "cached"
            log(f"[cached]   {rel}")
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        log(f"[running]  {rel}  {params or ''}" + ("  (reads the committed records)" if mode == REFERENCE else ""))
        timeout = READ_ONLY_CELL_TIMEOUT if mode == REFERENCE else None
        error = ""
        try:
            with kernel_env(), _env(**env):  # figures inline, no progress bars; the page's mode
                pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name=kernel,
                                    cwd=str(nb.parent), progress_bar=False,
                                    request_save_on_cell_execute=False, execution_timeout=timeout)
        except Exception as exc:  # noqa: BLE001  keep going: the summary names every failure
            error = f"{type(exc).__name__}: {exc}"[:2000]
        dt = time.perf_counter() - t0
        if out.exists():
            try:
                finish_notebook(out, page=page, profile=actual, mode=mode if mode == REFERENCE else actual,
                                slug=chapter_of(nb), seconds=dt, commit=commit)
            except Exception as exc:  # noqa: BLE001 — the page is still worth building
                log(f"[warning]  {rel}: provenance box not added: {type(exc).__name__}: {exc}")
        status_log[page] = {"mode": "reference (read-only)" if mode == REFERENCE else "executed",
                            "profile": actual, "seconds": round(dt, 1),
                            "status": "failed" if error else "executed", "error": error,
                            "when": dt_.datetime.now(dt_.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        STATUS_LOG.parent.mkdir(parents=True, exist_ok=True)
        STATUS_LOG.write_text(json.dumps(status_log, indent=1))
        if error:
            results.append(ExecResult(nb, "failed", dt, error))
            stamp.unlink(missing_ok=True)
            log(f"[FAILED]   {rel}: {error.splitlines()[0][:200]}")
            continue
        stamp.write_text(key)
        results.append(ExecResult(nb, "executed", dt))
        log(f"[done]     {rel}  {dt:.0f} s")
    STATUS_LOG.parent.mkdir(parents=True, exist_ok=True)
    STATUS_LOG.write_text(json.dumps(status_log, indent=1))
    return results


def stage_sources(use_executed: bool = True) -> Path:
    """Copy the book's sources to _build/stage, executed notebooks in place of stripped ones."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for name in _STAGED_SOURCES:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, STAGE / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        else:
            shutil.copy2(src, STAGE / name)
    copied = set()
    if use_executed and EXECUTED.exists():
        for p in EXECUTED.rglob("*.ipynb"):
            dest = STAGE / p.relative_to(EXECUTED)
            if dest.exists():
                shutil.copy2(p, dest)
                copied.add(dest)
    from covidnb.book_pages import finish_unexecuted

    for nb in toc_notebooks(STAGE / "_toc.yml"):
        staged = STAGE / nb.relative_to(REPO_ROOT)
        if staged.exists() and staged not in copied:  # its page says it was not executed
            finish_unexecuted(staged, page=page_of(nb), slug=chapter_of(nb))
    return STAGE


def build_html(strict: bool = True, use_executed: bool = True) -> int:
    from covidnb.book_pages import write_generated_pages

    stage = stage_sources(use_executed)
    recorded = _read_log() if use_executed else {}
    log = {p: recorded[p] for p in toc_files(stage / "_toc.yml") if p in recorded}  # reading order
    write_generated_pages(stage, log)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(stage), "--path-output", str(REPO_ROOT)]
    if strict:
        cmd += ["-W", "--keep-going"]
    return subprocess.call(cmd)


def summarise(results: list[ExecResult]) -> str:
    lines = [f"{'notebook':60s} {'status':9s} {'seconds':>8s}"]
    for r in results:
        lines.append(f"{r.notebook.relative_to(REPO_ROOT)!s:60s} {r.status:9s} {r.seconds:8.0f}")
        if r.error:
            lines.append(f"    {r.error.splitlines()[0][:200]}")
    return "\n".join(lines)
