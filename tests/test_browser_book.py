"""The built book, read in a real headless browser (issue 13, item 7).

Run by CI after ``covidnb book`` (``.ci/run``: ``COVIDNB_BROWSER_TEST=1``): every page of
``_build/html`` is opened in Chromium (Debian's ``chromium`` package, driven by the ``playwright``
package from PyPI; playwright's own browser download is not used) at 1400 × 900 px with every
request off the machine blocked, and must

- have no table wider than the article's text column (folded tables are opened to measure them);
- have a provenance box above its first cell, when it is a notebook page;
- show no smoke number beside a paper number: no table holds both a paper value and the word
  "smoke", and a page that ran at the smoke profile shows no paper value and no table "as printed";
- print no machine path (the repository, the data roots, the temporary folder);
- load nothing from the network, and typeset its math with the local MathJax;
- have a title no other page has.

Full-page screenshots of the key pages and every page's height go to ``_build/browser/``.
``test_checks_can_fail`` runs the same checks on a small page made to break each rule.
Without ``COVIDNB_BROWSER_TEST`` the module is skipped (``make unit`` runs before any book is
built); with it, a missing browser or book is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from covidnb.paths import REPO_ROOT

HTML = REPO_ROOT / "_build" / "html"
OUT = REPO_ROOT / "_build" / "browser"
WIDTH, HEIGHT = 1400, 900
SCREENSHOTS = ("book/intro", "book/results", "book/status", "nbs/dsn_saal/07-reported-vs-rerun",
               "nbs/dresunet/06-reported-vs-rerun", "nbs/dresunet/03-training", "nbs/getting_started/01-tour")

pytestmark = pytest.mark.skipif(os.environ.get("COVIDNB_BROWSER_TEST", "") in ("", "0"),
                                reason="browser test: set COVIDNB_BROWSER_TEST=1 after building the book")

CHECK_JS = r"""
() => {
  const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const heightClosed = document.documentElement.scrollHeight;
  document.querySelectorAll('details').forEach(d => d.open = true);
  const aw = art.getBoundingClientRect().width;
  const wide = [];
  art.querySelectorAll('table').forEach(t => {
    const w = Math.max(t.getBoundingClientRect().width, t.scrollWidth);
    if (w > aw + 2) wide.push({width: Math.round(w), text: t.innerText.slice(0, 100)});
  });
  const box = document.querySelector('.covidnb-provenance');
  const firstCell = document.querySelector('div.cell');
  const boxFirst = !!box && (!firstCell ||
      (box.compareDocumentPosition(firstCell) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0);
  const boxText = box ? box.innerText : '';
  const smokePage = /Profile:\s*smoke/i.test(boxText);
  const paperHeader = t => [...t.querySelectorAll('th')].some(th => /^\s*paper\b/i.test(th.innerText));
  // a results table: comparison cells (span.paper), or a "paper" column beside a "re-run" one
  // (a profile table's "smoke | cpu | paper" columns are settings, not numbers)
  const rerunHeader = t => [...t.querySelectorAll('th')].some(th => /re-run/i.test(th.innerText));
  const mixed = [];
  art.querySelectorAll('table').forEach(t => {
    const hasPaper = t.querySelector('span.paper') || (paperHeader(t) && rerunHeader(t));
    if (hasPaper && /smoke/i.test(t.innerText)) mixed.push(t.innerText.slice(0, 100));
  });
  const paperOnSmoke = smokePage ? [
    ...[...art.querySelectorAll('span.paper')].map(s => s.innerText),
    ...[...art.querySelectorAll('table')].filter(paperHeader).map(t => t.innerText.slice(0, 60)),
    ...[...art.querySelectorAll('p, summary')].filter(p => /as printed/i.test(p.innerText)).map(p => p.innerText.slice(0, 60)),
  ] : [];
  const mathNodes = art.querySelectorAll('.math, span.math, div.math').length;
  const typeset = document.querySelectorAll('mjx-container').length;
  return {heightClosed, heightOpen: document.documentElement.scrollHeight, articleWidth: Math.round(aw),
          wide, hasBox: !!box, boxFirst, smokePage, mixed, paperOnSmoke, mathNodes, typeset,
          text: document.body.innerText, title: document.title};
}
"""


def machine_paths() -> list[str]:
    paths = {str(REPO_ROOT.resolve()), str(REPO_ROOT), tempfile.gettempdir().rstrip("/") + "/"}
    for root in filter(None, os.environ.get("COVIDNB_DATA", "").split(os.pathsep)):
        paths.add(str(Path(root).resolve()))
    paths.add(str(REPO_ROOT.resolve().parent / "shared"))
    return sorted(p for p in paths if len(p) > 5)


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no Chromium on PATH: .ci/run installs Debian's chromium package (apt-get install chromium)")


def check_pages(pages: list[Path], root: Path, notebook_pages: set[str], shots: tuple[str, ...] = (),
                out: Path | None = None) -> tuple[list[str], dict]:
    """Open each page; return (failures, per-page measurements)."""
    from playwright.sync_api import sync_playwright

    failures, measured = [], {}
    forbidden = machine_paths()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        external: list[str] = []

        def route(r):
            url = r.request.url
            if url.startswith(("file:", "data:", "blob:", "about:")):
                return r.continue_()
            external.append(url)
            return r.abort()

        page.route("**/*", route)
        for path in pages:
            name = str(path.relative_to(root).with_suffix(""))
            external.clear()
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(300)
            if page.evaluate("document.querySelectorAll('.math').length") > 0:
                try:
                    page.wait_for_selector("mjx-container", timeout=8000)
                except Exception:  # noqa: BLE001, S110 — reported below as untypeset math
                    pass
            if name in shots and out is not None:
                page.screenshot(path=str(out / (name.replace("/", "__") + ".png")), full_page=True)
            m = page.evaluate(CHECK_JS)
            text = m.pop("text")
            measured[name] = {k: m[k] for k in ("heightClosed", "heightOpen", "articleWidth", "title")}
            for w in m["wide"]:
                failures.append(f"{name}: a table {w['width']} px wide in a {m['articleWidth']} px column: {w['text']!r}")
            if name in notebook_pages and not (m["hasBox"] and m["boxFirst"]):
                failures.append(f"{name}: no provenance box above the first cell")
            for t in m["mixed"]:
                failures.append(f"{name}: a smoke number and a paper number in one table: {t!r}")
            for t in m["paperOnSmoke"]:
                failures.append(f"{name}: a paper number on a page run at the smoke profile: {t!r}")
            for p in forbidden:
                if p in text:
                    failures.append(f"{name}: prints the machine path {p}")
            if external:
                failures.append(f"{name}: requests off the machine: {sorted(set(external))[:3]}")
            if m["mathNodes"] and not m["typeset"]:
                failures.append(f"{name}: {m['mathNodes']} math element(s) not typeset (MathJax did not load)")
        browser.close()
    return failures, measured


def _book_pages() -> tuple[list[Path], set[str]]:
    from covidnb import book

    staged = book.STAGE / "_toc.yml"  # the table of contents the build used
    files = book.toc_files(staged if staged.exists() else REPO_ROOT / "_toc.yml")
    pages, notebooks = [], set()
    for f in files:
        html = HTML / (f + ".html")  # the landing page too (index.html only redirects to it)
        if not html.exists():
            pytest.fail(f"{html} is missing: build the book first (covidnb book)")
        pages.append(html)
        if (REPO_ROOT / (f + ".ipynb")).exists():
            notebooks.add(str(html.relative_to(HTML).with_suffix("")))
    return pages, notebooks


def test_built_book_reads_in_a_browser():
    pages, notebooks = _book_pages()
    OUT.mkdir(parents=True, exist_ok=True)
    failures, measured = check_pages(pages, HTML, notebooks, SCREENSHOTS, OUT)
    titles: dict[str, list[str]] = {}
    for name, m in measured.items():
        titles.setdefault(m["title"], []).append(name)
    failures += [f"{len(names)} pages share the title {t!r}: {names}" for t, names in titles.items() if len(names) > 1]
    (OUT / "report.json").write_text(json.dumps({"pages": measured, "failures": failures}, indent=1))
    assert not failures, "\n".join(failures)


FIXTURE = """<!doctype html><html><head><title>t</title></head><body>
<article class="bd-article" style="width:600px">
<div class="cell"><table><tr><th>paper</th><th>re-run</th></tr>
<tr><td>85.5</td><td>48.3 smoke</td></tr></table></div>
<table class="covidnb-table" style="width:900px"><tr><td>too wide</td></tr></table>
<p>data under {path}</p>
<div class="math">\\(x\\)</div>
<script src="https://cdn.example.org/mathjax.js"></script>
</article></body></html>"""


def test_checks_can_fail(tmp_path):
    """Each rule, broken once on a made-up page, is reported."""
    page = tmp_path / "nbs" / "x.html"
    page.parent.mkdir()
    page.write_text(FIXTURE.format(path=str(REPO_ROOT)))
    failures, _ = check_pages([page], tmp_path, {"nbs/x"})
    text = "\n".join(failures)
    for expected in ("px wide", "no provenance box", "smoke number and a paper number",
                     "machine path", "requests off the machine", "not typeset"):
        assert expected in text, f"{expected!r} not reported:\n{text}"
