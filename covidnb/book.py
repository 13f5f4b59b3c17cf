"""Execute the book's notebooks with papermill and build the HTML book with Jupyter Book 1.x.

Why not Jupyter Book's own execution: its cache is keyed on cell source only, so a change in
``covidnb`` would not re-execute anything, and it cannot inject a profile. Here every notebook
listed in ``_toc.yml`` is executed by papermill (explicit kernel, working directory = the
notebook's folder) into ``_build/executed/``, cached on a key made of the notebook's source, the
library's source, the parameters and the data roots. The book is then built from a staged copy
of the sources in which the executed notebooks replace the stripped ones, so the committed
notebooks never gain outputs.
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


def execute_notebooks(profile: str = "smoke", kernel: str = "python3", force: bool = False,
                      only: list[str] | None = None, log=print) -> list[ExecResult]:
    import papermill as pm

    from covidnb.runner import kernel_env

    lib = library_digest()
    results = []
    for nb in toc_notebooks():
        rel = nb.relative_to(REPO_ROOT)
        if only and not any(s in str(rel) for s in only):
            continue
        params = {"profile": profile} if _has_parameters_cell(nb) else {}
        key = execution_key(nb, params, lib)
        out = EXECUTED / rel
        stamp = out.with_suffix(".key")
        if not force and out.exists() and stamp.exists() and stamp.read_text() == key:
            results.append(ExecResult(nb, "cached"))
            log(f"[cached]   {rel}")
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        log(f"[running]  {rel}  {params or ''}")
        try:
            with kernel_env():  # figures inline, no progress bars
                pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name=kernel,
                                    cwd=str(nb.parent), progress_bar=False,
                                    request_save_on_cell_execute=False)
        except Exception as exc:  # keep going: the summary names every failure
            results.append(ExecResult(nb, "failed", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"[:2000]))
            stamp.unlink(missing_ok=True)
            log(f"[FAILED]   {rel}: {type(exc).__name__}")
            continue
        stamp.write_text(key)
        dt = time.perf_counter() - t0
        results.append(ExecResult(nb, "executed", dt))
        log(f"[done]     {rel}  {dt:.0f} s")
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
    if use_executed and EXECUTED.exists():
        for p in EXECUTED.rglob("*.ipynb"):
            dest = STAGE / p.relative_to(EXECUTED)
            if dest.exists():
                shutil.copy2(p, dest)
    return STAGE


def build_html(strict: bool = True, use_executed: bool = True) -> int:
    stage = stage_sources(use_executed)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(stage), "--path-output", str(REPO_ROOT)]
    if strict:
        cmd += ["-W", "--keep-going"]
    return subprocess.call(cmd)


def summarise(results: list[ExecResult]) -> str:
    lines = [f"{'notebook':60s} {'status':9s} {'seconds':>8s}"]
    for r in results:
        lines.append(f"{str(r.notebook.relative_to(REPO_ROOT)):60s} {r.status:9s} {r.seconds:8.0f}")
        if r.error:
            lines.append(f"    {r.error.splitlines()[0][:200]}")
    return "\n".join(lines)
